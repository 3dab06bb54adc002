"""The depth chapter's analysis: ViT against DiffViT at depths D in {1, 2, 4, 8, 12} (paper Fig. 3a-d),
the crossover depth observed in the attack success rates, and the one predicted from measured
propagation ratios and block Lipschitz constants.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*, Sec. 4 (Theorem 4, Corollary 1: stacked DA layers cancel small perturbations, so deep
DiffViTs become more robust than ViTs at small budgets) and Sec. 5.3 (Fig. 3). Claim C3: "at
eps = 1/255 deeper DiffViTs have a lower ASR than ViTs" (the robustness crossover).

- *Observed crossover*: per depth, DiffViT - ViT ASR at 1/255 paired by seed and image
  (:func:`dalib.analysis.paired_comparison`, the depths of one budget one Holm family); the
  crossover is the smallest depth from which DiffViT's ASR is the lower one at every deeper depth.
- *Predicted crossover*: :func:`dalib.theory.crossover_depth` (Corollary 1 corrected:
  ``D* = ln(alpha) / ln(alpha L_DA / L_base)``) from the mean propagation ratio ``alpha`` of
  DiffViT's blocks after the first and the mean block Lipschitz constants ``L_DA`` (DiffViT) and
  ``L_base`` (ViT), measured on actual perturbations (``propagation.md``).
"""

from __future__ import annotations

import json

import numpy as np

from .paths import DEFAULT_PROFILE

DEPTH_PLANNING_ZOO_BUDGET = 60 * 2**20  # the zoo's budget when the cpu recipe's width 40 was chosen (now 200 MiB)

# the depth chapter's training recipe per profile: the train.md parameters its runs change (``recipe``).
# cpu (and smoke): patch 8 for the compute budget, width 40 for the zoo's size budget. paper: the paper's
# recipe; ``patch_size: 4`` is train.md's paper default, named so that the chapter's asr_suite points are
# told apart from Table 3's vanilla depth-1 points (same model, recipe {}).
DEPTH_RECIPES = {
    "smoke": {"patch_size": 8, "embed_dim": 40},
    "cpu": {"patch_size": 8, "embed_dim": 40},
    "paper": {"patch_size": 4},
}


def depth_recipe(profile: str | None = None) -> dict:
    """The depth chapter's ``recipe`` under ``profile`` (default: the current one)."""
    from .paths import current_profile

    profile = profile or current_profile()
    if profile not in DEPTH_RECIPES:
        raise ValueError(f"unknown profile {profile!r}; the depth recipes are for {sorted(DEPTH_RECIPES)}")
    return dict(DEPTH_RECIPES[profile])


def recipe_parameter_count(model: str, depth: int, profile: str = DEFAULT_PROFILE, **recipe) -> int:
    """Parameters of ``model`` at ``depth`` under the depth chapter's training recipe (``train.md``
    profile ``profile`` with its :func:`depth_recipe`, then ``recipe`` overrides such as
    ``embed_dim``), counted on the model built from that config, untrained: what a zoo entry weighs."""
    from .models import count_parameters, model_from_config
    from .train import config_from_parameters, model_config_of, recipe_of

    params = {"model": model, "depth": depth, "train_profile": profile, "recipe": {**depth_recipe(profile), **recipe}}
    return count_parameters(model_from_config(model_config_of(config_from_parameters(recipe_of(params)))))


def depth_rows(df, profile: str | None = None):
    """The depth chapter's rows of an ``asr_suite`` or ``propagation`` table: CIFAR-10, the depth
    recipe (``param.recipe`` equal to :func:`depth_recipe` of ``profile``)."""
    want = json.dumps(depth_recipe(profile), sort_keys=True)
    rec = df["param.recipe"].map(lambda r: json.dumps(r if isinstance(r, dict) else {}, sort_keys=True))
    ds = df["param.dataset"] if "param.dataset" in df else df.get("dataset")
    return df[(rec == want) & (ds == "cifar10")].copy()


def depth_comparison(df, attack_kind: str = "pgd_linf"):
    """DiffViT - ViT per depth and budget for ``attack_kind`` (paired by seed and image); each
    budget's depths form one Holm family (the claim at one budget is about all depths)."""
    from .analysis import paired_comparison

    sub = df[(df["attack_kind"] == attack_kind) & (df["attack_labels"] == "clean_pred")]
    return paired_comparison(
        sub, a={"model": "vit"}, b={"model": "diffvit"}, on=("budget", "depth"), family_by=("budget",)
    )


