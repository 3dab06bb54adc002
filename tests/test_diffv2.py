"""Differential Attention V2 (``dalib.models.attention.diffv2``): the third attention kind passes what
the paper's two pass (maps, output from maps, gradients, metrics, training), and its own
invariants: lambda(x) per token and head in (0, 1), a query pair sharing one key/value head, and
the parameter count of ViT."""

import math

import pytest
import torch

from dalib.metrics import attention_lipschitz, gradient_alignment
from dalib.metrics.maps import available_keys, layer_lambdas, model_kind
from dalib.models import count_parameters, create_model
from dalib.models.attention import (
    ATTENTION_KINDS,
    DiffV2Attention,
    attention_layers,
    attention_maps,
    layer_attention_maps,
    layer_output_from_maps,
)

TINY = dict(img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)


def _tiny(depth=1, **kw):
    torch.manual_seed(0)
    return create_model("diffv2", depth=depth, **{**TINY, **kw}).eval()


def test_kind_and_layout():
    model = _tiny(depth=2)
    assert model_kind(model) == "diffv2" and ATTENTION_KINDS["diffv2"].differential
    assert available_keys(model) == ("A1", "A2", "A_DA")
    attn = attention_layers(model)[0]
    assert isinstance(attn, DiffV2Attention)
    # num_heads = 4 heads of the standard model: 4 output heads of width 4, 8 query heads, 2 kv heads
    assert (attn.num_heads, 2 * attn.num_heads, attn.num_kv_heads, attn.head_dim) == (4, 8, 2, 4)
    # no constant lambda: the per-layer value is NaN ("does not apply"), lambda(x) is in the maps
    assert all(math.isnan(v) for v in layer_lambdas(model))


def test_lambda_is_per_token_and_head_and_bounded():
    model = _tiny()
    with torch.no_grad():
        attn = attention_layers(model)[0]
        attn.lambda_proj.weight.normal_(
            0, 0.5
        )  # logits of a few units: lambda spread over (0, 1), unsaturated in float32
        m = attention_maps(model, torch.rand(2, 3, 8, 8))[0]
    lam = m["lambda"]
    assert lam.shape == (2, 4, 5, 1)
    assert (lam > 0).all() and (lam < 1).all()
    assert lam.std() > 0.05, "lambda must vary over tokens and heads"
    assert torch.allclose(m["A_DA"], m["A1"] - lam * m["A2"])
    # each row of A_DA sums to 1 - lambda_t (both maps are row-stochastic)
    assert torch.allclose(m["A_DA"].sum(-1, keepdim=True), 1 - lam, atol=1e-6)


def test_query_pair_shares_its_key_value_head():
    """With the second query head of every pair set equal to the first, A1 == A2, which holds only
    if both read the same keys."""
    model = _tiny()
    attn = attention_layers(model)[0]
    d, H = attn.head_dim, attn.num_heads
    with torch.no_grad():
        w = attn.q_proj.weight.view(2 * H, d, -1)
        b = attn.q_proj.bias.view(2 * H, d)
        w[1::2] = w[0::2]
        b[1::2] = b[0::2]
        m = attention_maps(model, torch.rand(2, 3, 8, 8))[0]
    assert torch.allclose(m["A1"], m["A2"], atol=1e-6)


def test_output_from_maps_and_gradcheck_float64():
    model = create_model("diffv2", depth=1, img_size=4, patch_size=2, embed_dim=8, num_heads=4, num_classes=2).double()
    attn = attention_layers(model)[0]
    h = torch.randn(2, 5, 8, dtype=torch.float64)
    with torch.no_grad():
        err = (layer_output_from_maps(attn, h, layer_attention_maps(attn, h)) - attn(h)).abs().max().item()
    assert err < 1e-12
    h.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: layer_attention_maps(attn, t)["A_DA"], (h,))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: attention_maps(model, t)[0]["A_DA"], (x,))


def test_parameters_match_vit_within_one_percent():
    kw = dict(depth=1, embed_dim=128, num_heads=4, global_pool="avg")
    n_vit, n_v2 = count_parameters(create_model("vit", **kw)), count_parameters(create_model("diffv2", **kw))
    # the same 4 C^2 projection weights and 4 C biases; V2 adds the C H lambda weights
    assert n_v2 - n_vit == 128 * 4
    assert abs(n_v2 / n_vit - 1) < 0.01


def test_odd_head_count_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="multiple of 2"):
        create_model("diffv2", depth=1, **{**TINY, "num_heads": 3, "embed_dim": 15})


def test_metrics_run_unchanged():
    model = _tiny()
    x = torch.rand(2, 3, 8, 8)
    lip = attention_lipschitz(model, x, estimators=("sampling",), n_samples=4)
    assert {r["map"] for r in lip} == {"A1", "A2", "A_DA"}
    assert all(math.isfinite(r["L_sampling_max"]) and r["L_sampling_max"] > 0 for r in lip)
    base = create_model("vit", depth=1, **TINY).eval()
    rows = gradient_alignment(model, x, baseline=base)
    assert rows and all(math.isfinite(r["norm_JDA"]) and -1 <= r["cos"] <= 1 for r in rows)
    # Lemma 1 as printed needs a constant lambda: its right-hand side does not apply to V2
    assert all(math.isnan(r["norm_JDA_lemma"]) for r in rows)


def test_trains_on_a_tiny_set(tmp_path):
    from dalib.train import train

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(32, 3, 8, 8, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 3, (32,), generator=g)
    res = train(
        "diffv2",
        {"depth": 1, **TINY},
        epochs=2,
        batch_size=16,
        data=(x, y, x, y),
        checkpoints=tmp_path,
        zoo=tmp_path / "zoo",
        progress=False,
        precision="fp32",
    )
    assert res.config["model"] == "diffv2" and res.epochs == 2 and 0 <= res.test_accuracy <= 1
    assert res.history[1]["loss"] < res.history[0]["loss"] * 1.5
