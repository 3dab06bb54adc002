"""The tests of the statistics: seed-level t intervals, Holm, McNemar (exact and pooled), the paired
bootstrap, and the trend over model quality.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (it reports single runs without error bars; these are ours).
"""

from __future__ import annotations

import math

import numpy as np


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
