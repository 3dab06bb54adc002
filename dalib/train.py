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

import hashlib
import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .atomic import atomic_torch_save
from .device import resolve_device
from .models import DEFAULT_CONFIG, OPTIONAL_CONFIG, count_parameters, eval_mode, model_from_config, validated_config
from .models import zoo as _zoo
from .precision import check_precision, resolve_precision
from .seeding import seed_everything

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

CHECKPOINT_FORMAT = "dalib-train-v1"
CHECKPOINTS_ENV = "DALIB_CHECKPOINTS"
LR_SCHEDULES = ("constant", "cosine")


class CheckpointError(ValueError):
    """A checkpoint file is corrupt or belongs to another configuration (the message names the
    file and the fix)."""


# --------------------------------------------------------------------------------------------
# data as tensors


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def checkpoint_dir(path=None) -> Path:
    """``path`` if given, else ``$DALIB_CHECKPOINTS``, else ``<repo>/checkpoints``."""
    return Path(path or os.environ.get(CHECKPOINTS_ENV) or _repo_root() / "checkpoints")


def split_tensors(dataset: str, split: str, root=None, n: int | None = None):
    """A whole split as tensors ``(x uint8 (N, C, H, W), y int64 (N,))`` via
    ``dalib.data.as_tensors`` (decoded once and cached by ``dalib.data``). ``n`` takes the fixed
    class-balanced subset ``dalib.data.fixed_subset(n, seed=0)``: the same images for every model
    and training seed."""
    from .data import as_tensors

    kw = {} if root is None else {"root": root}
    return as_tensors(dataset, split, n=n, seed=0, dtype=torch.uint8, **kw)


# --------------------------------------------------------------------------------------------
# augmentation


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad``-pixel zero padding + random horizontal flip, batched on tensors.

    x: (B, C, H, W) float in [0, 1] -> same shape; randomness from ``gen`` only."""
    B, C, H, W = x.shape  # (batch, channels, height, width)
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (B,), generator=gen)
    flip = torch.rand(B, generator=gen) < 0.5
    rows = (oy[:, None] + torch.arange(H)).to(x.device)  # (B, H)
    cols = (ox[:, None] + torch.arange(W)).to(x.device)  # (B, W)
    cols = torch.where(flip.to(x.device)[:, None], cols.flip(-1), cols)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------------------------
# configuration and checkpoints


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
    from .data import get_spec

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
    from .data import get_spec

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


def model_config_of(cfg: dict) -> dict:
    """The model part (``{"model": name, ...}``) of a training config."""
    return {k: v for k, v in cfg.items() if k == "model" or k in DEFAULT_CONFIG or k in OPTIONAL_CONFIG}


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


# --------------------------------------------------------------------------------------------
# training


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model (eval mode) and its record row."""

    model: torch.nn.Module
    config: dict
    config_hash: str
    checkpoint_path: str
    test_accuracy: float
    train_time_s: float
    epochs: int
    images_per_s: float
    n_params: int
    history: list = field(default_factory=list)
    trained_now: bool = True  # False: returned from the zoo or a finished checkpoint without training
    precision: str = "fp32"  # the precision the model was trained in ("fp32" or "bf16")
    source: str = "trained"  # "zoo", "checkpoint" or "trained"
    zoo_path: str = ""  # the zoo entry's weights file ("" if none)
    zoo_sha256: str = ""  # its SHA-256 ("" if none)

    def row(self) -> dict:
        """Flat row for ``dalib.records.write_rows``."""
        last = self.history[-1] if self.history else {}
        return {
            "model": self.config["model"],
            "depth": self.config["depth"],
            "lambda_init": str(self.config["lambda_init"]),
            "embed_dim": self.config["embed_dim"],
            "num_heads": self.config["num_heads"],
            "patch_size": self.config["patch_size"],
            "dataset": self.config["dataset"],
            "n_train": self.config["n_train"] or -1,
            "epochs": self.epochs,
            "batch_size": self.config["batch_size"],
            "lr": self.config["lr"],
            "lr_schedule": self.config["lr_schedule"],
            "precision": self.precision,
            "precision_requested": self.config["precision"],
            "adv_eps": self.config["adv_eps"],
            "seed": self.config["seed"],
            "clean_accuracy": self.test_accuracy,
            "train_loss": last.get("loss", float("nan")),
            "train_accuracy": last.get("accuracy", float("nan")),
            "train_time_s": self.train_time_s,
            "train_cpu_s": sum(h.get("cpu_s", float("nan")) for h in self.history),
            "eval_time_s": last.get("eval_time_s", float("nan")),
            "images_per_s": self.images_per_s,
            "n_params": self.n_params,
            "checkpoint": Path(self.checkpoint_path).name,
            "config_hash": self.config_hash,
            "trained_now": self.trained_now,
            "source": self.source,
            "zoo_file": Path(self.zoo_path).name if self.zoo_path else "",
            "zoo_sha256": self.zoo_sha256,
        }


