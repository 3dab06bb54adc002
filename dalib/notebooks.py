"""Where the runnable notebooks live and how a run is keyed: the floor that both the runner
(:mod:`dalib.run`) and the records (:mod:`dalib.records`) stand on, so neither imports the other
to find a notebook or check whether a record is current.

A run's key is a short hash of the notebook's code cells and its resolved parameters (prose is not
hashed); records written before that rule used the whole text (:func:`legacy_run_key`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

PROFILES = ("smoke", "cpu", "paper")
NOTEBOOK_KINDS = ("experiment", "benchmark")
RUNNABLE_DIRS = {"experiment": "notebooks/experiments", "benchmark": "notebooks/benchmarks"}


class RunError(Exception):
    """A user-facing error of the runner (bad notebook name, parameter, front matter...)."""


def runnable_notebooks(root: Path, kind: str | None = None) -> list[Path]:
    """Experiment and benchmark notebooks (``notebooks/{experiments,benchmarks}/*.md``)."""
    kinds = [kind] if kind else list(NOTEBOOK_KINDS)
    out = []
    for k in kinds:
        out += sorted((root / RUNNABLE_DIRS[k]).glob("*.md"))
    return out


def resolve_notebook(name: str, root: Path) -> Path:
    """A path (absolute, relative to cwd or to the root) or a stem of a notebook under ``notebooks/``."""
    cands = [Path(name), root / name]
    for p in cands:
        if p.is_file():
            return p.resolve()
    if Path(name).suffix == ".md" or "/" in name:
        raise RunError(f"notebook {name!r} not found (looked for {', '.join(str(c) for c in cands)})")
    everything = sorted((root / "notebooks").rglob("*.md"))
    everything = [p for p in everything if ".ipynb_checkpoints" not in p.parts]
    hits = [p for p in everything if p.stem == name]
    if len(hits) == 1:
        return hits[0].resolve()
    listing = lambda ps: "\n  ".join(p.relative_to(root).as_posix() for p in ps)  # noqa: E731
    if len(hits) > 1:
        raise RunError(f"notebook stem {name!r} is ambiguous; give the path, one of:\n  {listing(hits)}")
    close = [p for p in everything if name.lower() in p.stem.lower()] or runnable_notebooks(root)
    raise RunError(f"no notebook {name!r} under {root / 'notebooks'}; candidates:\n  {listing(close) or '(none)'}")


@functools.lru_cache(maxsize=64)
def code_cells(text: str) -> tuple[str, ...]:
    """The sources of the code cells of a MyST notebook text, in order (markdown, front matter
    and cell metadata left out): what a run computes, as opposed to the prose around it."""
    import jupytext

    nb = jupytext.reads(text, fmt="md:myst")
    return tuple(c.source.strip() for c in nb.cells if c.cell_type == "code")


def run_key(text: str, params: dict) -> str:
    """Short hash of the notebook's code cells and the resolved parameters. Prose (markdown
    cells) is not hashed, so editing it never makes a record stale; any change of code is."""
    return _key("\0\0".join(code_cells(text)), params)


def _key(source: str, params: dict) -> str:
    h = hashlib.sha256(source.encode("utf-8"))
    h.update(b"\0" + json.dumps(params, sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:12]


def legacy_run_key(text: str, params: dict) -> str:
    """The key of records written before keys hashed code cells only: a hash of the whole notebook
    text and the parameters. Such a record still counts (as done, and as current) while the
    notebook's text is unchanged; a rerun replaces it with a record under :func:`run_key`."""
    return _key(text, params)
