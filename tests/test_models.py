"""Invariants of dalib.models (ViT / DiffViT) on tiny seeded models.

The differential layer is checked against a direct float64 re-implementation of the Diff
Transformer reference formulas (Ye et al., ICLR 2025), written here independently of timm.
"""

import math

import pytest
import torch

from dalib.models import (
    MODELS,
    attention_layers,
    attention_maps,
    count_parameters,
    create_model,
    lambda_of,
    layer_attention_maps,
    layer_inputs,
    layer_output_from_maps,
    model_from_config,
    schedule_lambda_init,
)

TINY = dict(img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)  # N = 5 tokens, d = 4


def _randomise_diff_params(model, gen):
    """Non-trivial lambda vectors and sub-norm weights so every term of the formula matters."""
    with torch.no_grad():
        for attn in attention_layers(model):
            for p in (attn.lambda_q1, attn.lambda_k1, attn.lambda_q2, attn.lambda_k2):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            attn.sub_norm.weight.copy_(1 + 0.5 * torch.randn(attn.sub_norm.weight.shape, generator=gen))


def reference_diff_attention(h, attn, lambda_init):
    """Float64 Diff Transformer multi-head differential attention, straight from the formulas.

    q, k viewed (B, N, 2H, d), v viewed (B, N, H, 2d); sub-heads 2i, 2i+1 form head i;
    lambda = exp(<lq1, lk1>) - exp(<lq2, lk2>) + lambda_init;
    head_i = (1 - lambda_init) * RMSNorm_{2d, eps=1e-5}((softmax(q_{2i} k_{2i}^T / sqrt d)
             - lambda softmax(q_{2i+1} k_{2i+1}^T / sqrt d)) v_i); out = W_o concat(head_i) + b_o.
    Returns (out, A1, A2, lambda), all float64.
    """
    f = lambda t: t.detach().double()  # noqa: E731
    h = f(h)
    B, N, C = h.shape
    H = attn.num_heads
    d = C // H // 2
    W, b = f(attn.qkv.weight), f(attn.qkv.bias)
    q, k, v = (h @ W[i * C : (i + 1) * C].T + b[i * C : (i + 1) * C] for i in range(3))
    q, k = q.view(B, N, 2 * H, d), k.view(B, N, 2 * H, d)
    v = v.view(B, N, H, 2 * d)
    lam = (
        math.exp(float((f(attn.lambda_q1) * f(attn.lambda_k1)).sum()))
        - math.exp(float((f(attn.lambda_q2) * f(attn.lambda_k2)).sum()))
        + lambda_init
    )
    g = f(attn.sub_norm.weight)
    heads, A1s, A2s = [], [], []
    for i in range(H):
        s1 = torch.einsum("bnd,bmd->bnm", q[:, :, 2 * i], k[:, :, 2 * i]) / math.sqrt(d)
        s2 = torch.einsum("bnd,bmd->bnm", q[:, :, 2 * i + 1], k[:, :, 2 * i + 1]) / math.sqrt(d)
        A1 = torch.exp(s1 - s1.amax(-1, keepdim=True))
        A1 = A1 / A1.sum(-1, keepdim=True)
        A2 = torch.exp(s2 - s2.amax(-1, keepdim=True))
        A2 = A2 / A2.sum(-1, keepdim=True)
        o = (A1 - lam * A2) @ v[:, :, i]  # (B, N, 2d)
        o = o / torch.sqrt((o**2).mean(-1, keepdim=True) + 1e-5) * g
        heads.append((1 - lambda_init) * o)
        A1s.append(A1)
        A2s.append(A2)
    out = torch.cat(heads, dim=-1) @ f(attn.proj.weight).T + f(attn.proj.bias)
    return out, torch.stack(A1s, 1), torch.stack(A2s, 1), lam


def _tiny(name, depth=2, seed=0, **kw):
    torch.manual_seed(seed)
    return create_model(name, depth=depth, **{**TINY, **kw}).eval()


