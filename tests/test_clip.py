"""CLIP/DiffCLIP: the release key layout, the loaders and each of their errors, the DiffCLIP layer
against an independent computation, zero-shot prediction and the cosine attack, on small models
built in the exact layout of the release."""

import argparse
import pathlib

import pytest
import torch
import torch.nn.functional as F

from dalib.attacks import PGD, PatchPGD, evaluate_attack
from dalib.metrics.maps import available_keys, layer_lambdas, model_kind
from dalib.models import attention_layers, attention_maps, kind_of
from dalib.models.attention import DiffCLIPAttention
from dalib.models.clip import VIT_B16, CLIPImageEncoder, check_config, create_clip, tokenize
from dalib.models.clip_weights import (
    RELEASES,
    CheckpointKeyError,
    UnsafeCheckpointError,
    WeightsNotFoundError,
    find_checkpoint,
    load_clip,
    read_checkpoint,
    save_release_checkpoint,
)
from dalib.validators import check_clip
from dalib.zeroshot import class_names, load_zero_shot, top1_correct, zero_shot

TINY = dict(
    vision_width=32,
    vision_layers=2,
    vision_heads=4,
    text_width=32,
    text_layers=2,
    text_heads=4,
    embed_dim=16,
    image_size=16,
    patch_size=8,
)


def _tiny(name, seed=0):
    torch.manual_seed(seed)
    return create_clip(name, **TINY).eval()


