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

import numpy as np

__all__ = ["mean_ci", "t_test_p", "holm", "mcnemar", "mcnemar_pooled", "paired_bootstrap", "verdict",
           "claim_row", "VERDICTS", "PRACTICAL_MARGIN", "SATURATION"]

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "saturated")
PRACTICAL_MARGIN = 0.02  # |difference| of rates below which an effect counts as absent (2 points)
SATURATION = 0.98        # both rates at least this high: the attack breaks (almost) everything


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
    return {"n": n, "n_a_only": a_only, "n_b_only": b_only, "rate_a": ra, "rate_b": rb,
            "diff": rb - ra, "p": p}


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
    return {"diff": float(d.mean()), "low": float(np.quantile(means, q)),
            "high": float(np.quantile(means, 1 - q)), "n": n}


def verdict(low: float, high: float, n: int, *, p: float | None = None, alpha: float = 0.05,
            margin: float = PRACTICAL_MARGIN, what: str = "the difference",
            paper_effect: float | None = None, p_seed: float | None = None,
            family: int = 1, rates: tuple | None = None,
            saturation: float = SATURATION, unit: str = "seeds") -> tuple[str, str]:
    """``(verdict, reason)`` for a claimed positive effect, from the CI ``[low, high]`` of the
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
        return "saturated", (f"both rates are at least {saturation:.2f} ({rates[0]:.3f}, {rates[1]:.3f}): "
                             "the attack breaks almost every image of both models")
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"only {n} {unit}: no confidence interval"
    ci = f"95% CI of {what} over {n} {unit} [{low:+.3f}, {high:+.3f}]"
    adj = f" (Holm-adjusted over {family} budgets)" if family > 1 else ""
    pooled = "" if p is None else f", pooled image-level p = {p:.2g}{adj}"
    if p_seed is not None and family > 1 and (low > 0 or high < 0) and not p_seed < alpha:
        side = "above" if low > 0 else "below"
        return "inconclusive", (f"{ci} lies {side} 0, but not after the Holm correction over {family} "
                                f"budgets (seed-level p = {p_seed:.2g}){pooled}")
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
        return "not reproduced", (f"{ci} contains 0 and excludes the paper's difference "
                                  f"{paper_effect:+.3f}: an effect of that size is ruled out, a smaller one is not")
    return "inconclusive", f"{ci} contains 0{pooled}{size}"


def claim_row(cid: str, claim: str, verdict: str = "not yet run", detail: str = "no records yet",
              short: str | None = None) -> dict:
    """One row of a claims table (``{id, claim, verdict, detail, short}``: the scorecard, the
    chapter pages); ``short``, the scorecard's one-line cell, defaults to ``detail``. Called with
    the claim only, it is the row of a claim with no records yet."""
    return {"id": cid, "claim": claim, "verdict": verdict, "detail": detail,
            "short": detail if short is None else short}