@pytest.mark.parametrize("lambda_init", [0.8, 0.5, "schedule"])
def test_diff_layer_matches_float64_reference(lambda_init):
    gen = torch.Generator().manual_seed(1)
    model = _tiny("diffvit", depth=3, lambda_init=lambda_init)
    _randomise_diff_params(model, gen)
    x = torch.rand(2, 3, 8, 8, generator=gen)
    for layer_idx, (attn, h) in enumerate(zip(attention_layers(model), layer_inputs(model, x))):
        lam_init = schedule_lambda_init(layer_idx) if lambda_init == "schedule" else lambda_init
        assert attn.lambda_init == pytest.approx(lam_init, abs=1e-12)
        out_ref, A1_ref, A2_ref, lam_ref = reference_diff_attention(h, attn, lam_init)
        with torch.no_grad():
            out = attn(h)  # the module's own (fused) forward
            maps = layer_attention_maps(attn, h)
        assert float(maps["lambda"]) == pytest.approx(lam_ref, rel=1e-6)
        for name, got, ref in [
            ("out", out, out_ref),
            ("A1", maps["A1"], A1_ref),
            ("A2", maps["A2"], A2_ref),
            ("A_DA", maps["A_DA"], A1_ref - lam_ref * A2_ref),
        ]:
            err = (got.double() - ref).abs().max().item()
            assert err < 1e-5, f"layer {layer_idx} {name}: max |dalib - float64 reference| = {err:.3e}"


def test_schedule_values_match_diff_transformer():
    # lambda_init(l) = 0.8 - 0.6 exp(-0.3 l), l = 0..11 (values from the reference paper's schedule)
    expected = [0.2, 0.356, 0.471, 0.556, 0.619, 0.666, 0.701, 0.727, 0.746, 0.760, 0.770, 0.778]
    model = create_model("diffvit", depth=12, lambda_init="schedule", **TINY)
    got = [attn.lambda_init for attn in attention_layers(model)]
    assert got == pytest.approx(expected, abs=6e-4)
    const = create_model("diffvit", depth=3, lambda_init=0.9, **TINY)
    assert [a.lambda_init for a in attention_layers(const)] == [0.9, 0.9, 0.9]
    as_text = create_model("diffvit", depth=1, lambda_init="0.5", **TINY)  # notebook parameters are text
    assert attention_layers(as_text)[0].lambda_init == 0.5 and as_text.config["lambda_init"] == 0.5


@pytest.mark.parametrize("name", ["vit", "diffvit", "diffv2"])
def test_maps_and_values_reproduce_layer_output(name):
    """Captured A (or A_DA) times V, through sub-norm / (1 - lambda_init) / proj, gives attn(h)."""
    model = _tiny(name, depth=2)
    _randomise_diff_params(model, torch.Generator().manual_seed(2)) if name == "diffvit" else None
    x = torch.rand(3, 3, 8, 8)
    for attn, h in zip(attention_layers(model), layer_inputs(model, x)):
        with torch.no_grad():
            explicit = layer_output_from_maps(attn, h, layer_attention_maps(attn, h))
            fused = attn(h)
        err = (explicit - fused).abs().max().item()
        assert err < 1e-5, f"{name}: max |maps@V path - layer output| = {err:.3e}"


@pytest.mark.parametrize("name", ["vit", "diffvit"])
def test_fused_equals_explicit(name):
    """The model's fused SDPA forward equals timm's explicit (fused_attn=False) forward."""
    model = _tiny(name, depth=2)
    layers = attention_layers(model)
    assert all(a.fused_attn for a in layers), "the normal forward must keep the fused path"
    x = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        fused = model(x)
        for a in layers:
            a.fused_attn = False
        explicit = model(x)
        for a in layers:
            a.fused_attn = True
    err = (fused - explicit).abs().max().item()
    assert err < 1e-5, f"{name}: max |fused - explicit| logits difference = {err:.3e}"


@pytest.mark.parametrize("depth", [1, 3])
def test_parameter_count_parity(depth):
    """Same q/k/v/proj shapes; DiffViT adds per layer exactly the four lambda vectors (4 d) and the
    affine sub-norm (2 d), d = embed_dim // num_heads."""
    vit, diff = _tiny("vit", depth=depth), _tiny("diffvit", depth=depth)
    sv, sd = vit.state_dict(), diff.state_dict()
    assert set(sv) <= set(sd)
    assert all(sv[k].shape == sd[k].shape for k in sv), "shared parameters must have equal shapes"
    extra = sorted({k.split(".attn.", 1)[-1] for k in set(sd) - set(sv)})
    assert extra == ["lambda_k1", "lambda_k2", "lambda_q1", "lambda_q2", "sub_norm.weight"], extra
    d = TINY["embed_dim"] // TINY["num_heads"]
    assert count_parameters(diff) - count_parameters(vit) == depth * (4 * d + 2 * d)


def test_same_initialisation_scheme():
    """Shared parameters are drawn by the same scheme (timm trunc-normal std 0.02 for linears)."""
    vit, diff = (
        create_model("vit", depth=2, embed_dim=64, num_heads=4),
        create_model("diffvit", depth=2, embed_dim=64, num_heads=4),
    )
    for key in ["vit.blocks.0.attn.qkv.weight", "vit.blocks.1.mlp.fc1.weight", "vit.head.weight"]:
        a, b = dict(vit.named_parameters())[key], dict(diff.named_parameters())[key]
        assert a.std().item() == pytest.approx(b.std().item(), rel=0.15), key


