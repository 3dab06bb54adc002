"""The model zoo: the committed final weights of every trained model the book uses.

A zoo entry is two files in ``zoo/`` (or ``$DALIB_ZOO``), named after the training run
``<model>-d<depth>-<config hash>`` (``dalib.train.config_hash``: a hash of the full training
configuration):

- ``<name>.safetensors``: the model's ``state_dict`` in float32, no optimiser state, and in the
  safetensors metadata the training configuration, the precision it was trained in, its clean
  test accuracy and per-epoch history (JSON strings);
- ``<name>.sha256``: the file's SHA-256 in ``sha256sum`` format (``cd zoo && sha256sum -c
  *.sha256`` checks them all), also stored in the train record.

:func:`load_entry` checks the checksum and the configuration before returning weights, so a
corrupt, truncated or foreign file fails with one error that names the file and the fix instead of
silently giving another model. Anyone can then re-attack or re-measure a model without retraining,
on any machine, and gets the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

ZOO_ENV = "DALIB_ZOO"
ZOO_FORMAT = "dalib-zoo-v1"
ZOO_BUDGET_BYTES = 200 * 2**20  # the committed zoo's size budget: every chapter's weights (60 MiB until the
# depth-1 pair grew to 8 seeds and the model-quality ladder came, 120 until the paper-quality pair and V2;
# the depth chapter's width was set under 60)


class ZooError(ValueError):
    """A zoo file is missing, corrupt, or holds another configuration (the message names the file
    and the fix)."""


@dataclass
class ZooEntry:
    """Weights and what the zoo file says about them."""

    state_dict: dict
    config: dict
    meta: dict  # precision, test_accuracy, history, ... (decoded from JSON)
    path: Path
    sha256: str


def zoo_dir(path=None) -> Path:
    """``path`` if given, else ``$DALIB_ZOO``, else ``<repo>/zoo``."""
    return Path(path or os.environ.get(ZOO_ENV) or Path(__file__).resolve().parents[2] / "zoo")


def zoo_bytes(directory=None) -> int:
    """Total size of the zoo's weight files (what :data:`ZOO_BUDGET_BYTES` bounds)."""
    return sum(f.stat().st_size for f in zoo_dir(directory).glob("*.safetensors"))


def entry_paths(name: str, directory=None) -> tuple[Path, Path]:
    """``(<zoo>/<name>.safetensors, <zoo>/<name>.sha256)``."""
    d = zoo_dir(directory)
    return d / f"{name}.safetensors", d / f"{name}.sha256"


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def has_entry(name: str, directory=None) -> bool:
    """Is either file of entry ``name`` present (a half-present entry is an error at load)?"""
    weights, checksum = entry_paths(name, directory)
    return weights.exists() or checksum.exists()


def save_entry(name: str, model: torch.nn.Module, config: dict, meta: dict, directory=None) -> tuple[Path, str]:
    """Write entry ``name`` atomically (weights first, checksum last); return ``(path, sha256)``."""
    from safetensors.torch import save_file

    from ..atomic import atomic_write, atomic_write_text

    weights, checksum = entry_paths(name, directory)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    header = {
        "format": ZOO_FORMAT,
        "config": json.dumps(config, sort_keys=True),
        **{k: json.dumps(v) for k, v in meta.items()},
    }
    atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata=header))
    sha = file_sha256(weights)
    atomic_write_text(checksum, f"{sha}  {weights.name}\n")
    return weights, sha


def _fix(weights: Path) -> str:
    return (
        f"restore it with `git checkout -- {weights.parent.name}/{weights.stem}.*` (the zoo is "
        f"committed), or delete both {weights.stem}.safetensors and {weights.stem}.sha256 to "
        "retrain the model"
    )


def load_entry(name: str, expected_config: dict, directory=None) -> ZooEntry:
    """Entry ``name``, checked: both files present, the checksum matching, the file readable, and
    its configuration equal to ``expected_config``; :class:`ZooError` otherwise."""
    from safetensors import safe_open

    weights, checksum = entry_paths(name, directory)
    if not weights.exists() or not checksum.exists():
        missing, there = (weights, checksum) if not weights.exists() else (checksum, weights)
        raise ZooError(f"model zoo entry {name}: {missing} is missing but {there} exists; " + _fix(weights))
    listed = checksum.read_text(encoding="utf-8").split()
    sha = file_sha256(weights)
    if not listed or listed[0] != sha:
        raise ZooError(
            f"model zoo file {weights} has SHA-256 {sha}, but {checksum.name} lists "
            f"{listed[0] if listed else 'nothing'}: the file is corrupt or was replaced; " + _fix(weights)
        )
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt file
        raise ZooError(
            f"model zoo file {weights} is not readable safetensors ({type(e).__name__}: "
            f"{str(e)[:200]}); " + _fix(weights)
        ) from e
    if header.get("format") != ZOO_FORMAT or "config" not in header:
        raise ZooError(f"{weights} is not a {ZOO_FORMAT} model zoo file; " + _fix(weights))
    config = json.loads(header["config"])
    if config != expected_config:
        diff = sorted(k for k in set(config) | set(expected_config) if config.get(k) != expected_config.get(k))
        raise ZooError(
            f"model zoo file {weights} holds another training configuration (differs in "
            f"{diff}: file has { {k: config.get(k) for k in diff} }, expected "
            f"{ {k: expected_config.get(k) for k in diff} }); " + _fix(weights)
        )
    meta = {k: json.loads(v) for k, v in header.items() if k not in ("format", "config")}
    return ZooEntry(state_dict=state, config=config, meta=meta, path=weights, sha256=sha)
