"""`python -m dalib.run rekey`: a refactor that keeps results re-keys the stale records after an
identical rerun of a sample; one that changes results re-keys nothing."""

import json

import pytest
from test_run import DEMO

from dalib import run as runner
from dalib.run import rekey


@pytest.fixture
def swept(tmp_path, monkeypatch):
    """The demo notebook with a 3-point sweep, its 3 records made by the original code."""
    for sub in ("experiments", "benchmarks", "theory"):
        (tmp_path / "notebooks" / sub).mkdir(parents=True)
    path = tmp_path / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: {n: [1, 2, 3]}}\n  profiles:"))
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.delenv("DALIB_PROFILE", raising=False)
    assert runner.main(["demo", "--no-progress"]) == 0
    return tmp_path, path


def _records(root):
    return {p.stem: json.loads(p.read_text()) for p in (root / "results/cpu/demo").glob("*.json")}


def test_a_refactor_that_keeps_results_is_rekeyed_after_one_identical_rerun(swept, capsys):
    root, path = swept
    before = _records(root)
    # the same computation, written differently: every key changes
    path.write_text(
        path.read_text().replace(
            'write_rows([{"total": n * scale}], table="summary")',
            'total = n * scale  # refactored\nwrite_rows([{"total": total}], table="summary")',
        )
    )
    nb = runner.load_notebook(path, root)
    assert not any(p.done for p in runner.profile_plans(nb, "cpu", root))  # all three stale
    assert rekey.main("demo", "cpu", root, sample=1) == 0
    after = _records(root)
    plans = runner.profile_plans(nb, "cpu", root)
    assert all(p.done for p in plans) and set(after) == {p.key for p in plans}  # current again, old files gone
    rekeyed = [r for r in after.values() if "rekey" in r]
    assert len(rekeyed) == 2 and len(after) - len(rekeyed) == 1  # one rerun, two re-keyed
    for r in rekeyed:
        old = before[r["rekey"]["from_key"]]
        assert r["tables"] == old["tables"] and r["git_commit"] == old.get("git_commit")
        assert r["rekey"]["checks"][0]["identical"] and (root / f"results/cpu/demo/{r['key']}.ipynb").exists()
    assert "2 record(s) re-keyed" in capsys.readouterr().out


def test_a_change_of_results_rekeys_nothing(swept, capsys):
    root, path = swept
    path.write_text(path.read_text().replace('"value": i * scale', '"value": i * scale + 1'))
    assert rekey.main("demo", "cpu", root, sample=1) == 1
    out = capsys.readouterr().out
    assert "nothing re-keyed" in out and "value" in out
    nb = runner.load_notebook(path, root)
    done = [p for p in runner.profile_plans(nb, "cpu", root) if p.done]
    assert len(done) == 1  # only the sampled rerun, a genuine record of the new code
    assert len(_records(root)) == 4  # the three stale records are kept as they were


def test_timing_columns_are_the_only_ones_left_out():
    assert all(rekey.is_timing(c) for c in ("attack_time_s", "wall_time_s", "time_s", "img_per_s", "load_s"))
    assert not any(rekey.is_timing(c) for c in ("asr", "changed_flags", "steps", "n_samples", "budget"))
    # a result that merely ends in "_s" is compared, not skipped as a timing (issue 36)
    assert not any(rekey.is_timing(c) for c in ("lambda_s", "eps_s", "n_seeds_s", "step_size"))
    assert all(rekey.is_timing(c) for c in ("time_exact_s", "train_cpu_s", "images_per_cpu_s"))
    old = {"tables": {"t": [{"asr": 0.5, "attack_time_s": 1.0}]}}
    assert rekey.compare_tables(old, {"tables": {"t": [{"asr": 0.5, "attack_time_s": 9.0}]}}) == []
    assert rekey.compare_tables(old, {"tables": {"t": [{"asr": 0.6, "attack_time_s": 1.0}]}}) == ["t row 0: asr"]


def test_a_parameter_added_with_a_default_that_keeps_the_results_is_rekeyed(swept, capsys):
    """A new parameter (here `offset = 0`, "off") changes every key and is absent from the old
    records' parameters: they match the new runs with it at its default, and the rerun decides."""
    root, path = swept
    before = _records(root)
    text = path.read_text().replace(
        "scale = 0.5  # multiplier (float)", "scale = 0.5  # multiplier (float)\noffset = 0.0  # added to each value"
    )
    path.write_text(text.replace('"value": i * scale', '"value": i * scale + offset'))
    assert rekey.main("demo", "cpu", root, sample=1) == 0
    after = _records(root)
    nb = runner.load_notebook(path, root)
    assert all(p.done for p in runner.profile_plans(nb, "cpu", root))
    rekeyed = [r for r in after.values() if "rekey" in r]
    assert len(rekeyed) == 2
    for r in rekeyed:
        assert r["params"]["offset"] == 0.0 and r["rekey"]["added_parameters"] == {"offset": 0.0}
        assert r["tables"] == before[r["rekey"]["from_key"]]["tables"]
    assert "2 record(s) re-keyed" in capsys.readouterr().out