def test_gradcheck_da_map_float64():
    torch.manual_seed(0)
    model = create_model("diffvit", depth=1, img_size=4, patch_size=2, embed_dim=8, num_heads=4, num_classes=2).double()
    attn = attention_layers(model)[0]
    h = torch.randn(1, 5, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer_attention_maps(attn, t)["A_DA"], (h,))
    # and through the whole model, w.r.t. the image
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: attention_maps(model, t)[0]["A_DA"], (x,))


@pytest.mark.parametrize("depth", [1, 2, 4, 8, 12])
@pytest.mark.parametrize("name", ["vit", "diffvit", "diffv2"])
def test_depths_construct_and_run(name, depth):
    model = _tiny(name, depth=depth, global_pool="avg" if depth == 2 else "token")
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    maps = attention_maps(model, x)
    assert len(maps) == depth == len(layer_inputs(model, x))
    key = "A" if name == "vit" else "A_DA"
    heads = TINY["num_heads"] // (2 if name == "diffvit" else 1)  # V2: num_heads output heads (module docstring)
    assert all(m[key].shape == (2, heads, 5, 5) for m in maps)
    maps[-1][key].square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_map_properties_and_lambda():
    model = _tiny("diffvit", depth=2)
    x = torch.rand(2, 3, 8, 8)
    for attn, m in zip(attention_layers(model), attention_maps(model, x)):
        assert set(m) == {"A1", "A2", "lambda", "A_DA"} and m["lambda"].dim() == 0
        assert torch.allclose(m["A1"].sum(-1), torch.ones(()), atol=1e-5)
        assert torch.allclose(m["A_DA"].sum(-1), 1 - m["lambda"], atol=1e-5)  # rows sum to 1 - lambda
        assert torch.equal(m["lambda"], lambda_of(attn))
    vmaps = attention_maps(_tiny("vit", depth=2), x)
    assert all(set(m) == {"A"} and torch.allclose(m["A"].sum(-1), torch.ones(()), atol=1e-5) for m in vmaps)


def test_layer_inputs_are_norm1_outputs_and_hooks_removed():
    model = _tiny("vit", depth=2)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        before = model(x)
        h = layer_inputs(model, x)
        vit = model.vit
        tokens = vit._pos_embed(vit.patch_embed((x - model.mean) / model.std))
        assert torch.allclose(h[0], vit.blocks[0].norm1(tokens), atol=1e-6)
        assert torch.allclose(h[1], vit.blocks[1].norm1(vit.blocks[0](tokens)), atol=1e-6)
        attention_maps(model, x)
        assert torch.equal(model(x), before)
    assert all(not a._forward_pre_hooks for a in attention_layers(model))


def test_normalisation_inside_and_config_round_trip():
    model = _tiny("diffvit", depth=1, lambda_init=0.7)
    assert model.mean.shape == (1, 3, 1, 1) and model.std.shape == (1, 3, 1, 1)
    assert model.config["model"] == "diffvit" and model.config["lambda_init"] == 0.7
    clone = model_from_config(model.config)
    clone.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(clone.eval()(x), model(x))


def test_bad_input_errors():
    assert sorted(MODELS) == ["diffv2", "diffvit", "vit"]
    with pytest.raises(ValueError, match=r"unknown model 'resnet'.*diffvit.*vit"):
        create_model("resnet")
    with pytest.raises(ValueError, match=r"unknown config key.*'widht'.*valid keys"):
        create_model("vit", widht=3)
    with pytest.raises(ValueError, match=r"num_heads=3 is not a multiple of 2"):
        create_model("diffvit", embed_dim=48, num_heads=3)
    with pytest.raises(ValueError, match=r"lambda_init"):
        create_model("diffvit", lambda_init="linear")
    with pytest.raises(ValueError, match=r"global_pool must be 'token' or 'avg'"):
        create_model("vit", global_pool="max")
    with pytest.raises(ValueError, match=r"not divisible by patch_size"):
        create_model("vit", img_size=30, patch_size=4)


def test_measure_throughput_modes():
    from dalib.models import measure_throughput

    model = _tiny("diffvit", depth=1)
    for mode in ("train", "infer"):
        r = measure_throughput(model, mode, batch_size=4, steps=1, warmup=0, img_size=8, num_classes=3)
        assert set(r) == {"img_per_s", "img_per_cpu_s"} and all(v > 0 for v in r.values())
    with pytest.raises(ValueError, match=r"unknown mode 'fit'"):
        measure_throughput(model, "fit")
