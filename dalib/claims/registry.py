"""The claims registry: one row per claim tested against the paper, the one place a claim is named.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. A row says which paper artifact (:data:`dalib.paper.ARTIFACTS`) the claim makes the
status of, which group computes it (a module of :mod:`dalib.claims` whose ``claims(profile)`` turns
records into ``{id: row}``, the row's verdict through :mod:`dalib.stats`), and on which models it is
measured: its ``quality``. The headline claims make an artifact's status; a claim of another quality
(the ladder's top rung, the paper-quality pair, or a model beyond the paper) is a line beneath the
artifact on the scorecard, shown once it has records. Adding a claim is one row here and its code in
its group.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    """Where the lines of one model quality sit on the scorecard: ``label`` formats the artifact id,
    the claim's own name (``name``: its text before the colon) and the claim row (e.g. its
    ``epochs``) into the line's name."""

    label: str
    page: str
    producer: str
    scope: str
    own_claim: bool = False  # a claim of its own (beyond the paper), not the artifact's at another quality


#: model qualities (and models beyond the paper) other than the headline's: quality -> its scorecard lines
QUALITIES = {
    "top rung": Quality(
        "{artifact}, top rung ({epochs} epochs)",
        "book/results_ladder.md",
        "notebooks/experiments/ladder.md",
        "top rung",
    ),
    "pair": Quality(
        "{name}, paper-quality pair ({seeds} seeds)",  # name: the claim's, e.g. "Fig. 2a, AutoAttack"
        "book/results_ladder.md",
        "notebooks/experiments/pair.md",
        "pair",
    ),
    # the headline pair's line, once the paper-quality pair leads its artifact (dalib.claims.pair.LEAD_SEEDS)
    "headline pair": Quality(
        "{artifact}, headline pair (8 epochs)",
        "book/results_depth1.md",
        "notebooks/experiments/asr.md",
        "headline pair",
    ),
    # beyond the paper: Differential Attention V2 on the headline recipe (dalib.claims.beyond_v2)
    **{
        q: Quality(f"{{artifact}}, {q}", "book/results_v2.md", producer, "beyond: V2", own_claim=True)
        for q, producer in (
            ("V2 vs ViT", "notebooks/experiments/asr.md"),
            ("V2 vs DiffViT", "notebooks/experiments/asr.md"),
            ("V2 vs ViT, worst case", "notebooks/experiments/mechanism.md"),
            ("V2", "notebooks/experiments/mechanism.md"),
        )
    },
}


@dataclass(frozen=True)
class Claim:
    """One claim: ``id`` (its verdict row's id), the paper ``artifact`` it bears on, the ``group``
    (module of :mod:`dalib.claims`) that computes it, and the ``quality`` of the models it is
    measured on ("headline", or a key of :data:`QUALITIES`)."""

    id: str
    artifact: str
    group: str
    quality: str = "headline"

    def __post_init__(self):
        if self.quality != "headline" and self.quality not in QUALITIES:
            raise ValueError(
                f"claim {self.id!r}: unknown quality {self.quality!r}; valid: headline, {sorted(QUALITIES)}"
            )


