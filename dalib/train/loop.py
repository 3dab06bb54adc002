"""The training loop: an epoch of Adam steps (with optional PGD adversarial training), resumable
run by run, from the zoo, a finished checkpoint, or new training.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..device import resolve_device
from ..models import count_parameters, eval_mode, model_from_config
from ..models import zoo as _zoo
from ..precision import resolve_precision
from ..seeding import seed_everything
from .checkpoint import _model_from_checkpoint, _save, _set_rng_state, checkpoint_path, load_checkpoint
from .config import (
    RunOptions,
    TrainConfig,
    _config_of,
    _split_parameters,
    config_hash,
    model_config_of,
    run_name,
    split_options,
)
from .kernels import LEGACY, as_input, check_kernels, resolve_kernels, training_kernels


def split_tensors(dataset: str, split: str, root=None, n: int | None = None):
    """A whole split as tensors ``(x uint8 (N, C, H, W), y int64 (N,))`` via
    ``dalib.data.as_tensors`` (decoded once and cached by ``dalib.data``). ``n`` takes the fixed
    class-balanced subset ``dalib.data.fixed_subset(n, seed=0)``: the same images for every model
    and training seed."""
    from ..data import as_tensors

    kw = {} if root is None else {"root": root}
    return as_tensors(dataset, split, n=n, seed=0, dtype=torch.uint8, **kw)


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
    kernels: str = ""  # the training kernels ("explicit" or "fused", dalib.train.kernels; "" if unknown)
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
            **({"kernels": self.kernels} if self.kernels else {}),  # unknown for models trained before it was kept
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
    from ..lock import FileLock

    config, opts = split_options(kwargs)
    cfg, dataset = _config_of(model, model_config, config, opts.data)  # hashed once
    if _zoo.has_entry(run_name(cfg), opts.zoo):
        return _train(cfg, dataset, config, opts)
    path = checkpoint_path(cfg, opts.checkpoints)
    with FileLock(path.with_name(path.name + ".lock")):
        return _train(cfg, dataset, config, opts)  # re-checks the zoo and a finished checkpoint first


@dataclass
class _Run:
    """A training run in progress: the model, its optimiser, the epochs done and the precision."""

    net: torch.nn.Module
    opt: torch.optim.Optimizer
    epoch: int
    history: list
    precision: str
    kernels: str = LEGACY  # the training kernels (dalib.train.kernels), kept on resume
    finished: dict | None = None  # the checkpoint of a run that had finished already


def _resume(cfg: dict, path: Path, seed: int, dev, kernels: str = "auto") -> _Run:
    """A new run of ``cfg``, or the one its checkpoint at ``path`` holds (weights, optimiser, epoch,
    random state; a resumed run keeps the precision and the kernels it started with)."""
    ckpt = load_checkpoint(path, cfg) if path.exists() else None
    seed_everything(seed)
    net = _model_from_checkpoint(ckpt, path) if ckpt else model_from_config(model_config_of(cfg))
    net = net.to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    prec = (ckpt.get("precision_resolved") if ckpt else None) or resolve_precision(cfg["precision"], dev)
    if not ckpt:
        return _Run(net, opt, 0, [], prec, resolve_kernels(kernels, dev))
    opt.load_state_dict(ckpt["optimizer_state"])
    _set_rng_state(ckpt["rng_state"])
    kern = ckpt.get("kernels_resolved", LEGACY)
    return _Run(net, opt, ckpt["epoch"], list(ckpt["history"]), prec, kern, finished=ckpt if ckpt.get("done") else None)


def _epoch(run: _Run, cfg: dict, x_tr, y_tr, epoch: int, dev, progress: bool) -> dict:
    """Train ``run`` for one epoch (its order, augmentation and attack starts drawn from the
    generator of ``(seed, epoch)``); return the epoch's history entry."""
    from tqdm import tqdm

    from ..attacks.pgd import PGD

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
        xb, yb = as_input(xb.to(dev), run.kernels), y_tr[idx].to(dev)
        for g in opt.param_groups:
            g["lr"] = _lr_at(cfg, epoch * steps_per_epoch + step, epochs * steps_per_epoch)
        with (
            torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=run.precision == "bf16"),
            training_kernels(net, run.kernels),
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
        "kernels": run.kernels,
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
        kernels_resolved=run.kernels,
    )
    return _result(run.net.eval(), cfg, path, acc, run.history, precision=run.precision, kernels=run.kernels)


