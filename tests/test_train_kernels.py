"""dalib.train.kernels: explicit and fused training kernels compute the same step; a run records the
kernels it trained with and keeps them on resume (tiny seeded models, synthetic data)."""

import pytest
import torch
import torch.nn.functional as F
from test_train import TINY, synthetic

from dalib.models import create_model
from dalib.train import load_checkpoint, train
from dalib.train.kernels import as_input, resolve_kernels, training_kernels


@pytest.mark.parametrize("name", ["vit", "diffvit", "diffv2"])
@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_explicit_and_fused_kernels_take_the_same_step(name, stem):
    torch.manual_seed(0)
    x, y = torch.rand(8, 3, 16, 16), torch.arange(8) % 4
    grads, losses = {}, {}
    for kernels in ("fused", "explicit"):
        torch.manual_seed(1)
        net = create_model(
            name, depth=1, img_size=16, patch_size=4, embed_dim=32, num_heads=4, num_classes=4, stem=stem
        )
        with training_kernels(net, kernels):
            loss = F.cross_entropy(net(as_input(x, kernels)), y)
        loss.backward()
        losses[kernels] = loss.detach()
        grads[kernels] = torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])
    # float32, the same mathematics summed in another order: agreement to a few ulps of the scale
    torch.testing.assert_close(losses["explicit"], losses["fused"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["explicit"], grads["fused"], rtol=1e-4, atol=1e-6)
    assert grads["fused"].abs().max() > 0


def test_training_kernels_restore_each_layers_flag_also_on_error():
    net = create_model("diffvit", depth=2, img_size=16, patch_size=4, embed_dim=32, num_heads=4, num_classes=4)
    layers = [m for m in net.modules() if hasattr(m, "fused_attn")]
    assert len(layers) == 2
    layers[1].fused_attn = False  # a caller's own setting survives
    before = [m.fused_attn for m in layers]
    with pytest.raises(RuntimeError, match="boom"):
        with training_kernels(net, "explicit"):
            assert not any(m.fused_attn for m in layers)
            raise RuntimeError("boom")
    assert [m.fused_attn for m in layers] == before
    x = torch.rand(2, 3, 16, 16)
    assert as_input(x, "explicit").is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(as_input(x, "explicit"), x) and as_input(x, "fused") is x


def test_auto_is_explicit_on_cpu_only_and_unknown_kernels_fail_before_compute(tmp_path):
    assert resolve_kernels("auto", "cpu") == "explicit" and resolve_kernels("auto", "cuda") == "fused"
    assert resolve_kernels("fused", "cpu") == "fused"
    with pytest.raises(ValueError, match="unknown training kernels 'flash'.*explicit"):
        train(
            "vit",
            TINY,
            data=synthetic(),
            epochs=1,
            batch_size=64,
            checkpoints=tmp_path,
            progress=False,
            kernels="flash",
        )
    assert not list(tmp_path.glob("*.pt"))


def test_a_run_records_its_kernels_and_a_resumed_run_keeps_them(tmp_path):
    args = dict(data=synthetic(), epochs=2, batch_size=64, seed=0, checkpoints=tmp_path, progress=False)
    part = train("diffvit", TINY, stop_after_epoch=1, kernels="fused", **args)
    assert load_checkpoint(part.checkpoint_path, part.config)["kernels_resolved"] == "fused"
    done = train("diffvit", TINY, **args)  # kernels="auto" (explicit on CPU), but the run started fused
    assert [h["kernels"] for h in done.history] == ["fused", "fused"]
    assert done.kernels == "fused" and done.row()["kernels"] == "fused"
    uninterrupted = train("diffvit", TINY, kernels="fused", **{**args, "checkpoints": tmp_path / "b"})
    for a, b in zip(done.model.state_dict().values(), uninterrupted.model.state_dict().values()):
        assert torch.equal(a, b)  # resuming stays bit-identical because the kernels were kept
    fresh = train("vit", TINY, **{**args, "checkpoints": tmp_path / "c"})
    assert fresh.kernels == "explicit" and {h["kernels"] for h in fresh.history} == {"explicit"}


def _curve(effect, noise, seeds=4, seed_sd=0.02):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        base = 0.6 + seed_sd * rng.standard_normal()
        for k, shift in (("fused", 0.0), ("explicit", effect)):
            acc = base + shift + noise * rng.standard_normal()
            rows.append(
                {"model": "vit", "epoch": 3, "seed": s, "kernels": k, "test_accuracy": acc, "train_loss": 1 - acc}
            )
    return pd.DataFrame(rows)


def test_kernel_effects_read_within_seed_noise_different_or_undetected():
    from dalib.chapters.models_kernels import kernel_effects

    same = kernel_effects(_curve(0.0, 0.0))
    assert (same["reading"] == "within seed noise").all() and (same["effect"].abs() < 1e-12).all()
    shifted = kernel_effects(_curve(0.1, 0.001))
    assert (shifted["reading"] == "different").all()
    acc = shifted[shifted["quantity"] == "test accuracy"].iloc[0]
    assert acc["effect"] == pytest.approx(0.1, abs=0.005) and acc["explicit"] - acc["fused"] == pytest.approx(
        acc["effect"]
    )
    # two seeds whose drifts (+0.05, -0.04) are larger than the seeds' spread (0.01): nothing can be said
    import pandas as pd

    rows = [
        {"model": "vit", "epoch": 3, "seed": s, "kernels": k, "test_accuracy": a, "train_loss": 1 - a}
        for s, f, e in ((0, 0.60, 0.65), (1, 0.61, 0.57))
        for k, a in (("fused", f), ("explicit", e))
    ]
    assert (kernel_effects(pd.DataFrame(rows))["reading"] == "no detectable difference").all()
