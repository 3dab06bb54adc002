"""Training runs longer than a session: a committed state every few epochs, resumed on any machine.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*: its depth-1 models train for 100 epochs, more than one 3-hour session on a
2-core CPU. :func:`train_with_states` trains one configuration with :func:`dalib.train.train` in
chunks of ``state_every`` epochs; after each chunk the run's checkpoint (weights, optimiser, random
state, epoch, history) is written atomically to ``<zoo>/campaign-states/<run name>.pt``, which is
committed with the zoo. A run whose local checkpoint is missing (a new machine) starts from that
state. Any learning-rate schedule works: the state is the run's own checkpoint, not a shorter run.
Resuming is bit-identical to an uninterrupted run on the same kind of machine (tested). The
finished model is a zoo entry, and its state is then removed (the entry replaces it).
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import train as _train
from .atomic import atomic_torch_save
from .models import zoo as _zoo

STATE_DIR = "campaign-states"  # under the zoo folder: committed with it


def state_path(config: dict, zoo=None) -> Path:
    """The committed state of the training run of ``config`` (its full training configuration)."""
    return _zoo.zoo_dir(zoo) / STATE_DIR / f"{_train.run_name(config)}.pt"


def train_with_states(model: str, model_config: dict | None = None, *, state_every: int, **kwargs):
    """:func:`dalib.train.train` of ``model`` with ``kwargs`` (recipe and run options; ``save_to_zoo``
    is implied), writing the committed state after every ``state_every`` epochs; returns the
    :class:`dalib.train.TrainResult` of the finished run."""
    if not isinstance(state_every, int) or isinstance(state_every, bool) or state_every < 1:
        raise ValueError(f"state_every must be a positive int (epochs between committed states), got {state_every!r}")
    kwargs = {**kwargs, "save_to_zoo": True}
    config, opts = _train.split_options(kwargs)
    cfg = _train._config_of(model, model_config, config, opts.data)[0]
    name, epochs = _train.run_name(cfg), cfg["epochs"]
    state = state_path(cfg, opts.zoo)
    if _zoo.has_entry(name, opts.zoo):
        return _train.train(model, model_config, **kwargs)
    ckpt = _train.checkpoint_path(cfg, opts.checkpoints)
    if not ckpt.exists() and state.exists():  # a new machine: continue from the committed state
        _train.load_checkpoint(state, cfg)  # checks the file and its configuration first
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(torch.load(state, map_location="cpu", weights_only=True), ckpt)
    done = _train.load_checkpoint(ckpt, cfg)["epoch"] if ckpt.exists() else 0
    stop = min(epochs, (done // state_every + 1) * state_every)
    while True:
        res = _train.train(model, model_config, **{**kwargs, "stop_after_epoch": stop})
        if stop >= epochs:
            break
        state.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(torch.load(ckpt, map_location="cpu", weights_only=True), state)
        stop = min(epochs, stop + state_every)
    if state.exists() and _zoo.has_entry(name, opts.zoo):
        state.unlink()  # the zoo entry holds the finished model
    return res


def train_with_states_from_parameters(params: dict, *, state_every: int, **kwargs):
    """:func:`train_with_states` from a notebook's flat training parameters (``train.md``'s, plus the
    model's optional keys such as ``stem``; ``notebooks/experiments/pair.md``)."""
    model, model_config, rest = _train._split_parameters(params)
    return train_with_states(model, model_config, state_every=state_every, **rest, **kwargs)
