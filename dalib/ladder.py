"""A ladder of snapshots from one training run: how the verdicts move with model quality.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. Its depth-1 models reach 0.85-0.87 clean accuracy (100 epochs, Adam at a
constant lr 5e-4); the ``cpu`` profile's reach 0.63. The ladder trains the depth-1 pair with the
paper's optimiser recipe and keeps the weights after epochs ``k`` in ``rungs`` (8, 16, 32, 64, 100).

With a constant learning rate and per-epoch random streams (``dalib.train``: epoch ``e`` draws from a
generator seeded by ``seed * 1_000_003 + e``), the weights after epoch ``k`` of a long run *are*
those of a ``k``-epoch run of the same recipe. So each rung is an ordinary training configuration
(``epochs = k``), trained by :func:`dalib.train.train` and saved in the model zoo under its own
name, and every experiment notebook can attack it like any other model.

The run survives a new machine: after each rung its resumable state (weights, Adam state, RNG,
epoch, history: the training checkpoint) is written to ``<zoo>/ladder-states/``, which is
committed with the zoo. Rung ``K`` starts from the newest state (its checkpoint is copied there with
the configuration of rung ``K``), wherever that state was made. On the same kind of machine (same
precision and kernels) the weights are bit-identical to an uninterrupted run (tested).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import torch

from . import train as _train
from .atomic import atomic_torch_save
from .models import zoo as _zoo

RUNGS = (8, 16, 32, 64, 100)  # epochs kept as zoo entries (the ladder)
STATE_DIR = "ladder-states"  # under the zoo folder: committed with it
#: the train.md parameters (beyond the cpu profile's) that make a rung, with ``epochs = k``: the
#: ``recipe`` of the rung points of asr_suite.md and mechanism_suite.md
LADDER_RECIPE = {"lr": 5e-4, "lr_schedule": "constant", "augment": True}


def rung_recipe(k: int) -> dict:
    """The ``recipe`` of an experiment notebook that names the ladder's rung at epoch ``k``."""
    return {**LADDER_RECIPE, "epochs": int(k)}


def rung_of(recipe) -> int | None:
    """The rung (epoch count) a ``recipe`` (a dict, or its JSON text in a record) names, else ``None``."""
    if isinstance(recipe, str):
        try:
            recipe = json.loads(recipe)
        except ValueError:
            return None
    if not isinstance(recipe, dict) or set(recipe) != {*LADDER_RECIPE, "epochs"}:
        return None
    if any(recipe[k] != v for k, v in LADDER_RECIPE.items()):
        return None
    return int(recipe["epochs"])


def check_rungs(rungs) -> tuple:
    rungs = tuple(rungs)
    if (
        not rungs
        or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in rungs)
        or list(rungs) != sorted(set(rungs))
    ):
        raise ValueError(f"rungs must be increasing positive epoch counts, e.g. {RUNGS}, got {rungs!r}")
    return rungs


def run_id(config: dict) -> str:
    """The ladder run a rung's configuration belongs to: its training config without ``epochs``."""
    rest = {k: v for k, v in config.items() if k != "epochs"}
    return (
        f"{config['model']}-d{config['depth']}-"
        + hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]
    )


def state_path(config: dict, zoo=None) -> Path:
    """The committed resumable state of the ladder run ``config`` belongs to."""
    return _zoo.zoo_dir(zoo) / STATE_DIR / f"{run_id(config)}.pt"


def _seed_checkpoint(state_file: Path, config: dict, path: Path) -> int:
    """Copy the ladder state into rung ``config``'s checkpoint ``path`` as an unfinished run of
    that configuration; return the state's epoch."""
    ckpt = _train.load_checkpoint(state_file)
    if run_id(ckpt["config"]) != run_id(config):
        raise _train.CheckpointError(f"ladder state {state_file} belongs to another run than {config}")
    if ckpt["epoch"] > config["epochs"]:
        raise _train.CheckpointError(
            f"ladder state {state_file} is at epoch {ckpt['epoch']}, past rung "
            f"{config['epochs']}; that rung is then in the zoo, or the state is foreign"
        )
    ckpt = copy.copy(ckpt)
    ckpt["config"] = config
    ckpt["done"] = False
    ckpt.pop("test_accuracy", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(ckpt, path)
    return int(ckpt["epoch"])


def train_ladder(
    model: str, model_config: dict | None = None, *, rungs=RUNGS, zoo=None, checkpoints=None, **train_kwargs
) -> list:
    """Train ``model`` up to ``max(rungs)`` epochs and return one :class:`dalib.train.TrainResult`
    per rung (each a zoo entry). ``train_kwargs`` are :func:`dalib.train.train`'s (the recipe); the
    learning rate must be constant. A rung already in the zoo is loaded; the others continue from
    the newest state, so an interrupted ladder resumes where its last rung ended."""
    rungs = check_rungs(rungs)
    if train_kwargs.get("lr_schedule", "constant") != "constant":
        raise ValueError(
            "a ladder needs lr_schedule='constant': with a decaying rate, epoch k of a long run is not a k-epoch run"
        )
    train_kwargs = {**train_kwargs, "lr_schedule": "constant"}
    out = []
    for k in rungs:
        out.append(_train_rung(model, model_config, {**train_kwargs, "epochs": k}, zoo, checkpoints))
    return out


def _train_rung(model, model_config, kw, zoo, checkpoints):
    # the rung's own configuration, as dalib.train hashes it (in-memory data enter by their hash)
    config, opts = _train.split_options(kw)
    cfg = _train._config_of(model, model_config, config, opts.data)[0]
    name = _train.run_name(cfg)
    state = state_path(cfg, zoo)
    if not _zoo.has_entry(name, zoo):
        path = _train.checkpoint_path(cfg, checkpoints)
        if not path.exists() and state.exists():
            _seed_checkpoint(state, cfg, path)
    res = _train.train(model, model_config, zoo=zoo, checkpoints=checkpoints, save_to_zoo=True, **kw)
    if res.trained_now or not state.exists() or _train.load_checkpoint(state)["epoch"] < cfg["epochs"]:
        ckpt = Path(res.checkpoint_path)
        if ckpt.exists():  # the finished rung's checkpoint becomes the run's newest committed state
            state.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(torch.load(ckpt, map_location="cpu", weights_only=True), state)
    return res


def train_ladder_from_parameters(params: dict, rungs=RUNGS, **kwargs) -> list:
    """:func:`train_ladder` from ``train.md``'s flat parameters (``notebooks/experiments/ladder.md``)."""
    model, model_config, rest = _train._split_parameters(params)
    rest.pop("epochs", None)
    rest.pop("save_to_zoo", None)
    return train_ladder(model, model_config, rungs=rungs, **rest, **kwargs)
