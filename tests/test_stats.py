"""dalib.stats: seed-level intervals, exact McNemar, paired bootstrap, verdicts."""

import math

import numpy as np
import pytest
from scipy import stats as st

from dalib.stats import VERDICTS, mcnemar, mcnemar_pooled, mean_ci, paired_bootstrap, verdict, verdict_v1


def test_mean_ci_is_the_student_t_interval():
    v = [0.30, 0.34, 0.35]
    s = mean_ci(v)
    half = st.t.ppf(0.975, 2) * np.std(v, ddof=1) / math.sqrt(3)
    assert s["n"] == 3 and s["mean"] == pytest.approx(np.mean(v))
    assert (s["low"], s["high"]) == pytest.approx((np.mean(v) - half, np.mean(v) + half))
    one = mean_ci([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["low"]) and math.isnan(one["high"])
    assert mean_ci([])["n"] == 0
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([0.1, float("nan")])


def test_mcnemar_exact_matches_the_binomial_test():
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.4
    b = a.copy()
    flip = rng.random(500) < 0.15
    b[flip] = ~b[flip]
    b[:40] = True  # b more often positive
    m = mcnemar(a, b)
    assert m["n_b_only"] == int((~a & b).sum()) and m["n_a_only"] == int((a & ~b).sum())
    ref = st.binomtest(m["n_b_only"], m["n_a_only"] + m["n_b_only"], 0.5).pvalue
    assert m["p"] == pytest.approx(ref, rel=1e-9)
    assert m["diff"] == pytest.approx(b.mean() - a.mean())
    assert mcnemar(b, a)["p"] == pytest.approx(m["p"])  # symmetric
    assert mcnemar(a, a)["p"] == 1.0 and mcnemar(a, a)["diff"] == 0.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar(a, b[:-1])


def test_pooled_mcnemar_sums_discordant_pairs():
    t = [{"n_a_only": 3, "n_b_only": 10}, {"n_a_only": 2, "n_b_only": 9}]
    p = mcnemar_pooled(t)
    assert (p["n_a_only"], p["n_b_only"]) == (5, 19)
    assert p["p"] == pytest.approx(st.binomtest(19, 24, 0.5).pvalue)
    assert mcnemar_pooled([])["p"] == 1.0


def test_paired_bootstrap_is_seeded_and_covers_the_difference():
    rng = np.random.default_rng(1)
    a = rng.random(1000) < 0.3
    b = rng.random(1000) < 0.5
    r1, r2 = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert r1 == r2
    assert r1["low"] < r1["diff"] < r1["high"] and r1["diff"] == pytest.approx(b.mean() - a.mean())


@pytest.mark.parametrize(
    "low, high, n, p, expected",
    [
        (0.01, 0.2, 3, None, "reproduced"),
        (0.01, 0.2, 3, 0.001, "reproduced"),
        (0.01, 0.2, 3, 0.3, "inconclusive"),  # seeds agree, images do not settle it
        (-0.2, -0.01, 3, 0.001, "not reproduced"),
        (-0.01, 0.015, 3, None, "not reproduced"),  # within the practical margin
        (-0.05, 0.2, 3, 0.001, "inconclusive"),
        (0.1, 0.2, 1, None, "inconclusive"),  # one seed: no interval
        (float("nan"), float("nan"), 3, None, "inconclusive"),
    ],
)
def test_verdict_v1_rules(low, high, n, p, expected):
    """The rules v1, kept for the before/after table."""
    v, reason = verdict_v1(low, high, n, p=p)
    assert v == expected and reason


@pytest.mark.parametrize(
    "low, high, paper, expected",
    [
        (0.01, 0.2, None, "reproduced"),
        (0.01, 0.2, 0.05, "reproduced"),  # the paper's effect inside the interval
        (0.01, 0.04, 0.05, "reproduced, smaller"),  # above 0, below the paper's effect
        (-0.2, -0.01, None, "contradicted"),  # significant in the opposite direction
        (-0.2, -0.01, 0.05, "contradicted"),
        (-0.01, 0.015, None, "not reproduced"),  # within the practical margin, no paper number
        (-0.04, 0.03, 0.05, "not reproduced"),  # includes 0, excludes the paper's effect
        (-0.04, 0.10, 0.05, "inconclusive"),
        (-0.05, 0.2, None, "inconclusive"),
        (float("nan"), float("nan"), None, "inconclusive"),
    ],
)
def test_verdict_rules_v2(low, high, paper, expected):
    v, reason = verdict(low, high, 3, paper_effect=paper)
    assert v == expected and reason and v in VERDICTS


def test_one_interval_decides_both_ways():
    """The same evidence gets the same word mirrored: no extra gate on one side."""
    for lo, hi in ((0.01, 0.2), (0.003, 0.09), (0.2, 0.5)):
        assert verdict(lo, hi, 3)[0] == "reproduced" and verdict(-hi, -lo, 3)[0] == "contradicted"


def test_verdict_saturated_and_not_testable():
    v, why = verdict(-0.01, 0.01, 3, rates=(0.99, 0.995))
    assert v == "saturated" and "0.98" in why
    v, _ = verdict(-0.01, 0.01, 3, rates=(0.97, 0.995))
    assert v == "not reproduced"  # one model below the saturation level: the margin rule applies
    v, why = verdict(0.1, 0.2, 3, testable=False, why_untestable="clean accuracy 0.11")
    assert v == "not testable at this scale" and why == "clean accuracy 0.11"


def test_combine_is_an_intersection_union_rule():
    from dalib.stats import combine

    assert combine(["reproduced", "reproduced", "saturated"]) == "reproduced"
    assert combine(["reproduced", "reproduced, smaller"]) == "reproduced, smaller"
    assert combine(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine(["reproduced", "contradicted", "not reproduced"]) == "contradicted"
    assert combine(["inconclusive", "not reproduced"]) == "not reproduced"
    assert combine(["saturated", "saturated"]) == "saturated" and combine([]) == "not yet run"
    assert combine(["reproduced", "not testable at this scale"]) == "not testable at this scale"


def test_holm_matches_the_step_down_definition():
    from dalib.stats import holm

    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005=0.02, 3*0.01=0.03, 2*0.03=0.06, max(0.06, 1*0.04)=0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    adj = holm([0.01, float("nan"), 0.02])  # NaN stays NaN and is not counted
    assert np.isnan(adj[1]) and adj[0] == pytest.approx(0.02) and adj[2] == pytest.approx(0.02)
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # 2 * 0.8 capped at 1, and monotone


def test_t_test_p_agrees_with_the_t_interval():
    from dalib.stats import mean_ci, t_test_p

    for v in ([0.02, 0.05, 0.04], [-0.01, 0.03, 0.02], [0.1, 0.12, 0.3, 0.05]):
        ci = mean_ci(v)
        assert (t_test_p(v) < 0.05) == (ci["low"] > 0 or ci["high"] < 0)
    assert np.isnan(t_test_p([0.1])) and t_test_p([0.1, 0.1]) == 0.0


def test_adjusted_interval_keeps_the_standard_error():
    from scipy import stats as st

    from dalib.stats import adjusted_interval

    lo, hi = adjusted_interval(0.1, 0.0, 0.2, 4, 1 - 0.05 / 5)
    se = 0.1 / st.t.ppf(0.975, 4)
    assert hi - 0.1 == pytest.approx(st.t.ppf(1 - 0.005, 4) * se) and 0.1 - lo == pytest.approx(hi - 0.1)
    assert lo < 0.0 and hi > 0.2  # the family's level is wider
    assert adjusted_interval(0.1, 0.0, 0.2, 4, 0.95) == pytest.approx((0.0, 0.2))


# ---------------------------------------------------------------- trend (the model-quality ladder)
def _ladder_like(rng, slope, n_seeds=2, sd_seed=0.03, sd_point=0.015):
    """Points shaped like the ladder's: n_seeds runs, 5 rungs of rising accuracy, a random seed
    intercept and independent per-rung noise (the binomial noise of 1,000 images is about 0.015)."""
    acc = np.array([0.56, 0.62, 0.67, 0.70, 0.715])
    x, y, g = [], [], []
    for s in range(n_seeds):
        a = acc + rng.normal(0, 0.005, acc.size)
        x += list(a)
        y += list(0.05 + rng.normal(0, sd_seed) + slope * a + rng.normal(0, sd_point, a.size))
        g += [s] * a.size
    return x, y, g


def test_trend_is_the_within_seed_least_squares_slope():
    """The slope common to the seeds is the slope of x and y each centred within its seed; its
    standard error is sqrt(s2 / sum of the centred x squared), s2 on n - seeds - 1 degrees of freedom."""
    from dalib.stats import trend

    rng = np.random.default_rng(0)
    x, y, g = (np.array(v, float) for v in _ladder_like(rng, 0.2))
    xc = x - np.array([x[g == k].mean() for k in g])
    yc = y - np.array([y[g == k].mean() for k in g])
    slope = (xc @ yc) / (xc @ xc)
    s2 = ((yc - slope * xc) ** 2).sum() / (len(x) - 2 - 1)
    q = st.t.ppf(0.975, len(x) - 3)
    t = trend(x, y, g, at=0.87)
    assert t["slope"] == pytest.approx(slope, rel=1e-9)
    assert (t["low"], t["high"]) == pytest.approx(
        (slope - q * np.sqrt(s2 / (xc @ xc)), slope + q * np.sqrt(s2 / (xc @ xc))), rel=1e-9
    )
    assert t["df"] == 7 and t["n"] == 10 and t["groups"] == 2
    intercepts = [y[g == k].mean() - slope * x[g == k].mean() for k in (0, 1)]
    assert t["fit"] == pytest.approx(slope * 0.87 + np.mean(intercepts), rel=1e-9)


def test_trend_false_positive_rate_and_coverage_by_simulation():
    """Under a flat truth the 95 % interval excludes 0 in about 5 % of ladders (and the
    Bonferroni-read family of 5 budgets in at most 5 %); with a slope it covers the truth ~95 %."""
    from dalib.stats import trend, trend_word

    rng = np.random.default_rng(1)
    n = 3000
    null = [trend(*_ladder_like(rng, 0.0)) for _ in range(n)]
    fpr = np.mean([trend_word(t["low"], t["high"]) != "no trend detected" for t in null])
    assert 0.035 < fpr < 0.065, fpr  # binomial sd at 5 % over 3,000 draws: 0.004
    fam = np.mean(
        [
            any(
                trend_word(t["low"], t["high"]) != "no trend detected"
                for t in (trend(*_ladder_like(rng, 0.0), level=1 - 0.05 / 5) for _ in range(5))
            )
            for _ in range(600)
        ]
    )
    assert fam < 0.075, fam
    cover = np.mean([(t["low"] < 0.3 < t["high"]) for t in (trend(*_ladder_like(rng, 0.3)) for _ in range(n))])
    assert 0.93 < cover < 0.97, cover


def test_trend_needs_points_beyond_the_intercepts():
    from dalib.stats import trend, trend_word

    t = trend([0.5, 0.6], [0.1, 0.2], [0, 1], at=0.87)
    assert np.isnan(t["slope"]) and np.isnan(t["fit"]) and t["df"] < 1
    assert trend_word(t["low"], t["high"]) == "not enough points"
    assert trend_word(0.1, 0.3) == "grows" and trend_word(-0.3, -0.1) == "shrinks"
