"""Training of ViT / DiffViT classifiers with resumable, config-keyed checkpoints.

Recipe of the paper under study (Takahashi et al., *Understanding Sensitivity of Differential
Attention through the Lens of Adversarial Robustness*, Sec. 4): Adam, lr 5e-4, batch 128, 100
epochs on CIFAR-10 (300 on CIFAR-100), standard augmentation (random crop with 4-pixel zero
padding + horizontal flip). Optional PGD adversarial training (Madry et al., ICLR 2018):
``min_theta E max_{||delta||_inf <= eps} CE(f(x + delta), y)`` with eps given in units of 1/255
(the paper's Table 3 uses eps in {0.25, 0.5, 1}/255).

A training run is named ``<model>-d<depth>-<hash>``, the hash over the full training configuration
(model config, data, optimisation, requested precision, seed). :func:`train` returns, in order of
preference:

1. the committed model zoo entry ``zoo/<name>.safetensors`` (``dalib.models.zoo``; checksum and
   configuration checked), so a user never retrains a model the book uses;
2. the finished checkpoint ``<checkpoint_dir>/<name>.pt``;
3. a new or resumed training run. The checkpoint is written atomically at the end of every epoch
   (model, optimizer, epoch, RNG state), so an interrupted run resumes where it stopped. All
   randomness of an epoch (shuffling, augmentation, PGD start) comes from a generator seeded by
   ``(seed, epoch)``, so a resumed run is bit-identical to an uninterrupted one on CPU. With
   ``save_to_zoo`` the finished weights become a zoo entry.

``precision="auto"`` trains in bf16 autocast only where this device multiplies bf16 faster than
fp32 (``dalib.precision``); the precision actually used is stored in the checkpoint, the zoo entry
and the record, and a resumed run keeps the precision it started with.
"""

from __future__ import annotations

from .checkpoint import (  # noqa: F401
    CHECKPOINTS_ENV,
    CheckpointError,
    _model_from_checkpoint,
    _repo_root,
    _rng_state,
    _save,
    _set_rng_state,
    checkpoint_dir,
    checkpoint_path,
    load_checkpoint,
    load_model,
)
from .config import (  # noqa: F401
    _PROCESS_PARAMETERS,
    CHECKPOINT_FORMAT,
    LR_SCHEDULES,
    MAX_BATCH,
    MAX_EPOCHS,
    MODEL_PARAMETERS,
    RunOptions,
    TrainConfig,
    _config_of,
    _dataset_defaults,
    _split_parameters,
    _split_sizes,
    check_recipe,
    config_from_parameters,
    config_hash,
    model_config_of,
    recipe_of,
    run_name,
    split_options,
    train_config,
)
from .loop import (  # noqa: F401
    TrainResult,
    _as_float01,
    _epoch,
    _finish,
    _from_zoo,
    _lr_at,
    _result,
    _resume,
    _Run,
    _to_zoo,
    _train,
    augment_batch,
    evaluate,
    split_tensors,
    train,
    train_from_parameters,
)

__all__ = [
    "train",
    "TrainConfig",
    "RunOptions",
    "split_options",
    "train_from_parameters",
    "config_from_parameters",
    "MODEL_PARAMETERS",
    "TrainResult",
    "CheckpointError",
    "run_name",
    "evaluate",
    "augment_batch",
    "split_tensors",
    "train_config",
    "config_hash",
    "checkpoint_dir",
    "checkpoint_path",
    "load_checkpoint",
    "load_model",
]
