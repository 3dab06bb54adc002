"""The depth chapter's analysis (dalib.depth) on synthetic records: the observed crossover, claim C3,
the CW and Lipschitz claims, and the crossover depth predicted from propagation summaries."""

import numpy as np
import pandas as pd

from dalib import depth
from dalib.records import pack_flags


def _asr_rows(asr, n=400, seeds=(0, 1, 2), kind="pgd_linf"):
    """``asr``: (model, depth, budget) -> ASR; the changed flags of the first round(ASR n) + seed images."""
    rows = []
    for (model, D, budget), a in asr.items():
        for s in seeds:
            flags = np.arange(n) < min(int(round(a * n)) + s, n)
            rows.append(
                dict(
                    model=model,
                    depth=D,
                    seed=s,
                    budget=budget,
                    attack_kind=kind,
                    attack_labels="clean_pred",
                    n=n,
                    asr=flags.mean(),
                    changed_flags=pack_flags(flags),
                    lambda_init="0.8",
                )
            )
    return pd.DataFrame(rows)


CROSS = {
    ("vit", 1, 1.0): 0.30,
    ("diffvit", 1, 1.0): 0.45,
    ("vit", 4, 1.0): 0.40,
    ("diffvit", 4, 1.0): 0.38,
    ("vit", 12, 1.0): 0.50,
    ("diffvit", 12, 1.0): 0.30,
}


def test_crossover_observed_and_c3_reproduced():
    comp = depth.depth_comparison(_asr_rows(CROSS))
    assert list(comp["depth"]) == [1, 4, 12] and set(comp["family_size"]) == {3}
    obs = depth.observed_crossover(comp, 1.0)
    assert obs["depth"] == 4 and obs["deepest_significant"]
    v, why = depth.c3_verdict(comp, 1.0)
    assert v == "reproduced" and "depth 12" in why


def test_c3_not_reproduced_when_deep_diffvit_stays_fragile_and_inconclusive_when_always_robust():
    fragile = {k: (a + 0.2 if k[0] == "diffvit" else a) for k, a in CROSS.items()}
    v, _ = depth.c3_verdict(depth.depth_comparison(_asr_rows(fragile)), 1.0)
    assert v == "not reproduced"
    robust = {k: (0.2 if k[0] == "diffvit" else 0.5) for k in CROSS}
    v, why = depth.c3_verdict(depth.depth_comparison(_asr_rows(robust)), 1.0)
    assert v == "inconclusive" and "no crossover" in why
    assert (
        depth.c3_verdict(depth.depth_comparison(_asr_rows({("vit", 1, 1.0): 0.3, ("diffvit", 1, 1.0): 0.4})))[0]
        == "not yet run"
    )


def _prop_long(alpha, L):
    """Unpacked propagation rows: ``alpha[model]``, ``L[model]`` for every block after the first."""
    rows = []
    for model in ("vit", "diffvit"):
        for D in (2, 4):
            for seed in (0, 1):
                for sample in range(3):
                    for layer in range(D):
                        for q, v in (
                            ("alpha", 1.0 if layer == 0 else alpha[model]),
                            ("gain", 1.0),
                            ("L_block", L[model]),
                        ):
                            rows.append(
                                dict(
                                    model=model,
                                    depth=D,
                                    seed=seed,
                                    perturbation="random",
                                    eps=1.0,
                                    layer=layer,
                                    quantity=q,
                                    sample=sample,
                                    value=v,
                                )
                            )
    return pd.DataFrame(rows)


