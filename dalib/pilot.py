"""The accuracy pilot: which depth-1 configuration reaches the paper's clean accuracy most cheaply.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. Its depth-1 models reach 0.86-0.87 clean accuracy on CIFAR-10 (Tables 1
and 3) with "timm ViT, one attention layer, Adam 5e-4, batch 128, 100 epochs"; it prints no width.
A candidate trains a few epochs of that optimiser (``notebooks/benchmarks/pilot.md``); its test
accuracy after every epoch is its learning curve, and a saturating power law

    acc(t) = a - b t^(-c),   t in epochs,  0 < a <= 1,  b, c > 0,

fitted to the curve projects the accuracy at the paper's 100 epochs and the epoch, and so the
core-hours, at which it reaches a target (``inf`` where the fitted ceiling ``a`` lies below it).
With a constant learning rate the weights after epoch ``k`` of a run are those of a ``k``-epoch run
(``dalib.ladder``), so one resumable run of ``epochs`` gives the whole curve.
"""

from __future__ import annotations

import math
import time

import numpy as np

#: The candidates: name -> model configuration of the depth-1 pair (head width 32 throughout, mean
#: pooling as in the cpu chapter). ``patch4-w128`` is the ladder's configuration, so its projection
#: can be checked against the ladder's measured 100-epoch accuracy.
CANDIDATES = {
    "patch4-w128": {"stem": "patch", "patch_size": 4, "embed_dim": 128, "num_heads": 4},
    "patch4-w256": {"stem": "patch", "patch_size": 4, "embed_dim": 256, "num_heads": 8},
    "patch4-w384": {"stem": "patch", "patch_size": 4, "embed_dim": 384, "num_heads": 12},
    "conv-w128": {"stem": "conv", "patch_size": 4, "embed_dim": 128, "num_heads": 4},
    "conv-w256": {"stem": "conv", "patch_size": 4, "embed_dim": 256, "num_heads": 8},
}
#: what every candidate shares: one block, mean-pooled tokens, and the paper's optimiser and augmentation
COMMON = {"depth": 1, "global_pool": "avg"}
PAPER_RECIPE = {"lr": 5e-4, "lr_schedule": "constant", "batch_size": 128, "augment": True}


def candidate_config(name: str, **overrides) -> dict:
    """The model configuration of candidate ``name`` (``ValueError`` naming the valid ones)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown pilot candidate {name!r}; valid: {sorted(CANDIDATES)}")
    return {**COMMON, **CANDIDATES[name], **overrides}


PAPER_EPOCHS = 100  # the paper's depth-1 training length (CIFAR-10)
TARGET = 0.85  # the goal for the mean clean accuracy (floor 0.80)
FLOOR = 0.80


def saturating(t, a, b, c):
    """``a - b t^(-c)``: the projection's learning-curve model (``t`` in epochs)."""
    return a - b * np.power(np.asarray(t, dtype=float), -c)


def fit_curve(epochs, acc) -> dict:
    """Least-squares fit of :func:`saturating` to a learning curve ``(epochs, acc)`` (at least 3
    points): ``{"a", "b", "c", "rmse"}``; ``a`` is bounded to (0, 1] and ``c`` to (0, 3]."""
    from scipy.optimize import curve_fit

    t, y = np.asarray(epochs, dtype=float), np.asarray(acc, dtype=float)
    if len(t) < 3 or len(t) != len(y):
        raise ValueError(f"a learning curve needs at least 3 (epoch, accuracy) points, got {len(t)}")
    p0 = (min(1.0, y.max() + 0.1), max(y.max() - y.min(), 1e-3) * 2, 0.5)
    (a, b, c), _ = curve_fit(saturating, t, y, p0=p0, bounds=([0.0, 0.0, 1e-3], [1.0, 10.0, 3.0]), maxfev=20_000)
    rmse = float(np.sqrt(np.mean((saturating(t, a, b, c) - y) ** 2)))
    return {"a": float(a), "b": float(b), "c": float(c), "rmse": rmse}


def epochs_to(fit: dict, target: float) -> float:
    """The epoch at which the fitted curve reaches ``target`` (``inf`` if its ceiling is below)."""
    a, b, c = fit["a"], fit["b"], fit["c"]
    if a <= target:
        return math.inf
    return float((b / (a - target)) ** (1.0 / c))


def projection(epochs, acc, core_s_per_epoch: float, target: float = TARGET, at: int = PAPER_EPOCHS) -> dict:
    """The projection of one learning curve: the fit, the accuracy at ``at`` epochs, and the epochs
    and core-hours of one model to reach ``target``."""
    fit = fit_curve(epochs, acc)
    t = epochs_to(fit, target)
    return {
        **{f"fit_{k}": v for k, v in fit.items()},
        f"projected_acc_{at}": float(saturating(at, fit["a"], fit["b"], fit["c"])),
        "target": target,
        "epochs_to_target": t,
        "core_h_to_target": t * core_s_per_epoch / 3600 if math.isfinite(t) else math.inf,
        f"core_h_{at}_epochs": at * core_s_per_epoch / 3600,
    }


def learning_curve(
    model: str, model_config: dict, *, epochs: int, eval_n: int, progress: bool = False, **recipe
) -> list:
    """Train ``model`` for ``epochs`` epochs of ``recipe`` (:func:`dalib.train.train`'s keywords; a
    resumable run under the usual checkpoint folder) and return one row per epoch: its training
    loss and accuracy, wall and CPU seconds, and the float32 test accuracy on the fixed
    class-balanced ``eval_n`` test images."""
    from . import train as _train

    if recipe.get("lr_schedule", "constant") != "constant":
        raise ValueError("a pilot curve needs lr_schedule='constant' (epoch k of the run is then a k-epoch run)")
    from .data import get_spec

    cfg, _opts = _train.split_options(recipe)
    x_te, y_te = _train.split_tensors(cfg.dataset, get_spec(cfg.dataset).eval_split, n=eval_n)
    rows = []
    for k in range(1, epochs + 1):
        res = _train.train(model, model_config, epochs=epochs, stop_after_epoch=k, progress=progress, **recipe)
        h = res.history[k - 1]
        t0 = time.perf_counter()
        acc = _train.evaluate(res.model, x_te, y_te)
        rows.append(
            {
                "epoch": k,
                "train_loss": h["loss"],
                "train_accuracy": h["accuracy"],
                "time_s": h["time_s"],
                "cpu_s": h["cpu_s"],
                "test_accuracy": acc,
                "eval_n": eval_n,
                "eval_time_s": time.perf_counter() - t0,
                "precision": res.precision,
                "n_params": res.n_params,
            }
        )
    return rows
