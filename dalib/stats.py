"""Statistics for comparing attack outcomes: seed-level confidence intervals, paired tests on
per-sample flags, and the plain verdict the results chapter gives each claim of the paper.

Two sources of variation are kept apart (the paper reports single runs without error bars):

- **Across training seeds** (is the effect a property of the architecture, or of one training
  run?): per-seed values or per-seed paired differences, summarised by the mean and a Student-t
  95% confidence interval, :func:`mean_ci`. With 3 seeds the t quantile is 4.30, so the interval is
  wide; that is the honest width of a 3-seed experiment.
- **Across images, for one pair of trained models** (is the difference between these two models
  more than the luck of the 1,000 test images?): McNemar's exact test on the discordant pairs of
  per-sample flags (McNemar 1947; exact binomial form), :func:`mcnemar`, and a paired bootstrap
  CI of the difference of the two rates, :func:`paired_bootstrap`.

:func:`verdict` turns a seed-level CI of a difference (in the direction the paper claims) into
"reproduced", "not reproduced", "inconclusive" or "saturated" with the reason. A claim that spans
several budgets (e.g. "DiffViT has the higher ASR at every eps") is one family of tests: its
p-values are adjusted with Holm's step-down method (:func:`holm`) before they decide a verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "mean_ci",
    "t_test_p",
    "holm",
    "mcnemar",
    "mcnemar_pooled",
    "paired_bootstrap",
    "verdict",
    "verdict_v1",
    "combine",
    "Effect",
    "crossed_effect",
    "seed_effect",
    "image_effect",
    "power",
    "seeds_needed",
    "claim_row",
    "VERDICTS",
    "RULES",
    "RULES_VERSION",
    "PRACTICAL_MARGIN",
    "SATURATION",
]

RULES_VERSION = 2
# the verdict vocabulary (rules v2), one word per claim in every chapter
VERDICTS = (
    "reproduced",
    "reproduced, smaller",
    "contradicted",
    "not reproduced",
    "inconclusive",
    "saturated",
    "not testable at this scale",
)
RULES = {
    "reproduced": "the 95 % interval of the effect, in the paper's direction, lies above 0",
    "reproduced, smaller": "reproduced, and the interval lies below the paper's printed effect",
    "contradicted": "the interval lies below 0: significant in the opposite direction",
    "not reproduced": "the interval includes 0 and excludes the paper's effect (or, where the paper prints "
    "none, lies within the ±0.02 practical margin)",
    "inconclusive": "none of the above",
    "saturated": "both models' rates are at least 0.98: the attack breaks (almost) every image of both",
    "not testable at this scale": "the models are too weak for the claim to mean what it means in the paper "
    "(the chapter states its criterion)",
}
PRACTICAL_MARGIN = 0.02  # |difference| of rates below which an effect counts as absent (2 points)
SATURATION = 0.98  # both rates at least this high: the attack breaks (almost) everything


def t_test_p(values) -> float:
    """Two-sided p-value of the one-sample Student t test that the mean of ``values`` is 0 (the
    test whose 95% interval is :func:`mean_ci`'s: p < 0.05 exactly when that CI excludes 0).
    NaN for fewer than 2 values; 0 or 1 for zero spread, by the sign of the mean."""
    from scipy import stats as st

    v = np.asarray(values, dtype=float).ravel()
    if v.size < 2:
        return math.nan
    if float(v.std(ddof=1)) == 0.0:
        return 1.0 if float(v.mean()) == 0.0 else 0.0
    return float(st.ttest_1samp(v, 0.0).pvalue)


def holm(pvalues) -> list[float]:
    """Holm's step-down adjustment (Holm 1979) of a family of p-values: with ``p_(1) <= ... <=
    p_(k)`` sorted, ``adj_(j) = max_{i <= j} min(1, (k - i + 1) p_(i))``, returned in the input order.
    Rejecting where ``adj < alpha`` controls the family-wise error rate at ``alpha``. NaN entries
    stay NaN and do not count towards ``k``."""
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    k = ok.size
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (k - rank) * p[i]))
        out[i] = running
    return out.tolist()


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean of ``values`` (e.g. one number per training seed) with a Student-t CI.

    Returns ``{"mean", "low", "high", "sd", "n"}``; ``low``/``high`` are NaN for n < 2 (one seed
    says nothing about seed-to-seed variation). NaN values are an error, not dropped."""
    from scipy import stats as st

    v = np.asarray(values, dtype=float).ravel()
    if np.isnan(v).any():
        raise ValueError(f"mean_ci: values contain NaN: {v.tolist()}")
    n = int(v.size)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "sd": math.nan, "n": 0}
    m = float(v.mean())
    if n < 2:
        return {"mean": m, "low": math.nan, "high": math.nan, "sd": math.nan, "n": 1}
    sd = float(v.std(ddof=1))
    half = float(st.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": m, "low": m - half, "high": m + half, "sd": sd, "n": n}


def _flags_pair(a, b):
    a, b = np.asarray(a, dtype=bool).ravel(), np.asarray(b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired flags must have the same length, got {a.size} and {b.size}")
    return a, b


def mcnemar(a, b) -> dict:
    """McNemar's exact test that two paired 0/1 outcomes (same samples) have equal rates.

    ``a``, ``b``: flags of the same n samples (e.g. ``changed`` for ViT and DiffViT on the same
    images). Only discordant pairs carry information: ``n_b_only`` = #(not a, b) and ``n_a_only``
    = #(a, not b); under H0 each discordant pair is b-only with probability 1/2, so the two-sided
    p-value is the exact binomial one, ``min(1, 2 P[X <= min(n_a_only, n_b_only)])``,
    X ~ Bin(n_a_only + n_b_only, 1/2). Returns those counts, ``rate_a``, ``rate_b``,
    ``diff = rate_b - rate_a`` and ``p``."""
    from scipy import stats as st

    a, b = _flags_pair(a, b)
    n = int(a.size)
    b_only, a_only = int((~a & b).sum()), int((a & ~b).sum())
    k = b_only + a_only
    p = 1.0 if k == 0 else float(min(1.0, 2 * st.binom.cdf(min(a_only, b_only), k, 0.5)))
    ra, rb = (float(a.mean()), float(b.mean())) if n else (math.nan, math.nan)
    return {"n": n, "n_a_only": a_only, "n_b_only": b_only, "rate_a": ra, "rate_b": rb, "diff": rb - ra, "p": p}


def mcnemar_pooled(tables) -> dict:
    """McNemar's exact test pooled over strata (e.g. training seeds): the discordant counts of the
    :func:`mcnemar` results ``tables`` are summed and tested as one binomial. Valid when the
    strata share the direction of the effect under the alternative; returns ``n_a_only``,
    ``n_b_only`` and ``p``."""
    from scipy import stats as st

    a_only = int(sum(t["n_a_only"] for t in tables))
    b_only = int(sum(t["n_b_only"] for t in tables))
    k = a_only + b_only
    p = 1.0 if k == 0 else float(min(1.0, 2 * st.binom.cdf(min(a_only, b_only), k, 0.5)))
    return {"n_a_only": a_only, "n_b_only": b_only, "p": p}


def paired_bootstrap(a, b, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap CI of ``mean(b) - mean(a)`` over paired samples: the same resampled
    indices for both (seeded NumPy generator). Returns ``{"diff", "low", "high", "n"}``."""
    a, b = _flags_pair(a, b)
    n = int(a.size)
    if n == 0:
        return {"diff": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    d = b.astype(float) - a.astype(float)  # (n,) per-sample difference in {-1, 0, 1}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = d[idx].mean(1)
    q = (1 - level) / 2
    return {
        "diff": float(d.mean()),
        "low": float(np.quantile(means, q)),
        "high": float(np.quantile(means, 1 - q)),
        "n": n,
    }


def verdict_v1(
    low: float,
    high: float,
    n: int,
    *,
    p: float | None = None,
    alpha: float = 0.05,
    margin: float = PRACTICAL_MARGIN,
    what: str = "the difference",
    paper_effect: float | None = None,
    p_seed: float | None = None,
    family: int = 1,
    rates: tuple | None = None,
    saturation: float = SATURATION,
    unit: str = "seeds",
) -> tuple[str, str]:
    """The rules of version 1 (until rules v2, :data:`RULES_VERSION`), kept so that the book can show
    every verdict under the old and the new rules side by side. Do not use for new verdicts.

    ``(verdict, reason)`` for a claimed positive effect, from the CI ``[low, high]`` of the
    effect in the claimed direction (e.g. ASR(DiffViT) - ASR(ViT)) over ``n`` seeds and, if given,
    the p-value ``p`` of an image-level test pooled over the seeds (e.g. McNemar on all pairs):

    - **saturated**: both rates ``rates = (rate_a, rate_b)`` are at least ``saturation``: the
      attack breaks (almost) every image of both models, so the budget cannot tell them apart;
    - **reproduced**: the CI lies above 0 (and ``p < alpha``);
    - **not reproduced**: the CI lies below 0 (and ``p < alpha``): the opposite effect; or the CI
      lies inside ``(-margin, margin)``: no effect of practical size;
    - **inconclusive**: otherwise (the CI contains 0 and reaches beyond the margin; or the seeds
      agree but the images do not settle it, ``p >= alpha``, which happens when a few seeds give
      near-identical differences and the t interval collapses), or fewer than two seeds (no CI).

    Multiple budgets: when the test is one of a ``family`` of ``k > 1`` (one claim over several
    budgets), pass the Holm-adjusted p-values (:func:`holm`): ``p`` for the pooled image-level
    test and ``p_seed`` for the seed-level t test (:func:`t_test_p`). An effect (a CI beside 0)
    then also needs ``p_seed < alpha``; one that is significant only before the adjustment is
    **inconclusive**. The margin and paper-effect rules read the unadjusted 95% CI.

    ``unit``: what ``n`` counts in the reason text (``"seeds"``; ``"images"`` when one fixed model
    pair is compared image by image, the CI then a paired bootstrap over images).

    ``paper_effect``: the size of the effect the paper reports (same units, > 0), if it reports
    one. A CI that contains 0 but lies wholly below it excludes the paper's effect: **not
    reproduced** (an effect of the paper's size is ruled out; a smaller one is not). A CI above 0
    but below it stays **reproduced**, with the smaller size stated.
    """
    if rates is not None and min(rates) >= saturation:
        return "saturated", (
            f"both rates are at least {saturation:.2f} ({rates[0]:.3f}, {rates[1]:.3f}): "
            "the attack breaks almost every image of both models"
        )
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"only {n} {unit}: no confidence interval"
    ci = f"95% CI of {what} over {n} {unit} [{low:+.3f}, {high:+.3f}]"
    adj = f" (Holm-adjusted over {family} budgets)" if family > 1 else ""
    pooled = "" if p is None else f", pooled image-level p = {p:.2g}{adj}"
    if p_seed is not None and family > 1 and (low > 0 or high < 0) and not p_seed < alpha:
        side = "above" if low > 0 else "below"
        return "inconclusive", (
            f"{ci} lies {side} 0, but not after the Holm correction over {family} "
            f"budgets (seed-level p = {p_seed:.2g}){pooled}"
        )
    weak = p is not None and not p < alpha
    size = "" if paper_effect is None else f"; the paper's difference is {paper_effect:+.3f}"
    if low > 0:
        if weak:
            return "inconclusive", f"{ci} lies above 0, but the images do not settle it{pooled}"
        smaller = paper_effect is not None and high < paper_effect
        return "reproduced", f"{ci} lies above 0{pooled}" + (f"{size} (ours is smaller)" if smaller else "")
    if high < 0:
        if weak:
            return "inconclusive", f"{ci} lies below 0, but the images do not settle it{pooled}"
        return "not reproduced", f"{ci} lies below 0: the opposite effect{pooled}"
    if -margin < low and high < margin:
        return "not reproduced", f"{ci} lies within ±{margin:.2f}: no effect of practical size"
    if paper_effect is not None and high < paper_effect:
        return "not reproduced", (
            f"{ci} contains 0 and excludes the paper's difference "
            f"{paper_effect:+.3f}: an effect of that size is ruled out, a smaller one is not"
        )
    return "inconclusive", f"{ci} contains 0{pooled}{size}"


def verdict(
    low: float,
    high: float,
    n: int,
    *,
    margin: float = PRACTICAL_MARGIN,
    what: str = "the difference",
    paper_effect: float | None = None,
    rates: tuple | None = None,
    saturation: float = SATURATION,
    unit: str = "seeds",
    testable: bool = True,
    why_untestable: str = "",
) -> tuple[str, str]:
    """``(verdict, reason)`` under the rules v2 (:data:`RULES`) from the interval ``[low, high]`` of
    an effect in the paper's direction (e.g. ASR(DiffViT) - ASR(ViT)) over ``n`` ``unit``.

    One interval decides both ways: no extra gate on either side. The interval comes from the
    chapter's primary test (:func:`crossed_effect` where per-image outcomes exist, else
    :func:`seed_effect`); for one part of a claim over several parts, pass the interval that
    :func:`combine` expects (see there)."""
    if not testable:
        return "not testable at this scale", why_untestable
    if rates is not None and min(rates) >= saturation:
        return "saturated", (
            f"both rates are at least {saturation:.2f} ({rates[0]:.3f}, {rates[1]:.3f}): "
            "the attack breaks almost every image of both models"
        )
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"{n} {unit}: no interval"
    ci = f"95% CI of {what} over {n} {unit} [{low:+.3f}, {high:+.3f}]"
    size = "" if paper_effect is None else f"; the paper's is {paper_effect:+.3f}"
    if low > 0:
        if paper_effect is not None and high < paper_effect:
            return "reproduced, smaller", f"{ci} lies above 0 and below the paper's {paper_effect:+.3f}"
        return "reproduced", f"{ci} lies above 0{size}"
    if high < 0:
        return "contradicted", f"{ci} lies below 0: the data point the other way{size}"
    if paper_effect is not None and high < paper_effect:
        return "not reproduced", (
            f"{ci} contains 0 and excludes the paper's {paper_effect:+.3f}: an effect of "
            "that size is ruled out, a smaller one is not"
        )
    if paper_effect is None and -margin < low and high < margin:
        return "not reproduced", f"{ci} lies within ±{margin:.2f}: no effect of practical size"
    return "inconclusive", f"{ci} contains 0{size}"


def adjusted_interval(mean: float, low: float, high: float, df: float, level: float) -> tuple[float, float]:
    """The ``level`` t interval of an estimate whose 95 % t interval with ``df`` degrees of freedom
    is ``[low, high]`` (the same standard error): how a part of a family is read at ``1 - 0.05 / k``."""
    from scipy import stats as st

    if not (np.isfinite(low) and np.isfinite(high) and df > 0):
        return math.nan, math.nan
    se = (high - low) / (2 * float(st.t.ppf(0.975, df)))
    h = float(st.t.ppf(0.5 + level / 2, df)) * se
    return mean - h, mean + h


def combine(verdicts) -> str:
    """One verdict for a claim made of several parts (budgets, layers, depths), rules v2.

    "At every part" is an intersection-union test: the claim is **reproduced** when every part
    that is not saturated is, each at the 95 % level, with no correction across parts (Berger
    1982); "reproduced, smaller" when one of them is. The other words are unions over parts ("some
    part contradicts"), so the parts' verdicts passed here must come from family-adjusted
    intervals (:func:`Effect.ci` at level ``1 - 0.05 / k`` for ``k`` non-saturated parts,
    Bonferroni), which :func:`dalib.analysis.paired_comparison` does: **contradicted** if any part
    is, else **not reproduced** if any part is, else **inconclusive**. All parts saturated:
    **saturated**; any part not testable: **not testable at this scale**."""
    verdicts = list(verdicts)
    if not verdicts:
        return "not yet run"
    if "not testable at this scale" in verdicts:
        return "not testable at this scale"
    v = [x for x in verdicts if x != "saturated"]
    if not v:
        return "saturated"
    if all(x in ("reproduced", "reproduced, smaller") for x in v):
        return "reproduced, smaller" if "reproduced, smaller" in v else "reproduced"
    for word in ("contradicted", "not reproduced"):
        if word in v:
            return word
    return "inconclusive"


# --------------------------------------------------------------------------------------------
# the two-level test: training seeds and test images, crossed


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


SCALE_FACTOR = 2.0  # "not testable at this scale": our base model's ASR at the smallest budget above 2x the paper's


def scale_check(ours: float, papers: float, what: str, factor: float = SCALE_FACTOR) -> tuple[bool, str]:
    """``(testable, why)``: a comparison of attack success rates means what it means in the paper
    only in the paper's regime. The written criterion: the base model's ASR at the smallest budget
    the paper prints (``ours``) is at most ``factor`` times the paper's (``papers``); above, our
    models break at budgets where the paper's hold, and absolute ASR gaps are not comparable."""
    if not (np.isfinite(ours) and np.isfinite(papers)) or papers <= 0:
        return True, ""
    ok = ours <= factor * papers
    why = (
        f"{what}: our ASR {ours:.2f} against the paper's {papers:.2f} ({ours / papers:.1f}x; the criterion is "
        f"at most {factor:g}x)"
    )
    return ok, why if ok else why + ": our models are in another regime, where the paper's claim cannot be tested"


def claim_row(
    cid: str,
    claim: str,
    verdict: str = "not yet run",
    detail: str = "no records yet",
    short: str | None = None,
    **numbers,
) -> dict:
    """One row of a claims table (``{id, claim, verdict, detail, short}``: the scorecard, the
    chapter pages); ``short``, the scorecard's one-line cell, defaults to ``detail``. Called with
    the claim only, it is the row of a claim with no records yet. ``numbers``: the headline
    ``effect`` with its interval ``low``/``high``, the paper's value ``paper_value``,
    ``seeds_needed`` (80 % power at the observed effect) and ``verdict_v1``, where the chapter has them."""
    row = {"id": cid, "claim": claim, "verdict": verdict, "detail": detail, "short": detail if short is None else short}
    row.update(numbers)
    return row


def headline_numbers(row, paper_value=None) -> dict:
    """The ``numbers`` of :func:`claim_row` from one part's row of
    :func:`dalib.analysis.paired_comparison` (its headline budget): the effect and its two-level
    interval, the paper's value, and the training seeds 80 % power would need at the observed
    effect (and at the paper's, if it prints one)."""
    comp = {k: float(row[k]) for k in ("s2_seed", "s2_image", "s2_e") if k in row and np.isfinite(row[k])}
    n_img = int(row["n_images"]) if "n_images" in row and np.isfinite(row["n_images"]) else 1000
    out = {
        "effect": float(row["diff_mean"]),
        "low": float(row["diff_low"]),
        "high": float(row["diff_high"]),
        "paper_value": paper_value,
        "unit": "Δ ASR",
        "seeds_needed": seeds_needed(float(row["diff_mean"]), comp, n_img) if comp else None,
    }
    if paper_value is not None and comp:
        out["seeds_needed_paper"] = seeds_needed(float(paper_value), comp, n_img)
    return out


def rules_commit(root=None) -> str | None:
    """The git commit that introduced the current rules (:data:`RULES_VERSION`), found with
    ``git log -S``; None where git or the history is not available (an exported tree)."""
    import subprocess
    from pathlib import Path

    root = Path(root) if root else Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            [
                "git",
                "log",
                "--reverse",
                "--format=%h %cs",
                "-S",
                f"RULES_VERSION = {RULES_VERSION}",
                "--",
                "dalib/stats.py",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None


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


def combine_v1(verdicts) -> str:
    """Rules v1 (kept for the before/after table): one verdict for a claim tested at several
    budgets: saturated budgets are left out; it is reproduced only if every other budget is, not
    reproduced if any budget is, else inconclusive."""
    verdicts = list(verdicts)
    v = [x for x in verdicts if x != "saturated"]
    if not v:
        return "saturated" if verdicts else "not yet run"
    if all(x == "reproduced" for x in v):
        return "reproduced"
    if any(x == "not reproduced" for x in v):
        return "not reproduced"
    return "inconclusive"


# ---------------------------------------------------------------- trends (the model-quality ladder)
def trend(x, y, group, level: float = 0.95, at=None) -> dict:
    """The slope of ``y`` on ``x`` common to every ``group`` (each its own intercept: a within-group
    least-squares fit, e.g. the ASR gap against clean accuracy over the rungs of each training seed),
    with its t interval on ``n - groups - 1`` degrees of freedom. ``at``: also the fitted ``y`` at
    ``x = at``, averaged over the groups' intercepts, with its interval (an extrapolation when ``at``
    is outside the data). Keys ``slope, low, high, p, df, n, groups`` (+ ``at, fit, fit_low,
    fit_high``); ``nan`` where the degrees of freedom are too few.

    The interval treats the residuals as independent with one variance; points of one training run
    that share images and a weight trajectory may be correlated (tested in ``tests/test_stats.py``
    by simulation: under a flat truth with independent noise it rejects at the nominal rate)."""
    from scipy.stats import t as t_dist

    x, y = np.asarray(x, float), np.asarray(y, float)
    labels = sorted(set(group), key=str)
    ok = np.isfinite(x) & np.isfinite(y)
    g = np.asarray([labels.index(v) for v in group])[ok]
    x, y = x[ok], y[ok]
    n, k = len(x), len(labels)
    out = {"n": n, "groups": k, "df": n - k - 1}
    nan = dict(slope=np.nan, low=np.nan, high=np.nan, p=np.nan)
    if at is not None:
        nan.update(at=float(at), fit=np.nan, fit_low=np.nan, fit_high=np.nan)
    if n - k - 1 < 1 or np.ptp(x) == 0:
        return {**out, **nan}
    design = np.column_stack([x, (g[:, None] == np.arange(k)[None, :]).astype(float)])  # (n, 1 + k)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    s2 = float(resid @ resid) / (n - k - 1)
    cov = s2 * np.linalg.pinv(design.T @ design)
    q = float(t_dist.ppf(0.5 + level / 2, n - k - 1))
    se = float(np.sqrt(cov[0, 0]))
    slope = float(coef[0])
    p = float(2 * t_dist.sf(abs(slope) / se, n - k - 1)) if se > 0 else (0.0 if slope else 1.0)
    out.update(slope=slope, low=slope - q * se, high=slope + q * se, p=p)
    if at is not None:
        c = np.concatenate([[float(at)], np.full(k, 1 / k)])  # at x, the mean of the groups' intercepts
        fit, se_fit = float(c @ coef), float(np.sqrt(c @ cov @ c))
        out.update(at=float(at), fit=fit, fit_low=fit - q * se_fit, fit_high=fit + q * se_fit)
    return out


def trend_word(low: float, high: float) -> str:
    """How a trend reads: ``grows`` (interval above 0), ``shrinks`` (below), else ``no trend detected``."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not enough points"
    return "grows" if low > 0 else "shrinks" if high < 0 else "no trend detected"
