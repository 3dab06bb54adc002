"""Calibration of the verdict tests by simulation: false-positive rate under no effect and power at
a given effect, for paired per-image attack outcomes of two models over training seeds.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (its ASR comparisons, Fig. 2a, 2c, 6). A verdict is only as good as its
test, so every test that decides a verdict is simulated here before it decides anything.

The generating model mimics the committed records: image ``i`` has a difficulty ``p_i`` shared by
both models and all seeds (outcomes correlate across seeds), a model-specific image effect
``+-b_i / 2`` with ``b_i ~ N(0, s2_image)`` (which images DiffViT breaks and ViT does not), and each
trained model a shift ``a_{m,s} ~ N(0, s2_seed / 2)`` (training luck); the flag is Bernoulli of the
clipped sum, plus ``delta`` for model b. With ``delta = 0`` the two architectures do not differ.
"""

from __future__ import annotations

import numpy as np

from .stats import crossed_effect, mcnemar, mcnemar_pooled, seed_effect

TWO_LEVEL, SEED_T, POOLED_MCNEMAR = "two-level (crossed seeds x images)", "t over seed means", "pooled McNemar"
TESTS = {
    # name -> f(flags (2, S, I) bool) -> True when the test calls a difference (two-sided, 5 %)
    TWO_LEVEL: lambda f: _excludes_zero(crossed_effect(_diff(f)).ci()),
    SEED_T: lambda f: _excludes_zero(seed_effect(_diff(f).mean(1)).ci()),
    POOLED_MCNEMAR: lambda f: mcnemar_pooled([mcnemar(f[0, s], f[1, s]) for s in range(f.shape[1])])["p"] < 0.05,
}


def _diff(f) -> np.ndarray:
    return f[1].astype(float) - f[0].astype(float)


def _excludes_zero(ci) -> bool:
    lo, hi = ci
    return bool(lo > 0 or hi < 0)


def simulate_flags(
    rng, n_sim: int, n_seeds: int, p_image, s2_seed: float, s2_image: float, delta: float = 0.0
) -> np.ndarray:
    """Bool flags ``(n_sim, 2 models, n_seeds, n_images)`` from the model of the module doc."""
    p_image = np.asarray(p_image, dtype=float)
    n_img = p_image.size
    b = rng.normal(0.0, np.sqrt(max(s2_image, 0.0)), (n_sim, 1, 1, n_img))
    a = rng.normal(0.0, np.sqrt(max(s2_seed, 0.0) / 2), (n_sim, 2, n_seeds, 1))
    sign = np.array([-0.5, 0.5]).reshape(1, 2, 1, 1)
    shift = np.array([0.0, delta]).reshape(1, 2, 1, 1)
    p = np.clip(p_image[None, None, None, :] + sign * b + a + shift, 0.0, 1.0)
    return rng.random(p.shape) < p


def rejection_rates(
    rng, n_sim: int, n_seeds: int, p_image, s2_seed: float, s2_image: float, delta: float = 0.0, tests=None
) -> dict:
    """The fraction of ``n_sim`` simulated experiments in which each test of ``tests`` (default
    :data:`TESTS`) calls a difference: its false-positive rate at ``delta = 0``, its power else."""
    tests = TESTS if tests is None else tests
    flags = simulate_flags(rng, n_sim, n_seeds, p_image, s2_seed, s2_image, delta)
    return {name: float(np.mean([test(f) for f in flags])) for name, test in tests.items()}


def measured_components(flags_a, flags_b) -> dict:
    """Variance components and per-image difficulty measured on real paired flags ``(S, I)`` of
    models a and b: ``s2_seed``, ``s2_image`` (:func:`dalib.stats.crossed_effect`) and
    ``p_image`` (each image's mean outcome over both models and all seeds)."""
    fa, fb = np.asarray(flags_a, dtype=float), np.asarray(flags_b, dtype=float)
    e = crossed_effect(fb - fa)
    return {
        "s2_seed": e.components.get("s2_seed", 0.0),
        "s2_image": e.components.get("s2_image", 0.0),
        "p_image": (fa.mean(0) + fb.mean(0)) / 2,
        "effect": e.estimate,
        "n_seeds": fa.shape[0],
    }


def calibration_rows(components: dict, seed_counts, n_sim: int, rng_seed: int, seed_scales=(1.0,), tests=None):
    """Every test's rejection rate (:func:`rejection_rates`) for each simulated number of seeds and
    each multiple of the measured seed variance, with no effect (the false-positive rate) and with
    the measured effect (the power): one row per (test, seeds, seed-variance scale, effect) with the
    rate and its Monte-Carlo standard error. A scale other than 1 multiplies the measured seed
    variance floored at 2e-4 (so that a seed variance measured as 0 still grows: the regime of an
    attack whose ASR differs much between training runs). Each cell draws from its own stream
    ``(rng_seed, seeds, scale index, effect index)``, so rows do not depend on which others are run."""
    c = components
    rows = []
    for n_seeds in seed_counts:
        for k, scale in enumerate(seed_scales):
            for j, (effect, delta) in enumerate((("none", 0.0), ("measured", float(c["effect"])))):
                rng = np.random.default_rng([int(rng_seed), int(n_seeds), k, j])
                s2_seed = c["s2_seed"] if scale == 1 else scale * max(c["s2_seed"], 2e-4)
                rates = rejection_rates(rng, n_sim, n_seeds, c["p_image"], s2_seed, c["s2_image"], delta, tests)
                for test, rate in rates.items():
                    rows.append(
                        dict(
                            test=test,
                            n_seeds=int(n_seeds),
                            seed_variance_scale=float(scale),
                            effect=effect,
                            delta=delta,
                            rate=rate,
                            mc_se=float(np.sqrt(max(rate * (1 - rate), 1e-12) / n_sim)),
                            n_sim=int(n_sim),
                        )
                    )
    return rows
