"""Closed forms of the paper's theory, each written once.

Implements Section 4 and Appendices A-B of *Understanding Sensitivity of Differential Attention
through the Lens of Adversarial Robustness* (Takahashi, Yamabe, Waseda, Sasaki): Lemma 1 (eq. 1),
Theorems 1-3 (eqs. 2-3), Lemma 2 (eq. 4), Theorem 4 and Corollary 1 (eq. 5) and Theorem 5 (eq. 6),
**with the slips of the printed statements corrected** (each function's docstring says what was
changed and why; the theory notebooks in ``notebooks/theory/`` derive every form in sympy, give a
numerical counterexample to each printed slip, and assert equality with these functions).

Notation (paper symbols). ``J1, J2, J_base`` are the input Jacobians ("gradients") of the maps
``A1, A2, A_base``; ``J_DA = J1 - lam * J2``. Norms and the angle are Frobenius:
``cos_theta = <J1, J2>_F / (||J1||_F ||J2||_F)``, ``rho = ||J2|| / ||J1||``,
``gamma = ||J1|| / ||J_base||``.

Every numeric function takes floats or numpy arrays (broadcast together), validates its inputs
before computing (``lam >= 0``, ``rho >= 0``, ``gamma > 0``, ``|cos_theta| <= 1``, ...; a
``ValueError`` names the argument and the allowed range) and returns a numpy float/bool scalar for
scalar inputs or an array otherwise.

The same forms as sympy expressions live in ``dalib.theory.sym`` (built on first access, so that
importing this module does not import sympy); tests check that both agree.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

__all__ = [
    # definitions
    "frobenius_quantities",
    # Lemma 1, Theorems 1-3
    "da_grad_norm",
    "amplification_factor",
    "amplification_factor_aligned",
    "amplification_factor_opposed",
    "sensitivity_ratio",
    "amplification_threshold",
    "amplifies",
    "amplifying_angle_exists",
    "all_angles_amplify",
    # Lemma 2
    "lipschitz_ratio_bound",
    # Theorem 4, Corollary 1
    "depth_bound_base",
    "depth_bound_da",
    "crossover_depth",
    "crossover_exists",
    # Theorem 5
    "certified_radius",
    "radius_ratio_bound",
    "radius_ratio_bound_printed",
    # sympy forms
    "sym",  # noqa: F822 (built lazily by __getattr__)
]

#: Each statement of the paper's Sec. 4 and Appendix B: "holds as printed", or "corrected" where the
#: printed form has a slip that the function of the same statement here corrects (its docstring says
#: what and why; the theory notebooks give a numerical counterexample to each printed slip). The
#: scorecard of the book's first page reads it.
PRINTED_STATUS = {
    "Lemma 1": "holds as printed",
    "Theorem 1": "corrected",  # eq. (2), aligned case: |1 - lam rho|, not (1 - lam rho)
    "Theorem 2": "holds as printed",
    "Theorem 3": "corrected",  # when an amplifying angle exists: gamma (1 + lam rho) > 1
    "Lemma 2": "corrected",  # the bound needs kappa_base = ||J_base||_F / ||J_base||_op
    "Theorem 4": "holds as printed",
    "Corollary 1": "corrected",  # as printed no crossover exists; it needs a first layer without cancellation
    "Theorem 5": "corrected",  # eq. (6): the square root covers the whole factor; kappa_base as in Lemma 2
}

#: Tolerance on ``|cos_theta| <= 1`` for cosines computed in floating point (values within it are
#: clipped to [-1, 1]; anything further out raises).
COS_TOL = 1e-12


# ----------------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------------
def _arr(name: str, value) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or an array of real numbers, got {value!r}") from exc
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no nan/inf), got {value!r}")
    return a


def _nonneg(name: str, value) -> np.ndarray:
    a = _arr(name, value)
    if np.any(a < 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return a


def _pos(name: str, value) -> np.ndarray:
    a = _arr(name, value)
    if np.any(a <= 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return a


def _cos(value, name: str = "cos_theta") -> np.ndarray:
    a = _arr(name, value)
    if np.any(np.abs(a) > 1 + COS_TOL):
        raise ValueError(f"{name} is a cosine and must lie in [-1, 1], got {value!r}")
    return np.clip(a, -1.0, 1.0)


def _alpha(name: str, value) -> np.ndarray:
    a = _arr(name, value)
    if np.any((a <= 0) | (a > 1)):
        raise ValueError(f"{name} is a cancellation factor and must lie in (0, 1], got {value!r}")
    return a


def _out(a):
    """numpy scalar for 0-d results, array otherwise."""
    a = np.asarray(a)
    return a[()] if a.ndim == 0 else a


# ----------------------------------------------------------------------------------------------
# definitions (Section 4.1)
# ----------------------------------------------------------------------------------------------
def frobenius_quantities(J1, J2, J_base=None):
    """``(gamma, rho, cos_theta)`` of Lemma 1 / Theorems 1-2 from explicit Jacobians (or gradients).

    ``cos_theta = <J1, J2>_F / (||J1||_F ||J2||_F)``, ``rho = ||J2||_F / ||J1||_F``,
    ``gamma = ||J1||_F / ||J_base||_F`` (``nan`` without ``J_base``). Arrays of any (equal) shape,
    flattened whole; for Jacobians of real models use ``dalib.metrics.gradient_alignment``.
    """
    a, b = _arr("J1", J1).ravel(), _arr("J2", J2).ravel()
    if a.shape != b.shape:
        raise ValueError(f"J1 and J2 must have the same number of entries, got {a.size} and {b.size}")
    fro = lambda v: np.sqrt(np.sum(np.square(v)))  # noqa: E731  (ufuncs only: no BLAS threads)
    n1, n2 = fro(a), fro(b)
    if n1 == 0 or n2 == 0:
        raise ValueError("J1 and J2 must be non-zero (the angle between them is undefined otherwise)")
    cos = float(np.clip(np.sum(a * b) / (n1 * n2), -1.0, 1.0))
    gamma = float("nan")
    if J_base is not None:
        nb = fro(_arr("J_base", J_base))
        if nb == 0:
            raise ValueError("J_base must be non-zero (gamma = ||J1|| / ||J_base||)")
        gamma = float(n1 / nb)
    return gamma, float(n2 / n1), cos


# ----------------------------------------------------------------------------------------------
# Lemma 1, Theorems 1-3 (Section 4.1, Appendix A.1-A.4)
# ----------------------------------------------------------------------------------------------
def da_grad_norm(norm1, norm2, lam, cos_theta):
    """Lemma 1, eq. (1): the norm of the DA gradient from the branch norms and their angle.

    ``||J_DA||^2 = ||J1||^2 + lam^2 ||J2||^2 - 2 lam ||J1|| ||J2|| cos_theta`` with
    ``J_DA = J1 - lam J2``. Exact for any inner-product norm (Frobenius for Jacobians, Euclidean
    for gradient vectors) with ``cos_theta`` the cosine in that inner product. Returns the norm
    ``||J_DA||`` (the square root of the right-hand side; clipped at 0 against rounding).
    """
    n1, n2 = _nonneg("norm1", norm1), _nonneg("norm2", norm2)
    lam, c = _nonneg("lam", lam), _cos(cos_theta)
    sq = n1**2 + lam**2 * n2**2 - 2.0 * lam * n1 * n2 * c
    return _out(np.sqrt(np.maximum(sq, 0.0)))


def amplification_factor(lam, rho, cos_theta):
    """Theorem 1: ``||J_DA|| / ||J1|| = sqrt(1 + lam^2 rho^2 - 2 lam rho cos_theta)``.

    ``rho = ||J2|| / ||J1||``. The factor exceeds 1 iff ``lam rho > 2 cos_theta``: always when
    ``cos_theta < 0`` (and ``lam rho > 0``), but also for ``0 <= cos_theta < lam rho / 2``.
    """
    lam, rho, c = _nonneg("lam", lam), _nonneg("rho", rho), _cos(cos_theta)
    lr = lam * rho
    return _out(np.sqrt(np.maximum(1.0 + lr**2 - 2.0 * lr * c, 0.0)))


def amplification_factor_aligned(lam, rho):
    """Theorem 1, eq. (2), aligned case ``cos_theta = +1``: ``|1 - lam rho|``.

    Corrected: the paper prints ``(1 - lam rho)``, which is negative (not a norm) when
    ``lam rho > 1``; ``sqrt((1 - lam rho)^2) = |1 - lam rho|``. The case is exact, not asymptotic.
    """
    lam, rho = _nonneg("lam", lam), _nonneg("rho", rho)
    return _out(np.abs(1.0 - lam * rho))


def amplification_factor_opposed(lam, rho):
    """Theorem 1, eq. (2), opposed case ``cos_theta = -1``: ``1 + lam rho`` (exact)."""
    lam, rho = _nonneg("lam", lam), _nonneg("rho", rho)
    return _out(1.0 + lam * rho)


def sensitivity_ratio(gamma, lam, rho, cos_theta):
    """Theorem 2, eq. (3): ``||J_DA|| / ||J_base|| = gamma sqrt(1 + lam^2 rho^2 - 2 lam rho cos_theta)``.

    ``gamma = ||J1|| / ||J_base||``. For ``lam rho > 0`` it is strictly decreasing in
    ``cos_theta``: maximal ``gamma (1 + lam rho)`` at ``cos_theta = -1``, minimal
    ``gamma |1 - lam rho|`` at ``cos_theta = +1``.
    """
    gamma = _pos("gamma", gamma)
    return _out(gamma * amplification_factor(lam, rho, cos_theta))


def amplification_threshold(gamma, lam, rho):
    """Theorem 3: the threshold ``T = (1 + lam^2 rho^2 - gamma^-2) / (2 lam rho)``.

    For ``lam rho > 0``: ``sensitivity_ratio > 1  <=>  cos_theta < T`` (an algebraic
    equivalence for the given ``gamma, lam, rho``). ``T`` need not lie in [-1, 1]: ``T <= -1``
    means no angle amplifies, ``T > 1`` means every angle does (see ``amplifying_angle_exists`` and
    ``all_angles_amplify``). Degenerate ``lam rho = 0`` (no threshold in the paper's formula, a
    division by zero): the ratio is ``gamma`` for every angle, so ``T = +inf`` if ``gamma > 1``
    and ``-inf`` otherwise, which keeps ``cos_theta < T`` equivalent to amplification.
    """
    gamma, lam, rho = _pos("gamma", gamma), _nonneg("lam", lam), _nonneg("rho", rho)
    lr = lam * rho
    num = 1.0 + lr**2 - gamma**-2.0
    safe = np.where(lr > 0, lr, 1.0)
    t = np.where(lr > 0, num / (2.0 * safe), np.where(gamma > 1, np.inf, -np.inf))
    return _out(t)


def amplifies(gamma, lam, rho, cos_theta):
    """Theorem 3 (pointwise form): ``sensitivity_ratio(gamma, lam, rho, cos_theta) > 1``.

    Computed from the ratio itself (``gamma^2 (1 + lam^2 rho^2 - 2 lam rho cos_theta) > 1``),
    not from the threshold, so it also serves as the reference the threshold is tested against.
    """
    gamma, c = _pos("gamma", gamma), _cos(cos_theta)
    lam, rho = _nonneg("lam", lam), _nonneg("rho", rho)
    lr = lam * rho
    return _out(gamma**2 * (1.0 + lr**2 - 2.0 * lr * c) > 1.0)


def amplifying_angle_exists(gamma, lam, rho):
    """Theorem 3, corrected existence statement: some ``cos_theta`` in [-1, 1] amplifies iff
    ``gamma (1 + lam rho) > 1`` (equivalently ``T > -1``).

    The paper's "there exists xi ... if and only if cos_theta < T" does not say when such an
    angle exists; since ``cos_theta >= -1`` the amplifying set ``[-1, min(1, T))`` is non-empty
    exactly when ``T > -1``, i.e. ``(1 + lam rho)^2 > gamma^-2``.
    """
    gamma, lam, rho = _pos("gamma", gamma), _nonneg("lam", lam), _nonneg("rho", rho)
    return _out(gamma * (1.0 + lam * rho) > 1.0)


def all_angles_amplify(gamma, lam, rho):
    """Theorem 3: every ``cos_theta`` in [-1, 1] amplifies iff ``gamma |1 - lam rho| > 1``
    (equivalently ``T > 1``, for ``lam rho > 0``)."""
    gamma, lam, rho = _pos("gamma", gamma), _nonneg("lam", lam), _nonneg("rho", rho)
    return _out(gamma * np.abs(1.0 - lam * rho) > 1.0)


# ----------------------------------------------------------------------------------------------
# Lemma 2 (eq. 4, Appendix A.5)
# ----------------------------------------------------------------------------------------------
def lipschitz_ratio_bound(gamma, lam, rho, cos_theta, kappa_base=1.0):
    """Lemma 2, corrected: ``L_DA / L_base <= kappa_base * gamma sqrt(1 + lam^2 rho^2 - 2 lam rho cos_theta)``.

    With the infinitesimal local Lipschitz constant of eq. (4) (the limit of the sup over
    ``||xi|| <= r`` as ``r -> 0``) a differentiable map has ``L(x) = ||J||_op`` (spectral norm),
    while ``gamma, rho, theta`` are Frobenius quantities. Since
    ``||J||_op <= ||J||_F <= sqrt(rank J) ||J||_op``,
    ``L_DA / L_base = (||J_DA||_F / ||J_base||_F) * kappa_base / kappa_DA`` with
    ``kappa = ||J||_F / ||J||_op`` in ``[1, sqrt(rank J)]``, hence the bound above
    (``kappa_base <= sqrt(rank J_base)`` gives a bound free of the spectrum).

    The printed form (``kappa_base = 1``) divides two upper bounds, which is invalid; it holds
    iff ``kappa_base <= kappa_DA`` (e.g. when ``J_base`` has rank one: a scalar attention entry,
    where ``L = ||grad||`` exactly) and fails otherwise (counterexamples in
    ``notebooks/theory/fragile_principle.md``). Note also that
    eq. (4) as printed takes the sup over *all* ``xi != 0``; then ``L(x) >= ||J||_op`` and the
    appendix's step ``L(x) <= ||grad f(x)||`` fails for non-linear maps.
    """
    kappa = _arr("kappa_base", kappa_base)
    if np.any(kappa < 1):
        raise ValueError(f"kappa_base = ||J_base||_F / ||J_base||_op must be >= 1, got {kappa_base!r}")
    return _out(kappa * sensitivity_ratio(gamma, lam, rho, cos_theta))


# ----------------------------------------------------------------------------------------------
# Theorem 4 and Corollary 1 (Section 4.2, eq. 5, Appendix A.6)
# ----------------------------------------------------------------------------------------------
def _depth(value) -> np.ndarray:
    return _nonneg("depth", value)


def depth_bound_base(L_base, depth, xi_norm=1.0):
    """Theorem 4, standard attention: ``||Delta^(D)|| <= L_base^D ||xi||``.

    ``L_base`` is the geometric mean of the per-layer local Lipschitz constants.
    """
    L_base, depth, xi = _pos("L_base", L_base), _depth(depth), _nonneg("xi_norm", xi_norm)
    return _out(L_base**depth * xi)


def depth_bound_da(alpha, L_da, depth, xi_norm=1.0, alpha_first=None):
    """Theorem 4 / eq. (5), DA: ``||Delta^(D)|| <= (alpha L_da)^D ||xi||``.

    ``alpha`` and ``L_da`` are geometric means over layers (``prod_d alpha_d L_d =
    (alpha_bar L_bar)^D``). With ``alpha_first`` given, the first DA layer has its own
    cancellation factor: ``alpha_first L_da (alpha L_da)^(D-1) ||xi||`` for ``D >= 1`` (``||xi||``
    for ``D < 1``); ``alpha_first = 1`` is a first layer without cancellation, the model under
    which Corollary 1's crossover can exist (see ``crossover_depth``). ``None`` means
    ``alpha_first = alpha`` (the printed eq. 5).
    """
    alpha, L_da = _alpha("alpha", alpha), _pos("L_da", L_da)
    depth, xi = _depth(depth), _nonneg("xi_norm", xi_norm)
    a1 = alpha if alpha_first is None else _alpha("alpha_first", alpha_first)
    rate = alpha * L_da
    bound = np.where(depth >= 1, (a1 / alpha) * rate**depth, 1.0) * xi
    return _out(bound)


def crossover_depth(alpha, L_da, L_base, alpha_first=1.0):
    """Corollary 1, corrected: the depth ``D*`` where the DA and base bounds of Theorem 4 cross.

    Equating ``alpha_first L_da (alpha L_da)^(D-1) = L_base^D`` gives the closed form
    ``D* = ln(alpha_first / alpha) / ln(L_base / (alpha L_da))``.

    Both bounds equal ``||xi||`` at ``D = 0``, and for ``D >= 1`` their ratio is
    ``(alpha_first / alpha) q^D`` with ``q = alpha L_da / L_base``, monotone in ``D``. So the
    order of the two bounds changes at some depth ``D >= 1`` (a crossover) iff ``D* > 1``.

    * As printed (``alpha_first = alpha``: two pure geometric sequences from the same ``||xi||``)
      the numerator is 0: the bounds meet only at ``D = 0`` (or coincide at every depth when
      ``alpha L_da = L_base``); the order is the same at every ``D >= 1``: **no** crossover.
    * With a first layer without cancellation (``alpha_first = 1 > alpha``) a crossover exists iff
      ``alpha L_da < L_base < L_da`` (the corollary's hypotheses ``L_da > L_base``, ``alpha < 1``
      plus ``alpha L_da < L_base``); DA's bound is then the larger for ``1 <= D < D*`` and the
      smaller for ``D > D*``, with ``D* = ln(alpha) / ln(alpha L_da / L_base) > 1``.

    Returns ``D*`` (real; the first depth at which DA's bound is smaller is the next integer above
    it) where a crossover exists, ``nan`` elsewhere.
    """
    alpha, L_da, L_base = _alpha("alpha", alpha), _pos("L_da", L_da), _pos("L_base", L_base)
    a1 = _alpha("alpha_first", alpha_first)
    num = np.log(a1) - np.log(alpha)
    den = np.log(L_base) - np.log(alpha * L_da)
    safe = np.where(den != 0, den, 1.0)
    d = np.where(den != 0, num / safe, np.nan)
    return _out(np.where(d > 1, d, np.nan))


def crossover_exists(alpha, L_da, L_base, alpha_first=1.0):
    """Whether the bounds of Theorem 4 change order at some depth ``D >= 1`` (``D* > 1``, see
    ``crossover_depth``); for ``alpha_first = 1``: iff ``alpha L_da < L_base < L_da``."""
    return _out(~np.isnan(np.asarray(crossover_depth(alpha, L_da, L_base, alpha_first))))


# ----------------------------------------------------------------------------------------------
# Theorem 5 (Appendix B, eq. 6)
# ----------------------------------------------------------------------------------------------
def certified_radius(margin, lipschitz):
    """Appendix B: ``R(x) = (F_y(x) - max_{i != y} F_i(x)) / L_f(x) = margin / L``.

    (For an l2 certificate from the Lipschitz constant of the logit vector the tight constant
    carries an extra ``1/sqrt(2)``; it cancels in the ratio of Theorem 5.)
    """
    margin, lipschitz = _arr("margin", margin), _pos("lipschitz", lipschitz)
    return _out(margin / lipschitz)


def radius_ratio_bound(delta_m, gamma, lam, rho, cos_theta, kappa_base=1.0):
    """Theorem 5, corrected eq. (6):
    ``R_DA / R_base >= delta_m / (gamma sqrt(1 + lam^2 rho^2 - 2 lam rho cos_theta))``.

    ``delta_m = m_DA / m_base``. Follows from ``R = m / L`` (so ``R_DA / R_base = delta_m
    L_base / L_DA``) and Lemma 2's ``L_DA / L_base <= kappa_base gamma sqrt(...)``; the printed
    lemma is the case ``kappa_base = 1`` (rank-one ``J_base``, e.g. one attention entry), in
    general pass ``kappa_base = ||J_base||_F / ||J_base||_op`` (see ``lipschitz_ratio_bound``).
    The square root covers the whole ``1 + lam^2 rho^2 - 2 lam rho cos_theta``; the printed
    ``gamma sqrt(1 + lam^2 rho^2) - 2 lam rho cos_theta`` is ``radius_ratio_bound_printed``.
    At ``cos_theta = -1`` the bound is exactly ``delta_m / (gamma (1 + lam rho))``, the paper's
    stated asymptotic form. Returns ``+-inf`` where the denominator vanishes (``lam rho = 1`` and
    ``cos_theta = 1``).
    """
    delta_m = _arr("delta_m", delta_m)
    den = np.asarray(lipschitz_ratio_bound(gamma, lam, rho, cos_theta, kappa_base))
    safe = np.where(den > 0, den, 1.0)
    return _out(np.where(den > 0, delta_m / safe, np.copysign(np.inf, delta_m)))


def radius_ratio_bound_printed(delta_m, gamma, lam, rho, cos_theta):
    """Theorem 5 exactly as printed in eq. (6) (kept for the counterexample; do not use):
    ``delta_m / (gamma sqrt(1 + lam^2 rho^2) - 2 lam rho cos_theta)``."""
    delta_m, gamma = _arr("delta_m", delta_m), _pos("gamma", gamma)
    lam, rho, c = _nonneg("lam", lam), _nonneg("rho", rho), _cos(cos_theta)
    lr = lam * rho
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(delta_m / (gamma * np.sqrt(1.0 + lr**2) - 2.0 * lr * c))


# ----------------------------------------------------------------------------------------------
# sympy forms (one source for notebooks and tests)
# ----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _build_sym() -> SimpleNamespace:
    import sympy as sp

    lam, rho, gamma = sp.symbols("lambda rho gamma", positive=True)
    c = sp.Symbol("c", real=True)  # cos(theta), in [-1, 1]
    n1, n2 = sp.symbols("n_1 n_2", nonnegative=True)  # ||J1||, ||J2||
    alpha, alpha_first = sp.symbols("alpha alpha_1", positive=True)
    L_da, L_base = sp.symbols("L_DA L_base", positive=True)
    D = sp.Symbol("D", nonnegative=True)
    delta_m, kappa_base = sp.symbols("Delta_m kappa_base", positive=True)

    factor = sp.sqrt(1 + lam**2 * rho**2 - 2 * lam * rho * c)
    ratio = gamma * factor
    threshold = (1 + lam**2 * rho**2 - gamma**-2) / (2 * lam * rho)
    return SimpleNamespace(
        # symbols
        lam=lam,
        rho=rho,
        gamma=gamma,
        c=c,
        n1=n1,
        n2=n2,
        alpha=alpha,
        alpha_first=alpha_first,
        L_da=L_da,
        L_base=L_base,
        D=D,
        delta_m=delta_m,
        kappa_base=kappa_base,
        # Lemma 1 (eq. 1), squared norm of J1 - lam J2
        da_grad_norm_sq=n1**2 + lam**2 * n2**2 - 2 * lam * n1 * n2 * c,
        # Theorem 1 and eq. (2), corrected aligned case
        amplification_factor=factor,
        amplification_factor_aligned=sp.Abs(1 - lam * rho),
        amplification_factor_opposed=1 + lam * rho,
        # Theorem 2 (eq. 3), Theorem 3
        sensitivity_ratio=ratio,
        amplification_threshold=threshold,
        amplifying_angle_exists=sp.StrictGreaterThan(gamma * (1 + lam * rho), 1),
        all_angles_amplify=sp.StrictGreaterThan(gamma * sp.Abs(1 - lam * rho), 1),
        # Lemma 2 (corrected)
        lipschitz_ratio_bound=kappa_base * ratio,
        # Theorem 4 / eq. (5); depth_bound_da_first: first layer with its own alpha_first
        depth_bound_base=L_base**D,
        depth_bound_da=(alpha * L_da) ** D,
        depth_bound_da_first=alpha_first * L_da * (alpha * L_da) ** (D - 1),
        # Corollary 1, corrected closed form
        crossover_depth=sp.log(alpha_first / alpha) / sp.log(L_base / (alpha * L_da)),
        # Theorem 5 (eq. 6): corrected and printed
        radius_ratio_bound=delta_m / ratio,
        radius_ratio_bound_printed=delta_m / (gamma * sp.sqrt(1 + lam**2 * rho**2) - 2 * lam * rho * c),
    )


def __getattr__(name: str):  # PEP 562: ``dalib.theory.sym`` is built (and sympy imported) lazily
    if name == "sym":
        return _build_sym()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
