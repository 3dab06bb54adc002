"""The book's results chapters, one module each: a chapter loads its records once and offers its
tables, figures and claims; its page is prose plus a few calls, and :mod:`dalib.scorecard` composes
the chapters' claims.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.

Every chapter object is built from the records of one profile (``profile=None``: the current
one, :func:`dalib.records.current_profile`) and computes nothing but statistics of those records:
no attack, no training. Its display methods write Markdown and tables into the notebook that calls
them (the book's pages); its other methods return data-frames.
"""

from __future__ import annotations

from importlib import import_module

from . import _show as show  # what every page writes: numbered tables and figures (notebooks use it too)

CHAPTERS = {  # chapter name -> module under dalib.chapters (each defines ``Chapter``)
    "depth1": "depth1",
    "mechanism": "mechanism",
    "depth": "depth",
    "ladder": "ladder",
    "tables": "tables",
    "clip": "clip",
    "beyond_v2": "beyond_v2",
    "models": "models",
    "runs": "runs",
    "intro": "intro",
    "results": "results",
    "metrics": "metrics",
    "attacks": "attacks",
}


def chapter(name: str, profile: str | None = None):
    """The chapter object of ``name`` (a key of :data:`CHAPTERS`) for ``profile``."""
    if name not in CHAPTERS:
        raise KeyError(f"unknown chapter {name!r}; known: {', '.join(CHAPTERS)}")
    return import_module(f"{__name__}.{CHAPTERS[name]}").Chapter(profile)