@torch.no_grad()
def evaluate(model, x, y, batch_size: int = 500, device="auto") -> float:
    """Top-1 accuracy in float32 of ``model`` (eval mode) on uint8 or [0, 1] float images."""
    dev = resolve_device(device)
    correct = 0
    with eval_mode(model):
        for i in range(0, len(y), batch_size):
            xb = _as_float01(x[i : i + batch_size].to(dev))
            correct += (model(xb).argmax(1).cpu() == y[i : i + batch_size]).sum().item()
    return correct / len(y)


def _as_float01(x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float images -> float32 unchanged in value."""
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def _lr_at(cfg, step, total_steps):
    if cfg["lr_schedule"] == "cosine":
        return cfg["lr"] * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    return cfg["lr"]


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
    interrupted (the next call resumes)."""

    device: str = "auto"
    data_root: str | Path | None = None
    checkpoints: str | Path | None = None
    zoo: str | Path | None = None
    save_to_zoo: bool = False
    data: tuple | None = None
    progress: bool = True
    stop_after_epoch: int | None = None


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


def train(model: str, model_config: dict | None = None, **kwargs) -> TrainResult:
    """Train ``model`` (a registry name) with config ``model_config`` and the recipe and run options
    of ``kwargs`` (the fields of :class:`TrainConfig` and :class:`RunOptions`), or load it, and
    return a :class:`TrainResult`.

    A zoo entry of the configuration is returned without training, then a finished checkpoint; an
    unfinished one resumes (bit-identical to an uninterrupted run on CPU). One owner per
    configuration: while a process trains it (holding ``<checkpoint>.lock``,
    :class:`dalib.lock.FileLock`), another that asks for the same configuration waits, then loads
    the finished weights instead of training them a second time. A lock left by a process that died
    on this host is taken over."""
    from .lock import FileLock

    config, opts = split_options(kwargs)
    cfg, dataset = _config_of(model, model_config, config, opts.data)  # hashed once
    if _zoo.has_entry(run_name(cfg), opts.zoo):
        return _train(cfg, dataset, config, opts)
    path = checkpoint_path(cfg, opts.checkpoints)
    with FileLock(path.with_name(path.name + ".lock")):
        return _train(cfg, dataset, config, opts)  # re-checks the zoo and a finished checkpoint first


def _config_of(model, model_config, config: TrainConfig, data=None) -> tuple[dict, str]:
    """The training config (what the checkpoint and zoo names hash) and the dataset name."""
    dataset = config.dataset
    if data is not None:
        h = hashlib.sha256()
        for t in data:
            h.update(t.contiguous().cpu().numpy().tobytes())
        dataset = f"tensors:{h.hexdigest()[:12]}"
    return train_config(model, model_config, **{**asdict(config), "dataset": dataset}), dataset


@dataclass
class _Run:
    """A training run in progress: the model, its optimiser, the epochs done and the precision."""

    net: torch.nn.Module
    opt: torch.optim.Optimizer
    epoch: int
    history: list
    precision: str
    finished: dict | None = None  # the checkpoint of a run that had finished already


def _resume(cfg: dict, path: Path, seed: int, dev) -> _Run:
    """A new run of ``cfg``, or the one its checkpoint at ``path`` holds (weights, optimiser, epoch,
    random state; a resumed run keeps the precision it started in)."""
    ckpt = load_checkpoint(path, cfg) if path.exists() else None
    seed_everything(seed)
    net = _model_from_checkpoint(ckpt, path) if ckpt else model_from_config(model_config_of(cfg))
    net = net.to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    prec = (ckpt.get("precision_resolved") if ckpt else None) or resolve_precision(cfg["precision"], dev)
    if not ckpt:
        return _Run(net, opt, 0, [], prec)
    opt.load_state_dict(ckpt["optimizer_state"])
    _set_rng_state(ckpt["rng_state"])
    return _Run(net, opt, ckpt["epoch"], list(ckpt["history"]), prec, finished=ckpt if ckpt.get("done") else None)


def _epoch(run: _Run, cfg: dict, x_tr, y_tr, epoch: int, dev, progress: bool) -> dict:
    """Train ``run`` for one epoch (its order, augmentation and attack starts drawn from the
    generator of ``(seed, epoch)``); return the epoch's history entry."""
    from tqdm import tqdm

    from .attacks.pgd import PGD

    net, opt, epochs, batch_size = run.net, run.opt, cfg["epochs"], cfg["batch_size"]
    n = len(y_tr)
    steps_per_epoch = math.ceil(n / batch_size)
    eps, alpha = cfg["adv_eps"] / 255, 2.5 * cfg["adv_eps"] / 255 / max(cfg["adv_steps"], 1)
    gen = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    net.train()
    t0, c0 = time.perf_counter(), time.process_time()
    loss_sum, correct, seen = 0.0, 0, 0
    bar = tqdm(
        range(steps_per_epoch),
        desc=f"{cfg['model']} d{cfg['depth']} epoch {epoch + 1}/{epochs}",
        disable=not progress,
        mininterval=2.0,
        leave=True,
    )
    for step in bar:
        idx = perm[step * batch_size : (step + 1) * batch_size]
        xb = _as_float01(x_tr[idx])
        if cfg["augment"] != "none":
            xb = augment_batch(xb, gen)
        xb, yb = xb.to(dev), y_tr[idx].to(dev)
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, epoch * steps_per_epoch + step, epochs * steps_per_epoch)
        with (
            torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"),
            warnings.catch_warnings(),
        ):
            warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
            if eps > 0:  # PGD of dalib.attacks, its random start seeded from this epoch's generator
                attack_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
                xb = PGD(net, eps=eps, alpha=alpha, steps=cfg["adv_steps"], seed=attack_seed)(xb, yb)
            logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
        correct += (logits.argmax(1) == yb).sum().item()
        seen += len(idx)
        if step % 10 == 0 or step == steps_per_epoch - 1:
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
    bar.close()
    return {
        "epoch": epoch + 1,
        "loss": loss_sum / seen,
        "accuracy": correct / seen,
        "time_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "images": seen,
    }


