"""DiffCLIP computes what the release computes: LayerNorm eps of the vision towers, SLIP's evaluation
transform on real COCO photos, the tokenizer's limits, and release-style checkpoint files."""

import pytest
import torch
from torch import nn

from dalib.models.clip import ARCHS, create_clip

TINY = dict(
    vision_width=32,
    vision_heads=4,
    vision_layers=2,
    text_width=32,
    text_heads=4,
    text_layers=1,
    embed_dim=16,
    image_size=32,
    patch_size=16,
    context_length=16,
    vocab_size=600,
)


@pytest.mark.parametrize(
    "name, vision_eps",
    [
        # SLIP's CLIP_VITB16 is timm's vit_base_patch16_224: timm's LayerNorm default, eps 1e-6
        ("clip", 1e-6),
        # the release's DifferentialVisionTransformer uses norm_layer = nn.LayerNorm: torch's default
        # eps 1e-5 (with 1e-6 its image embeddings moved by 2.7e-3 relative on shared weights)
        ("diffclip", 1e-5),
    ],
)
def test_every_layernorm_has_the_release_eps(name, vision_eps):
    m = create_clip(name, **TINY)
    vision = {n: x.eps for n, x in m.visual.named_modules() if isinstance(x, nn.LayerNorm)}
    text = {n: x.eps for n, x in m.named_modules() if isinstance(x, nn.LayerNorm) and not n.startswith("visual")}
    assert set(vision) == {f"blocks.{i}.norm{j}" for i in range(2) for j in (1, 2)} | {"norm"}
    assert set(vision.values()) == {vision_eps} and ARCHS[name]["vision_norm_eps"] == vision_eps
    # the text towers (OpenAI / SLIP / the release) use nn.LayerNorm at torch's default
    assert set(text.values()) == {1e-5} and len(text) == 2 * 1 + 1