def observed_crossover(comp, budget: float = 1.0):
    """The smallest depth from which DiffViT's mean ASR is below ViT's at every deeper depth tested
    (``nan`` if none; ``1`` would mean DiffViT is never the more fragile), and whether the deepest
    depth's difference is significantly below 0 (its verdict is "not reproduced" with CI < 0)."""
    c = comp[comp["budget"] == budget].sort_values("depth")
    if not len(c):
        return {"depth": np.nan, "deepest_significant": False, "depths": []}
    below = list(c["diff_mean"] < 0)
    depths = list(c["depth"].astype(int))
    start = np.nan
    for i in range(len(depths)):
        if all(below[i:]):
            start = depths[i]
            break
    last = c.iloc[-1]
    return {"depth": start, "deepest_significant": bool(last["diff_high"] < 0), "depths": depths}


def c3_verdict(comp, budget: float = 1.0) -> tuple[str, str]:
    """Claim C3 at ``budget`` (rules v2, :data:`dalib.stats.RULES`): the crossover, DiffViT's ASR
    below ViT's at the deepest depth while not already below at depth 1. The deepest depth's
    two-level 95 % interval of DiffViT − ViT (``diff_low``, ``diff_high``) decides: below 0
    (and depth 1 not below): **reproduced**; above 0: **contradicted** (the deepest DiffViT is the
    more fragile); within ±0.02: **not reproduced**; else **inconclusive**. DiffViT already below
    at depth 1 as well: inconclusive (robust at every depth, no crossover)."""
    from .stats import PRACTICAL_MARGIN

    c = comp[comp["budget"] == budget].sort_values("depth")
    if not len(c) or c["depth"].nunique() < 2:
        return "not yet run", "needs ViT and DiffViT records at two depths or more"
    first, last = c.iloc[0], c.iloc[-1]
    d_last = (
        f"depth {int(last['depth'])}: DiffViT − ViT = {last['diff_mean']:+.3f} [{last['diff_low']:+.3f}, "
        f"{last['diff_high']:+.3f}] over {int(last['n_seeds'])} seeds (two-level 95% CI)"
    )
    if not np.isfinite(last["diff_low"]):
        return "inconclusive", d_last + " (fewer than two seeds)"
    if last["diff_low"] > 0:
        return "contradicted", d_last + ": the deepest DiffViT is the more fragile"
    if -PRACTICAL_MARGIN < last["diff_low"] and last["diff_high"] < PRACTICAL_MARGIN:
        return "not reproduced", d_last + f": no difference of practical size (±{PRACTICAL_MARGIN})"
    if last["diff_high"] < 0:
        if first["diff_high"] < 0:
            return (
                "inconclusive",
                d_last + f"; but DiffViT is already the more robust at depth {int(first['depth'])}: "
                "no crossover, DA is robust at every depth",
            )
        return "reproduced", d_last + f"; depth {int(first['depth'])}: {first['diff_mean']:+.3f}"
    return "inconclusive", d_last


def propagation_summary(prop_long, perturbation: str = "random", eps: float = 1.0):
    """Per model, depth and seed: mean over images and blocks d >= 2 of the propagation ratio
    ``alpha`` and the gain, and the mean block Lipschitz constant ``L_block`` over all blocks, for
    one perturbation kind and radius. ``prop_long``: the unpacked ``propagation`` rows (one line per
    image, block and quantity: ``model, depth, seed, perturbation, eps, layer, quantity, value``)."""
    import pandas as pd

    p = prop_long[(prop_long["perturbation"] == perturbation) & (prop_long["eps"].astype(float) == float(eps))]
    out = []
    for (m, d, s), g in p.groupby(["model", "depth", "seed"]):
        q = g.pivot_table(index=["sample", "layer"], columns="quantity", values="value").reset_index()
        deep = q[q["layer"] >= 1]
        out.append(
            {
                "model": m,
                "depth": int(d),
                "seed": int(s),
                "alpha": float(deep["alpha"].mean()) if len(deep) else np.nan,
                "gain": float(deep["gain"].mean()) if len(deep) else np.nan,
                "alpha_first": float(q[q["layer"] == 0]["alpha"].mean()),
                "L_block": float(q["L_block"].mean()),
            }
        )
    return pd.DataFrame(out)


