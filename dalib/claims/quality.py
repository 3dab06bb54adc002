"""The depth-1 verdicts at every model quality measured, side by side: the headline pair (8 epochs),
the ladder's top rung and the paper-quality pair, one row per claim.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*: its depth-1 claims were made on models at 0.86-0.87 clean accuracy. Each cell is the
claim's effect with its 95 % interval (or its one-line summary where the claim has no single effect)
and its verdict, computed by the chapters' own code (:data:`dalib.claims.CLAIMS`); the ladder page
shows the table and a closing note quotes it.
"""

from __future__ import annotations

#: the depth-1 and mechanism claims compared across qualities, in scorecard order
CLAIM_IDS = (
    "fig2a_pgd",
    "fig2a_autoattack",
    "fig6_restarts",
    "fig2c_patch",
    "fig3c_cw_depth1",
    "fig4_lipschitz",
    "fig5_alignment",
    "fig5_amplification",
)
#: the qualities: column label -> the prefix of their claim ids
QUALITY_PREFIX = {"headline pair (8 epochs)": "", "ladder top rung": "top_", "paper-quality pair": "pair_"}


def _cell(row) -> str:
    if row is None:
        return "not measured"
    eff = row.get("effect")
    if eff is not None and eff == eff:  # not NaN
        text = f"{eff:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}]"
    else:  # a claim without one effect: its summary, less the verdict it may end with
        text = (row.get("short") or row.get("detail") or "").split(f", {row['verdict']}")[0]
    return f"{text}: **{row['verdict']}**"


def by_quality(profile=None, found: dict | None = None):
    """One row per claim of :data:`CLAIM_IDS`: its name, the unit of its effect and one cell per
    quality of :data:`QUALITY_PREFIX` (``"not measured"`` where that quality has no records)."""
    import pandas as pd

    from .registry import claims

    found = claims(profile) if found is None else found
    rows = []
    for cid in CLAIM_IDS:
        base = found.get(cid)
        unit = next((found[p + cid].get("unit") for p in QUALITY_PREFIX.values() if p + cid in found), None)
        row = {
            "claim": base["claim"] if base else cid,
            "effect": unit if isinstance(unit, str) else "",
        }
        for label, prefix in QUALITY_PREFIX.items():
            row[label] = _cell(found.get(prefix + cid))
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_line(profile=None, found: dict | None = None) -> str:
    """The clean accuracy and seeds of each quality's models, for the table's caption."""
    from . import depth1
    from .registry import claims

    found = claims(profile) if found is None else found
    parts = []
    head = depth1.attack_rows(profile)
    if head is not None and len(head):
        pair = head[(head["model"] == "vit") | ((head["model"] == "diffvit") & (head["lambda_init"] == "0.8"))]
        parts.append(
            f"headline pair: clean accuracy {pair['train_clean_accuracy'].mean():.2f}, {pair['seed'].nunique()} seeds"
        )
    for label, prefix in list(QUALITY_PREFIX.items())[1:]:
        r = found.get(prefix + "fig2a_pgd")
        if r is not None and r.get("accuracy"):
            seeds = f", {r['seeds']} seeds" if r.get("seeds") else ""
            parts.append(f"{label}: clean accuracy {r['accuracy']:.2f}{seeds}")
    return "; ".join(parts)