def _finish(run: _Run, cfg: dict, path: Path, x_te, y_te, dev) -> TrainResult:
    """Evaluate the trained model on the test images and save the finished checkpoint."""
    t0 = time.perf_counter()
    acc = evaluate(run.net, x_te, y_te, device=dev)
    run.history[-1]["eval_time_s"] = time.perf_counter() - t0
    _save(
        path,
        cfg,
        run.net,
        run.opt,
        cfg["epochs"],
        run.history,
        done=True,
        test_accuracy=acc,
        precision_resolved=run.precision,
    )
    return _result(run.net.eval(), cfg, path, acc, run.history, precision=run.precision)


def _train(cfg: dict, dataset: str, config: TrainConfig, opts: RunOptions) -> TrainResult:
    """Train configuration ``cfg`` (see :func:`train`): from the zoo, a finished checkpoint, or
    resumed or new training, epoch by epoch, each followed by a checkpoint."""
    dev = resolve_device(opts.device)
    name = run_name(cfg)
    path = checkpoint_path(cfg, opts.checkpoints)
    if _zoo.has_entry(name, opts.zoo):
        return _from_zoo(name, cfg, path, opts.zoo, dev)
    run = _resume(cfg, path, config.seed, dev)
    if run.finished is not None:
        res = _result(
            run.net.eval(),
            cfg,
            path,
            run.finished["test_accuracy"],
            run.history,
            trained_now=False,
            precision=run.precision,
            source="checkpoint",
        )
        return _to_zoo(res, name, opts.zoo) if opts.save_to_zoo else res
    if opts.data is not None:
        x_tr, y_tr, x_te, y_te = opts.data
    else:  # the dataset's own training and evaluation splits (dalib.data.DatasetSpec)
        from .data import get_spec

        spec = get_spec(dataset)
        x_tr, y_tr = split_tensors(dataset, spec.check_trainable(), root=opts.data_root, n=config.n_train)
        x_te, y_te = split_tensors(dataset, spec.eval_split, root=opts.data_root, n=config.n_test)
    epochs = cfg["epochs"]
    last_epoch = epochs if opts.stop_after_epoch is None else min(epochs, opts.stop_after_epoch)
    for epoch in range(run.epoch, last_epoch):
        run.history.append(_epoch(run, cfg, x_tr, y_tr, epoch, dev, opts.progress))
        run.epoch = epoch + 1
        _save(path, cfg, run.net, run.opt, epoch + 1, run.history, done=False, precision_resolved=run.precision)
    if last_epoch < epochs:  # stopped early on request: the checkpoint holds the partial run
        return _result(run.net.eval(), cfg, path, float("nan"), run.history, precision=run.precision)
    res = _finish(run, cfg, path, x_te, y_te, dev)
    return _to_zoo(res, name, opts.zoo) if opts.save_to_zoo else res


