"""The model zoo (dalib.models.zoo) and the training precision choice (dalib.precision), on tiny
seeded models."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_train import TINY, synthetic

import dalib.precision as precision
from dalib.models.zoo import ZOO_BUDGET_BYTES, ZooError, entry_paths, file_sha256, load_entry, zoo_bytes, zoo_dir
from dalib.train import load_checkpoint, run_name, train

REPO_ZOO = Path(__file__).resolve().parents[1] / "zoo"


def _train(tmp_path, **kw):
    args = dict(
        data=synthetic(),
        epochs=1,
        batch_size=64,
        seed=0,
        checkpoints=tmp_path / "ck",
        zoo=tmp_path / "zoo",
        progress=False,
    )
    return train("diffvit", TINY, **{**args, **kw})


@pytest.fixture
def probe(monkeypatch):
    """Set what the bf16 probe measures: probe(speedup)."""

    def set_speedup(x):
        precision._auto.cache_clear()
        monkeypatch.setattr(precision, "bf16_matmul_speedup", lambda device, n=512: x)

    yield set_speedup
    precision._auto.cache_clear()


# ---- zoo


def test_zoo_entry_round_trip_without_checkpoints(tmp_path):
    res = _train(tmp_path, save_to_zoo=True)
    weights, checksum = entry_paths(run_name(res.config), tmp_path / "zoo")
    assert res.zoo_path == str(weights) and res.zoo_sha256 == file_sha256(weights)
    assert checksum.read_text().split() == [res.zoo_sha256, weights.name]  # sha256sum format
    row = res.row()
    assert row["zoo_sha256"] == res.zoo_sha256 and row["zoo_file"] == weights.name
    shutil.rmtree(tmp_path / "ck")  # the zoo alone suffices: nothing is retrained
    again = _train(tmp_path)
    assert again.source == "zoo" and not again.trained_now
    assert again.test_accuracy == res.test_accuracy and again.history == res.history
    assert again.precision == res.precision and again.zoo_sha256 == res.zoo_sha256
    sa, sb = res.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not (tmp_path / "ck").exists()
    entry = load_entry(run_name(res.config), res.config, tmp_path / "zoo")
    assert all(t.dtype == torch.float32 for t in entry.state_dict.values())
    assert not any("optim" in k or "exp_avg" in k for k in entry.state_dict)  # weights only


def test_zoo_exports_a_finished_checkpoint(tmp_path):
    res = _train(tmp_path)
    assert res.zoo_path == "" and not (tmp_path / "zoo").exists()
    exported = _train(tmp_path, save_to_zoo=True)
    assert exported.source == "checkpoint" and Path(exported.zoo_path).exists()


def _entry(tmp_path):
    res = _train(tmp_path, save_to_zoo=True)
    return res, *entry_paths(run_name(res.config), tmp_path / "zoo")


def test_zoo_missing_checksum_file(tmp_path):
    res, weights, checksum = _entry(tmp_path)
    checksum.unlink()
    with pytest.raises(ZooError, match=r"\.sha256 is missing.*git checkout"):
        _train(tmp_path)


def test_zoo_missing_weights_file(tmp_path):
    res, weights, checksum = _entry(tmp_path)
    weights.unlink()
    with pytest.raises(ZooError, match=r"\.safetensors is missing"):
        _train(tmp_path)


def test_zoo_corrupt_file_fails_its_checksum(tmp_path):
    res, weights, checksum = _entry(tmp_path)
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="SHA-256.*corrupt or was replaced") as e:
        _train(tmp_path)
    assert weights.name in str(e.value)


def test_zoo_unreadable_file_with_matching_checksum(tmp_path):
    res, weights, checksum = _entry(tmp_path)
    weights.write_bytes(b"not safetensors")
    checksum.write_text(f"{file_sha256(weights)}  {weights.name}\n")
    with pytest.raises(ZooError, match="not readable safetensors"):
        _train(tmp_path)


def test_zoo_entry_of_another_configuration(tmp_path):
    res, weights, checksum = _entry(tmp_path)
    other = dict(res.config, seed=1)
    w2, c2 = entry_paths(run_name(other), tmp_path / "zoo")
    shutil.copy(weights, w2)
    c2.write_text(checksum.read_text())
    with pytest.raises(ZooError, match=r"another training configuration \(differs in \['seed'\]"):
        _train(tmp_path, seed=1)


def test_zoo_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DALIB_ZOO", str(tmp_path))
    assert zoo_dir() == tmp_path
    monkeypatch.delenv("DALIB_ZOO")
    assert zoo_dir() == REPO_ZOO


def test_committed_zoo_entries_verify():
    """Every committed zoo file matches its checksum and holds a dalib training configuration."""
    from safetensors import safe_open

    files = sorted(REPO_ZOO.glob("*.safetensors")) if REPO_ZOO.exists() else []
    for weights in files:
        listed = weights.with_suffix(".sha256").read_text().split()
        assert listed == [file_sha256(weights), weights.name], weights.name
        with safe_open(str(weights), framework="pt") as f:
            cfg = json.loads(f.metadata()["config"])
        assert weights.stem == run_name(cfg)
    assert sum(f.stat().st_size for f in files) == (zoo_bytes(REPO_ZOO) if files else 0)
    assert sum(f.stat().st_size for f in files) <= ZOO_BUDGET_BYTES  # the zoo's size budget


# ---- precision


def test_precision_is_validated(tmp_path):
    with pytest.raises(ValueError, match="precision must be one of"):
        _train(tmp_path, precision="fp16")
    assert precision.resolve_precision("fp32", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


def test_auto_precision_follows_the_probe(probe):
    probe(1 / 45)  # an AVX2 CPU without native bf16: bf16 matmul 45x slower
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    probe(4.0)  # AMX / AVX512-BF16
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    probe(1.1)  # not clearly faster: stay in fp32
    assert precision.resolve_precision("auto", "cpu") == "fp32"


def test_cpu_without_native_bf16_trains_in_fp32(tmp_path, probe):
    probe(1 / 45)
    res = _train(tmp_path)
    assert res.config["precision"] == "auto" and res.precision == "fp32"
    assert res.row()["precision"] == "fp32" and res.row()["precision_requested"] == "auto"
    assert load_checkpoint(res.checkpoint_path)["precision_resolved"] == "fp32"


def test_resumed_run_keeps_its_precision(tmp_path, probe):
    probe(4.0)
    part = _train(tmp_path, epochs=2, stop_after_epoch=1)
    assert part.precision == "bf16"
    probe(1 / 45)  # the machine changed its mind (or the run moved): the run stays in bf16
    done = _train(tmp_path, epochs=2, save_to_zoo=True)
    assert done.precision == "bf16" and done.epochs == 2
    assert load_entry(run_name(done.config), done.config, tmp_path / "zoo").meta["precision"] == "bf16"


def test_probe_measures_a_ratio():
    s = precision.bf16_matmul_speedup(torch.device("cpu"), n=64)
    assert s > 0 and s == s  # a positive, finite ratio (its size depends on the CPU)


def test_cpu_recipe_loads_the_committed_zoo_without_training(tmp_path):
    """The depth-1 chapter's models: the train notebook's cpu recipe finds each committed entry
    (no training, no checkpoint), and its accuracy is the one its train record reports."""
    from dalib.records import load_rows
    from dalib.run import notebook_parameters
    from dalib.train import train_from_parameters

    if not any(REPO_ZOO.glob("*.safetensors")):
        pytest.skip("no committed zoo entries in this checkout")
    rows = load_rows("train", table="results", profile="cpu")
    rows = rows[rows["zoo_file"].astype(str).str.len() > 0] if "zoo_file" in rows else rows.iloc[:0]
    if not len(rows):
        pytest.skip("no current cpu train record with a zoo entry")
    r = rows.iloc[0]
    recipe = notebook_parameters(
        "train",
        "cpu",
        {"model": r["model"], "depth": int(r["depth"]), "lambda_init": str(r["lambda_init"]), "seed": int(r["seed"])},
    )
    res = train_from_parameters(recipe, progress=False, checkpoints=tmp_path)  # an empty checkpoint dir
    assert res.source == "zoo" and not res.trained_now
    assert Path(res.zoo_path).name == r["zoo_file"] and res.zoo_sha256 == r["zoo_sha256"]
    assert res.test_accuracy == r["clean_accuracy"] and res.precision == r["precision"]
    assert not any(tmp_path.iterdir())
