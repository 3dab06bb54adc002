"""dalib.stats: seed-level intervals, exact McNemar, paired bootstrap, verdicts."""

import math

import numpy as np
import pytest
from scipy import stats as st

from dalib.stats import mcnemar, mcnemar_pooled, mean_ci, paired_bootstrap, verdict


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


@pytest.mark.parametrize("low, high, n, p, expected", [
    (0.01, 0.2, 3, None, "reproduced"),
    (0.01, 0.2, 3, 0.001, "reproduced"),
    (0.01, 0.2, 3, 0.3, "inconclusive"),   # seeds agree, images do not settle it
    (-0.2, -0.01, 3, 0.001, "not reproduced"),
    (-0.01, 0.015, 3, None, "not reproduced"),  # within the practical margin
    (-0.05, 0.2, 3, 0.001, "inconclusive"),
    (0.1, 0.2, 1, None, "inconclusive"),   # one seed: no interval
    (float("nan"), float("nan"), 3, None, "inconclusive"),
])
def test_verdict_rules(low, high, n, p, expected):
    v, reason = verdict(low, high, n, p=p)
    assert v == expected and reason


def test_verdict_against_the_papers_effect_size():
    v, why = verdict(-0.04, 0.10, 3, p=0.01, paper_effect=0.44)
    assert v == "not reproduced" and "+0.440" in why and "ruled out" in why
    v, _ = verdict(-0.04, 0.50, 3, p=0.01, paper_effect=0.44)
    assert v == "inconclusive"
    v, why = verdict(0.02, 0.10, 3, p=0.001, paper_effect=0.44)
    assert v == "reproduced" and "smaller" in why


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


def test_verdict_saturated_and_holm():
    v, why = verdict(-0.01, 0.01, 3, p=0.5, rates=(0.99, 0.995))
    assert v == "saturated" and "0.98" in why
    v, _ = verdict(-0.01, 0.01, 3, p=0.5, rates=(0.97, 0.995))
    assert v == "not reproduced"  # one model below the saturation level: the margin rule applies
    # significant before the adjustment, not after it
    v, why = verdict(0.01, 0.2, 3, p=0.001, p_seed=0.09, family=4)
    assert v == "inconclusive" and "Holm" in why
    v, why = verdict(0.01, 0.2, 3, p=0.001, p_seed=0.01, family=4)
    assert v == "reproduced" and "Holm-adjusted over 4 budgets" in why
