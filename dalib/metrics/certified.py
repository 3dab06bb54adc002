"""Certified radius from a local Lipschitz estimate of the logits (paper Appendix B).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Appendix B, Theorem 5:

    R(x) = (F_y(x) - max_{i != y} F_i(x)) / L_f(x)

with F the logits, y the label and L_f(x) the local Lipschitz constant (l2) of the logit map.
Choices the paper leaves open, ours:

- L_f(x) is estimated with one of :mod:`dalib.metrics.lipschitz`'s estimators applied to the
  logit vector: ``"power"`` (||J(x)||_2, default), ``"ascent"`` or ``"sampling"`` (max ratio over
  draws in the l_inf ball of radius ``eps``). These are *lower* bounds of the true local constant,
  so R is an estimate, not a certificate.
- The paper's formula has no sqrt(2) (Tsuzuku et al. 2018 divide by sqrt(2) L for the margin of a
  vector-valued L-Lipschitz map); ``factor`` multiplies L (default 1, the paper's convention;
  ``factor=math.sqrt(2)`` gives Tsuzuku's bound).
- A misclassified sample has a negative margin; ``radius`` keeps the sign (paper formula) and
  ``radius_clipped = max(radius, 0)`` is reported beside it.
"""

from __future__ import annotations

import torch

from dalib import theory

from ._groups import check_eps, check_input
from .lipschitz import EPS_PAPER, ascent_lipschitz, power_lipschitz, sampling_lipschitz

LIPSCHITZ_ESTIMATORS = ("power", "ascent", "sampling")


def margin(logits, y):
    """Classification margin ``F_y - max_{i != y} F_i`` per sample: ``(B, C), (B,) -> (B,)``."""
    if logits.dim() != 2 or y.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (B, C) and y (B,), got {tuple(logits.shape)} and {tuple(y.shape)}")
    if logits.shape[1] < 2:
        raise ValueError("a margin needs at least 2 classes")
    y = y.long()
    fy = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], float("-inf"))
    return fy - others.amax(dim=1)


def logit_lipschitz(model, x, *, estimator="power", eps=EPS_PAPER, n_samples=64, steps=30, n_iter=100, seed=0):
    """Local Lipschitz estimate ``(B,)`` of the logit map ``x -> model(x)`` at ``x``."""
    from .maps import eval_mode

    if estimator not in LIPSCHITZ_ESTIMATORS:
        raise ValueError(f"estimator must be one of {LIPSCHITZ_ESTIMATORS}, got {estimator!r}")
    with eval_mode(model):
        if estimator == "power":
            return power_lipschitz(model, x, n_iter=n_iter, seed=seed)
        if estimator == "ascent":
            return ascent_lipschitz(model, x, eps=eps, steps=steps, seed=seed)
        return sampling_lipschitz(model, x, eps=eps, n_samples=n_samples, seed=seed)["max"]


def certified_radius(
    model,
    x,
    y,
    *,
    estimator="power",
    eps=EPS_PAPER,
    factor=1.0,
    n_samples=64,
    steps=30,
    n_iter=100,
    seed=0,
    sample_offset=0,
):
    """Per-sample certified radius ``margin / (factor * L_f(x))`` (see module doc) as flat rows
    ``{sample, label, pred, correct, margin, L_logits, estimator, factor, radius, radius_clipped}``."""
    from .maps import eval_mode

    x = check_input(x)
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1]:
        raise ValueError(f"y must be a tensor of {x.shape[0]} labels, got {y!r}")
    check_eps(eps)
    if estimator not in LIPSCHITZ_ESTIMATORS:
        raise ValueError(f"estimator must be one of {LIPSCHITZ_ESTIMATORS}, got {estimator!r}")
    if not (isinstance(factor, (int, float)) and factor > 0):
        raise ValueError(f"factor must be a positive number (1 or sqrt(2)), got {factor!r}")
    with eval_mode(model), torch.no_grad():
        logits = model(x)
    if int(y.max()) >= logits.shape[1] or int(y.min()) < 0:
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got range [{int(y.min())}, {int(y.max())}]")
    m = margin(logits, y.to(logits.device))
    L = logit_lipschitz(
        model, x, estimator=estimator, eps=eps, n_samples=n_samples, steps=steps, n_iter=n_iter, seed=seed
    )
    # Appendix B, R = margin / L (written once, in dalib.theory)
    radius = torch.as_tensor(
        theory.certified_radius(m.detach().cpu().double().numpy(), (factor * L).detach().cpu().double().numpy())
    )
    pred = logits.argmax(dim=1)
    return [
        {
            "sample": sample_offset + b,
            "label": int(y[b]),
            "pred": int(pred[b]),
            "correct": bool(pred[b] == y[b]),
            "margin": float(m[b]),
            "L_logits": float(L[b]),
            "estimator": estimator,
            "factor": float(factor),
            "radius": float(radius[b]),
            "radius_clipped": max(float(radius[b]), 0.0),
        }
        for b in range(x.shape[0])
    ]
