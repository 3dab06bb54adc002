"""The reproduction scorecard: one status per artifact of the paper, computed from the records by
the claims' own verdict code (never typed by hand), for the book's first page.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The artifacts, their quoted claims, producers and pages are data in
:data:`dalib.paper.ARTIFACTS`; the claims registry (:data:`dalib.claims.CLAIMS`) says which claims
make an artifact's status and which lines of other model qualities sit beneath it. The scorecard
imports no chapter.

Statuses: the verdicts of :data:`dalib.stats.VERDICTS` (rules v2, :data:`dalib.stats.RULES`;
a claim of several parts is combined by :func:`dalib.stats.combine`), ``not yet run`` (records missing), ``blocked`` (needs data or weights
that cannot be obtained here), and, for theorems, ``holds as printed`` or ``corrected`` (from the
theory chapter, whose notebooks assert each printed slip's counterexample).
"""

from __future__ import annotations

from .claims import QUALITIES, beneath, claims, headline  # noqa: F401  (claims: the scorecard's input)
from .stats import VERDICTS, combine, combine_v1

STATUSES = (*VERDICTS, "not yet run", "blocked", "holds as printed", "corrected", "shown")


def scorecard(profile=None):
    """One row per artifact of :data:`dalib.paper.ARTIFACTS`: ``artifact, claim, paper, ours,
    status, page``. ``ours`` is the detail of the headline claims the artifact rests on
    (:func:`dalib.claims.headline`). Under an artifact, a line for each claim of another model
    quality that has records (:func:`dalib.claims.beneath`; ``scope`` from its quality, the
    artifact's own row "paper")."""
    import pandas as pd

    from . import paper, theory

    found = claims(profile)
    rows = []
    for art in paper.ARTIFACTS:
        ids = headline(art["id"])
        if art.get("blocked") and not any(c in found for c in ids):
            status, ours = "blocked", art["blocked"]  # blocked here, unless records of it exist
        elif art.get("shown"):
            status, ours = "shown", art["shown"]
        elif art.get("theorem"):
            status = theory.PRINTED_STATUS[art["theorem"]]
            ours = (
                "derived and checked in sympy; numerical counterexample to the printed form"
                if status == "corrected"
                else "derived and checked in sympy"
            )
        elif ids:
            got = [found[c] for c in ids if c in found]
            if not got or len(got) < len(ids):
                status, ours = "not yet run", "records missing" if not got else "; ".join(g["short"] for g in got)
            else:
                status = combine([g["verdict"] for g in got]) if len(got) > 1 else got[0]["verdict"]
                ours = "; ".join(
                    f"{g['claim'].split(':')[0]}: {g['short']}" if len(got) > 1 else g["short"] for g in got
                )
        else:
            status, ours = "not yet run", art.get("pending", "no producer yet")
        nums, status_v1 = {}, None
        if art.get("blocked") and not any(c in found for c in ids):
            pass
        elif ids and not art.get("theorem"):
            got = [found[c] for c in ids if c in found]
            if got and len(got) == len(ids):
                nums = {k: got[0].get(k) for k in NUMBER_COLUMNS}
                v1 = [g.get("verdict_v1") for g in got]
                status_v1 = (combine_v1(v1) if len(v1) > 1 else v1[0]) if all(v1) else None
        paper_says = art.get("paper", "")
        if paper_says in ("", "plot, no values", "as printed"):
            paper_says = art["claim"] + (" (plot, no values)" if paper_says == "plot, no values" else "")
        rows.append(
            {
                "artifact": art["id"],
                "claim": art["claim"],
                "paper": paper_says,
                "ours": ours,
                "status": status,
                "page": art.get("page", ""),
                "producer": art.get("producer", ""),
                "status_v1": status_v1,
                **{k: nums.get(k) for k in NUMBER_COLUMNS},
                "scope": "paper",
            }
        )
        for c in beneath(art["id"]):
            line = found.get(c.id)
            if line is None:
                continue
            q = QUALITIES[c.quality]
            rows.append(
                {
                    "artifact": q.label.format(artifact=art["id"], **line),
                    "claim": line["claim"] if q.own_claim else art["claim"],
                    "paper": "beyond the paper (no value)" if q.own_claim else rows[-1]["paper"],
                    "ours": line["short"],
                    "status": line["verdict"],
                    "page": q.page,
                    "producer": q.producer,
                    "status_v1": None,
                    **{k: line.get(k) for k in NUMBER_COLUMNS},
                    "scope": q.scope,
                }
            )
    return pd.DataFrame(rows)


NUMBER_COLUMNS = ("effect", "low", "high", "unit", "paper_value", "seeds_needed", "seeds_needed_paper", "accuracy")
