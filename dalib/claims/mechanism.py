"""The mechanism claims (paper Fig. 4, Fig. 5 and the amplification of Theorem 1): local Lipschitz
ratios and branch alignment, from the records of ``notebooks/experiments/mechanism.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Claims are computed from records only; the chapter draws them (``dalib.chapters.mechanism``)
and the scorecard (``dalib.scorecard``) reads them through :data:`dalib.claims.CLAIMS`.
"""

from __future__ import annotations

from .. import mechanism as mech
from .. import paper
from ..records import load_rows
from ..stats import claim_row, combine, combine_v1


def claims_of(lip, jac):
    """The mechanism chapter's claims from its unpacked tables (:func:`dalib.mechanism.long_table`)."""
    import pandas as pd

    rows = []
    c4 = mech.lipschitz_claim(lip, "L_sampling_mean")
    rows.append(
        claim_row(
            "fig4_lipschitz",
            "Fig. 4: DA has a higher local Lipschitz estimate than standard attention",
            combine(c4["verdict"]),
            "; ".join(f"layer {r.layer + 1}: L_DA / L_base = {r.ratio:.2f}, {r.verdict}" for r in c4.itertuples())
            or "no ViT/DiffViT pair measured yet",
            verdict_v1=combine_v1(c4["verdict_v1"]) if len(c4) else None,
            **(_seed_numbers(c4.iloc[0]) if len(c4) else {}),
        )
    )
    c5 = mech.alignment_claim(jac, method="probe")
    rows.append(
        claim_row(
            "fig5_alignment",
            "Fig. 5: negative alignment of the branch gradients is dominant",
            combine(c5["verdict"]),
            "; ".join(f"layer {r.layer + 1}: freq(cos<0) {r.freq:.3f}, {r.verdict}" for r in c5.itertuples())
            or "no DiffViT measured yet",
            verdict_v1=combine_v1(c5["verdict_v1"]) if len(c5) else None,
        )
    )
    c5b = mech.amplification_claim(jac, lip)
    rows.append(
        claim_row(
            "fig5_amplification",
            "Fig. 5 / Theorem 1 (C5b): the negative alignment amplifies ‖J_DA‖ by more than 5 %",
            combine(c5b["verdict"]) if len(c5b) else "not yet run",
            "; ".join(
                f"layer {r.layer + 1}: gain median {r.gain_median:.3f} (max {r.gain_max:.3f}), {r.verdict}: {r.reason}"
                for r in c5b.itertuples()
            )
            or "no exact Jacobians measured yet",
            "; ".join(f"layer {r.layer + 1}: median gain {r.gain_median:.3f}" for r in c5b.itertuples()) or None,
        )
    )
    return pd.DataFrame(rows)


def _seed_numbers(row) -> dict:
    """Headline numbers of a claim row whose interval is the t over seeds (the mechanism chapter):
    effect, interval, and the seeds 80 % power would need at the observed effect."""
    import numpy as np

    from ..mechanism import _per_seed_values
    from ..stats import seeds_needed

    v = _per_seed_values(row)
    comp = {"s2_seed": float(np.var(v, ddof=1))} if len(v) > 1 else {}
    return {
        "effect": float(row["effect"]),
        "low": float(row["effect_low"]),
        "high": float(row["effect_high"]),
        "paper_value": None,
        "unit": "log L_DA / L_base",
        "seeds_needed": seeds_needed(float(row["effect"]), comp, 1) if comp else None,
    }


def claims(profile=None) -> dict:
    """The chapter's claims under ``profile``: ``{id: row}`` (none without records)."""
    from ..records import RecordNotFoundError

    try:
        lip = mech.long_table(paper.paper_models(load_rows("mechanism", table="lipschitz", profile=profile)))
        jac = mech.long_table(paper.paper_models(load_rows("mechanism", table="jacobian", profile=profile)))
    except RecordNotFoundError:
        return {}
    return {r["id"]: r for r in claims_of(lip, jac).to_dict("records")}
