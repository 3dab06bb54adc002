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

from .claims import CLAIMS, QUALITIES, beneath, claims, headline  # noqa: F401  (claims: the scorecard's input)
from .stats import VERDICTS, combine, combine_v1

STATUSES = (*VERDICTS, "not yet run", "blocked", "holds as printed", "corrected", "shown")


def _verdict_of(ids, found):
    """``(status, ours, numbers, status_v1)`` of the claims ``ids`` (one artifact's claims at one
    quality), or None when some of them have no records."""
    got = [found[c] for c in ids if c in found]
    if not got or len(got) < len(ids):
        return None
    status = combine([g["verdict"] for g in got]) if len(got) > 1 else got[0]["verdict"]
    ours = "; ".join(f"{g['claim'].split(':')[0]}: {g['short']}" if len(got) > 1 else g["short"] for g in got)
    v1 = [g.get("verdict_v1") for g in got]
    status_v1 = (combine_v1(v1) if len(v1) > 1 else v1[0]) if all(v1) else None
    return status, ours, {k: got[0].get(k) for k in NUMBER_COLUMNS}, status_v1


def leading_ids(artifact: str, found: dict) -> list[str]:
    """The claims that make ``artifact``'s status: the paper-quality pair's once each headline claim
    has a pair line with :data:`dalib.claims.pair.LEAD_SEEDS` seeds, else the headline's."""
    from .claims.pair import leads

    ids = headline(artifact)
    pair_ids = [f"pair_{c}" for c in ids]
    if ids and all(p in CLAIMS and leads(found.get(p)) for p in pair_ids):
        return pair_ids
    return ids


def scorecard(profile=None):
    """One row per artifact of :data:`dalib.paper.ARTIFACTS`: ``artifact, claim, paper, ours,
    status, page``. ``ours`` is the detail of the claims the artifact rests on: the headline pair's,
    or the paper-quality pair's once it has the seeds to lead (:func:`leading_ids`; the headline
    pair's verdict is then a line beneath it). Under an artifact, a line for each claim of another
    model quality that has records (:func:`dalib.claims.beneath`; ``scope`` from its quality, the
    artifact's own row "paper")."""
    import pandas as pd

    from . import paper, theory

    found = claims(profile)
    rows = []
    for art in paper.ARTIFACTS:
        ids = headline(art["id"])
        lead = leading_ids(art["id"], found)
        nums, status_v1 = {}, None
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
        elif lead:
            got = _verdict_of(lead, found)
            if got is None:
                part = [found[c]["short"] for c in lead if c in found]
                status, ours = "not yet run", "; ".join(part) if part else "records missing"
            else:
                status, ours, nums, status_v1 = got
        else:
            status, ours = "not yet run", art.get("pending", "no producer yet")
        paper_says = art.get("paper", "")
        if paper_says in ("", "plot, no values", "as printed"):
            paper_says = art["claim"] + (" (plot, no values)" if paper_says == "plot, no values" else "")
        main = {
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
        rows.append(main)
        moved = None
        if lead != ids:  # the paper-quality pair leads: the headline pair's verdict is a line beneath
            moved = _verdict_of(ids, found)
        if moved is not None:
            q = QUALITIES["headline pair"]
            st, text, nm, _ = moved
            rows.append(
                {
                    **main,
                    "artifact": q.label.format(artifact=art["id"]),
                    "ours": text,
                    "status": st,
                    "page": q.page,
                    "producer": q.producer,
                    "status_v1": None,
                    **{k: nm.get(k) for k in NUMBER_COLUMNS},
                    "scope": q.scope,
                }
            )
        for c in beneath(art["id"]):
            line = found.get(c.id)
            if line is None or c.id in lead:
                continue
            q = QUALITIES[c.quality]
            rows.append(
                {
                    "artifact": q.label.format(**{**line, "artifact": art["id"], "name": line["claim"].split(":")[0]}),
                    "claim": line["claim"] if q.own_claim else art["claim"],
                    "paper": "beyond the paper (no value)" if q.own_claim else main["paper"],
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
