"""The attention-kind registry (dalib.models.attention.ATTENTION_KINDS): models, maps and metrics dispatch
through a kind's spec alone, so a new kind is one spec and one register() call."""

import pytest
import torch
from timm.layers import Attention

from dalib.metrics import attention_lipschitz, eval_mode, image_map_fn
from dalib.metrics.maps import available_keys, layer_lambdas, model_kind
from dalib.models import (
    ATTENTION_KINDS,
    attention_layers,
    attention_maps,
    create_model,
    kind_of,
    layer_attention_maps,
    layer_inputs,
    layer_output_from_maps,
)
from dalib.models.attention import AttentionKind, register, standard
from dalib.models.vit import ViTClassifier

TINY = dict(depth=2, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)


def test_the_two_kinds_of_the_paper():
    assert {"standard", "diff"} <= set(ATTENTION_KINDS)
    vit, dvit = create_model("vit", **TINY), create_model("diffvit", **TINY)
    assert model_kind(vit) == "standard" and model_kind(dvit) == "diff"
    assert available_keys(vit) == ("A",) and available_keys(dvit) == ("A1", "A2", "A_DA")
    assert layer_lambdas(vit) == [None, None] and all(0.7 < v < 0.9 for v in layer_lambdas(dvit))
    assert not ATTENTION_KINDS["standard"].differential and ATTENTION_KINDS["diff"].differential
    assert ATTENTION_KINDS["diff"].head_divisor == 2 and len(attention_layers(dvit)) == 2
    with pytest.raises(ValueError, match="a differential kind's maps are"):
        AttentionKind(
            name="bad", module_types=(Attention,), map_keys=("A",), maps=print, output_from_maps=print, lam=print
        )
    with pytest.raises(ValueError, match="registered twice"):
        register(
            AttentionKind(
                name="standard", module_types=(Attention,), map_keys=("A",), maps=print, output_from_maps=print
            )
        )


class TemperedAttention(Attention):
    """A toy third kind: standard attention at temperature 2 (explicit path only)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = self.scale / 2
        self.fused_attn = False  # the fused kernel would ignore the changed scale


@pytest.fixture
def tempered():
    kind = register(
        AttentionKind(
            name="tempered",
            module_types=(TemperedAttention,),
            map_keys=("A",),
            maps=standard.maps,
            output_from_maps=standard.output_from_maps,
            timm_layer=TemperedAttention,
        )
    )
    yield kind
    ATTENTION_KINDS.pop("tempered")


def test_a_third_kind_is_one_spec_and_one_register_call(tempered):
    torch.manual_seed(0)
    net = ViTClassifier(
        attn="tempered",
        depth=2,
        lambda_init=0.8,
        num_classes=3,
        img_size=8,
        patch_size=4,
        embed_dim=16,
        num_heads=4,
        mlp_ratio=4.0,
        qkv_bias=True,
        global_pool="token",
        mean=[0.5] * 3,
        std=[0.25] * 3,
    ).eval()
    layers = attention_layers(net)
    assert len(layers) == 2 and all(kind_of(a) is tempered for a in layers)  # the exact type wins over Attention
    assert model_kind(net) == "tempered" and layer_lambdas(net) == [None, None]
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    maps = attention_maps(net, x)
    assert [list(m) for m in maps] == [["A"], ["A"]]
    torch.testing.assert_close(maps[0]["A"].sum(-1), torch.ones(2, 4, 5))
    h = layer_inputs(net, x)[0]
    torch.testing.assert_close(
        layer_output_from_maps(layers[0], h, layer_attention_maps(layers[0], h)), layers[0](h), rtol=1e-5, atol=1e-6
    )
    # the maps are those of the module's own (halved) scale: softmax(q k^T * scale)
    q, k, _ = standard.qkv(layers[0], h)
    torch.testing.assert_close(maps[0]["A"], ((q * layers[0].scale) @ k.transpose(-2, -1)).softmax(-1))
    # the metric stack runs on it unchanged
    with eval_mode(net):
        assert image_map_fn(net)(x).shape == (2, 2, 1, 4, 5, 5)
        rows = attention_lipschitz(net, x, estimators=("sampling",), n_samples=4)
    assert rows and {r["map"] for r in rows} == {"A"}
