"""Tests of dalib.theory: closed forms against random instances and their own definitions."""

import numpy as np
import pytest

from dalib import theory as th


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _cos(a, b):
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- Lemma 1, Theorems 1-2
@pytest.mark.parametrize("shape", [(7,), (5, 9)])
def test_lemma1_on_random_vectors_and_matrices(rng, shape):
    for _ in range(20):
        j1, j2 = rng.normal(size=shape), rng.normal(size=shape) * rng.uniform(0.1, 3)
        lam = rng.uniform(0, 2)
        direct = np.linalg.norm(j1 - lam * j2)  # Frobenius for matrices
        n1, n2 = np.linalg.norm(j1), np.linalg.norm(j2)
        assert th.da_grad_norm(n1, n2, lam, _cos(j1, j2)) == pytest.approx(direct, rel=1e-12)
        # Theorem 1 and 2 as rescalings of the same identity
        rho, jb = n2 / n1, rng.normal(size=shape)
        assert th.amplification_factor(lam, rho, _cos(j1, j2)) * n1 == pytest.approx(direct, rel=1e-12)
        gamma = n1 / np.linalg.norm(jb)
        assert th.sensitivity_ratio(gamma, lam, rho, _cos(j1, j2)) == pytest.approx(
            direct / np.linalg.norm(jb), rel=1e-12
        )


def test_theorem1_cases_aligned_is_absolute_value(rng):
    g1 = rng.normal(size=6)
    for lam, rho in [(0.8, 0.5), (0.8, 2.5), (1.0, 1.0), (0.3, 10.0)]:
        g2 = rho * g1  # cos = +1
        assert th.amplification_factor_aligned(lam, rho) == pytest.approx(
            np.linalg.norm(g1 - lam * g2) / np.linalg.norm(g1), abs=1e-12
        )
        assert th.amplification_factor(lam, rho, 1.0) == pytest.approx(abs(1 - lam * rho), abs=1e-12)
        assert th.amplification_factor(lam, rho, -1.0) == pytest.approx(th.amplification_factor_opposed(lam, rho))
        assert np.linalg.norm(g1 + lam * g2) / np.linalg.norm(g1) == pytest.approx(1 + lam * rho)
    # the printed (1 - lam rho) is negative where the norm is positive
    assert th.amplification_factor_aligned(0.8, 2.5) > 0 > 1 - 0.8 * 2.5


def test_ratio_monotone_in_cos(rng):
    c = np.linspace(-1, 1, 101)
    r = th.sensitivity_ratio(1.3, 0.8, 0.7, c)
    assert np.all(np.diff(r) < 0)
    assert r[0] == pytest.approx(1.3 * (1 + 0.56)) and r[-1] == pytest.approx(1.3 * abs(1 - 0.56))


def test_vectorised_broadcasting():
    out = th.sensitivity_ratio(np.array([[1.0], [2.0]]), 0.8, np.array([0.5, 1.0, 1.5]), 0.0)
    assert out.shape == (2, 3)
    assert isinstance(th.sensitivity_ratio(1.0, 0.8, 0.5, 0.0), np.floating)


# ---------------------------------------------------------------- Theorem 3
def test_threshold_equivalence_random(rng):
    n = 20000
    gamma, lam, rho = rng.uniform(0.2, 3, n), rng.uniform(0.01, 2, n), rng.uniform(0.01, 3, n)
    c = rng.uniform(-1, 1, n)
    t = th.amplification_threshold(gamma, lam, rho)
    np.testing.assert_array_equal(c < t, th.amplifies(gamma, lam, rho, c))
    np.testing.assert_array_equal(th.amplifies(gamma, lam, rho, c), th.sensitivity_ratio(gamma, lam, rho, c) > 1)
    # existence: some c in [-1, 1] amplifies iff T > -1 iff gamma (1 + lam rho) > 1
    np.testing.assert_array_equal(th.amplifying_angle_exists(gamma, lam, rho), t > -1)
    np.testing.assert_array_equal(th.amplifying_angle_exists(gamma, lam, rho), th.amplifies(gamma, lam, rho, -1.0))
    np.testing.assert_array_equal(th.all_angles_amplify(gamma, lam, rho), th.amplifies(gamma, lam, rho, 1.0))
    np.testing.assert_array_equal(th.all_angles_amplify(gamma, lam, rho), t > 1)