def test_release_key_layout():
    """Every key family of the release's DiffCLIP_VITB16 and of the SLIP CLIP baseline."""
    d, c = _tiny("diffclip").state_dict(), _tiny("clip").state_dict()
    for k in (
        "visual.patch_embed.proj.weight",
        "visual.cls_token",
        "visual.pos_embed",
        "visual.norm.weight",
        "token_embedding.weight",
        "positional_embedding",
        "ln_final.weight",
        "image_projection",
        "text_projection",
        "logit_scale",
    ):
        assert k in d and k in c
    for tower in ("visual.blocks.1", "transformer.resblocks.1"):
        for p in (
            "q_proj.weight",
            "k_proj.bias",
            "v_proj.weight",
            "out_proj.weight",
            "diff_norm.weight",
            "lambda_q1",
            "lambda_k1",
            "lambda_q2",
            "lambda_k2",
        ):
            assert f"{tower}.attn.{p}" in d
    assert {
        "visual.blocks.0.attn.qkv.weight",
        "visual.blocks.0.attn.proj.weight",
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.0.attn.out_proj.weight",
        "transformer.resblocks.0.mlp.c_fc.weight",
        "transformer.resblocks.0.ln_2.bias",
        "visual.blocks.0.mlp.fc1.weight",
        "visual.blocks.0.norm1.weight",
    } <= set(c)
    assert d["visual.blocks.0.attn.diff_norm.weight"].shape == (2 * 32 // 4,)
    assert d["visual.blocks.0.attn.lambda_q1"].shape == (32 // 4,)
    assert "attn_mask" not in c  # the causal mask is rebuilt, not stored


def test_vit_b16_shapes_without_building_it():
    c = check_config("diffclip")
    assert (c["vision_width"], c["vision_layers"], c["vision_heads"], c["patch_size"]) == (768, 12, 12, 16)
    assert (c["text_width"], c["text_heads"], c["context_length"], c["vocab_size"]) == (512, 8, 77, 49408)
    assert c["lambda_init"] == 0.8 and VIT_B16["embed_dim"] == 512
    with pytest.raises(ValueError, match="unknown CLIP model"):
        check_config("diffvit")
    with pytest.raises(ValueError, match="unknown CLIP config key"):
        check_config("clip", width=3)
    with pytest.raises(ValueError, match="must be even"):
        check_config("diffclip", vision_heads=3, vision_width=33)


def test_diffclip_layer_matches_an_independent_computation():
    torch.manual_seed(0)
    attn = DiffCLIPAttention(16, num_heads=4, lambda_init=0.8).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.full((5, 5), float("-inf")).triu(1)
    H, d = 2, 4
    q = attn.q_proj(x).view(2, 5, 2 * H, d).transpose(1, 2) * d**-0.5
    k = attn.k_proj(x).view(2, 5, 2 * H, d).transpose(1, 2)
    v = attn.v_proj(x).view(2, 5, H, 2 * d).transpose(1, 2)
    a = (q @ k.transpose(-1, -2) + mask).softmax(-1).view(2, H, 2, 5, 5)
    lam = torch.exp((attn.lambda_q1 * attn.lambda_k1).sum()) - torch.exp((attn.lambda_q2 * attn.lambda_k2).sum()) + 0.8
    o = (a[:, :, 0] - lam * a[:, :, 1]) @ v
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * attn.diff_norm.weight * 0.2
    ref = attn.out_proj(o.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x, attn_mask=mask), ref)
    m = attn.maps(x, mask)
    torch.testing.assert_close(m["A_DA"], m["A1"] - m["lambda"] * m["A2"])
    assert torch.all(m["A1"][..., 0, 1:] == 0)  # causal: the first token sees only itself


def test_release_round_trip_with_module_prefix_and_pickled_args(tmp_path):
    for name, release in (("diffclip", "diffclip-cc12m"), ("clip", "clip-cc12m")):
        ref = _tiny(name)
        path = save_release_checkpoint(ref, tmp_path / RELEASES[release].dirname / "checkpoint_best.pt")
        raw = torch.load(path, map_location="cpu", weights_only=False)
        assert isinstance(raw["args"], argparse.Namespace) and isinstance(raw["args"].output_dir, pathlib.Path)
        assert all(k.startswith("module.") for k in raw["state_dict"])
        got = load_clip(release, weights_dir=tmp_path, **TINY)  # safe read: weights_only with an allow-list
        assert not got.training
        for (k, a), (k2, b) in zip(ref.state_dict().items(), got.state_dict().items()):
            assert k == k2 and torch.equal(a, b)
        tok = tokenize(["a photo of a dog"])
        torch.testing.assert_close(got.encode_text(tok), ref.encode_text(tok))


def test_bare_state_dict_without_prefix(tmp_path):
    ref = _tiny("diffclip")
    torch.save(ref.state_dict(), tmp_path / "bare.pt")
    got = load_clip("diffclip-cc3m", checkpoint=tmp_path / "bare.pt", **TINY)
    assert torch.equal(got.image_projection, ref.image_projection)


def test_missing_weights_error_names_file_place_and_online_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("DALIB_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as e:
        find_checkpoint("diffclip-cc12m")
    msg = str(e.value)
    assert str(tmp_path / "DiffCLIP_ViTB16_CC12M" / "checkpoint_best.pt") in msg
    assert "huggingface.co/hammh0a/DiffCLIP_ViTB16_CC12M" in msg and "online=True" in msg
    with pytest.raises(WeightsNotFoundError, match="huggingface.co/hammh0a/ViTB16_CC12M/resolve/main"):
        find_checkpoint("clip-cc12m")  # the baseline of the same recipe
    monkeypatch.delenv("DALIB_WEIGHTS")
    with pytest.raises(WeightsNotFoundError, match="set DALIB_WEIGHTS"):
        find_checkpoint("diffclip-cc3m")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        find_checkpoint("diffclip-cc3m", tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="unknown CLIP release"):
        find_checkpoint("diffclip-laion")


def test_key_mismatch_lists_missing_and_unexpected_keys(tmp_path):
    path = save_release_checkpoint(_tiny("diffclip"), tmp_path / "d.pt")
    with pytest.raises(CheckpointKeyError) as e:
        load_clip("clip-cc12m", checkpoint=path, **TINY)
    msg = str(e.value)
    assert "missing key(s): transformer.resblocks.0.attn.in_proj_bias" in msg
    assert "unexpected key(s): transformer.resblocks.0.attn.diff_norm.weight" in msg
    assert "build model 'diffclip'" in msg
    with pytest.raises(CheckpointKeyError, match="shape mismatch"):
        load_clip("diffclip-cc12m", checkpoint=path, **{**TINY, "embed_dim": 8})


def test_untrusted_pickle_refused_unless_user_named(tmp_path, monkeypatch):
    class Odd:  # a class outside the allow-list, as a foreign pickle would hold
        pass

    import sys

    monkeypatch.setattr(sys.modules[__name__], "Odd", Odd, raising=False)
    Odd.__module__, Odd.__qualname__ = __name__, "Odd"
    state = {"module." + k: v for k, v in _tiny("clip").state_dict().items()}
    path = tmp_path / "CLIP_ViTB16_CC12M" / "checkpoint_best.pt"
    path.parent.mkdir()
    torch.save({"state_dict": state, "extra": Odd()}, path)
    with pytest.raises(UnsafeCheckpointError, match="trust_pickle=True"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match="never applied to a file found"):
        load_clip("clip-cc12m", weights_dir=tmp_path, trust_pickle=True, **TINY)
    assert load_clip("clip-cc12m", checkpoint=path, trust_pickle=True, **TINY).config["model"] == "clip"
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointKeyError, match="expected a state_dict"):
        read_checkpoint(tmp_path / "list.pt")


def test_attention_kinds_of_both_towers():
    d, c = _tiny("diffclip"), _tiny("clip")
    assert (
        kind_of(d.visual.blocks[0].attn).name == "diffclip"
        and kind_of(d.transformer.resblocks[0].attn).name == "diffclip"
    )
    assert (
        kind_of(c.visual.blocks[0].attn).name == "standard" and kind_of(c.transformer.resblocks[0].attn).name == "mha"
    )
    enc_d, enc_c = CLIPImageEncoder(d), CLIPImageEncoder(c)
    assert len(attention_layers(enc_d)) == 2  # the encoder holds the vision tower only
    assert model_kind(enc_d) == "diffclip" and model_kind(enc_c) == "standard"
    assert available_keys(enc_d) == ("A1", "A2", "A_DA") and available_keys(enc_c) == ("A",)
    assert all(abs(v - 0.8) < 0.2 for v in layer_lambdas(enc_d))
    x = torch.rand(2, 3, 16, 16)
    maps = attention_maps(enc_d, x)
    assert maps[0]["A_DA"].shape == (2, 2, 5, 5)  # (B, differential heads, 1 + 4 patches, tokens)
    torch.testing.assert_close(maps[0]["A1"].sum(-1), torch.ones(2, 2, 5))
    # the text tower's MultiheadAttention: explicit maps reproduce the module's output
    mha = c.transformer.resblocks[0].attn
    h = torch.randn(2, 6, 32)
    out_ref = mha(h, h, h, need_weights=False, attn_mask=c.attn_mask[:6, :6])[0]
    from dalib.models.attention import mha as mha_kind

    m = mha_kind.maps(mha, h, c.attn_mask[:6, :6])
    torch.testing.assert_close(mha_kind.output_from_maps(mha, h, m), out_ref, atol=1e-5, rtol=1e-4)


def test_zero_shot_prediction_and_cosine_pgd():
    clip = _tiny("diffclip")
    zs = zero_shot(clip, ["cat", "dog", "car"], "test")
    x = torch.rand(6, 3, 16, 16)
    pred = zs.predict(x, batch_size=4)
    emb = F.normalize(clip.encode_image((x - zs.encoder.mean) / zs.encoder.std), dim=-1)
    assert torch.equal(pred, (emb @ zs.loss.text_embeddings.T).argmax(-1))
    assert torch.equal(top1_correct(pred, pred), torch.ones(6, dtype=torch.bool))
    multi = torch.zeros(6, 3)
    multi[torch.arange(6), (pred + 1) % 3] = 1
    assert not top1_correct(pred, multi).any()
    ev = evaluate_attack(
        PGD(zs.encoder, eps=16 / 255, steps=5, loss=zs.loss),
        x,
        pred,
        batch_size=3,
        attack_labels="clean_pred",
        n_boot=50,
    )
    ev2 = evaluate_attack(
        PGD(zs.encoder, eps=16 / 255, steps=5, loss=zs.loss),
        x,
        pred,
        batch_size=6,
        attack_labels="clean_pred",
        n_boot=50,
    )
    assert ev.summary["asr"] == ev2.summary["asr"]  # per-sample randomness: batching does not matter
    xa = PatchPGD(zs.encoder, w=4, eps=1.0, steps=3, loss=zs.loss)(x, pred)
    changed = (xa != x).flatten(1).sum(1)
    assert (changed <= 3 * 16).all() and (xa >= 0).all() and (xa <= 1).all()
    with pytest.raises(ValueError, match="image_size=16"):
        zs.encoder(torch.rand(1, 3, 32, 32))


def test_random_weights_go_through_the_release_loader(tmp_path):
    zs = load_zero_shot("clip", "random", ["a", "b"], arch=TINY, seed=3, scratch_dir=tmp_path)
    assert (tmp_path / "checkpoint_best.pt").is_file() and "re-loaded in the release format" in zs.source


def _params(**kw):
    p = dict(
        model="diffclip",
        weights="random",
        checkpoint="",
        online=False,
        arch=TINY,
        seed=0,
        dataset="coco2014-val",
        n_eval=32,
        resize="slip",
        eps=[1, 4],
        patch_w=[4],
        steps=3,
        n_metric=2,
        lip_eps=8,
        n_samples=8,
        n_probes=4,
        attack_seed=0,
        metric_seed=0,
        batch_size=8,
        n_boot=100,
        device="cpu",
        num_threads=1,
    )
    p.update(kw)
    return p


def test_notebook_validator(tmp_path, monkeypatch):
    check_clip(_params())
    monkeypatch.setenv("DALIB_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="DiffCLIP_ViTB16_CC12M"):
        check_clip(_params(weights="diffclip-cc12m", arch={}))
    with pytest.raises(ValueError, match="hold a 'diffclip' model"):
        check_clip(_params(model="clip", weights="diffclip-cc12m", arch={}))
    with pytest.raises(ValueError, match="random only|weights='random' only"):
        check_clip(_params(weights="diffclip-cc12m"))
    with pytest.raises(ValueError, match="training set"):
        check_clip(_params(dataset="cifar10"))
    with pytest.raises(ValueError, match="patch_w"):
        check_clip(_params(patch_w=[64]))
    with pytest.raises(ValueError, match="n_metric"):
        check_clip(_params(n_metric=64))
    with pytest.raises(ValueError, match="eps"):
        check_clip(_params(eps=[0]))


def test_memory_fit_and_one_measured_step():
    from dalib.models.clip_memory import fit_batch_size, pgd_step_cost

    rows = [{"batch_size": 8, "peak_bytes": 2e9}, {"batch_size": 16, "peak_bytes": 3e9}]  # 125 MB per image
    assert fit_batch_size(rows, 10e9, headroom=1.0) == 72  # (10e9 - 1e9) / 1.25e8
    with pytest.raises(ValueError, match="two different batch sizes"):
        fit_batch_size(rows[:1], 10e9)
    r = pgd_step_cost("diffclip", 2, arch=TINY, steps=1, warmup=0, num_threads=1)
    assert r["peak_bytes"] >= r["model_rss_bytes"] > 0 and r["step_s"] > 0 and r["device"] == "cpu"


def test_class_names_refuse_wordnet_ids():
    class DS:
        classes = ["n01440764", "n01443537", "tench"]

    with pytest.raises(ValueError, match="meta.bin"):
        class_names(DS())
    DS.classes = ["tench", "goldfish"]
    assert class_names(DS()) == ["tench", "goldfish"]


def test_online_download_failure_is_reported_with_the_offline_alternative(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(**kw):
        raise OSError(f"cannot reach the Hub for {kw['repo_id']}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setenv("DALIB_WEIGHTS", str(tmp_path))
    with pytest.raises(
        WeightsNotFoundError,
        match="Hub download failed: OSError: cannot reach the Hub for hammh0a/DiffCLIP_ViTB16_CC12M",
    ):
        find_checkpoint("diffclip-cc12m", online=True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **kw: str(tmp_path / "got.pt"))
    assert find_checkpoint("diffclip-cc12m", online=True) == tmp_path / "got.pt"
