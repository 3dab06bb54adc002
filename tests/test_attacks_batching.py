"""Per-sample randomness: an attack's result for a sample depends on the sample, its global index
and the seed, never on its batch, the batch size or how an evaluation is split (up to float
rounding)."""

import numpy as np
import pytest
import torch

from dalib.attacks import CW, PGD, PatchPGD, evaluate_attack
from dalib.attacks.attack import SampleStreams, stream_seed
from dalib.models import create_model


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model("diffvit", depth=1, embed_dim=32, num_heads=4, img_size=16, patch_size=4).eval()


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(3)
    return torch.rand(40, 3, 16, 16, generator=g), torch.randint(0, 10, (40,), generator=g)


def _batched(attack, x, y, batch_size):
    out = [
        attack(x[s : s + batch_size], y[s : s + batch_size], index=torch.arange(s, min(s + batch_size, len(y))))
        for s in range(0, len(y), batch_size)
    ]
    return torch.cat(out)


def test_streams_are_keyed_by_seed_and_index():
    a = SampleStreams(0, torch.tensor([5, 6]), "cpu").rand((4,))
    b = SampleStreams(0, torch.tensor([6, 5, 9]), "cpu").rand((4,))
    assert torch.equal(a[0], b[1]) and torch.equal(a[1], b[0])  # same sample, same numbers
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a, SampleStreams(1, torch.tensor([5, 6]), "cpu").rand((4,)))  # seed matters
    seeds = {stream_seed(s, i) for s in range(4) for i in range(1000)}
    assert len(seeds) == 4000 and all(0 <= v < 2**63 for v in seeds)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: PGD(m, eps=4 / 255, steps=3, seed=7),
        lambda m: PGD(m, eps=4 / 255, steps=2, n_restarts=3, seed=7),
        lambda m: PatchPGD(m, w=4, steps=2, seed=7),
    ],
    ids=["pgd", "pgd_restarts", "patch"],
)
def test_random_attacks_do_not_depend_on_batch_size(net, data, make):
    x, y = data
    full = make(net)(x, y)
    for bs in (7, 40, 13):
        assert torch.allclose(_batched(make(net), x, y, bs), full, atol=1e-6)
    # the same images at other global indices draw other starts
    shifted = make(net)(x, y, index=torch.arange(100, 140))
    assert not torch.allclose(shifted, full)


def test_patch_locations_differ_between_batches(net, data):
    x, y = data
    a = PatchPGD(net, w=4, steps=1, seed=0)
    r1 = a.run(x[:20], y[:20], index=torch.arange(20))
    r2 = a.run(x[20:], y[20:], index=torch.arange(20, 40))
    assert not (torch.equal(r1.top, r2.top) and torch.equal(r1.left, r2.left))


def test_cw_norms_do_not_depend_on_batch_size(net, data):
    x, y = data
    make = lambda: CW(net, search_steps=3, max_steps=30)  # noqa: E731
    full = make().run(x, y)
    parts = [make().run(x[s : s + 7], y[s : s + 7]) for s in range(0, 40, 7)]
    l2 = torch.cat([p.l2 for p in parts])
    assert torch.equal(torch.cat([p.success for p in parts]), full.success)
    fin = torch.isfinite(full.l2)
    assert fin.sum() > 10
    assert torch.allclose(l2[fin], full.l2[fin], rtol=1e-4, atol=1e-5)


def test_evaluate_attack_outcomes_do_not_depend_on_batch_size(net, data):
    x, y = data
    evs = [
        evaluate_attack(PGD(net, eps=2 / 255, steps=3, seed=1), x, y, batch_size=bs, grad_check=False) for bs in (7, 40)
    ]
    for k in ("changed", "adv_pred"):
        assert np.array_equal(evs[0].flags[k], evs[1].flags[k])
    # a split evaluation with offsets equals the whole one
    a = PGD(net, eps=2 / 255, steps=3, seed=1)
    halves = [
        evaluate_attack(a, x[:25], y[:25], grad_check=False),
        evaluate_attack(a, x[25:], y[25:], grad_check=False, index_offset=25),
    ]
    assert np.array_equal(np.concatenate([h.flags["adv_pred"] for h in halves]), evs[1].flags["adv_pred"])


def test_index_is_validated(net, data):
    x, y = data
    with pytest.raises(ValueError, match="index"):
        PGD(net)(x, y, index=torch.arange(3))
    with pytest.raises(ValueError, match="index"):
        PGD(net)(x, y, index=torch.zeros(40))
