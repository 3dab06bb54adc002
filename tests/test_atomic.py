import os

import pytest
import torch

from dalib.atomic import atomic_torch_save, atomic_write, atomic_write_text


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "record.json"
    atomic_write_text(target, "old")

    def half_write(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise KeyboardInterrupt  # interrupted midway

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_write)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_torch_save_round_trip_and_usual_mode(tmp_path):
    path = atomic_torch_save({"w": torch.arange(3)}, tmp_path / "sub" / "ckpt.pt")
    assert torch.equal(torch.load(path)["w"], torch.arange(3))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
