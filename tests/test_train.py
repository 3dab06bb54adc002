"""dalib.train on tiny seeded models and synthetic data (no dataset download or decode)."""

import math

import pytest
import torch
import torch.nn.functional as F

from dalib.train import (
    CheckpointError,
    augment_batch,
    checkpoint_path,
    load_checkpoint,
    load_model,
    train,
    train_config,
)

TINY = dict(depth=1, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=4)


def synthetic(n=256, n_test=64, seed=0):
    """Learnable 4-class data: each class a fixed colour (survives crop and flip) plus noise, uint8."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.8, 0.8, 0.1]])[:, :, None, None]

    def draw(m):
        y = torch.arange(m) % 4
        x = (0.7 * protos[y] + 0.3 * torch.rand(m, 3, 8, 8, generator=g)).clamp(0, 1)
        return (x * 255).round().to(torch.uint8), y

    return (*draw(n), *draw(n_test))


def _train(tmp_path, name="diffvit", **kw):
    args = dict(data=synthetic(), epochs=1, batch_size=64, seed=0, checkpoints=tmp_path, progress=False)
    return train(name, TINY, **{**args, **kw})


def test_checkpoint_round_trip(tmp_path):
    res = _train(tmp_path)
    assert res.trained_now and 0.0 <= res.test_accuracy <= 1.0
    assert res.checkpoint_path == str(checkpoint_path(res.config, tmp_path))
    model = load_model(res.checkpoint_path)
    x = torch.rand(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), res.model(x))
    assert model.config == res.model.config
    again = _train(tmp_path)  # same config: returned from the finished checkpoint
    assert not again.trained_now and again.test_accuracy == res.test_accuracy
    assert again.config_hash == res.config_hash
    row = res.row()
    assert row["checkpoint"].endswith(f"{res.config_hash}.pt") and row["n_params"] == res.n_params
    assert all(isinstance(v, (str, int, float, bool)) for v in row.values())


def test_corrupt_checkpoint_raises_clear_error(tmp_path):
    res = _train(tmp_path)
    path = res.checkpoint_path
    with open(path, "wb") as f:
        f.write(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match=r"corrupt.*delete .* and rerun"):
        _train(tmp_path)
    with pytest.raises(CheckpointError, match=str(path).replace(".", r"\.")):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_checkpoint_raises_clear_error(tmp_path):
    res = _train(tmp_path)
    ckpt = torch.load(res.checkpoint_path, weights_only=True)
    # a file whose stored config is another configuration's
    ckpt_other = {**ckpt, "config": {**ckpt["config"], "lr": 1.0}}
    torch.save(ckpt_other, res.checkpoint_path)
    with pytest.raises(CheckpointError, match=r"another configuration.*\['lr'\]"):
        _train(tmp_path)
    # weights that do not fit the architecture
    ckpt_bad = {**ckpt, "model_state": {k + "_renamed": v for k, v in ckpt["model_state"].items()}}
    torch.save(ckpt_bad, res.checkpoint_path)
    with pytest.raises(CheckpointError, match=r"do not match the diffvit architecture"):
        load_model(res.checkpoint_path)
    torch.save({"format": "something-else"}, res.checkpoint_path)
    with pytest.raises(CheckpointError, match=r"not a dalib-train-v1"):
        load_model(res.checkpoint_path)


def test_training_steps_lower_the_loss(tmp_path):
    from dalib.models import create_model
    from dalib.seeding import seed_everything

    x, y, _, _ = data = synthetic(256)
    xf = x.float() / 255
    res = train("vit", TINY, data=data, epochs=3, batch_size=64, lr=2e-3, seed=0, checkpoints=tmp_path, progress=False)
    with torch.no_grad():
        seed_everything(0)  # same seed -> the initial weights train() started from
        init = create_model("vit", **TINY).eval()
        loss0 = F.cross_entropy(init(xf), y).item()
        loss1 = F.cross_entropy(res.model(xf), y).item()
    assert loss1 < loss0 - 0.1, f"loss on the 256 training images: before {loss0:.3f}, after {loss1:.3f}"
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_deterministic_and_resume_is_bit_identical(tmp_path):
    full = _train(tmp_path / "a", epochs=2)
    again = _train(tmp_path / "b", epochs=2)
    part = _train(tmp_path / "c", epochs=2, stop_after_epoch=1)  # "interrupted" after epoch 1
    assert math.isnan(part.test_accuracy) and part.epochs == 1
    assert load_checkpoint(part.checkpoint_path)["epoch"] == 1
    resumed = _train(tmp_path / "c", epochs=2)
    assert resumed.trained_now and resumed.epochs == 2
    for other in (again, resumed):
        sa, sb = full.model.state_dict(), other.model.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert resumed.test_accuracy == full.test_accuracy


def test_bf16_and_adversarial_training_run(tmp_path):
    res = _train(tmp_path, name="vit", precision="bf16", adv_eps=8.0, adv_steps=2)
    assert res.precision == "bf16" and res.config["adv_eps"] == 8.0 and res.config["adv_steps"] == 2
    assert all(p.dtype == torch.float32 for p in res.model.parameters())
    clean = _train(tmp_path, name="vit", precision="bf16")
    assert clean.config_hash != res.config_hash
    sa, sb = res.model.state_dict(), clean.model.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa), "adversarial training must change the updates"


def test_augment_is_crop_of_padded_and_flip():
    x = torch.rand(64, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(64):  # every output is some 8x8 window of the padded image, maybe mirrored
        hits = [
            (dy, dx, fl)
            for dy in range(9)
            for dx in range(9)
            for fl in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if fl else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        ]
        assert hits, f"image {i} is not a crop of its padded input"
    assert not torch.equal(out, x)


def test_bad_config_errors_before_compute(tmp_path):
    mem = "tensors:0123456789ab"  # in-memory data: no dataset spec applies
    with pytest.raises(ValueError, match=r"adv_eps is in units of 1/255"):
        train_config("vit", TINY, dataset=mem, adv_eps=300)
    with pytest.raises(ValueError, match=r"unknown lr_schedule 'step'"):
        train_config("vit", TINY, dataset=mem, lr_schedule="step")
    with pytest.raises(ValueError, match=r"unknown model"):
        train_config("resnet")
    with pytest.raises(ValueError, match=r"epochs must be an int in \[1, 10000\], got 0"):
        train_config("vit", TINY, dataset=mem, epochs=0)
    assert train_config("vit", TINY, dataset=mem) != train_config("diffvit", TINY, dataset=mem)


def test_dataset_spec_sets_the_model_input_and_checks_the_class_count():
    from dalib.data import get_spec

    tiny = get_spec("tiny-imagenet-valsplit")
    cfg = train_config("vit", {"num_classes": 200, "patch_size": 8}, dataset=tiny.name)
    assert (cfg["img_size"], cfg["mean"], cfg["std"]) == (64, list(tiny.mean), list(tiny.std))
    assert train_config("vit", {"patch_size": 8}, dataset=tiny.name)["num_classes"] == 200
    # CIFAR-10 configs are what they were before the spec existed (the zoo's hashes depend on it)
    assert train_config("vit", {"num_classes": 10}) == train_config(
        "vit", {"num_classes": 10, "img_size": 32, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}
    )
    with pytest.raises(ValueError, match=r"num_classes=10, but dataset 'tiny-imagenet-valsplit' has 200"):
        train_config("vit", {"num_classes": 10, "patch_size": 8}, dataset=tiny.name)
    with pytest.raises(ValueError, match=r"evaluation-only"):
        train_config("vit", {"num_classes": 80}, dataset="coco2014-val")
    with pytest.raises(ValueError, match=r"unknown dataset 'svhn'; valid names"):
        train_config("vit", TINY, dataset="svhn")


def test_train_from_parameters_is_train_with_the_notebook_mapping(tmp_path):
    from dalib.run import notebook_parameters
    from dalib.train import config_from_parameters, config_hash, train_from_parameters

    params = notebook_parameters("train", "smoke", {"model": "diffvit", "n_train": 64, "n_test": 32})
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(64) % 10
    r = train_from_parameters(
        {**params, "device": "cpu"}, data=(x, y, x[:32], y[:32]), checkpoints=tmp_path, progress=False
    )
    assert r.config["embed_dim"] == params["embed_dim"] and r.config["epochs"] == params["epochs"]
    assert r.config["model"] == "diffvit" and float(r.config["lambda_init"]) == float(params["lambda_init"])
    # the configuration is computable without training (dataset replaced by data -> differs only there)
    cfg = config_from_parameters(params)
    assert {k: v for k, v in cfg.items() if k != "dataset"} == {k: v for k, v in r.config.items() if k != "dataset"}
    assert config_hash(config_from_parameters(params)) == config_hash(cfg)
    with pytest.raises(ValueError, match="model"):
        train_from_parameters({"depth": 1})
    with pytest.raises(TypeError, match="bogus"):
        train_from_parameters({**params, "bogus": 1})


def _train_in_child(tmp, out):
    import torch as _t

    _t.set_num_threads(1)
    res = _train(tmp, zoo=tmp / "zoo", epochs=2)
    out.put((res.trained_now, res.source, res.test_accuracy))


def test_one_owner_per_configuration(tmp_path):
    """Two processes ask for the same configuration at once: one trains it, the other waits on
    the lock and loads the finished checkpoint (no configuration is ever trained twice at once)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_train_in_child, args=(tmp_path, out)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    got = sorted([out.get(timeout=5) for _ in procs])
    assert [g[0] for g in got] == [False, True]  # exactly one trained
    assert got[0][1] == "checkpoint" and got[0][2] == got[1][2]  # the other loaded the same weights
    from dalib.lock import FileLock  # released: the lock file stays (never deleted), unheld and empty

    for lock in tmp_path.glob("*.lock"):
        assert lock.read_text() == ""
        with FileLock(lock, poll_s=0.01, max_wait_s=0.5) as held:
            assert not held.waited


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    from dalib.lock import FileLock, LockTimeout

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "x.pt.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": 0}))
    with FileLock(lock, poll_s=0.01) as held:
        assert not held.waited and json.loads(lock.read_text())["pid"] != dead.pid
    lock.write_text("")  # an empty file, or one naming another host, holds nothing: taken at once
    with FileLock(lock, poll_s=0.01, max_wait_s=0.5) as held:
        assert not held.waited
    # a live holder (another process) is waited on, with a limit and a message naming file and holder
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from dalib.lock import FileLock\n"
                f"l = FileLock({str(lock)!r}).acquire(); print('held', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        msgs = []
        with pytest.raises(LockTimeout, match="still held after .* by process %d" % holder.pid):
            FileLock(lock, poll_s=0.01, max_wait_s=0.05, on_wait=msgs.append).acquire()
        assert str(lock) in msgs[0] and f"process {holder.pid}" in msgs[0]
    finally:
        holder.kill()
        holder.wait()
    with FileLock(lock, poll_s=0.01, max_wait_s=5) as held:  # kill -9 released it
        assert json.loads(lock.read_text())["pid"] != holder.pid


