"""Rows of a suite notebook selected by their training recipe: the ladder's rungs and the paper-quality
pair are points of ``asr_suite.md`` and ``mechanism_suite.md`` told apart by ``recipe`` alone.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from ..records import rows_or_none


def recipe_rows(stem: str, table: str, profile, select, column: str = "recipe"):
    """The rows of ``stem``'s ``table`` whose recipe (``column``: a dict or its JSON text) ``select``
    maps to a value other than ``None``/``False``, with that value in ``selected`` and ``lambda_init``
    as text; ``None`` when there are none."""
    df = rows_or_none(stem, table, profile)
    if df is None or column not in df.columns:
        return None
    got = df[column].map(select)
    keep = got.notna() & (got != False)  # noqa: E712  (a value of 0 is a selection, False is not)
    d = df[keep].copy()
    if not len(d):
        return None
    d["selected"] = got[keep]
    d["lambda_init"] = d["lambda_init"].astype(str)
    return d
