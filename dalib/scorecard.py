"""The reproduction scorecard: one status per artifact of the paper, computed from the records by
the chapters' own verdict code (never typed by hand), for the book's first page.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The artifacts, their quoted claims, producers and pages are data in
:data:`dalib.paper.ARTIFACTS`; each names the claims (ids of the chapter modules' ``claims``,
:mod:`dalib.chapters`) whose verdicts make its status, or the reason it cannot run here.

Statuses: the verdicts of :data:`dalib.stats.VERDICTS` (rules v2, :data:`dalib.stats.RULES`;
a claim of several parts is combined by :func:`dalib.stats.combine`), ``not yet run`` (records missing), ``blocked`` (needs data or weights
that cannot be obtained here), and, for theorems, ``holds as printed`` or ``corrected`` (from the
theory chapter, whose notebooks assert each printed slip's counterexample).
"""

from __future__ import annotations

from .stats import VERDICTS, combine, combine_v1

STATUSES = (*VERDICTS, "not yet run", "blocked", "holds as printed", "corrected", "shown")


CLAIM_CHAPTERS = ("depth1", "tables", "depth", "clip", "mechanism", "ladder")  # modules of dalib.chapters with claims
#: artifacts whose claim is measured again at the model-quality ladder's top rung (dalib.chapters.ladder):
#: the scorecard adds a line under each, {artifact: claim id}
TOP_RUNG = {
    "Fig. 2a": "top_fig2a_pgd",
    "Fig. 2c": "top_fig2c_patch",
    "Fig. 4": "top_fig4_lipschitz",
    "Fig. 5": "top_fig5_alignment",
}
TOP_RUNG_PAGE = "book/results_ladder.md"


def claims(profile=None):
    """Every chapter's claims under ``profile``: ``{id: row}`` (chapters without records give none),
    composed from each chapter module's ``claims(profile)``, in :data:`CLAIM_CHAPTERS` order."""
    from .chapters import clip, depth, depth1, ladder, mechanism, tables

    modules = {
        "depth1": depth1,
        "tables": tables,
        "depth": depth,
        "clip": clip,
        "mechanism": mechanism,
        "ladder": ladder,
    }
    out = {}
    for name in CLAIM_CHAPTERS:
        out.update(modules[name].claims(profile))
    return out


def scorecard(profile=None):
    """One row per artifact of :data:`dalib.paper.ARTIFACTS`: ``artifact, claim, paper, ours,
    status, page``. ``ours`` is the detail of the claims the artifact rests on. Under each artifact
    of :data:`TOP_RUNG` whose top-rung claim has records, a line (``scope`` "top rung", the others
    "paper"): the same claim at the model-quality ladder's top rung."""
    import pandas as pd

    from . import paper, theory

    found = claims(profile)
    rows = []
    for art in paper.ARTIFACTS:
        if art.get("blocked") and not any(c in found for c in art.get("claims", ())):
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
        elif art.get("claims"):
            got = [found[c] for c in art["claims"] if c in found]
            if not got or len(got) < len(art["claims"]):
                status, ours = "not yet run", "records missing" if not got else "; ".join(g["short"] for g in got)
            else:
                status = combine([g["verdict"] for g in got]) if len(got) > 1 else got[0]["verdict"]
                ours = "; ".join(
                    f"{g['claim'].split(':')[0]}: {g['short']}" if len(got) > 1 else g["short"] for g in got
                )
        else:
            status, ours = "not yet run", art.get("pending", "no producer yet")
        nums, status_v1 = {}, None
        if art.get("blocked") and not any(c in found for c in art.get("claims", ())):
            pass
        elif art.get("claims") and not art.get("theorem"):
            got = [found[c] for c in art["claims"] if c in found]
            if got and len(got) == len(art["claims"]):
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
        top = found.get(TOP_RUNG.get(art["id"], ""))
        if top is not None:
            rows.append(
                {
                    "artifact": f"{art['id']}, top rung ({top['epochs']} epochs)",
                    "claim": art["claim"],
                    "paper": rows[-1]["paper"],
                    "ours": top["short"],
                    "status": top["verdict"],
                    "page": TOP_RUNG_PAGE,
                    "producer": "notebooks/experiments/ladder.md",
                    "status_v1": None,
                    **{k: top.get(k) for k in NUMBER_COLUMNS},
                    "scope": "top rung",
                }
            )
    return pd.DataFrame(rows)


NUMBER_COLUMNS = ("effect", "low", "high", "unit", "paper_value", "seeds_needed", "seeds_needed_paper")
