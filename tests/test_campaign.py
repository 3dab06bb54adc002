"""Runs longer than a session (dalib.campaign): the committed state every few epochs, and a resume on a
new machine (only the zoo folder kept) that is bit-identical to an uninterrupted run."""

import shutil

import pytest
import torch

from dalib import campaign
from dalib import train as _train

TINY = {"depth": 1, "img_size": 8, "patch_size": 4, "embed_dim": 16, "num_heads": 4, "num_classes": 3}


def _data():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(48, 3, 8, 8, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 3, (48,), generator=g)
    return (x, y, x[:16], y[:16])


def _run(tmp, name, **kw):
    return campaign.train_with_states(
        "diffvit",
        TINY,
        state_every=2,
        epochs=5,
        batch_size=16,
        lr_schedule="cosine",  # any schedule: the state is the run's own checkpoint
        precision="fp32",
        data=_data(),
        checkpoints=tmp / name / "ckpt",
        zoo=tmp / name / "zoo",
        progress=False,
        **kw,
    )


def test_a_run_resumed_from_the_committed_state_on_a_new_machine_is_bit_identical(tmp_path, monkeypatch):
    whole = _run(tmp_path, "whole")
    assert whole.epochs == 5 and whole.source == "trained"
    assert not list((tmp_path / "whole" / "zoo" / campaign.STATE_DIR).glob("*.pt")), "the finished run keeps no state"

    calls = {"n": 0}
    real = _train.train

    def dies_after_the_first_chunk(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("the session ends")
        return real(*a, **k)

    monkeypatch.setattr(_train, "train", dies_after_the_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "cut")
    monkeypatch.setattr(_train, "train", real)
    states = list((tmp_path / "cut" / "zoo" / campaign.STATE_DIR).glob("*.pt"))
    assert len(states) == 1 and _train.load_checkpoint(states[0])["epoch"] == 2
    shutil.rmtree(tmp_path / "cut" / "ckpt")  # a new machine: only the committed zoo folder came along
    resumed = _run(tmp_path, "cut")
    assert resumed.epochs == 5 and [h["loss"] for h in resumed.history] == [h["loss"] for h in whole.history]
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run's"
    assert _run(tmp_path, "cut").source == "zoo"  # finished: the zoo entry, no training


def test_a_corrupt_state_and_a_bad_interval_are_refused_with_the_fix(tmp_path, monkeypatch):
    real = _train.train
    calls = {"n": 0}

    def dies(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(_train, "train", dies)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "x")
    monkeypatch.setattr(_train, "train", real)
    (state,) = (tmp_path / "x" / "zoo" / campaign.STATE_DIR).glob("*.pt")
    state.write_bytes(b"truncated")
    shutil.rmtree(tmp_path / "x" / "ckpt")
    with pytest.raises(_train.CheckpointError, match=str(state.name)):
        _run(tmp_path, "x")
    with pytest.raises(ValueError, match="state_every must be a positive int"):
        campaign.train_with_states("diffvit", TINY, state_every=0, epochs=5)
