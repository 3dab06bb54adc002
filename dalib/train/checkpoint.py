"""Training checkpoints: the folder, the file of a configuration, atomic writing with the random
state, and checked loading (a corrupt or foreign file names itself and the fix).

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_torch_save
from ..device import resolve_device
from ..models import model_from_config
from .config import CHECKPOINT_FORMAT, model_config_of, run_name

CHECKPOINTS_ENV = "DALIB_CHECKPOINTS"


class CheckpointError(ValueError):
    """A checkpoint file is corrupt or belongs to another configuration (the message names the
    file and the fix)."""


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def checkpoint_dir(path=None) -> Path:
    """``path`` if given, else ``$DALIB_CHECKPOINTS``, else ``<repo>/checkpoints``."""
    return Path(path or os.environ.get(CHECKPOINTS_ENV) or _repo_root() / "checkpoints")


def checkpoint_path(config: dict, directory=None) -> Path:
    """``<checkpoint_dir>/<model>-d<depth>-<hash>.pt`` for a training config."""
    return checkpoint_dir(directory) / f"{run_name(config)}.pt"


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"]))


def load_checkpoint(path, expected_config: dict | None = None) -> dict:
    """Load and check a training checkpoint.

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError` (naming the file
    and the fix) for a corrupt file, a non-dalib file, or a config different from
    ``expected_config``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; train the configuration first "
            "(dalib.train.train or notebooks/experiments/train.md)"
        )
    fix = f"delete {path} and rerun training to recreate it"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {str(e)[:200]}); {fix}"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} training checkpoint; {fix}")
    missing = {"config", "model_state", "optimizer_state", "epoch", "rng_state", "history"} - set(ckpt)
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {sorted(missing)} (truncated?); {fix}")
    if expected_config is not None and ckpt["config"] != expected_config:
        diff = sorted(
            k for k in set(ckpt["config"]) | set(expected_config) if ckpt["config"].get(k) != expected_config.get(k)
        )
        raise CheckpointError(
            f"checkpoint {path} was written for another configuration (differs in {diff}: file has "
            f"{ {k: ckpt['config'].get(k) for k in diff} }, expected { {k: expected_config.get(k) for k in diff} }); "
            f"{fix}, or point DALIB_CHECKPOINTS elsewhere"
        )
    return ckpt


def _save(path, cfg, net, opt, epoch, history, **extra) -> None:
    """Write a training checkpoint atomically: weights, optimizer, epoch, RNG state, history."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": cfg,
            "model_state": net.state_dict(),
            "optimizer_state": opt.state_dict(),
            "epoch": epoch,
            "rng_state": _rng_state(),
            "history": history,
            **extra,
        },
        path,
    )


def _model_from_checkpoint(ckpt: dict, path) -> torch.nn.Module:
    model_cfg = model_config_of(ckpt["config"])
    model = model_from_config(model_cfg)
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as e:
        raise CheckpointError(
            f"checkpoint {path}: model weights do not match the "
            f"{model_cfg['model']} architecture of its config ({str(e)[:300]}); "
            f"delete {path} and rerun training"
        ) from e
    return model


def load_model(path, device="auto") -> torch.nn.Module:
    """The trained model (eval mode) from a checkpoint file written by :func:`train`."""
    ckpt = load_checkpoint(path)
    return _model_from_checkpoint(ckpt, path).to(resolve_device(device)).eval()
