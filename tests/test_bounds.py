"""Values have bounds: every probe of the new-user review is refused before any kernel starts, with
a message that names the parameter, the value and the valid range (in-process, no kernel)."""

import time

import pytest

from dalib.notebooks import RunError
from dalib.paths import project_root
from dalib.run import load_notebook, plan, resolve_notebook
from dalib.run.params import parse_overrides


def _plan(stem, *pairs):
    root = project_root()
    return plan(load_notebook(resolve_notebook(stem, root), root), "cpu", parse_overrides(list(pairs)), root)


@pytest.mark.parametrize(
    "stem, pair, match",
    [
        ("train", "epochs=10**9", r"epochs must be an int in \[1, 10000\], got 1000000000"),
        ("train", "n_train=10**12", r"n_train=1000000000000 exceeds the 50000 images of cifar10/train"),
        ("train", "n_test=20000", r"n_test=20000 exceeds the 10000 images of cifar10/test"),
        ("train", "lr=1e999", r"value '1e999' refused: .*not a finite number"),
        ("train", "lr=100", r"lr must be a number in \(0, 10\]"),
        ("train", "num_threads=0", r"num_threads must be a positive int, got 0"),
        ("train", "device=cuda:9", r"device='cuda:9'"),
        ("train", "device=gpu", r"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', got 'gpu'"),
        ("train", "lambda_init=-5", r"lambda_init must lie in \[0, 1\)"),
        ("train", "lambda_init=1", r"lambda_init must lie in \[0, 1\)"),
        ("asr", "n_eval=10**9", r"n_eval=1000000000 exceeds the 10000 images of cifar10/test"),
        ("asr", "eps=[1, 1e999]", r"refused: .*not a finite number"),
        ("mechanism", "num_threads=-2", r"num_threads must be a positive int"),
        ("mechanism", "n_images=10**6", r"n_images=1000000 exceeds the 10000 images of cifar10/test"),
    ],
)
def test_out_of_range_values_are_refused_before_any_kernel(stem, pair, match):
    with pytest.raises(RunError, match=match):
        _plan(stem, pair)


def test_a_power_tower_is_refused_at_once():
    for tower in ("10**9**9", "((10**64)**64)**64", "9**9**9**9", "2**64"):
        t0 = time.perf_counter()
        with pytest.raises(
            RunError, match=rf"value '{tower.replace('*', '[*]').replace('(', '[(]').replace(')', '[)]')}' refused"
        ):
            _plan("train", f"epochs={tower}")
        assert time.perf_counter() - t0 < 5  # it was 29.5 s of big-int arithmetic, then a raw ValueError


def test_nan_is_refused_everywhere():
    from dalib.validate import common, finite

    with pytest.raises(ValueError, match=r"recipe\['lr'\] must be a finite number"):
        finite({"lr": float("nan")}, "recipe")
    with pytest.raises(ValueError, match=r"eps\[1\] must be a finite number"):
        common({"eps": [1.0, float("inf")]})


def test_plain_values_still_parse():
    pl = _plan("train", "epochs=2", "lr=2e-3", "lambda_init=0.5", "device=cpu", "num_threads=2")
    assert pl.params["epochs"] == 2 and pl.params["lr"] == 0.002 and pl.params["lambda_init"] == "0.5"
