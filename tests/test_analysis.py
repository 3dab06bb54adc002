"""dalib.analysis on synthetic records: pairing by seed and image, seed summaries, recipe check."""

import numpy as np
import pandas as pd
import pytest

from dalib.analysis import flags_of, paired_comparison, recipe_check, seed_difference, seed_summary, select
from dalib.records import pack_flags, unpack_flags
from dalib.stats import mcnemar


def _rows(seed_shift=0.0):
    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1, 2):
        for model, rate in (("vit", 0.30), ("diffvit", 0.45 + seed_shift)):
            changed = rng.random(400) < rate
            rows.append(
                {
                    "model": model,
                    "lambda_init": "0.8",
                    "seed": seed,
                    "attack_kind": "pgd_linf",
                    "budget": 1.0,
                    "n": 400,
                    "asr": changed.mean(),
                    "asr_correct": changed.mean() + 0.1,
                    "changed_flags": pack_flags(changed),
                }
            )
    return pd.DataFrame(rows)


def test_pack_unpack_round_trip_and_errors():
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 1000):
        f = rng.random(n) < 0.5
        assert (unpack_flags(pack_flags(f), n) == f).all()
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_flags(pack_flags([True] * 9), 20)
    with pytest.raises(ValueError, match="hex"):
        unpack_flags("zz", 4)


def test_paired_comparison_pairs_by_seed_and_image():
    df = _rows()
    c = paired_comparison(df, a={"model": "vit"}, b={"model": "diffvit"})
    assert len(c) == 1 and c["n_seeds"].iloc[0] == 3
    diffs = []
    for s in (0, 1, 2):
        ra = select(df, model="vit", seed=s).iloc[0]
        rb = select(df, model="diffvit", seed=s).iloc[0]
        diffs.append(mcnemar(flags_of(ra), flags_of(rb))["diff"])
    assert c["diff_mean"].iloc[0] == pytest.approx(np.mean(diffs))
    assert c["diff_low"].iloc[0] > 0 and c["verdict"].iloc[0] == "reproduced"
    assert c["seeds_b_higher"].iloc[0] >= 2 and c["p_pooled"].iloc[0] < 1e-6
    # reversed roles: the opposite effect
    r = paired_comparison(df, a={"model": "diffvit"}, b={"model": "vit"})
    assert r["verdict"].iloc[0] == "contradicted" and r["verdict_v1"].iloc[0] == "not reproduced"


def test_paired_comparison_refuses_different_images():
    df = _rows()
    df.loc[(df["model"] == "diffvit") & (df["seed"] == 1), "n"] = 399
    with pytest.raises(ValueError, match="same images"):
        paired_comparison(df, a={"model": "vit"}, b={"model": "diffvit"})


def test_seed_summary_and_seed_difference():
    df = _rows()
    s = seed_summary(df, ["model"])
    assert list(s["model"]) == ["diffvit", "vit"] and (s["n_seeds"] == 3).all()
    assert s.set_index("model").loc["vit", "mean"] == pytest.approx(select(df, model="vit")["asr"].mean())
    d = seed_difference(df, a={"model": "vit"}, b={"model": "diffvit"}, value="asr_correct")
    assert d["diff_mean"].iloc[0] == pytest.approx(
        select(df, model="diffvit")["asr"].mean() - select(df, model="vit")["asr"].mean()
    )


def test_recipe_check_compares_with_the_current_train_recipe():
    from dalib.run import notebook_parameters
    from dalib.train import config_from_parameters, config_hash

    good = config_hash(config_from_parameters(notebook_parameters("train", "smoke", {"model": "vit", "seed": 1})))
    df = pd.DataFrame(
        [
            {
                "param.train_profile": "smoke",
                "param.dataset": "cifar10",
                "model": "vit",
                "depth": 1,
                "lambda_init": "0.8",
                "seed": 1,
                "config_hash": good,
            },
            {
                "param.train_profile": "smoke",
                "param.dataset": "cifar10",
                "model": "vit",
                "depth": 1,
                "lambda_init": "0.8",
                "seed": 1,
                "config_hash": "000000000000",
            },
        ]
    )
    assert recipe_check(df)["recipe_current"].tolist() == [True, False]


