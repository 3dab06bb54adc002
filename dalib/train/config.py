"""A training run's configuration: the recipe (:class:`TrainConfig`), the run options
(:class:`RunOptions`), the validated configuration that names a run (:func:`train_config`,
:func:`run_name`), and the mapping from notebook parameters to a run.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (Sec. 4: Adam, lr 5e-4, batch 128, 100 epochs, crop and flip).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..models import DEFAULT_CONFIG, OPTIONAL_CONFIG, validated_config
from ..precision import check_precision

CHECKPOINT_FORMAT = "dalib-train-v1"


LR_SCHEDULES = ("constant", "cosine")


def train_config(
    model: str,
    model_config: dict | None = None,
    *,
    dataset="cifar10",
    n_train=None,
    n_test=None,
    epochs=100,
    batch_size=128,
    lr=5e-4,
    lr_schedule="constant",
    precision="auto",
    adv_eps=0.0,
    adv_steps=10,
    seed=0,
    augment=True,
) -> dict:
    """The full, validated training configuration (what the checkpoint hash is over). For a
    registered ``dataset`` its :class:`~dalib.data.DatasetSpec` supplies the model's input size and
    normalisation (unless ``model_config`` sets them) and must agree with ``num_classes``."""
    model_config = _dataset_defaults(dataset, dict(model_config or {}))
    model_cfg = validated_config(model, **model_config)  # validates name and keys, builds nothing
    for key, v, high in (
        ("epochs", epochs, MAX_EPOCHS),
        ("batch_size", batch_size, MAX_BATCH),
        ("adv_steps", adv_steps, 1000),
    ):
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= high:
            raise ValueError(f"{key} must be an int in [1, {high}], got {v!r}")
    sizes = _split_sizes(dataset)
    for key, v, split in (("n_train", n_train, "train"), ("n_test", n_test, "eval")):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"{key} must be a positive int or None (whole split), got {v!r}")
        if v is not None and sizes.get(split) and v > sizes[split][1]:
            name, size = sizes[split]
            raise ValueError(
                f"{key}={v} exceeds the {size} images of {dataset}/{name}; give at most {size}, "
                "or None for the whole split"
            )
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr <= 10):
        raise ValueError(f"lr must be a number in (0, 10], got {lr!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}; valid: {list(LR_SCHEDULES)}")
    if not (isinstance(adv_eps, (int, float)) and 0 <= adv_eps <= 255):
        raise ValueError(f"adv_eps is in units of 1/255 and must lie in [0, 255], got {adv_eps!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    check_precision(precision)
    return {
        "format": CHECKPOINT_FORMAT,
        **model_cfg,
        "dataset": str(dataset),
        "n_train": n_train,
        "n_test": n_test,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": float(lr),
        "lr_schedule": lr_schedule,
        "augment": "crop4+flip" if augment else "none",
        "precision": precision,
        "adv_eps": float(adv_eps),
        "adv_steps": adv_steps if adv_eps > 0 else 0,
        "seed": seed,
    }


MAX_EPOCHS = 10_000  # the paper trains 100 (300 on CIFAR-100); beyond this a value is a typo


MAX_BATCH = 65_536


def _split_sizes(dataset) -> dict:
    """``{"train": (split, size), "eval": (split, size)}`` of a registered dataset, where its spec
    knows the sizes (empty for in-memory data)."""
    if str(dataset).startswith("tensors:"):
        return {}
    from ..data import get_spec

    spec = get_spec(dataset)
    out = {}
    for role, split in (("train", spec.train_split), ("eval", spec.eval_split)):
        if split is not None and spec.sizes.get(split):
            out[role] = (split, spec.sizes[split])
    return out


def _dataset_defaults(dataset, model_config: dict) -> dict:
    """``model_config`` with ``img_size``, ``mean`` and ``std`` from the spec of ``dataset`` where
    not given; ``ValueError`` for an unknown or evaluation-only dataset or a class count that is
    not the dataset's. In-memory data (``"tensors:<hash>"``) passes through unchanged."""
    if str(dataset).startswith("tensors:"):
        return model_config
    from ..data import get_spec

    spec = get_spec(dataset)
    spec.check_trainable()
    k = model_config.setdefault("num_classes", spec.num_classes)
    if k != spec.num_classes:
        raise ValueError(
            f"num_classes={k!r}, but dataset {spec.name!r} has {spec.num_classes} classes; "
            f"set num_classes={spec.num_classes} (train.md: -p num_classes={spec.num_classes}; an experiment: "
            f"its recipe, {{'num_classes': {spec.num_classes}}})"
        )
    model_config.setdefault("img_size", spec.image_size)
    model_config.setdefault("mean", list(spec.mean))
    model_config.setdefault("std", list(spec.std))
    return model_config


