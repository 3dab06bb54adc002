"""Local Lipschitz estimators (dalib.metrics.lipschitz) on maps with known constants."""

import math

import pytest
import torch

from dalib.metrics import ascent_lipschitz, attention_lipschitz, eval_mode, power_lipschitz, sampling_lipschitz
from dalib.models import attention_layers, create_model

TINY = dict(depth=2, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)


@pytest.fixture(scope="module")
def linear():
    """Two linear maps R^30 -> R^20 (one group each) in float64 and their spectral norms."""
    g = torch.Generator().manual_seed(1)
    W = torch.randn(2, 20, 30, generator=g, dtype=torch.float64)

    def f(x):  # (B, 30) -> (B, 2, 20)
        return torch.einsum("kij,bj->bki", W, x)

    x = 0.25 + 0.5 * torch.rand(3, 30, generator=g, dtype=torch.float64)
    return f, x, torch.linalg.matrix_norm(W, ord=2)  # (2,)


def test_linear_map_recovers_spectral_norm(linear):
    f, x, sigma = linear
    s = sampling_lipschitz(f, x, n_samples=64, group_dims=1)
    assert s["max"].shape == (3, 2)
    assert (s["mean"] <= s["max"]).all()
    assert (s["max"] <= sigma * (1 + 1e-12)).all()  # the sampling estimate is a lower bound
    assert (s["max"] > 0.3 * sigma).all()
    p = power_lipschitz(f, x, group_dims=1, n_iter=300, tol=1e-12)
    torch.testing.assert_close(p, sigma.expand(3, 2), rtol=1e-6, atol=0)
    a = ascent_lipschitz(f, x, group_dims=1, steps=60)
    assert (a <= sigma * (1 + 1e-12)).all()
    assert (a >= 0.99 * sigma).all()
    assert (a > s["max"]).all()  # the stronger estimator is tighter


def test_clipped_ratio_uses_effective_perturbation():
    # identity map: every exact difference quotient is 1, also when x + xi is clipped at the box
    x = torch.cat([torch.zeros(2, 10), torch.ones(2, 10)], dim=1).double()
    s = sampling_lipschitz(lambda z: z, x, n_samples=32)
    torch.testing.assert_close(s["max"], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(s["mean"], torch.ones(2, dtype=torch.float64))
    a = ascent_lipschitz(lambda z: 2 * z, x, steps=5)
    torch.testing.assert_close(a, torch.full((2,), 2.0, dtype=torch.float64))


def test_sampling_deterministic_and_chunk_invariant(linear):
    f, x, _ = linear
    a = sampling_lipschitz(f, x, n_samples=20, group_dims=1, seed=3, batch_size=7)
    b = sampling_lipschitz(f, x, n_samples=20, group_dims=1, seed=3, batch_size=20)
    c = sampling_lipschitz(f, x, n_samples=20, group_dims=1, seed=4)
    torch.testing.assert_close(a["max"], b["max"], rtol=1e-12, atol=0)
    torch.testing.assert_close(a["mean"], b["mean"], rtol=1e-12, atol=0)
    assert not torch.equal(a["mean"], c["mean"])
    state = torch.get_rng_state()
    sampling_lipschitz(f, x, n_samples=4, group_dims=1)
    assert torch.equal(state, torch.get_rng_state())  # local generator only


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eps=0.0), "eps"),
        (dict(eps=2.0), "eps"),
        (dict(group_dims=-1), "group_dims"),
        (dict(n_samples=0), "n_samples"),
        (dict(clip=(1.0, 0.0)), "clip"),
    ],
)
def test_bad_arguments_raise(linear, kwargs, match):
    f, x, _ = linear
    with pytest.raises(ValueError, match=match):
        sampling_lipschitz(f, x, **kwargs)


@pytest.mark.parametrize("name, keys", [("vit", {"A"}), ("diffvit", {"A1", "A2", "A_DA"})])
@pytest.mark.parametrize("wrt", ["image", "layer"])
def test_attention_lipschitz_rows(name, keys, wrt):
    torch.manual_seed(0)
    model = create_model(name, **TINY).train()
    x = torch.rand(2, 3, 8, 8)
    rows = attention_lipschitz(model, x, wrt=wrt, n_samples=8, ascent_steps=4, power_iter=10, sample_offset=5)
    heads = attention_layers(model)[0].num_heads
    assert len(rows) == 2 * TINY["depth"] * len(keys) * heads
    assert {r["map"] for r in rows} == keys
    assert {r["sample"] for r in rows} == {5, 6}
    for r in rows:
        for k in ("L_sampling_max", "L_sampling_mean", "L_ascent", "L_power"):
            assert math.isfinite(r[k]) and r[k] > 0
        assert r["L_sampling_mean"] <= r["L_sampling_max"]
    assert model.training  # mode restored
    whole = attention_lipschitz(model, x, wrt=wrt, per_head=False, estimators="sampling", n_samples=8)
    assert {r["head"] for r in whole} == {-1} and "L_power" not in whole[0]


def test_attention_lipschitz_da_triangle_inequality():
    # same draws for every map and A_DA = A1 - lambda A2, so per draw r_DA <= r_1 + |lambda| r_2,
    # hence for the max and the mean over draws as well
    torch.manual_seed(0)
    model = create_model("diffvit", **TINY).double()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    for wrt in ("image", "layer"):
        rows = attention_lipschitz(model, x, wrt=wrt, estimators="sampling", n_samples=8)
        by = {(r["sample"], r["layer"], r["head"], r["map"]): r for r in rows}
        for (b, l, h, m), r in by.items():
            if m == "A_DA":
                for k in ("L_sampling_max", "L_sampling_mean"):
                    bound = by[(b, l, h, "A1")][k] + abs(r["lambda"]) * by[(b, l, h, "A2")][k]
                    assert r[k] <= bound * (1 + 1e-12)


def test_eval_mode_restores_flags():
    model = create_model("diffvit", **TINY).train()
    before = [m.fused_attn for m in attention_layers(model)]
    with eval_mode(model):
        assert not model.training and not any(m.fused_attn for m in attention_layers(model))
    assert model.training and [m.fused_attn for m in attention_layers(model)] == before