def test_paired_comparison_holm_family_and_saturation():
    rng = np.random.default_rng(5)
    rows = []
    for seed in (0, 1, 2):
        for budget, (ra, rb) in {1.0: (0.3, 0.5), 2.0: (0.5, 0.52), 8.0: (0.995, 0.999)}.items():
            for model, rate in (("vit", ra), ("diffvit", rb)):
                changed = rng.random(500) < rate
                if budget == 8.0:
                    changed[:] = True
                    changed[: int(500 * (1 - rate))] = False
                rows.append(
                    {
                        "model": model,
                        "lambda_init": "0.8",
                        "seed": seed,
                        "attack_kind": "pgd_linf",
                        "budget": budget,
                        "n": 500,
                        "asr": changed.mean(),
                        "changed_flags": pack_flags(changed),
                    }
                )
    c = paired_comparison(pd.DataFrame(rows), a={"model": "vit"}, b={"model": "diffvit"})
    assert set(c["family_size"]) == {3}
    assert (c["p_pooled_holm"] >= c["p_pooled"]).all() and (c["p_seed_holm"] >= c["p_seed"]).all()
    by = c.set_index("budget")
    assert by.loc[1.0, "verdict"] == "reproduced"
    assert by.loc[8.0, "verdict"] == "saturated"


def test_cw_curve_full_budget_and_l2_comparison():
    from dalib.analysis import cw_asr_curve, l2_comparison, l2_for_full_asr, l2_values

    rows = []
    rng = np.random.default_rng(2)
    for seed in (0, 1, 2):
        vit = rng.uniform(0.2, 1.0, 300)
        dv = vit * rng.uniform(0.5, 0.9, 300)  # DiffViT needs smaller norms on every image
        vit[:3] = np.inf  # CW failed on three images of the ViT
        for model, l2 in (("vit", vit), ("diffvit", dv)):
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "attack_kind": "cw_l2",
                    "budget": 0.0,
                    "n": 300,
                    "l2_values": ",".join(f"{v:.5g}" for v in l2),
                }
            )
    df = pd.DataFrame(rows)
    r0 = df.iloc[0]
    assert np.isinf(l2_values(r0)[:3]).all() and l2_for_full_asr(r0) == np.inf
    assert l2_for_full_asr(df.iloc[1]) == pytest.approx(l2_values(df.iloc[1]).max())
    curve = cw_asr_curve(df.iloc[:2], [0.0, 0.5, 10.0])
    assert curve.shape == (2, 3) and (np.diff(curve, axis=1) >= 0).all()
    assert curve[0, 2] == pytest.approx(297 / 300) and curve[1, 2] == 1.0
    c = l2_comparison(df, a={"model": "vit"}, b={"model": "diffvit"})
    assert c["verdict"] == "reproduced" and all(r["stat"] == 1.0 for r in c["per_seed"])
    assert (
        l2_comparison(df, a={"model": "diffvit"}, b={"model": "vit"})["verdict"] == "contradicted"
    )  # the opposite effect (rules v2)


def test_attack_note_names_each_attack_once_and_autoattacks_version():
    import pandas as pd

    from dalib.analysis import attack_note

    pgd = pd.DataFrame(
        {
            "attack_kind": ["pgd_linf"] * 2,
            "attack": [
                "PGD(eps=0.0039, alpha=0.001, steps=10, seed=0)",
                "PGD(eps=0.0157, alpha=0.0039, steps=10, seed=0)",
            ],
        }
    )
    assert attack_note(pgd) == "Attack: `PGD(steps=10, seed=0)`."
    aa = pd.DataFrame(
        {
            "attack_kind": ["autoattack"],
            "attack": ["AutoAttack(eps=0.0039, norm='Linf', seed=0)"],
            "pyautoattack_version": ["0.2.0"],
        }
    )
    assert attack_note(aa) == "Attack: `AutoAttack(norm='Linf', seed=0)`, the official code (`pyautoattack` 0.2.0)."
    assert "predate" in attack_note(aa.drop(columns="pyautoattack_version"))