def config_hash(config: dict) -> str:
    """First 12 hex digits of the SHA-256 of the config as canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def run_name(config: dict) -> str:
    """``<model>-d<depth>-<hash>``: the name of a training run's checkpoint and zoo entry."""
    return f"{config['model']}-d{config['depth']}-{config_hash(config)}"


def model_config_of(cfg: dict) -> dict:
    """The model part (``{"model": name, ...}``) of a training config."""
    return {k: v for k, v in cfg.items() if k == "model" or k in DEFAULT_CONFIG or k in OPTIONAL_CONFIG}


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe: what a run computes, hashed (with the model's config) into its checkpoint
    and zoo names by :func:`train_config`.

    Adam with learning rate ``lr`` (``lr_schedule``: constant, or cosine decay to 0 over all steps)
    on the cross-entropy of batches of ``batch_size``, for ``epochs`` epochs over the first
    ``n_train`` training images (``None``: all), with random-crop (4-pixel zero padding) and flip
    augmentation when ``augment``. ``precision`` ("auto", "fp32", "bf16") sets the autocast of the
    training forward and backward ("auto": :mod:`dalib.precision`; evaluation stays float32).
    ``adv_eps > 0`` (units of 1/255) trains on the PGD examples of each batch,
    ``x + delta``, ``delta`` from ``adv_steps`` steps of ``2.5 adv_eps / adv_steps``. ``seed`` fixes the
    initialisation and, with the epoch, each epoch's order, augmentation and attack starts."""

    dataset: str = "cifar10"
    n_train: int | None = None
    n_test: int | None = None
    epochs: int = 100
    batch_size: int = 128
    lr: float = 5e-4
    lr_schedule: str = "constant"
    precision: str = "auto"
    adv_eps: float = 0.0
    adv_steps: int = 10
    seed: int = 0
    augment: bool = True


@dataclass(frozen=True)
class RunOptions:
    """Where and how one training run executes (nothing here is hashed): the ``device``; the data
    root, checkpoint folder and zoo (``None``: ``$DALIB_DATA``, ``$DALIB_CHECKPOINTS``, ``$DALIB_ZOO``
    or the repository's folders); ``save_to_zoo``: write the finished model there; ``data``:
    ``(x_train, y_train, x_test, y_test)`` tensors in place of the dataset (their content hash becomes
    the dataset's name); ``progress``: a progress bar; ``stop_after_epoch``: stop early as if
    interrupted (the next call resumes); ``kernels``: the implementation of the training step
    (:mod:`dalib.train.kernels`: ``"auto"``, ``"explicit"``, ``"fused"``; a resumed run keeps its own)."""

    device: str = "auto"
    data_root: str | Path | None = None
    checkpoints: str | Path | None = None
    zoo: str | Path | None = None
    save_to_zoo: bool = False
    data: tuple | None = None
    progress: bool = True
    stop_after_epoch: int | None = None
    kernels: str = "auto"


def split_options(kwargs: dict) -> tuple[TrainConfig, RunOptions]:
    """:func:`train`'s keyword arguments as a :class:`TrainConfig` and :class:`RunOptions`; an
    unknown name raises ``TypeError`` listing both sets."""
    recipe, run = {f.name for f in fields(TrainConfig)}, {f.name for f in fields(RunOptions)}
    unknown = sorted(set(kwargs) - recipe - run)
    if unknown:
        raise TypeError(
            f"train() got unknown keyword argument(s) {unknown}; a recipe takes {sorted(recipe)}, a run {sorted(run)}"
        )
    return (
        TrainConfig(**{k: v for k, v in kwargs.items() if k in recipe}),
        RunOptions(**{k: v for k, v in kwargs.items() if k in run}),
    )


def _config_of(model, model_config, config: TrainConfig, data=None) -> tuple[dict, str]:
    """The training config (what the checkpoint and zoo names hash) and the dataset name."""
    dataset = config.dataset
    if data is not None:
        h = hashlib.sha256()
        for t in data:
            h.update(t.contiguous().cpu().numpy().tobytes())
        dataset = f"tensors:{h.hexdigest()[:12]}"
    return train_config(model, model_config, **{**asdict(config), "dataset": dataset}), dataset


MODEL_PARAMETERS = (
    "depth",
    "lambda_init",
    "num_classes",
    "embed_dim",
    "num_heads",
    "patch_size",
    "global_pool",
    "stem",
)


_PROCESS_PARAMETERS = ("num_threads",)  # process settings, not part of the training configuration


def _split_parameters(params: dict):
    p = {k: v for k, v in params.items() if k not in _PROCESS_PARAMETERS}
    if "model" not in p:
        raise ValueError("params lacks 'model' (a registry key of dalib.models: 'vit' or 'diffvit')")
    model = p.pop("model")
    return model, {k: p.pop(k) for k in MODEL_PARAMETERS if k in p}, p


def config_from_parameters(params: dict) -> dict:
    """The training configuration (what the checkpoint hash is over, :func:`train_config`) that
    :func:`train_from_parameters` would train for ``params``, without training: lets an analysis
    check that a result was made with the current recipe (compare :func:`config_hash`)."""
    model, model_config, rest = _split_parameters(params)
    rest = {
        k: v
        for k, v in rest.items()
        if k not in ("device", "data_root", "checkpoints", "zoo", "save_to_zoo", "progress")
    }
    return train_config(model, model_config, **rest)


def recipe_of(params: dict) -> dict:
    """The training recipe an experiment notebook's parameters name: ``train.md`` under profile
    ``params["train_profile"]`` with the model's ``model, depth, lambda_init, seed, dataset`` and
    the further ``train.md`` parameters of ``params["recipe"]`` (a dict, if present), which may also
    set the model's optional config keys (``dalib.models.OPTIONAL_CONFIG``, e.g. ``{"stem": "conv"}``)."""
    from ..run import PROFILES, notebook_parameters

    prof = params.get("train_profile", "cpu")
    if prof not in PROFILES:
        raise ValueError(f"train_profile must be one of {list(PROFILES)}, got {prof!r}")
    keys = ("model", "depth", "lambda_init", "seed", "dataset")
    extra = params.get("recipe") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"recipe must be a dict of train.md parameters, got {extra!r}")
    # model-config keys newer than train.md's parameters cell (e.g. "stem") pass through to the model
    extra = dict(extra)  # the caller's recipe stays as it is
    optional = {k: extra.pop(k) for k in list(extra) if k in OPTIONAL_CONFIG}
    return {**notebook_parameters("train", prof, {**extra, **{k: params[k] for k in keys if k in params}}), **optional}


def check_recipe(params: dict) -> dict:
    """Validator (front matter ``dalib.validator``) of a notebook that trains or loads one model:
    raises ``ValueError`` naming the bad parameter, its value and the valid range; returns the
    training config. Accepts ``train.md``'s own parameters or an experiment's (``train_profile``)."""
    recipe = recipe_of(params) if "train_profile" in params else params
    return config_from_parameters(recipe)