def predicted_crossover(summary, min_depth: int = 2):
    """Corollary 1 corrected, per seed: ``D*`` from DiffViT's mean ``alpha`` (blocks after the first,
    models of depth >= ``min_depth``) and the mean block Lipschitz constants of DiffViT (``L_DA``)
    and ViT (``L_base``) over the same depths; also ViT's own ``alpha`` (is the cancellation
    specific to DA?). Rows ``seed, alpha_da, alpha_base, L_da, L_base, D_star``."""
    import pandas as pd

    from .theory import crossover_depth

    s = summary[summary["depth"] >= min_depth]
    rows = []
    for seed, g in s.groupby("seed"):
        da, base = g[g["model"] == "diffvit"], g[g["model"] == "vit"]
        if not len(da) or not len(base):
            continue
        a_da, L_da, L_b = float(da["alpha"].mean()), float(da["L_block"].mean()), float(base["L_block"].mean())
        a_da_c = min(max(a_da, 1e-12), 1.0)
        rows.append(
            {
                "seed": int(seed),
                "alpha_da": a_da,
                "alpha_base": float(base["alpha"].mean()),
                "L_da": L_da,
                "L_base": L_b,
                "D_star": float(crossover_depth(a_da_c, L_da, L_b, alpha_first=1.0)),
            }
        )
    return pd.DataFrame(rows, columns=["seed", "alpha_da", "alpha_base", "L_da", "L_base", "D_star"])


def lipschitz_per_seed(lip_long):
    """Per model, depth and seed: the mean over layers, heads and images of the paper's sampling
    Lipschitz estimate of the map the paper reports (``A``; ``A_DA`` for DA). ``lip_long``: unpacked
    ``propagation`` lipschitz rows."""
    g = lip_long[(lip_long["quantity"] == "L_sampling_mean") & lip_long["map"].isin(["A", "A_DA"])]
    return g.groupby(["model", "depth", "seed"])["value"].mean().reset_index()


def depth_claims(asr, lip_long=None):
    """The depth chapter's claims (one row each, ``{id, claim, verdict, detail, short}``):

    - ``fig3a_crossover`` / ``fig3b_crossover``: claim C3 under PGD / AutoAttack at 1/255
      (:func:`c3_verdict`);
    - ``fig3c_cw``: at the deepest depth, DiffViT needs larger CW-L2 perturbations than ViT
      (:func:`dalib.analysis.l2_comparison`, the claim "ViT's minimal norms are the smaller");
    - ``fig3d_lipschitz``: DiffViT's mean Lipschitz estimate rises with depth: per seed, the mean
      at the deepest depth minus the mean at depth 1, t 95% CI over seeds."""
    import pandas as pd

    from .analysis import l2_comparison
    from .stats import claim_row, headline_numbers, mean_ci, verdict

    rows = []
    for cid, kind, name in (
        ("fig3a_crossover", "pgd_linf", "Fig. 3a (C3): at 1/255 deep DiffViTs have a lower PGD ASR than ViTs"),
        ("fig3b_crossover", "autoattack", "Fig. 3b: the same crossover under AutoAttack"),
    ):
        sub = asr[asr["attack_kind"] == kind] if asr is not None and len(asr) else None
        if sub is None or not len(sub):
            rows.append(claim_row(cid, name))
            continue
        comp = depth_comparison(sub, kind)
        deep = comp[comp["budget"] == 1.0].sort_values("depth")
        nums = {}
        if len(deep):  # the deepest depth, in the paper's direction (ViT − DiffViT > 0)
            r = deep.iloc[-1].copy()
            r["diff_mean"], r["diff_low"], r["diff_high"] = -r["diff_mean"], -r["diff_high"], -r["diff_low"]
            nums = {**headline_numbers(r), "unit": f"−Δ ASR at D={int(r['depth'])}"}
        rows.append(claim_row(cid, name, *c3_verdict(comp, 1.0), **nums))
    cw = asr[asr["attack_kind"] == "cw_l2"] if asr is not None and len(asr) else None
    name = "Fig. 3c: under CW-L2 the deepest DiffViT needs larger perturbations than ViT"
    if cw is not None and len(cw) and cw["depth"].nunique() >= 2:
        deep = cw[cw["depth"] == cw["depth"].max()]
        r = l2_comparison(deep, a={"model": "diffvit"}, b={"model": "vit"})
        why = (
            f"depth {int(cw['depth'].max())}: sign statistic P(ViT smaller) − P(DiffViT smaller) = {r['mean']:+.3f} "
            f"[{r['low']:+.3f}, {r['high']:+.3f}], p = {r['p']:.2g}"
        )
        rows.append(claim_row("fig3c_cw", name, r["verdict"], why + "; " + r["reason"], why))
    else:
        rows.append(claim_row("fig3c_cw", name))
    name = "Fig. 3d: DiffViT's mean local Lipschitz estimate rises with depth"
    if lip_long is not None and len(lip_long):
        per = lipschitz_per_seed(lip_long)
        da = per[per["model"] == "diffvit"]
        if da["depth"].nunique() >= 2:
            lo, hi = da["depth"].min(), da["depth"].max()
            a, b = da[da["depth"] == lo].set_index("seed")["value"], da[da["depth"] == hi].set_index("seed")["value"]
            d = (b - a).dropna()
            s = mean_ci(list(d))
            v, why = verdict(s["low"], s["high"], s["n"], margin=0.0, what=f"L(D={int(hi)}) − L(D={int(lo)})")
            short = f"L(D={int(hi)}) − L(D={int(lo)}) = {s['mean']:+.3f} [{s['low']:+.3f}, {s['high']:+.3f}] over {s['n']} seeds"
            rows.append(claim_row("fig3d_lipschitz", name, v, why, short))
        else:
            rows.append(claim_row("fig3d_lipschitz", name, detail="needs two depths"))
    else:
        rows.append(claim_row("fig3d_lipschitz", name))
    rows.append(da_above_base_claim(lip_long))
    return pd.DataFrame(rows)