def test_threshold_boundary_ratio_is_one(rng):
    gamma, lam, rho = 1.2, 0.8, 0.9
    t = th.amplification_threshold(gamma, lam, rho)
    assert -1 < t < 1
    assert th.sensitivity_ratio(gamma, lam, rho, t) == pytest.approx(1.0, rel=1e-12)
    assert th.amplifies(gamma, lam, rho, t - 1e-9) and not th.amplifies(gamma, lam, rho, t + 1e-9)


def test_threshold_degenerate_lam_rho_zero():
    assert th.amplification_threshold(2.0, 0.0, 1.0) == np.inf
    assert th.amplification_threshold(0.5, 0.8, 0.0) == -np.inf
    assert th.amplifies(2.0, 0.0, 1.0, 0.3) and not th.amplifies(0.5, 0.0, 1.0, -1.0)


# ---------------------------------------------------------------- Lemma 2
def test_lipschitz_ratio_bound_corrected_holds_printed_fails(rng):
    for _ in range(50):
        m, n = rng.integers(2, 6), rng.integers(2, 6)
        j1, j2, jb = rng.normal(size=(m, n)), rng.normal(size=(m, n)), rng.normal(size=(m, n))
        lam = rng.uniform(0, 1.5)
        jda = j1 - lam * j2
        op = lambda j: np.linalg.norm(j, 2)  # noqa: E731
        fro = np.linalg.norm
        gamma, rho, c = fro(j1) / fro(jb), fro(j2) / fro(j1), _cos(j1, j2)
        L_ratio = op(jda) / op(jb)  # infinitesimal local Lipschitz constants of linear maps
        kappa = fro(jb) / op(jb)
        assert L_ratio <= th.lipschitz_ratio_bound(gamma, lam, rho, c, kappa_base=kappa) * (1 + 1e-12)
        assert kappa <= np.sqrt(min(m, n)) + 1e-12
    # counterexample to the printed bound (kappa_base = 1): J_base = I_4, J_DA rank one
    jb, j1, j2, lam = np.eye(4), np.outer([1, 0, 0, 0], [1, 0, 0, 0]) * 2.0, np.zeros((4, 4)), 0.8
    j2[0, 1] = 1.0
    jda = j1 - lam * j2
    L_ratio = np.linalg.norm(jda, 2) / np.linalg.norm(jb, 2)
    printed = th.lipschitz_ratio_bound(2.0 / 2.0, lam, 0.5, _cos(j1, j2))
    assert L_ratio > printed
    assert L_ratio <= th.lipschitz_ratio_bound(1.0, lam, 0.5, _cos(j1, j2), kappa_base=2.0)


# ---------------------------------------------------------------- Theorem 4, Corollary 1
def test_depth_bounds_match_products(rng):
    D = 6
    alphas, Ls, Lb = rng.uniform(0.3, 1, D), rng.uniform(0.5, 2, D), rng.uniform(0.5, 2, D)
    a_bar, L_bar, Lb_bar = (np.exp(np.mean(np.log(v))) for v in (alphas, Ls, Lb))
    assert th.depth_bound_da(a_bar, L_bar, D, xi_norm=0.1) == pytest.approx(0.1 * np.prod(alphas * Ls))
    assert th.depth_bound_base(Lb_bar, D, xi_norm=0.1) == pytest.approx(0.1 * np.prod(Lb))
    assert th.depth_bound_da(0.5, 1.3, 0, alpha_first=1.0) == 1.0
    assert th.depth_bound_da(0.5, 1.3, 1, alpha_first=1.0) == pytest.approx(1.3)


