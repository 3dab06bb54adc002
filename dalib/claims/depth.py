"""The depth claims (paper Fig. 3a-d), whose statistics are :mod:`dalib.depth`'s, from the depth
points of ``asr_suite.md`` and from ``propagation.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Claims are computed from records only; the chapter draws them (``dalib.chapters.depth``)
and the scorecard (``dalib.scorecard``) reads them through :data:`dalib.claims.CLAIMS`.
"""

from __future__ import annotations

from ..depth import depth_claims


def claims(profile=None) -> dict:
    """The chapter's claims under ``profile``: ``{id: row}`` (claims not yet run are left out)."""
    from ..depth import chapter_rows

    d_asr, d_lip = chapter_rows(profile)
    if d_asr is None and d_lip is None:
        return {}
    return {r["id"]: r for r in depth_claims(d_asr, d_lip).to_dict("records") if r["verdict"] != "not yet run"}
