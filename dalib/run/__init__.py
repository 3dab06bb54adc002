"""The experiment runner: execute a jupytext notebook with papermill and store a result record.

Usage::

    python -m dalib.run NOTEBOOK [-p name=value ...] [--profile smoke|cpu|paper] [--force]
    python -m dalib.run --all [--profile P] [--kind experiment|benchmark] [--force]
    python -m dalib.run --list [--profile P]
    python -m dalib.run NOTEBOOK --dry-run

``NOTEBOOK`` is a path under ``notebooks/`` or its stem (``bench_attacks``). Parameters are
resolved as: ``parameters``-cell defaults <- front-matter ``dalib.profiles[<profile>]`` <- a point
of the front-matter ``dalib.sweep`` grid, if any <- ``-p`` overrides, and validated (known name,
same type as the default; an int is accepted for a float) before any kernel starts.

A notebook that needs several runs per profile (e.g. every model and depth) declares a sweep::

    dalib:
      kind: experiment
      profiles: {smoke: {epochs: 1}, cpu: {epochs: 5}}
      sweep: {model: [vit, diffvit], depth: [1, 2, 4]}     # all profiles, or per profile:
      # sweep: {smoke: {model: [vit, diffvit]}, cpu: {model: [vit, diffvit], depth: [1, 2, 4]}}
      # a list of grids is their union (duplicate points run once):
      # sweep: {cpu: [{model: [vit, diffvit], seed: [0, 1]}, {model: [diffvit], lambda_init: ["0.5"]}]}

``--all`` (and ``NOTEBOOK`` without ``-p``) then runs one record per grid point; with ``-p`` a
single run is made and the sweep is ignored. ``skip: {cpu: "<why>"}`` gives a profile no runs (for
instance one that needs weights that are not shipped); running it says why. ``--jobs N`` runs the pending points in N processes
(``--shard K/N`` is one of them: every N-th point from the K-th, K = 0..N-1). The run is keyed by a short hash of the notebook's code cells (not its prose) and the
resolved parameters; ``results/<profile>/<stem>/<key>.json`` (the record) and ``<key>.ipynb``
(the executed notebook) are written atomically after success. An existing record means the run
is skipped (``--force`` reruns it). A failed or interrupted run leaves no record.

The package, one concern per file: :mod:`~dalib.run.notebook` (front matter and parameters cell),
:mod:`~dalib.run.params` (resolution and type checks), :mod:`~dalib.run.plan` (runs and sweeps),
:mod:`~dalib.run.execute` (papermill, atomic record), :mod:`~dalib.run.provenance` (git,
versions, device) and :mod:`~dalib.run.cli` (the command line).
"""

from dalib.notebooks import (
    NOTEBOOK_KINDS,
    PROFILES,
    RUNNABLE_DIRS,
    RunError,
    code_cells,
    legacy_run_key,
    resolve_notebook,
    run_key,
    runnable_notebooks,
)
from dalib.paths import project_root

from .cli import main, shard_plans, where_filter
from .execute import execute, format_record
from .notebook import Notebook, Param, literal_value, load_notebook, parse_parameters, validate_parameters
from .params import parse_overrides, resolve_parameters
from .plan import Plan, notebook_parameters, plan, profile_plans
from .provenance import VERSIONED_PACKAGES, git_state, versions

__all__ = [
    "NOTEBOOK_KINDS",
    "PROFILES",
    "RUNNABLE_DIRS",
    "RunError",
    "code_cells",
    "legacy_run_key",
    "resolve_notebook",
    "run_key",
    "runnable_notebooks",
    "project_root",
    "main",
    "shard_plans",
    "where_filter",
    "execute",
    "format_record",
    "Notebook",
    "Param",
    "literal_value",
    "load_notebook",
    "parse_parameters",
    "validate_parameters",
    "parse_overrides",
    "resolve_parameters",
    "Plan",
    "notebook_parameters",
    "plan",
    "profile_plans",
    "VERSIONED_PACKAGES",
    "git_state",
    "versions",
]