def test_crossover_depth_solves_equality(rng):
    n = 2000
    alpha, L_da, L_base = rng.uniform(0.05, 0.99, n), rng.uniform(0.2, 3, n), rng.uniform(0.2, 3, n)
    d = th.crossover_depth(alpha, L_da, L_base)  # first layer without cancellation
    ok = ~np.isnan(d)
    assert ok.any() and (~ok).any()
    np.testing.assert_array_equal(ok, (alpha * L_da < L_base) & (L_base < L_da))
    np.testing.assert_allclose(
        th.depth_bound_da(alpha[ok], L_da[ok], d[ok], alpha_first=1.0),
        th.depth_bound_base(L_base[ok], d[ok]),
        rtol=1e-9,
    )
    # D* > 1 and the ordering flips at D*
    hyp = ok
    assert np.all(d[hyp] > 1)
    for a, l, lb, ds in zip(alpha[hyp][:50], L_da[hyp][:50], L_base[hyp][:50], d[hyp][:50]):
        below, above = max(ds - 0.5, 1.0), ds + 0.5
        assert th.depth_bound_da(a, l, below, alpha_first=1.0) > th.depth_bound_base(lb, below)
        assert th.depth_bound_da(a, l, above, alpha_first=1.0) < th.depth_bound_base(lb, above)


def test_corollary_as_printed_has_no_crossover(rng):
    alpha, L_da, L_base = rng.uniform(0.05, 0.99, 500), rng.uniform(0.2, 3, 500), rng.uniform(0.2, 3, 500)
    assert np.all(np.isnan(th.crossover_depth(alpha, L_da, L_base, alpha_first=alpha)))
    assert not np.any(th.crossover_exists(alpha, L_da, L_base, alpha_first=alpha))
    D = np.arange(1, 30)[:, None]
    diff = np.sign(th.depth_bound_da(alpha, L_da, D) - th.depth_bound_base(L_base, D))
    assert np.all(diff == diff[0])  # the sign never changes at D >= 1


# ---------------------------------------------------------------- Theorem 5
def test_radius_ratio_from_definition(rng):
    # scalar outputs (gradient vectors): L = ||grad|| exactly for linear maps, Lemma 2 holds with equality
    for _ in range(50):
        g1, g2, gb = rng.normal(size=(3, 8))
        lam = rng.uniform(0, 1.5)
        m_da, m_base = rng.uniform(0.1, 2, 2)
        R_da = th.certified_radius(m_da, np.linalg.norm(g1 - lam * g2))
        R_base = th.certified_radius(m_base, np.linalg.norm(gb))
        gamma, rho, c = np.linalg.norm(g1) / np.linalg.norm(gb), np.linalg.norm(g2) / np.linalg.norm(g1), _cos(g1, g2)
        bound = th.radius_ratio_bound(m_da / m_base, gamma, lam, rho, c)
        assert R_da / R_base == pytest.approx(bound, rel=1e-10)
    # the printed eq. (6) overstates the ratio: gamma=1, lam rho=0.5, cos=0.5
    assert th.radius_ratio_bound_printed(1.0, 1.0, 0.5, 1.0, 0.5) > th.radius_ratio_bound(1.0, 1.0, 0.5, 1.0, 0.5)