def da_above_base_claim(lip_long) -> dict:
    """Fig. 3d's other reading (the Fragile Principle's, as in Fig. 4): DiffViT's mean Lipschitz
    estimate lies above ViT's at every depth. Per depth, the per-seed ``log(L_DA / L_base)`` (same
    seed, :func:`lipschitz_per_seed`) with its t interval over seeds; the depths combine by
    :func:`dalib.stats.combine` (each depth's negative words at level ``1 - 0.05 / k``)."""
    from .stats import claim_row, combine, seed_effect, verdict

    name = "Fig. 3d (DA against standard attention): DiffViT's Lipschitz estimate is above ViT's at every depth"
    if lip_long is None or not len(lip_long):
        return claim_row("fig3d_da_above_base", name)
    per = lipschitz_per_seed(lip_long)
    depths = sorted(set(per[per["model"] == "diffvit"]["depth"]) & set(per[per["model"] == "vit"]["depth"]))
    if not depths:
        return claim_row("fig3d_da_above_base", name, detail="needs ViT and DiffViT at one depth")
    k = len(depths)
    parts, verdicts, ratios = [], [], []
    for d in depths:
        a = per[(per["model"] == "vit") & (per["depth"] == d)].set_index("seed")["value"]
        b = per[(per["model"] == "diffvit") & (per["depth"] == d)].set_index("seed")["value"]
        seeds = sorted(set(a.index) & set(b.index))
        e = seed_effect([np.log(b[s] / a[s]) for s in seeds])
        lo, hi = e.ci()
        v, _ = verdict(lo, hi, len(seeds), margin=0.0)
        if v not in ("reproduced", "reproduced, smaller") and k > 1:
            v, _ = verdict(*e.ci(1 - 0.05 / k), len(seeds), margin=0.0)
        verdicts.append(v)
        ratios.append(float(np.exp(e.estimate)))
        parts.append(f"D={int(d)}: L_DA / L_base = {np.exp(e.estimate):.2f} [{np.exp(lo):.2f}, {np.exp(hi):.2f}], {v}")
    return claim_row(
        "fig3d_da_above_base",
        name,
        combine(verdicts),
        "; ".join(parts) + f" (t over seeds of the log ratio; the depths' negative words at level 1 − 0.05/{k})",
        f"L_DA / L_base from {min(ratios):.2f} to {max(ratios):.2f} over depths {', '.join(map(str, map(int, depths)))}",
    )


def chapter_table(stem: str, table: str, profile=None):
    """Table ``table`` of notebook ``stem`` (``asr_suite`` or ``propagation``) restricted to the depth
    chapter's rows made with the current training recipe (:func:`depth_rows`,
    :func:`dalib.analysis.recipe_check`); ``None`` where there are none."""
    from .analysis import recipe_check
    from .records import RecordNotFoundError, load_rows

    try:
        df = load_rows(stem, table=table, profile=profile)
    except RecordNotFoundError:
        return None
    for col in ("model", "depth", "seed", "lambda_init"):  # metric tables carry some of these as parameters only
        if col not in df:
            df[col] = df[f"param.{col}"]
    df = depth_rows(recipe_check(df), profile=profile)
    df = df[df["recipe_current"].astype(bool)]
    return df if len(df) else None


def chapter_rows(profile=None):
    """``(asr rows, lipschitz long rows)`` of the depth chapter under ``profile`` (current training
    recipe only, attacks on the clean prediction); ``None`` where there are no records."""
    from .sensitivity import unpack_rows

    asr, lip = chapter_table("asr_suite", "asr", profile), chapter_table("propagation", "lipschitz", profile)
    if asr is not None:
        asr = asr[asr["attack_labels"] == "clean_pred"]
    lip_long = (
        unpack_rows(lip, keep=["model", "depth", "seed", "layer", "map", "head", "quantity"])
        if lip is not None
        else None
    )
    return asr, lip_long
