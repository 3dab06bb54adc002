"""Beyond the paper: does Differential Attention V2 keep the fragility? Claims on the headline recipe.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (it studies V1). The V2 model (``diffv2``, ``dalib.models.attention.diffv2``)
is trained with the depth-1 chapter's recipe and seeds and attacked on the same images; each claim
reads its records with the same tests and rules as the paper's claims (:mod:`dalib.stats`), so that
"reproduced" means "the claim as stated holds":

- *V2 keeps the fragility*: V2's ASR is above ViT's (PGD at every budget and AutoAttack; patch PGD),
  its attention maps' local Lipschitz estimate above ViT's (Fig. 4's measure), and negative branch
  alignment dominates in it (Fig. 5's measure);
- *V2 is less fragile than DiffViT*: DiffViT's ASR is above V2's.
"""

from __future__ import annotations

import pandas as pd

from .. import mechanism as mech
from ..analysis import paired_comparison, recipe_check
from ..records import RecordNotFoundError, load_rows
from ..stats import claim_row, claim_seeds_needed, combine, headline_numbers

V2 = {"model": "diffv2"}
VIT = {"model": "vit"}
DIFFVIT = {"model": "diffvit", "lambda_init": "0.8"}
MODELS = ("vit", "diffvit", "diffv2")
#: (claim id, claim, attack kinds, unit, headline budget, model a, model b): the claim is "b's ASR > a's"
ASR_CLAIMS = (
    ("v2_fig2a_vs_vit", "V2 keeps the fragility: V2 ASR > ViT ASR under PGD and AutoAttack", ("pgd_linf", "autoattack"), "ε", 1.0, VIT, V2),
    ("v2_fig2a_vs_diffvit", "V2 is less fragile than DiffViT: DiffViT ASR > V2 ASR under PGD and AutoAttack", ("pgd_linf", "autoattack"), "ε", 1.0, V2, DIFFVIT),
    ("v2_fig2c_vs_vit", "V2 keeps the fragility: V2 ASR > ViT ASR under patch PGD", ("patch",), "w", 8.0, VIT, V2),
    ("v2_fig2c_vs_diffvit", "V2 is less fragile than DiffViT: DiffViT ASR > V2 ASR under patch PGD", ("patch",), "w", 8.0, V2, DIFFVIT),
)  # fmt: skip


def attack_rows(profile=None):
    """The depth-1 attack rows of ViT, DiffViT (λ_init 0.8) and V2 (current recipe, attacks on the
    clean prediction), or None."""
    try:
        raw = recipe_check(load_rows("asr", table="asr", profile=profile))
    except RecordNotFoundError:
        return None
    df = raw[raw["recipe_current"] & (raw["depth"] == 1) & raw["model"].isin(MODELS)].copy()
    df["lambda_init"] = df["lambda_init"].astype(str)
    df = df[(df["model"] != "diffvit") | (df["lambda_init"] == "0.8")]
    return df[df["attack_labels"] == "clean_pred"]


def comparisons(df) -> pd.DataFrame:
    """Every budget of :data:`ASR_CLAIMS`'s comparisons (:func:`dalib.analysis.paired_comparison`),
    with the claim id."""
    out = []
    for cid, _, kinds, _, _, a, b in ASR_CLAIMS:
        c = paired_comparison(df[df["attack_kind"].isin(kinds)], a=a, b=b)
        if len(c):
            out.append(c.assign(id=cid))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["id", "attack_kind", "budget"])


def asr_claims(df) -> list:
    comp = comparisons(df)
    rows = []
    for cid, name, kinds, unit, head, _, _ in ASR_CLAIMS:
        c = comp[comp["id"] == cid].sort_values(["attack_kind", "budget"]) if len(comp) else comp
        if not len(c):
            rows.append(claim_row(cid, name))
            continue
        h = c[(c["attack_kind"] == kinds[0]) & (c["budget"] == head)]
        nums = headline_numbers(h.iloc[0]) if len(h) else {}
        nums["seeds_needed"] = claim_seeds_needed(c)
        detail = "; ".join(
            f"{r.attack_kind} {unit} = {r.budget:g}: {r.verdict} ({r.diff_mean:+.3f})" for r in c.itertuples()
        )
        counts = c["verdict"].value_counts()
        short = (
            (
                f"Δ ASR at {unit} = {head:g}: {h['diff_mean'].iloc[0]:+.3f} "
                f"[{h['diff_low'].iloc[0]:+.3f}, {h['diff_high'].iloc[0]:+.3f}] over {int(h['n_seeds'].iloc[0])} "
                f"seed{'s' * (int(h['n_seeds'].iloc[0]) != 1)}; "
                if len(h)
                else ""
            )
            + ", ".join(f"{n} {v}" for v, n in counts.items())
            + f" of {len(c)} budgets"
        )
        rows.append(claim_row(cid, name, combine(c["verdict"]), detail, short, **nums))
    return rows


