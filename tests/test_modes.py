import pytest

from dalib.models import attention_layers, create_model, eval_mode


@pytest.mark.parametrize("explicit_attention", [False, True])
def test_eval_mode_restores_mixed_modes_and_fused_flags(explicit_attention):
    model = create_model("diffvit", depth=2, embed_dim=32, num_heads=4, img_size=8, patch_size=4)
    model.train()
    layers = attention_layers(model)
    layers[0].eval()  # a mixed state the caller chose
    fused_before = [m.fused_attn for m in layers]
    with pytest.raises(RuntimeError):
        with eval_mode(model, explicit_attention=explicit_attention):
            assert not any(m.training for m in model.modules())
            assert [m.fused_attn for m in layers] == ([False] * 2 if explicit_attention else fused_before)
            raise RuntimeError("interrupted")
    assert model.training and not layers[0].training and layers[1].training
    assert [m.fused_attn for m in layers] == fused_before