_ROWS = [  # in scorecard order within each artifact (an artifact's headline claims combine in this order)
    Claim("fig2a_pgd", "Fig. 2a", "depth1"),
    Claim("fig2a_autoattack", "Fig. 2a", "depth1"),
    Claim("fig2c_patch", "Fig. 2c", "depth1"),
    Claim("table1_lambda", "Table 1", "depth1"),
    Claim("fig6_restarts", "Fig. 6", "depth1"),
    Claim("fig3c_cw_depth1", "", "depth1"),  # the depth-1 chapter's CW-L2 claim (Fig. 3c's depth 1)
    Claim("fig2b_pgd", "Fig. 2b", "clip"),
    Claim("fig2d_patch", "Fig. 2d", "clip"),
    Claim("fig3a_crossover", "Fig. 3a", "depth"),
    Claim("fig3b_crossover", "Fig. 3b", "depth"),
    Claim("fig3c_cw", "Fig. 3c", "depth"),
    Claim("fig3d_lipschitz", "Fig. 3d", "depth"),
    Claim("fig3d_da_above_base", "Fig. 3d (DA vs standard)", "depth"),
    Claim("fig4_lipschitz", "Fig. 4", "mechanism"),
    Claim("fig5_alignment", "Fig. 5", "mechanism"),
    Claim("fig5_amplification", "Fig. 5 (amplification)", "mechanism"),
    Claim("table2_pgd", "Table 2", "tables"),
    Claim("table2_patch", "Table 2", "tables"),
    Claim("table3_adv_training", "Table 3", "tables"),
    Claim("table3_clean_accuracy", "Table 3 (accuracy)", "tables"),
    Claim("top_fig2a_pgd", "Fig. 2a", "ladder", "top rung"),
    Claim("top_fig2c_patch", "Fig. 2c", "ladder", "top rung"),
    Claim("top_fig4_lipschitz", "Fig. 4", "ladder", "top rung"),
    Claim("top_fig5_alignment", "Fig. 5", "ladder", "top rung"),
    Claim("pair_fig2a_pgd", "Fig. 2a", "pair", "pair"),
    Claim("pair_fig2a_autoattack", "Fig. 2a", "pair", "pair"),
    Claim("pair_fig2c_patch", "Fig. 2c", "pair", "pair"),
    Claim("pair_fig6_restarts", "Fig. 6", "pair", "pair"),
    Claim("pair_fig3c_cw_depth1", "", "pair", "pair"),
    Claim("pair_table1_lambda", "Table 1", "pair", "pair"),  # marked "not run at this quality"
    Claim("pair_fig4_lipschitz", "Fig. 4", "pair", "pair"),
    Claim("pair_fig5_alignment", "Fig. 5", "pair", "pair"),
    Claim("pair_fig5_amplification", "Fig. 5 (amplification)", "pair", "pair"),
    Claim("v2_fig2a_vs_vit", "Fig. 2a", "beyond_v2", "V2 vs ViT"),
    Claim("v2_fig2a_vs_diffvit", "Fig. 2a", "beyond_v2", "V2 vs DiffViT"),
    Claim("v2_fig2c_vs_vit", "Fig. 2c", "beyond_v2", "V2 vs ViT"),
    Claim("v2_fig2c_vs_diffvit", "Fig. 2c", "beyond_v2", "V2 vs DiffViT"),
    Claim("v2_fig4_lipschitz", "Fig. 4", "beyond_v2", "V2 vs ViT"),
    Claim("v2_fig4_lipschitz_worst", "Fig. 4", "beyond_v2", "V2 vs ViT, worst case"),
    Claim("v2_fig5_alignment", "Fig. 5", "beyond_v2", "V2"),
]
CLAIMS: dict[str, Claim] = {c.id: c for c in _ROWS}
#: the groups in the order their claims are composed (a module of dalib.claims each)
GROUPS = tuple(dict.fromkeys(c.group for c in _ROWS))


def register(claim: Claim) -> Claim:
    """Add ``claim`` to :data:`CLAIMS` (an id registered twice is an error)."""
    if claim.id in CLAIMS and CLAIMS[claim.id] != claim:
        raise ValueError(f"claim {claim.id!r} is registered twice")
    CLAIMS[claim.id] = claim
    return claim


def headline(artifact: str) -> list[str]:
    """The ids of the headline claims that make ``artifact``'s status, in registry order."""
    return [c.id for c in CLAIMS.values() if c.artifact == artifact and c.quality == "headline"]


def beneath(artifact: str) -> list[Claim]:
    """The claims of other qualities shown as lines beneath ``artifact``."""
    return [c for c in CLAIMS.values() if c.artifact == artifact and c.quality != "headline"]


def group_module(group: str):
    """The module of :mod:`dalib.claims` that computes the claims of ``group``."""
    if group not in {c.group for c in CLAIMS.values()}:
        raise KeyError(f"unknown claims group {group!r}; known: {sorted({c.group for c in CLAIMS.values()})}")
    return importlib.import_module(f"dalib.claims.{group}")


def _records_state(profile) -> tuple:
    """What the claims of ``profile`` are computed from: every record file of the profile and every
    notebook source (a record is current only against its notebook's text), with sizes and
    modification times. Equal states give equal claims."""
    from ..paths import current_profile, project_root, results_dir

    root = project_root()
    prof = current_profile(profile)
    files = [*(results_dir(root) / prof).rglob("*.json"), *(root / "notebooks").rglob("*.md")]
    return (str(root), prof, tuple(sorted((str(p), st.st_mtime_ns, st.st_size) for p in files for st in [p.stat()])))


_MEMO: dict = {}  # the last state -> its claims (one entry: a new state replaces it)


def claims(profile=None) -> dict:
    """Every claim with records under ``profile``: ``{id: row}``, composed from each group's
    ``claims(profile)`` in registry order (a group without records gives none). Computed once per
    state of the records and notebooks (:func:`_records_state`) in a process: the scorecard, the
    intro and the results page each ask; every caller gets its own copy."""
    state = _records_state(profile)
    if state not in _MEMO:
        out = {}
        for group in dict.fromkeys(c.group for c in CLAIMS.values()):
            out.update(group_module(group).claims(profile))
        _MEMO.clear()
        _MEMO[state] = out
    return copy.deepcopy(_MEMO[state])