def test_predicted_crossover_uses_the_corrected_corollary():
    from dalib.theory import crossover_depth

    s = depth.propagation_summary(_prop_long({"vit": 0.9, "diffvit": 0.5}, {"vit": 1.5, "diffvit": 2.0}))
    assert set(s["depth"]) == {2, 4} and np.allclose(s[s["model"] == "diffvit"]["alpha"], 0.5)
    assert np.allclose(s["alpha_first"], 1.0)
    pred = depth.predicted_crossover(s)
    assert list(pred["seed"]) == [0, 1]
    assert np.allclose(pred["D_star"], crossover_depth(0.5, 2.0, 1.5, alpha_first=1.0))
    assert np.allclose(pred["D_star"], np.log(0.5) / np.log(0.5 * 2.0 / 1.5))
    # alpha L_DA > L_base: no crossover
    none = depth.predicted_crossover(
        depth.propagation_summary(_prop_long({"vit": 0.9, "diffvit": 0.9}, {"vit": 1.5, "diffvit": 2.0}))
    )
    assert np.isnan(none["D_star"]).all()


def test_depth_claims_cover_cw_and_lipschitz():
    cw = []
    for model, scale in (("vit", 1.0), ("diffvit", 2.0)):
        for D in (1, 12):
            for s in (0, 1, 2):
                cw.append(
                    dict(
                        model=model,
                        depth=D,
                        seed=s,
                        attack_kind="cw_l2",
                        attack_labels="clean_pred",
                        budget=0.0,
                        n=50,
                        l2_values=",".join(f"{scale * (0.1 + i / 100):.4f}" for i in range(50)),
                    )
                )
    asr = pd.concat([_asr_rows(CROSS), pd.DataFrame(cw)], ignore_index=True)
    lip = pd.DataFrame(
        [
            dict(
                model=m,
                depth=D,
                seed=s,
                layer=0,
                map="A_DA" if m == "diffvit" else "A",
                head=0,
                quantity="L_sampling_mean",
                sample=0,
                value=D * (1.0 + 0.01 * s),
            )
            for m in ("vit", "diffvit")
            for D in (1, 12)
            for s in (0, 1, 2)
        ]
    )
    c = depth.depth_claims(asr, lip).set_index("id")
    assert c.loc["fig3a_crossover", "verdict"] == "reproduced"
    assert c.loc["fig3b_crossover", "verdict"] == "not yet run"  # no AutoAttack rows
    assert c.loc["fig3c_cw", "verdict"] == "reproduced"  # ViT's minimal norms are the smaller on every image
    assert (
        c.loc["fig3d_lipschitz", "verdict"] == "reproduced" and "L(D=12) − L(D=1)" in c.loc["fig3d_lipschitz", "short"]
    )


def test_recipe_parameter_count_is_the_zoo_models_size_and_the_chapter_fits_the_zoo_budget():
    """The page's zoo arithmetic: the count is that of the model the depth recipe trains, and the
    chapter's 30 cpu models (3 seeds) fit in what the zoo's budget leaves beside the other chapters."""
    from dalib.depth import DEPTH_PLANNING_ZOO_BUDGET, depth_recipe, recipe_parameter_count
    from dalib.models import count_parameters, create_model
    from dalib.models.zoo import ZOO_BUDGET_BYTES

    r = depth_recipe("cpu")
    net = create_model(
        "diffvit",
        depth=2,
        embed_dim=r["embed_dim"],
        num_heads=4,
        patch_size=r["patch_size"],
        num_classes=10,
        img_size=32,
        global_pool="avg",
    )
    assert recipe_parameter_count("diffvit", 2, "cpu") == count_parameters(net)
    assert recipe_parameter_count("vit", 1, "cpu", embed_dim=128) > 5 * recipe_parameter_count("vit", 1, "cpu")
    per_seed = sum(recipe_parameter_count(m, d, "cpu") for m in ("vit", "diffvit") for d in (1, 2, 4, 8, 12))
    assert 3 * 4 * per_seed < 0.25 * DEPTH_PLANNING_ZOO_BUDGET  # 13.2 MiB of 60: the rest held the other chapters
    assert DEPTH_PLANNING_ZOO_BUDGET <= ZOO_BUDGET_BYTES
    assert depth_recipe("paper") == {"patch_size": 4}
