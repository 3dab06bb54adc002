"""Lemma 1 and Theorem 1 extended to Differential Attention V2's input-dependent lambda(x).

Beyond the paper under study (*Understanding Sensitivity of Differential Attention through the Lens
of Adversarial Robustness*, Sec. 4), whose Lemma 1 assumes one constant lambda per layer. In V2
(``dalib.models.attention.diffv2``) row ``t`` of a head's map is ``a_DA = a1 - lambda_t(x) a2`` with
``lambda_t = sigmoid(w . x_t)`` in (0, 1). For that row, with ``J1, J2`` the ``N x D`` Jacobians of
the rows ``a1, a2`` and ``g = grad lambda_t`` (``D``):

    J_DA = J1 - lambda J2 - a2 g^T,
    ||J_DA||^2 = ||J1||^2 + lambda^2 ||J2||^2 - 2 lambda ||J1|| ||J2|| cos(theta)      (Lemma 1)
                 + ||a2||^2 ||g||^2 - 2 a2^T (J1 - lambda J2) g                        (the V2 term)

(Frobenius norms and angle). With ``f1 = sqrt(1 + lambda^2 rho^2 - 2 lambda rho cos(theta))`` (Theorem 1)
and ``eps = ||a2|| ||g|| / ||J1||``, the amplification ``f = ||J_DA|| / ||J1||`` obeys

    |f1 - eps| <= f <= f1 + eps,

and, over every direction of ``g``, its least value is ``||P (J1 - lambda J2)|| / ||J1||`` with
``P = I - a2 a2^T / ||a2||^2``: lambda(x) can cancel only the part of ``J1 - lambda J2`` along the row
``a2``. So the fragility can vanish (``f <= 1`` for some ``g``) iff ``||P (J1 - lambda J2)|| <= ||J1||``;
under negative alignment (``cos < 0``, so ``f1 > 1``) that needs the part along ``a2`` to carry at least
``f1^2 - 1`` of the squared norm. Each form is checked in sympy in ``notebooks/theory/diffv2.md``.
"""

from __future__ import annotations

import numpy as np

from .theory import amplification_factor

__all__ = ["row_quantities", "v2_da_grad_norm", "v2_amplification_bounds", "v2_least_amplification"]


def v2_da_grad_norm(norm1, norm2, lam, cos_theta, norm_a2, norm_g, cross):
    """The extended Lemma 1: ``||J_DA||`` of one V2 row from the Lemma 1 quantities, ``||a2||``,
    ``||g||`` and ``cross = a2^T (J1 - lambda J2) g`` (exact; clipped at 0 against rounding)."""
    n1, n2, lam, c = (np.asarray(v, dtype=float) for v in (norm1, norm2, lam, cos_theta))
    na2, ng, cross = (np.asarray(v, dtype=float) for v in (norm_a2, norm_g, cross))
    sq = n1**2 + lam**2 * n2**2 - 2 * lam * n1 * n2 * c + na2**2 * ng**2 - 2 * cross
    return np.sqrt(np.maximum(sq, 0.0))


def v2_amplification_bounds(lam, rho, cos_theta, eps):
    """The extended Theorem 1: ``(|f1 - eps|, f1 + eps)``, the bounds of ``||J_DA|| / ||J1||`` for a
    V2 row, with ``f1`` Theorem 1's factor and ``eps = ||a2|| ||grad lambda|| / ||J1||``."""
    f1 = np.asarray(amplification_factor(lam, rho, cos_theta), dtype=float)
    eps = np.asarray(eps, dtype=float)
    return np.abs(f1 - eps), f1 + eps


def v2_least_amplification(J1, J2, lam, a2):
    """``min_g ||J1 - lam J2 - a2 g^T|| / ||J1||`` = ``||P (J1 - lam J2)|| / ||J1||``, ``P`` the
    projection off ``a2``: the least amplification any input dependence of lambda can give a row.
    ``J1, J2``: ``(N, D)``; ``a2``: ``(N,)``."""
    J1, J2, a2 = (np.asarray(v, dtype=float) for v in (J1, J2, a2))
    U = J1 - lam * J2
    a = a2 / np.linalg.norm(a2)
    return float(np.linalg.norm(U - np.outer(a, a @ U)) / np.linalg.norm(J1))


def row_quantities(J1, J2, g, lam, a2) -> dict:
    """Every quantity of the extended Lemma 1 for one row: the Frobenius norms, ``cos``, ``rho``,
    ``||a2||``, ``||g||``, ``cross``, ``eps``, Theorem 1's ``f1``, the measured ``f`` and the least
    ``f_min`` over directions of ``g``. ``J1, J2``: ``(N, D)``, ``g``: ``(D,)``, ``a2``: ``(N,)``."""
    J1, J2, g, a2 = (np.asarray(v, dtype=float) for v in (J1, J2, g, a2))
    n1, n2 = np.linalg.norm(J1), np.linalg.norm(J2)
    cos = float(np.sum(J1 * J2) / (n1 * n2))
    U = J1 - lam * J2
    f = np.linalg.norm(U - np.outer(a2, g)) / n1
    return {
        "norm_J1": n1,
        "norm_J2": n2,
        "cos": cos,
        "rho": n2 / n1,
        "lambda": float(lam),
        "norm_a2": np.linalg.norm(a2),
        "norm_g": np.linalg.norm(g),
        "cross": float(a2 @ U @ g),
        "eps": np.linalg.norm(a2) * np.linalg.norm(g) / n1,
        "f1": float(amplification_factor(lam, n2 / n1, np.clip(cos, -1, 1))),
        "f": float(f),
        "f_min": v2_least_amplification(J1, J2, lam, a2),
    }
