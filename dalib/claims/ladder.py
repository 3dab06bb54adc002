"""The top-rung claims of the model-quality ladder: the depth-1 and mechanism claims measured again on
the ladder's top rung (``notebooks/experiments/ladder.md`` and the rung points of ``asr_suite.md``
and ``mechanism_suite.md``).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Claims are computed from records only; the chapter draws them (``dalib.chapters.ladder``)
and the scorecard (``dalib.scorecard``) reads them through :data:`dalib.claims.CLAIMS`.
"""

from __future__ import annotations

import pandas as pd

from .. import mechanism as mech
from ..ladder import rung_of
from ..records import rows_or_none
from .rows import recipe_rows

#: the depth-1 and mechanism claims measured again at the top rung: {claim id: scorecard artifact}
TOP_CLAIMS = {
    "fig2a_pgd": "Fig. 2a",
    "fig2c_patch": "Fig. 2c",
    "fig4_lipschitz": "Fig. 4",
    "fig5_alignment": "Fig. 5",
}


def _load(stem, table, profile):
    return rows_or_none(stem, table, profile)


def rung_rows(stem, table, profile=None):
    """The rows of ``stem``'s ``table`` whose ``recipe`` names a ladder rung, with its ``epochs``
    (``None`` when there are none)."""
    d = recipe_rows(stem, table, profile, rung_of)
    return None if d is None else d.assign(epochs=d.pop("selected").astype(int))


def attack_rows(profile=None):
    """The rung points' attack rows (attacks on the clean prediction)."""
    d = rung_rows("asr_suite", "asr", profile)
    return None if d is None else d[d["attack_labels"] == "clean_pred"]


def mechanism_rows(profile=None):
    """The rung points' Lipschitz and Jacobian rows, as long tables (one line per image)."""
    lip, jac = rung_rows("mechanism_suite", "lipschitz", profile), rung_rows("mechanism_suite", "jacobian", profile)
    if lip is None or jac is None:
        return None, None
    return mech.long_table(lip), mech.long_table(jac)


def _paired_epochs(df) -> set:
    """The rungs at which some seed has both models of the pair."""
    if df is None:
        return set()
    both = df.groupby(["epochs", "seed"])["model"].agg(lambda m: {"vit", "diffvit"} <= set(m))
    return {int(k) for k, _ in both[both].index}


def _top(asr, lip):
    """The top rung: the most epochs at which a pair has been measured (attacks or mechanism)."""
    eps = _paired_epochs(asr) | _paired_epochs(lip)
    return max(eps) if eps else None


def _seeds(n: int) -> str:
    return f"{n} seed{'s' * (n != 1)}"


def _span(v) -> str:
    lo, hi = f"{float(min(v)):.2f}", f"{float(max(v)):.2f}"
    return lo if lo == hi else f"{lo}-{hi}"


def claims(profile=None) -> dict:
    """The depth-1 and mechanism claims of :data:`TOP_CLAIMS` on the top rung's records, by the
    chapters' own code: ``{"top_<id>": row}``, the claim text naming the rung and the seeds."""
    return claims_of(attack_rows(profile), *mechanism_rows(profile))


def claims_of(asr, lip, jac) -> dict:
    """:func:`claims` from rung rows already loaded (:func:`attack_rows`, :func:`mechanism_rows`)."""
    from . import depth1, mechanism

    top = _top(asr, lip)
    if top is None:
        return {}
    rows = []
    if top in _paired_epochs(asr):
        a = asr[asr["epochs"] == top]
        acc = a.groupby("model")["train_clean_accuracy"].mean()
        got = depth1.claims_of(a)
        got["short"] = [f"{s} (clean accuracy {_span(acc)}, {_seeds(a['seed'].nunique())})" for s in got["short"]]
        rows.append(got)
    if top in _paired_epochs(lip):
        got = mechanism.claims_of(lip[lip["epochs"] == top], jac[jac["epochs"] == top])
        got["short"] = [f"{s} ({_seeds(lip.loc[lip['epochs'] == top, 'seed'].nunique())})" for s in got["short"]]
        rows.append(got)
    out = {}
    at_top = asr[asr["epochs"] == top] if asr is not None else None
    # the clean accuracy of the rung's models (mean over models and seeds), for the lines that name it
    accuracy = float(at_top["train_clean_accuracy"].mean()) if at_top is not None and len(at_top) else None
    for r in pd.concat(rows).to_dict("records") if rows else []:
        if r["id"] in TOP_CLAIMS:
            r = {**r, "id": f"top_{r['id']}", "claim": f"{r['claim']} (ladder, {top} epochs)", "epochs": top}
            r["accuracy"] = accuracy
            out[r["id"]] = r
    return out
