"""Attack evaluation: per-sample flags, the paper's attack success rate and its siblings with
explicit denominators and bootstrap CIs, and gradient-masking diagnostics.

The paper (Sec. 5.2) defines ``ASR = #successful attacks / #trials``, an untargeted attack being
successful when it changes the prediction relative to the clean input. With per-sample flags

- ``changed_i = [f(x_i^adv) != f(x_i)]``, ``clean_correct_i = [f(x_i) = y_i]``,
  ``adv_correct_i = [f(x_i^adv) = y_i]``

this module reports

- ``asr`` = sum_i changed_i / n (all trials; the paper's definition), denominator ``asr_n = n``;
- ``asr_correct`` = sum_i changed_i clean_correct_i / sum_i clean_correct_i (ASR over initially
  correct samples, the usual definition elsewhere), denominator ``asr_correct_n``;
- ``robust_acc`` = sum_i adv_correct_i / n, denominator ``robust_acc_n = n``;
- ``clean_acc`` = sum_i clean_correct_i / n;

each with a seeded percentile-bootstrap 95% CI (``*_ci_low``, ``*_ci_high``). The bootstrap
resamples the n flags with replacement; the resampled count of a 0/1 flag is exactly
Binomial(n, p_hat), which is what is drawn (``n_boot`` times, NumPy generator seeded by
``ci_seed``).

Gradient masking (Athalye et al. 2018; the AutoAttack checks): every evaluation records the
fraction of samples whose input gradient of the attack loss is exactly zero
(``zero_grad_frac``) and the fraction of exactly-zero gradient entries
(``zero_grad_entry_frac``), and :func:`sweep` warns when ASR fails to rise with eps or steps.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .attack import eval_mode, model_device
from .losses import CrossEntropyLoss, predict_fn

ASR_DEFINITION = "prediction changed vs. clean prediction, over all trials (paper Sec. 5.2)"
DEFAULT_ATTACK_LABELS = "clean_pred"
ATTACK_LABELS = ("true", "clean_pred")


def bootstrap_ci(flags, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap CI of the mean of 0/1 ``flags``: ``(low, high)``; NaN if empty."""
    flags = np.asarray(flags, dtype=bool)
    n = flags.size
    if n == 0:
        return float("nan"), float("nan")
    p = flags.mean()
    rng = np.random.default_rng(seed)
    means = rng.binomial(n, p, size=n_boot) / n  # = mean of a resample of the n flags
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def input_gradients(model, x, y, loss=None) -> torch.Tensor:
    """Gradient of ``sum_i loss(model(x), y)_i`` w.r.t. ``x`` (eval mode; parameters' ``.grad``
    untouched)."""
    loss = loss or CrossEntropyLoss()
    with eval_mode(model):
        xg = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(model(xg), y).sum(), xg)
    return g


@dataclass
class AttackEvaluation:
    """``flags``: per-sample NumPy arrays; ``summary``: one flat dict (for ``write_rows``)."""

    flags: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def record(self, flags=("changed", "clean_correct", "adv_correct"), **extra) -> dict:
        """One flat row: the summary, ``extra`` columns, and each of ``flags`` packed into a hex
        string column ``<flag>_flags`` (``dalib.records.pack_flags``; unpack with
        ``unpack_flags(row["<flag>_flags"], row["n"])``): the per-sample outcomes that paired
        comparisons between models need, at 250 characters per 1,000 samples."""
        from ..records import pack_flags

        missing = [k for k in flags if k not in self.flags]
        if missing:
            raise KeyError(f"record: no per-sample flags {missing}; available: {sorted(self.flags)}")
        return {**self.summary, **extra, **{f"{k}_flags": pack_flags(self.flags[k]) for k in flags}}

    def rows(self, **extra) -> list[dict]:
        """Per-sample flat rows (``index`` + every flag + ``extra`` columns)."""
        n = len(next(iter(self.flags.values()))) if self.flags else 0
        keys = list(self.flags)
        out = []
        for i in range(n):
            r = {"index": i}
            for k in keys:
                v = self.flags[k][i]
                r[k] = (
                    bool(v)
                    if isinstance(v, (bool, np.bool_))
                    else (int(v) if isinstance(v, (np.integer,)) else float(v))
                )
            r.update(extra)
            out.append(r)
        return out


def _rate(summary, name, flags, n_boot, seed):
    flags = np.asarray(flags, dtype=bool)
    n = int(flags.size)
    summary[name] = float(flags.mean()) if n else float("nan")
    summary[f"{name}_n"] = n
    lo, hi = bootstrap_ci(flags, n_boot=n_boot, seed=seed)
    summary[f"{name}_ci_low"] = lo
    summary[f"{name}_ci_high"] = hi