def _from_zoo(name, cfg, path, zoo, dev) -> TrainResult:
    """The finished model of zoo entry ``name`` (checked by ``dalib.models.zoo.load_entry``)."""
    entry = _zoo.load_entry(name, cfg, zoo)
    net = model_from_config(model_config_of(cfg))
    try:
        net.load_state_dict(entry.state_dict)
    except RuntimeError as e:
        raise _zoo.ZooError(
            f"model zoo file {entry.path}: its weights do not match the "
            f"{cfg['model']} architecture of its configuration ({str(e)[:300]}); "
            f"delete {name}.safetensors and {name}.sha256 to retrain it"
        ) from e
    m = entry.meta
    return _result(
        net.to(dev).eval(),
        cfg,
        path,
        m["test_accuracy"],
        m["history"],
        trained_now=False,
        precision=m["precision"],
        source="zoo",
        zoo_path=str(entry.path),
        zoo_sha256=entry.sha256,
    )


def _to_zoo(res: TrainResult, name, zoo) -> TrainResult:
    """Write the finished model of ``res`` as zoo entry ``name``; ``res`` with its path and hash."""
    meta = {
        "precision": res.precision,
        "test_accuracy": res.test_accuracy,
        "history": res.history,
        "n_params": res.n_params,
    }
    weights, sha = _zoo.save_entry(name, res.model, res.config, meta, zoo)
    res.zoo_path, res.zoo_sha256 = str(weights), sha
    return res


# the parameters of notebooks/experiments/train.md that configure the model (the rest go to train())
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


def train_from_parameters(params: dict, **kwargs) -> TrainResult:
    """:func:`train` from the flat parameter set of ``notebooks/experiments/train.md`` (``model``,
    the :data:`MODEL_PARAMETERS`, and :func:`train`'s keyword arguments; ``num_threads`` is
    ignored): the one mapping from that notebook's parameters to a training run, shared by the
    notebook and by experiments that reuse its recipe via ``dalib.run.notebook_parameters``.
    ``kwargs`` (e.g. ``progress``, ``checkpoints``) are passed to :func:`train`."""
    model, model_config, rest = _split_parameters(params)
    return train(model, model_config, **rest, **kwargs)


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


def _result(net, cfg, path, acc, history, trained_now=True, **extra) -> TrainResult:
    t = sum(h["time_s"] for h in history)
    imgs = sum(h["images"] for h in history)
    return TrainResult(
        model=net,
        config=cfg,
        config_hash=config_hash(cfg),
        checkpoint_path=str(path),
        test_accuracy=acc,
        train_time_s=t,
        epochs=len(history),
        images_per_s=imgs / t if t > 0 else float("nan"),
        n_params=count_parameters(net),
        history=history,
        trained_now=trained_now,
        **extra,
    )


def recipe_of(params: dict) -> dict:
    """The training recipe an experiment notebook's parameters name: ``train.md`` under profile
    ``params["train_profile"]`` with the model's ``model, depth, lambda_init, seed, dataset`` and
    the further ``train.md`` parameters of ``params["recipe"]`` (a dict, if present), which may also
    set the model's optional config keys (``dalib.models.OPTIONAL_CONFIG``, e.g. ``{"stem": "conv"}``)."""
    from .run import PROFILES, notebook_parameters

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