# ---------------------------------------------------------------- sympy twins
def test_sym_forms_match_numeric(rng):
    import sympy as sp

    s = th.sym
    n = 500
    G, L, R, C = rng.uniform(0.2, 3, n), rng.uniform(0.01, 2, n), rng.uniform(0.01, 3, n), rng.uniform(-1, 1, n)
    N1, N2, K, DM = rng.uniform(0, 2, n), rng.uniform(0, 2, n), rng.uniform(1, 4, n), rng.uniform(0.1, 3, n)
    args = (s.gamma, s.lam, s.rho, s.c, s.n1, s.n2, s.kappa_base, s.delta_m)
    vals = (G, L, R, C, N1, N2, K, DM)
    pairs = [
        (sp.sqrt(s.da_grad_norm_sq), th.da_grad_norm(N1, N2, L, C)),
        (s.amplification_factor, th.amplification_factor(L, R, C)),
        (s.amplification_factor_aligned, th.amplification_factor_aligned(L, R)),
        (s.amplification_factor_opposed, th.amplification_factor_opposed(L, R)),
        (s.sensitivity_ratio, th.sensitivity_ratio(G, L, R, C)),
        (s.amplification_threshold, th.amplification_threshold(G, L, R)),
        (s.lipschitz_ratio_bound, th.lipschitz_ratio_bound(G, L, R, C, K)),
        (s.radius_ratio_bound, th.radius_ratio_bound(DM, G, L, R, C)),
    ]
    for expr, num in pairs:
        np.testing.assert_allclose(sp.lambdify(args, expr, "numpy")(*vals), num, rtol=1e-12, err_msg=str(expr))
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(
            sp.lambdify(args, s.radius_ratio_bound_printed, "numpy")(*vals),
            th.radius_ratio_bound_printed(DM, G, L, R, C),
            rtol=1e-12,
        )
    for expr, fn in [
        (s.amplifying_angle_exists, th.amplifying_angle_exists),
        (s.all_angles_amplify, th.all_angles_amplify),
    ]:
        np.testing.assert_array_equal(sp.lambdify(args, expr, "numpy")(*vals), fn(G, L, R))

    al, a1, Ld, Lb = (
        rng.uniform(0.05, 0.999, n),
        rng.uniform(0.05, 1, n),
        rng.uniform(0.2, 3, n),
        rng.uniform(0.2, 3, n),
    )
    D = rng.integers(1, 30, n).astype(float)
    dargs, dvals = (s.alpha, s.alpha_first, s.L_da, s.L_base, s.D), (al, a1, Ld, Lb, D)
    ev = lambda expr: sp.lambdify(dargs, expr, "numpy")(*dvals)  # noqa: E731
    np.testing.assert_allclose(ev(s.depth_bound_base), th.depth_bound_base(Lb, D), rtol=1e-12)
    np.testing.assert_allclose(ev(s.depth_bound_da), th.depth_bound_da(al, Ld, D), rtol=1e-12)
    np.testing.assert_allclose(ev(s.depth_bound_da_first), th.depth_bound_da(al, Ld, D, alpha_first=a1), rtol=1e-12)
    d_num = th.crossover_depth(al, Ld, Lb, alpha_first=a1)
    has = ~np.isnan(d_num)
    assert has.any()
    np.testing.assert_allclose(ev(s.crossover_depth)[has], d_num[has], rtol=1e-12)
    assert sp.simplify(s.depth_bound_da_first.subs(s.alpha_first, s.alpha) - s.depth_bound_da) == 0


def test_frobenius_quantities(rng):
    a, b, base = rng.normal(size=(3, 4, 6))
    g, r, c = th.frobenius_quantities(a, b, base)
    assert g == pytest.approx(np.linalg.norm(a) / np.linalg.norm(base))
    assert r == pytest.approx(np.linalg.norm(b) / np.linalg.norm(a))
    assert c == pytest.approx(_cos(a, b))
    assert np.isnan(th.frobenius_quantities(a, b)[0])
    with pytest.raises(ValueError, match="non-zero"):
        th.frobenius_quantities(a, np.zeros_like(b))
    with pytest.raises(ValueError, match="same number"):
        th.frobenius_quantities(a, b[:2])


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call",
    [
        lambda: th.amplification_factor(-0.1, 1.0, 0.0),
        lambda: th.amplification_factor(0.8, -1.0, 0.0),
        lambda: th.amplification_factor(0.8, 1.0, 1.5),
        lambda: th.sensitivity_ratio(0.0, 0.8, 1.0, 0.0),
        lambda: th.sensitivity_ratio(-1.0, 0.8, 1.0, 0.0),
        lambda: th.amplification_threshold(1.0, 0.8, np.nan),
        lambda: th.da_grad_norm(-1.0, 1.0, 0.8, 0.0),
        lambda: th.lipschitz_ratio_bound(1.0, 0.8, 1.0, 0.0, kappa_base=0.5),
        lambda: th.depth_bound_da(1.5, 1.0, 3),
        lambda: th.depth_bound_da(0.5, 1.0, -1),
        lambda: th.depth_bound_base(0.0, 3),
        lambda: th.crossover_depth(0.0, 1.0, 1.0),
        lambda: th.certified_radius(1.0, 0.0),
        lambda: th.amplifies(1.0, 0.8, 1.0, [0.0, -1.2]),
        lambda: th.amplification_factor("a", 1.0, 0.0),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()


def test_error_names_argument():
    with pytest.raises(ValueError, match="cos_theta"):
        th.amplification_factor(0.8, 1.0, -2.0)
    with pytest.raises(ValueError, match="gamma"):
        th.amplification_threshold(0.0, 0.8, 1.0)