def mechanism_rows(profile=None):
    """The mechanism notebook's Lipschitz and Jacobian long tables of ViT and V2, or ``(None, None)``."""
    try:
        lip = load_rows("mechanism", table="lipschitz", profile=profile)
        jac = load_rows("mechanism", table="jacobian", profile=profile)
    except RecordNotFoundError:
        return None, None
    lip, jac = lip[lip["model"].isin(("vit", "diffv2"))], jac[jac["model"] == "diffv2"]
    if not (lip["model"] == "diffv2").any():
        return None, None
    return mech.long_table(lip), mech.long_table(jac)


def mechanism_claims(lip, jac) -> list:
    rows = []
    for cid, quantity, what in (
        ("v2_fig4_lipschitz", "L_sampling_mean", "the paper's sampling estimate"),
        ("v2_fig4_lipschitz_worst", "L_power", "the worst case (power iteration)"),
    ):
        c4 = mech.lipschitz_claim(lip, quantity, da=V2, base=VIT) if lip is not None else pd.DataFrame()
        name = f"V2 keeps the fragility: V2's A_DA has a higher local Lipschitz constant than ViT's A ({what})"
        if not len(c4):
            rows.append(claim_row(cid, name))
            continue
        r = c4.iloc[0]
        rows.append(
            claim_row(
                cid,
                name,
                combine(c4["verdict"]),
                "; ".join(f"layer {x.layer + 1}: L_V2 / L_ViT = {x.ratio:.2f}, {x.verdict}" for x in c4.itertuples()),
                f"L_V2 / L_ViT = {r['ratio']:.2f}; log ratio {r['effect']:+.3f} [{r['effect_low']:+.3f}, {r['effect_high']:+.3f}]",
                effect=float(r["effect"]),
                low=float(r["effect_low"]),
                high=float(r["effect_high"]),
                unit="log L_V2 / L_ViT",
                paper_value=None,
                seeds_needed=None,
            )
        )
    c5 = mech.alignment_claim(jac, method="probe", where=V2) if jac is not None else pd.DataFrame()
    name = "V2 keeps the mechanism: negative alignment of its branch gradients is dominant"
    if not len(c5):
        rows.append(claim_row("v2_fig5_alignment", name))
    else:
        r = c5.iloc[0]
        rows.append(
            claim_row(
                "v2_fig5_alignment",
                name,
                combine(c5["verdict"]),
                "; ".join(f"layer {x.layer + 1}: freq(cos<0) {x.freq:.3f}, {x.verdict}" for x in c5.itertuples()),
                f"freq(cos < 0) = {r['freq']:.3f}; freq − 0.5 = {r['effect']:+.3f} [{r['effect_low']:+.3f}, {r['effect_high']:+.3f}]",
                effect=float(r["effect"]),
                low=float(r["effect_low"]),
                high=float(r["effect_high"]),
                unit="freq(cos<0) − 0.5",
                paper_value=None,
                seeds_needed=None,
            )
        )
    return rows


def claims(profile=None) -> dict:
    """The V2 claims with records under ``profile``: ``{id: row}`` (none without V2 records)."""
    out = {}
    df = attack_rows(profile)
    if df is not None and (df["model"] == "diffv2").any():
        out.update({r["id"]: r for r in asr_claims(df) if r["verdict"] != "not yet run"})
    lip, jac = mechanism_rows(profile)
    if lip is not None:
        out.update({r["id"]: r for r in mechanism_claims(lip, jac) if r["verdict"] != "not yet run"})
    return out