def _train(cfg: dict, dataset: str, config: TrainConfig, opts: RunOptions) -> TrainResult:
    """Train configuration ``cfg`` (see :func:`train`): from the zoo, a finished checkpoint, or
    resumed or new training, epoch by epoch, each followed by a checkpoint."""
    dev = resolve_device(opts.device)
    name = run_name(cfg)
    path = checkpoint_path(cfg, opts.checkpoints)
    if _zoo.has_entry(name, opts.zoo):
        return _from_zoo(name, cfg, path, opts.zoo, dev)
    check_kernels(opts.kernels)
    run = _resume(cfg, path, config.seed, dev, opts.kernels)
    if run.finished is not None:
        res = _result(
            run.net.eval(),
            cfg,
            path,
            run.finished["test_accuracy"],
            run.history,
            trained_now=False,
            precision=run.precision,
            kernels=run.kernels,
            source="checkpoint",
        )
        return _to_zoo(res, name, opts.zoo) if opts.save_to_zoo else res
    if opts.data is not None:
        x_tr, y_tr, x_te, y_te = opts.data
    else:  # the dataset's own training and evaluation splits (dalib.data.DatasetSpec)
        from ..data import get_spec

        spec = get_spec(dataset)
        x_tr, y_tr = split_tensors(dataset, spec.check_trainable(), root=opts.data_root, n=config.n_train)
        x_te, y_te = split_tensors(dataset, spec.eval_split, root=opts.data_root, n=config.n_test)
    epochs = cfg["epochs"]
    last_epoch = epochs if opts.stop_after_epoch is None else min(epochs, opts.stop_after_epoch)
    for epoch in range(run.epoch, last_epoch):
        run.history.append(_epoch(run, cfg, x_tr, y_tr, epoch, dev, opts.progress))
        run.epoch = epoch + 1
        _save(
            path,
            cfg,
            run.net,
            run.opt,
            epoch + 1,
            run.history,
            done=False,
            precision_resolved=run.precision,
            kernels_resolved=run.kernels,
        )
    if last_epoch < epochs:  # stopped early on request: the checkpoint holds the partial run
        return _result(
            run.net.eval(), cfg, path, float("nan"), run.history, precision=run.precision, kernels=run.kernels
        )
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
        kernels=m.get("kernels", ""),
        source="zoo",
        zoo_path=str(entry.path),
        zoo_sha256=entry.sha256,
    )


def _to_zoo(res: TrainResult, name, zoo) -> TrainResult:
    """Write the finished model of ``res`` as zoo entry ``name``; ``res`` with its path and hash."""
    meta = {
        "precision": res.precision,
        "kernels": res.kernels,
        "test_accuracy": res.test_accuracy,
        "history": res.history,
        "n_params": res.n_params,
    }
    weights, sha = _zoo.save_entry(name, res.model, res.config, meta, zoo)
    res.zoo_path, res.zoo_sha256 = str(weights), sha
    return res


# the parameters of notebooks/experiments/train.md that configure the model (the rest go to train())


def train_from_parameters(params: dict, **kwargs) -> TrainResult:
    """:func:`train` from the flat parameter set of ``notebooks/experiments/train.md`` (``model``,
    the :data:`MODEL_PARAMETERS`, and :func:`train`'s keyword arguments; ``num_threads`` is
    ignored): the one mapping from that notebook's parameters to a training run, shared by the
    notebook and by experiments that reuse its recipe via ``dalib.run.notebook_parameters``.
    ``kwargs`` (e.g. ``progress``, ``checkpoints``) are passed to :func:`train`."""
    model, model_config, rest = _split_parameters(params)
    return train(model, model_config, **rest, **kwargs)


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
