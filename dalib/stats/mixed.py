"""The crossed random-effects model of a paired comparison (seeds x images) and its power.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. :class:`Effect` is an effect with its variance components;
:func:`seeds_needed` the training seeds that 80 % power would need at the observed effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Effect:
    """An estimated mean effect with its standard error and t degrees of freedom: ``ci(level)``,
    ``p(null)`` (two-sided). ``method`` names the test; ``components`` holds the variance
    components it used (for power)."""

    estimate: float
    se: float
    df: float
    n_seeds: int
    n_images: int
    method: str
    components: dict = field(default_factory=dict)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        from scipy import stats as st

        if not (np.isfinite(self.se) and self.df > 0):
            return math.nan, math.nan
        if self.se == 0:
            return self.estimate, self.estimate
        h = float(st.t.ppf(0.5 + level / 2, self.df)) * self.se
        return self.estimate - h, self.estimate + h

    def p(self, null: float = 0.0) -> float:
        from scipy import stats as st

        if not (np.isfinite(self.se) and self.df > 0):
            return math.nan
        if self.se == 0:
            return 1.0 if self.estimate == null else 0.0
        return float(2 * st.t.sf(abs(self.estimate - null) / self.se, self.df))


def crossed_effect(d) -> Effect:
    """The two-level test of a mean paired difference ``d`` ``(S seeds, I images)`` (e.g.
    ``changed_b - changed_a`` per seed and image, the same images for every seed).

    Seeds and images are crossed random effects, ``d[s, i] = mu + u_s + v_i + e_si``: training
    randomness ``u`` (variance ``s2_seed``), which images were drawn ``v`` (``s2_image``: an image
    that DiffViT breaks and ViT does not tends to be so in every seed, so outcomes correlate across
    seeds) and the rest ``e``. The mean's variance is ``s2_seed / S + s2_image / I + s2_e / (S I)``,
    estimated without bias from the two-way mean squares, ``(MS_seed + MS_image - MS_e) / (S I)``,
    with Satterthwaite's degrees of freedom (a method-of-moments mixed model; Satterthwaite 1946).
    With one seed it is the paired t over images; with one image per seed, the t over seeds. Its
    false-positive rate is checked by simulation in ``tests/test_verdicts.py``."""
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"crossed_effect takes a (seeds, images) matrix, got shape {d.shape}")
    S, I = d.shape
    m = float(d.mean())
    if S == 1 and I == 1:
        return Effect(m, math.nan, 0.0, S, I, "single value")
    if S == 1:
        return image_effect(d[0])
    if I == 1:
        return seed_effect(d[:, 0])
    rows, cols = d.mean(1), d.mean(0)
    ms_s = I * float(((rows - m) ** 2).sum()) / (S - 1)
    ms_i = S * float(((cols - m) ** 2).sum()) / (I - 1)
    resid = d - rows[:, None] - cols[None, :] + m
    ms_e = float((resid**2).sum()) / ((S - 1) * (I - 1))
    num = ms_s + ms_i - ms_e
    v = max(num, ms_e) / (S * I)  # negative component estimates: never below the residual's share
    dens = ms_s**2 / (S - 1) + ms_i**2 / (I - 1) + ms_e**2 / ((S - 1) * (I - 1))
    df = (max(num, 0.0) ** 2 / dens) if dens > 0 and num > 0 else float(S - 1)
    df = float(min(max(df, S - 1), S * I - 1))  # at least the seed-level df, the design's bound
    comp = {"s2_seed": max((ms_s - ms_e) / I, 0.0), "s2_image": max((ms_i - ms_e) / S, 0.0), "s2_e": ms_e}
    return Effect(m, math.sqrt(v), df, S, I, "crossed seeds x images (Satterthwaite)", comp)


def seed_effect(values) -> Effect:
    """The t test over per-seed values (one number per training seed): the conservative check
    beside :func:`crossed_effect`, and the test where per-image outcomes do not exist."""
    v = np.asarray(values, dtype=float).ravel()
    n = int(v.size)
    if n < 2:
        return Effect(float(v.mean()) if n else math.nan, math.nan, 0.0, n, 0, "t over seeds")
    return Effect(
        float(v.mean()),
        float(v.std(ddof=1)) / math.sqrt(n),
        float(n - 1),
        n,
        0,
        "t over seeds",
        {"s2_seed": float(v.var(ddof=1))},
    )


def image_effect(d) -> Effect:
    """The paired t test over images of one model pair (one seed, or fixed pretrained models):
    ``d`` the per-image differences ``(I,)``."""
    d = np.asarray(d, dtype=float).ravel()
    n = int(d.size)
    if n < 2:
        return Effect(float(d.mean()) if n else math.nan, math.nan, 0.0, 1, n, "paired t over images")
    return Effect(
        float(d.mean()),
        float(d.std(ddof=1)) / math.sqrt(n),
        float(n - 1),
        1,
        n,
        "paired t over images",
        {"s2_image": float(d.var(ddof=1))},
    )


def power(effect: float, components: dict, n_seeds: int, n_images: int, alpha: float = 0.05) -> float:
    """Power of the two-level test (two-sided, level ``alpha``) to find a true mean difference
    ``effect`` with ``n_seeds`` seeds and ``n_images`` images, given the variance components of
    :func:`crossed_effect` (``s2_seed``, ``s2_image``, ``s2_e``; missing ones count 0): the
    noncentral t with ``n_seeds - 1`` degrees of freedom (the seed term's, the least the test can
    have: conservative where Satterthwaite's are more). With one seed, the t over images. By
    simulation (``dalib.calibration``) the test's power is lower still when the seed term is
    estimated from 2 degrees of freedom (Fig. 2a at 3 seeds: 0.50 simulated, 0.66 here), so read
    :func:`seeds_needed` as a lower bound."""
    from scipy import stats as st

    S, I = int(n_seeds), int(n_images)
    s2s, s2i, s2e = (float(components.get(k, 0.0)) for k in ("s2_seed", "s2_image", "s2_e"))
    var = s2s / S + s2i / I + s2e / (S * I)
    if var <= 0:
        return 1.0 if effect != 0 else alpha
    df = float(S - 1) if S > 1 else float(max(I - 1, 1))
    t = float(st.t.ppf(1 - alpha / 2, df))
    z = abs(effect) / math.sqrt(var)
    return float(st.nct.sf(t, df, z) + st.nct.cdf(-t, df, z))


def seeds_needed(
    effect: float, components: dict, n_images: int, target: float = 0.8, alpha: float = 0.05, max_seeds: int = 200
) -> int | None:
    """The smallest number of training seeds (2 to ``max_seeds``) at which :func:`power` reaches
    ``target``; None if none does (the image-level variance alone keeps the interval too wide:
    more images, not more seeds, would help)."""
    if not (np.isfinite(effect) and effect != 0):
        return None
    for S in range(2, max_seeds + 1):
        if power(effect, components, S, n_images, alpha) >= target:
            return S
    return None


def claim_seeds_needed(comp):
    """Training seeds at which every non-saturated part of a claim (rows of
    :func:`dalib.analysis.paired_comparison`) would reach 80 % power at its observed effect: the
    largest of the parts' :func:`dalib.stats.seeds_needed` (the intersection-union claim needs
    all); None if a part's effect is 0 or beyond 200 seeds."""
    import numpy as np

    need = 0
    for _, r in comp.iterrows():
        if r.get("saturated", False):
            continue
        comps = {k: float(r[k]) for k in ("s2_seed", "s2_image", "s2_e") if k in r and np.isfinite(r[k])}
        n = seeds_needed(float(r["diff_mean"]), comps, int(r["n_images"])) if comps else None
        if n is None:
            return None
        need = max(need, n)
    return need or None