def evaluate_attack(
    attack,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 256,
    attack_labels: str = DEFAULT_ATTACK_LABELS,
    n_boot: int = 1000,
    ci_seed: int = 0,
    grad_check: bool = True,
    index_offset: int = 0,
) -> AttackEvaluation:
    """Run ``attack`` on ``(x, y)`` in batches; return per-sample flags and the summary.

    ``attack_labels``: the labels the attack is given: ``"clean_pred"`` (default: the clean
    prediction, so that the attack ascends the paper's success criterion "prediction changed",
    also on initially misclassified samples) or ``"true"`` (``y``: a misclassified sample is then
    pushed away from a class it is not in). The flags always compare with the true ``y`` for
    accuracies and with the clean prediction for ``changed``. The gradient-masking check uses the
    labels the attack was given. Predictions use the attack loss's ``predict`` (e.g. CLIP
    zero-shot) if it has one, else argmax.

    Sample ``i`` of ``x`` is attacked with global index ``index_offset + i``, which keys its
    random stream: the outcome of a sample does not depend on ``batch_size`` (nor, with the right
    offset, on how a set is split between runs), up to float rounding.
    """
    if attack_labels not in ATTACK_LABELS:
        raise ValueError(f"attack_labels must be one of {ATTACK_LABELS}, got {attack_labels!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    model = attack.model
    loss = getattr(attack, "loss", None)
    predict = predict_fn(loss)
    dev = model_device(model) or x.device
    cols = {k: [] for k in ("label", "clean_pred", "adv_pred", "linf", "l2")}
    zero_samples = zero_entries = entries = 0
    for s in range(0, x.shape[0], batch_size):
        xb = x[s : s + batch_size].to(dev)
        yb = y[s : s + batch_size].to(dev)
        with eval_mode(model), torch.no_grad():
            clean_pred = predict(model(xb))
        labels = clean_pred if attack_labels == "clean_pred" else yb
        index = torch.arange(index_offset + s, index_offset + s + xb.shape[0])
        x_adv = attack(xb, labels, index=index).to(dev)
        with eval_mode(model), torch.no_grad():
            adv_pred = predict(model(x_adv))
        d = (x_adv - xb).flatten(1)
        cols["label"].append(yb.cpu())
        cols["clean_pred"].append(clean_pred.cpu())
        cols["adv_pred"].append(adv_pred.cpu())
        cols["linf"].append(d.abs().amax(1).cpu())
        cols["l2"].append(d.norm(dim=1).cpu())
        if grad_check:
            g = input_gradients(model, xb, labels, loss).flatten(1)
            zero_samples += int((g == 0).all(1).sum())
            zero_entries += int((g == 0).sum())
            entries += g.numel()
    f = {k: torch.cat(v).numpy() for k, v in cols.items()}
    f["clean_correct"] = f["clean_pred"] == f["label"]
    f["adv_correct"] = f["adv_pred"] == f["label"]
    f["changed"] = f["adv_pred"] != f["clean_pred"]
    n = int(f["label"].size)

    s = {
        "attack": repr(attack),
        "attack_name": type(attack).__name__,
        "attack_labels": attack_labels,
        "asr_definition": ASR_DEFINITION,
        "n": n,
    }
    _rate(s, "asr", f["changed"], n_boot, ci_seed)
    _rate(s, "asr_correct", f["changed"][f["clean_correct"]], n_boot, ci_seed)
    _rate(s, "robust_acc", f["adv_correct"], n_boot, ci_seed)
    _rate(s, "clean_acc", f["clean_correct"], n_boot, ci_seed)
    s["linf_max"] = float(f["linf"].max()) if n else float("nan")
    ch = f["changed"]
    s["l2_median_changed"] = float(np.median(f["l2"][ch])) if ch.any() else float("nan")
    s["l2_max_changed"] = float(f["l2"][ch].max()) if ch.any() else float("nan")
    s["zero_grad_frac"] = zero_samples / n if (grad_check and n) else float("nan")
    s["zero_grad_entry_frac"] = zero_entries / entries if (grad_check and entries) else float("nan")
    s["zero_grad_n"] = n if grad_check else 0
    s["n_boot"] = n_boot
    s["ci_seed"] = ci_seed
    return AttackEvaluation(flags=f, summary=s)


def check_rises(values, asrs, tol: float = 0.0):
    """Does ASR rise with the attack budget? ``values`` (eps or steps) and the matching ASRs.

    Returns ``(ok, message)``. Flags (a) any decrease by more than ``tol`` between consecutive
    budgets (sorted by value) and (b) no rise at all from the smallest to the largest budget while
    the smallest is not already saturated (ASR < 1). Either suggests gradient masking or a broken
    attack (Athalye et al. 2018; Carlini et al. 2019, "On Evaluating Adversarial Robustness").
    """
    pairs = sorted(zip(values, asrs))
    vs = [p[0] for p in pairs]
    a = [p[1] for p in pairs]
    problems = []
    for i in range(len(a) - 1):
        if a[i + 1] < a[i] - tol:
            problems.append(
                f"ASR fell from {a[i]:.4f} to {a[i + 1]:.4f} when the budget rose from {vs[i]:g} to {vs[i + 1]:g}"
            )
    if len(a) >= 2 and a[-1] <= a[0] and a[0] < 1:
        problems.append(f"ASR did not rise from budget {vs[0]:g} ({a[0]:.4f}) to {vs[-1]:g} ({a[-1]:.4f})")
    return (not problems), "; ".join(problems)


def sweep(make_attack, param: str, values, x, y, *, tol: float = 0.0, **evaluate_kwargs) -> list[dict]:
    """Evaluate ``make_attack(**{param: v})`` for each budget ``v`` (e.g. ``param="eps"`` or
    ``"steps"``); return one flat summary row per value with ``sweep_param``, ``sweep_value`` and
    the gradient-masking flag ``gm_warning`` (+ ``gm_message``), which is also raised as a
    ``UserWarning`` when ASR fails to rise with the budget (see :func:`check_rises`)."""
    values = list(values)
    if len(values) == 0:
        raise ValueError("sweep: values is empty")
    rows = []
    for v in values:
        ev = evaluate_attack(make_attack(**{param: v}), x, y, **evaluate_kwargs)
        rows.append({**ev.summary, "sweep_param": param, "sweep_value": float(v)})
    ok, msg = check_rises(values, [r["asr"] for r in rows], tol=tol)
    if not ok:
        warnings.warn(f"possible gradient masking in the {param} sweep: {msg}", UserWarning, stacklevel=2)
    for r in rows:
        r["gm_warning"] = not ok
        r["gm_message"] = msg
    return rows
