"""A plan: one run of a notebook under a profile (its resolved parameters, key and record path),
and the runs a profile's sweep asks for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dalib.notebooks import PROFILES, RunError, legacy_run_key, resolve_notebook, run_key
from dalib.paths import project_root, results_dir
from dalib.records import record_problem

from .notebook import Notebook, load_notebook, validate_parameters
from .params import resolve_parameters


@dataclass
class Plan:
    nb: Notebook
    profile: str
    params: dict
    overrides: dict
    sweep: dict
    key: str
    record: Path
    executed: Path
    legacy_record: Path | None = None  # the same run's record under its legacy key, if any

    @property
    def problem(self) -> str | None:
        """Why the existing record file is not a whole record (then the run is not done and is
        run again), or None if there is none or it is whole."""
        path = self.existing
        return record_problem(path) if path.exists() else None

    @property
    def done(self) -> bool:
        path = self.existing
        return path.exists() and record_problem(path) is None

    @property
    def existing(self) -> Path:
        """The record file that makes this run done (``record`` unless only the legacy one exists)."""
        if not self.record.exists() and self.legacy_record is not None and self.legacy_record.exists():
            return self.legacy_record
        return self.record


def plan(nb: Notebook, profile: str, overrides: dict[str, str] | None, root: Path, sweep: dict | None = None) -> Plan:
    if nb.kind is None:
        raise RunError(
            f"{nb.rel} has no `dalib: kind:` (experiment or benchmark) in its front matter; only "
            "experiment/benchmark notebooks are run by dalib.run (theory notebooks run at book build)"
        )
    params, given = resolve_parameters(nb, profile, overrides, sweep)
    validate_parameters(nb, params)
    key = run_key(nb.text, params)
    folder = results_dir(root) / profile / nb.stem
    sweep = json.loads(json.dumps(sweep or {}))
    legacy = folder / f"{legacy_run_key(nb.text, params)}.json"
    return Plan(nb, profile, params, given, sweep, key, folder / f"{key}.json", folder / f"{key}.ipynb", legacy)


def profile_plans(nb: Notebook, profile: str, root: Path) -> list[Plan]:
    """The runs a profile asks of a notebook: one per point of its ``dalib.sweep`` grids for that
    profile (cartesian product of each grid, grids in the order written, a point that resolves to
    the same run as an earlier one dropped), else the single run with profile values. A profile the
    front matter's ``dalib.skip`` names has no runs (e.g. one that needs weights not shipped)."""
    import itertools

    if profile in nb.skip:
        return []
    grids = nb.sweeps.get(profile) or []
    if not grids:
        return [plan(nb, profile, None, root)]
    plans, keys = [], set()
    for grid in grids:
        names = list(grid)
        for combo in itertools.product(*grid.values()):
            pl = plan(nb, profile, None, root, dict(zip(names, combo)))
            if pl.key not in keys:
                keys.add(pl.key)
                plans.append(pl)
    return plans


def notebook_parameters(
    name: str, profile: str = "cpu", overrides: dict | None = None, root: Path | None = None
) -> dict:
    """The resolved parameters of runnable notebook ``name`` (a stem or path) under ``profile``
    with ``overrides`` (``{name: value}``, Python values, validated like ``-p``): how one notebook
    reuses another's recipe (e.g. the training recipe of ``train``) without copying it."""
    root = Path(root or project_root())
    if profile not in PROFILES:
        raise RunError(f"unknown profile {profile!r}; profiles are {', '.join(PROFILES)}")
    nb = load_notebook(resolve_notebook(name, root), root)
    params, _ = resolve_parameters(
        nb, profile, {k: repr(v) if not isinstance(v, str) else v for k, v in (overrides or {}).items()}
    )
    return params