def _coco_photos():
    from dalib.data import load_dataset

    try:
        ds = load_dataset("coco2014-val", "val", cache=False)
    except FileNotFoundError as e:
        pytest.skip(f"COCO sample not available: {e}")
    from PIL import Image

    by_ratio = {}
    for f in ds.files:
        with Image.open(f) as im:
            w, h = im.size
        by_ratio.setdefault(round(w / h, 2), f)
    picks = sorted(by_ratio.items())
    return [f for _, f in picks[:2] + picks[len(picks) // 2 : len(picks) // 2 + 2] + picks[-2:]]


def test_default_preprocessing_is_slips_resize_and_centre_crop():
    """Pixel-identical to torchvision Resize(224) + CenterCrop(224) on real COCO photos of several
    aspect ratios (portrait, near-square, landscape); the demo's squash is a different image."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    from dalib.data.cache import _to_size

    ref = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224)])
    files = _coco_photos()
    ratios = set()
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            ratios.add(round(im.size[0] / im.size[1], 2))
            want = np.asarray(ref(im))
            got = np.asarray(_to_size(im, 224))
            assert got.shape == (224, 224, 3) and np.array_equal(got, want), f
            squash = np.asarray(_to_size(im, 224, "squash"))
            assert np.array_equal(squash, np.asarray(im.resize((224, 224), Image.BICUBIC)))
            if abs(im.size[0] / im.size[1] - 1) > 0.05:
                assert not np.array_equal(squash, want)
    assert min(ratios) < 0.9 and max(ratios) > 1.2  # portrait and landscape both covered


def test_load_dataset_names_the_resize_rule():
    from dalib.data import load_dataset

    with pytest.raises(ValueError, match="unknown resize 'bicubic'; valid: 'slip'"):
        load_dataset("coco2014-val", "val", resize="bicubic")


def test_tokens_of_a_prompt_and_the_refusals():
    from dalib.models.clip import tokenize

    t = tokenize(["a photo of a dog", "a photo of a traffic light"])
    assert t.shape == (2, 77) and (t[:, 0] == 49406).all()
    for row in t:
        eot = int(row.argmax())  # the pooling position: the end token, the largest id
        assert row[eot] == 49407 and (row[eot + 1 :] == 0).all() and (row[1:eot] > 0).all()
    assert tokenize(["a photo of a dog"])[0, 1:6].tolist() == [320, 1125, 539, 320, 1929]  # OpenAI BPE ids
    longest = "a photo of a " + " ".join(["dog"] * 71)  # 4 + 71 = 75 tokens: fits exactly
    assert int(tokenize([longest])[0].argmax()) == 76
    with pytest.raises(ValueError, match="has 76 BPE tokens; at most 75 fit"):
        tokenize([longest + " dog"])
    with pytest.raises(ValueError, match="special token"):
        tokenize(["a photo of a <|endoftext|>"])


@pytest.mark.parametrize("numpy_1", [True, False], ids=["numpy1-names", "numpy2-names"])
def test_a_release_style_checkpoint_loads_with_weights_only(tmp_path, numpy_1):
    """What SLIP's main.py writes: optimiser and scaler state, numpy scalars in best_acc1 and args
    (under numpy 1's module names in the released files); read with weights_only=True, bit-exact."""
    from dalib.models.clip_weights import load_clip, read_checkpoint, save_release_checkpoint

    ref = create_clip("diffclip", **TINY)
    path = save_release_checkpoint(ref, tmp_path / "DiffCLIP_ViTB16_CC12M" / "checkpoint_best.pt", numpy_1=numpy_1)
    raw = torch.load(path, weights_only=False)  # what the file holds (the test made it)
    assert {"optimizer", "scaler", "best_acc1", "args", "state_dict", "epoch"} <= set(raw)
    assert type(raw["best_acc1"]).__module__ == "numpy" and len(raw["optimizer"]["state"]) > 0
    state = read_checkpoint(path)  # weights_only=True: no trust_pickle needed
    assert set(state) == set(ref.state_dict())
    got = load_clip("diffclip-cc12m", weights_dir=tmp_path, **TINY)
    for k, v in ref.state_dict().items():
        assert torch.equal(got.state_dict()[k], v), k


def test_numpy_callables_stay_refused(tmp_path):
    """Only numpy's scalar and dtype constructors are allowed: a pickle that calls another numpy
    function (np.load here) is refused like any foreign code."""
    import pickle
    import types

    import numpy as np

    from dalib.models.clip_weights import UnsafeCheckpointError, read_checkpoint

    class Payload:
        pass

    class Evil(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, Payload):
                return np.load, (str(tmp_path / "x.npy"),)
            return NotImplemented

    np.save(tmp_path / "x.npy", np.zeros(1))
    path = tmp_path / "evil.pt"
    torch.save(
        {"state_dict": {"w": torch.zeros(2)}, "note": Payload()},
        path,
        pickle_module=types.SimpleNamespace(Pickler=Evil, __name__="pickle"),
    )
    with pytest.raises(UnsafeCheckpointError, match="weights_only=True"):
        read_checkpoint(path)


_PEAK = """
import sys, torch
from dalib.models.clip import create_clip
from dalib.models.clip_weights import load_state, read_checkpoint
def kb(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))
model = create_clip("diffclip", **{arch!r})
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from the current RSS
kb0 = kb("VmRSS:")
if sys.argv[1] == "dalib":
    load_state(model, read_checkpoint(sys.argv[2]))
else:  # the whole pickle in memory, as torch.load(weights_only=False) without mmap reads it
    obj = torch.load(sys.argv[2], weights_only=False)
    load_state(model, {{k[7:]: v for k, v in obj["state_dict"].items()}})
print((kb("VmHWM:") - kb0) / 1024)
"""


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/clear_refs"), reason="Linux peak-RSS reset")
def test_loading_a_release_file_peaks_near_one_copy_of_the_weights(tmp_path):
    """A file with Adam state holds 3 copies of the weights; reading it memory-mapped and keeping
    only the state_dict adds about one copy to the process's peak memory (measured in a fresh
    process each, ru_maxrss)."""
    import subprocess
    import sys

    from dalib.models.clip_weights import save_release_checkpoint

    arch = {**TINY, "vocab_size": 200_000, "text_width": 128, "text_heads": 4, "embed_dim": 64}  # 26M params
    model = create_clip("diffclip", **arch)
    weights_mb = sum(p.numel() * 4 for p in model.state_dict().values()) / 2**20
    path = save_release_checkpoint(model, tmp_path / "checkpoint_best.pt")
    file_mb = path.stat().st_size / 2**20
    assert file_mb > 2.9 * weights_mb  # weights + exp_avg + exp_avg_sq
    peak = {}
    for how in ("dalib", "whole"):
        out = subprocess.run(
            [sys.executable, "-c", _PEAK.format(arch=arch), how, str(path)], capture_output=True, text=True, check=True
        )
        peak[how] = float(out.stdout.strip().splitlines()[-1])
    assert peak["dalib"] < 1.5 * weights_mb, (peak, weights_mb)
    assert peak["whole"] > 2.5 * weights_mb, (peak, weights_mb)  # the measurement sees the difference


def test_the_four_hub_repositories():
    from dalib.models.clip_weights import RELEASES

    assert {n: (r.repo_id, r.model) for n, r in RELEASES.items()} == {
        "diffclip-cc12m": ("hammh0a/DiffCLIP_ViTB16_CC12M", "diffclip"),
        "diffclip-cc3m": ("hammh0a/DiffCLIP_ViTB16_CC3M", "diffclip"),
        "clip-cc12m": ("hammh0a/ViTB16_CC12M", "clip"),
        "clip-cc3m": ("hammh0a/ViTB16_CC3M", "clip"),
    }