def _hold_lock_once(lock, inside, start, out):
    """Child of the race test: take the lock, and check that nobody else is inside meanwhile."""
    import os
    import time

    from dalib.lock import FileLock

    start.wait()  # all children ask at the same instant
    with FileLock(lock, poll_s=0.001, max_wait_s=60):
        try:
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another holder is inside
        except FileExistsError:
            out.put("overlap")
            return
        time.sleep(0.005)
        os.close(fd)
        os.unlink(inside)
    out.put("ok")


def test_many_processes_on_a_stale_lock_find_exactly_one_holder_at_a_time(tmp_path):
    """The probe that broke the O_EXCL protocol (2 holders in 57 of 200 trials): 20 trials of 6
    processes started together on a lock file left by a dead process."""
    import json
    import multiprocessing as mp
    import socket

    ctx = mp.get_context("fork")
    for trial in range(20):
        lock, inside = tmp_path / f"t{trial}.lock", tmp_path / f"t{trial}.inside"
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 1, "started": 0}))
        out, start = ctx.Queue(), ctx.Barrier(6)
        procs = [ctx.Process(target=_hold_lock_once, args=(lock, inside, start, out)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        got = [out.get(timeout=5) for _ in procs]
        assert got == ["ok"] * 6, f"trial {trial}: {got}"


def test_lock_wait_limit_comes_from_the_environment(monkeypatch):
    from dalib.lock import DEFAULT_MAX_WAIT_S, FileLock

    monkeypatch.delenv("DALIB_LOCK_MAX_WAIT_S", raising=False)
    assert FileLock("x.lock").max_wait_s == DEFAULT_MAX_WAIT_S
    monkeypatch.setenv("DALIB_LOCK_MAX_WAIT_S", "7.5")
    assert FileLock("x.lock").max_wait_s == 7.5
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv("DALIB_LOCK_MAX_WAIT_S", bad)
        with pytest.raises(ValueError, match="DALIB_LOCK_MAX_WAIT_S"):
            FileLock("x.lock")


def test_ladder_rungs_are_the_runs_of_their_epochs_and_resume_on_a_new_machine(tmp_path):
    """dalib.ladder: with a constant lr, rung k of one run is bit-identical to a k-epoch run; a
    ladder interrupted after rung 2 and continued with only the committed zoo (its weights and
    states, no local checkpoints: a new machine) gives the same rung 3 as an uninterrupted one."""
    from dalib.ladder import state_path, train_ladder

    data = synthetic(128)
    kw = dict(data=data, batch_size=64, lr=2e-3, lr_schedule="constant", seed=3, progress=False, augment=True)
    full = train_ladder("diffvit", TINY, rungs=(1, 2, 3), zoo=tmp_path / "zoo_a", checkpoints=tmp_path / "ck_a", **kw)
    alone = train("diffvit", TINY, epochs=2, checkpoints=tmp_path / "ck_alone", **kw)
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert [r.epochs for r in full] == [1, 2, 3]
    assert same(full[1].model.state_dict(), alone.model.state_dict())
    assert full[1].test_accuracy == alone.test_accuracy
    # interrupted after rung 2, then a new machine: the zoo (with ladder-states/) is all it has
    part = train_ladder("diffvit", TINY, rungs=(1, 2), zoo=tmp_path / "zoo_b", checkpoints=tmp_path / "ck_b", **kw)
    assert state_path(part[1].config, tmp_path / "zoo_b").exists()
    rest = train_ladder("diffvit", TINY, rungs=(1, 2, 3), zoo=tmp_path / "zoo_b", checkpoints=tmp_path / "ck_new", **kw)
    assert not rest[0].trained_now and not rest[1].trained_now and rest[2].trained_now
    assert same(rest[2].model.state_dict(), full[2].model.state_dict())
    assert [h["loss"] for h in rest[2].history] == [h["loss"] for h in full[2].history] and rest[2].epochs == 3
    with pytest.raises(ValueError, match="lr_schedule='constant'"):
        train_ladder(
            "vit", TINY, rungs=(1,), zoo=tmp_path / "z", checkpoints=tmp_path / "c", **{**kw, "lr_schedule": "cosine"}
        )
    with pytest.raises(ValueError, match="increasing positive epoch counts"):
        train_ladder("vit", TINY, rungs=(2, 1), zoo=tmp_path / "z", checkpoints=tmp_path / "c", **kw)


def test_an_unknown_keyword_names_the_recipe_and_run_fields():
    """train()'s keywords are the fields of TrainConfig (hashed) and RunOptions (not hashed)."""
    from dalib.train import RunOptions, TrainConfig, split_options

    config, opts = split_options({"epochs": 3, "lr": 1e-3, "device": "cpu", "save_to_zoo": True})
    assert config == TrainConfig(epochs=3, lr=1e-3) and opts == RunOptions(device="cpu", save_to_zoo=True)
    with pytest.raises(
        TypeError, match=r"unknown keyword argument\(s\) \['lr_shedule'\]; a recipe takes .*lr_schedule"
    ):
        train("vit", lr_shedule="cosine")
