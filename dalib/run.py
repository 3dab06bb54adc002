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
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata as _metadata
from pathlib import Path

from dalib.atomic import atomic_write_text
from dalib.notebooks import (KINDS, PROFILES, RUNNABLE_DIRS, RunError, code_cells, legacy_run_key,  # noqa: F401
                             resolve_notebook, run_key, runnable_notebooks)
from dalib.records import RUN_DIR_ENV, PROFILE_ENV, project_root, results_dir

VERSIONED_PACKAGES = ("torch", "torchvision", "timm", "numpy", "pandas", "papermill")
_NO_LITERAL = object()


# --------------------------------------------------------------------------------------------
# notebooks


@dataclass
class Param:
    name: str
    default: object  # a Python literal, or _NO_LITERAL if the cell assigns an expression
    comment: str = ""

    @property
    def type_name(self) -> str:
        return "expression" if self.default is _NO_LITERAL else type(self.default).__name__


@dataclass
class Notebook:
    path: Path  # absolute
    rel: str  # relative to the project root, posix
    stem: str
    text: str
    kind: str | None
    profiles: dict
    params: dict[str, Param] = field(default_factory=dict)
    sweeps: dict = field(default_factory=dict)  # profile -> [{param: [values]}, ...] (union of cartesian products)
    validator: str | None = None  # "module.function" checking resolved parameter values (front matter)
    resources: dict = field(default_factory=dict)  # profile -> {num_cpus, num_gpus} per run (Ray backend)
    skip: dict = field(default_factory=dict)  # profile -> why the notebook has no runs under it (front matter)


def _front_matter(text: str, rel: str) -> dict:
    import yaml

    m = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
    if not m:
        raise RunError(f"{rel}: no YAML front matter; a dalib notebook starts with jupytext MyST front matter")
    try:
        fm = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise RunError(f"{rel}: front matter is not valid YAML: {e}") from None
    if fm.get("jupytext", {}).get("text_representation", {}).get("format_name") != "myst":
        raise RunError(f"{rel}: front matter lacks jupytext.text_representation.format_name: myst")
    return fm


_PARAM_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(:tags:[^\n]*\bparameters\b[^\n]*)\n(.*?)^```", re.S | re.M)


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Pow: lambda a, b: a ** b,
           ast.Mod: lambda a, b: a % b}


def literal_value(node):
    """``ast.literal_eval`` plus arithmetic on numbers (``eps = 8 / 255``); ValueError otherwise."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = literal_value(node.left), literal_value(node.right)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            if isinstance(node.op, ast.Pow) and abs(b) > 64:
                raise ValueError("exponent too large")
            try:
                return _BINOPS[type(node.op)](a, b)
            except ArithmeticError as e:
                raise ValueError(str(e)) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = literal_value(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
    raise ValueError(f"not a literal: {ast.unparse(node)}")


def parse_parameters(source: str, rel: str = "<cell>") -> dict[str, Param]:
    """Names, literal defaults and comments of a parameters cell (``name = literal  # comment``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise RunError(f"{rel}: parameters cell is not valid Python: {e}") from None
    lines = source.splitlines()
    params = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        try:
            default = literal_value(value)
        except ValueError:
            default = _NO_LITERAL
        line = lines[node.end_lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[value.end_col_offset:] else ""
        params[target] = Param(target, default, comment)
    return params


def load_notebook(path: Path, root: Path) -> Notebook:
    path = path.resolve()
    rel = _rel(path, root)
    text = path.read_text(encoding="utf-8")
    fm = _front_matter(text, rel)
    dalib_fm = fm.get("dalib") or {}
    kind = dalib_fm.get("kind")
    if kind is not None and kind not in KINDS:
        raise RunError(f"{rel}: front matter dalib.kind is {kind!r}; use one of {', '.join(KINDS)}")
    profiles = dalib_fm.get("profiles") or {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) or v is None for v in profiles.values()):
        raise RunError(f"{rel}: front matter dalib.profiles must map profile name -> {{param: value}}")
    unknown_profiles = sorted(set(profiles) - set(PROFILES))
    if unknown_profiles:
        raise RunError(f"{rel}: unknown profile(s) {unknown_profiles} in front matter; profiles are {', '.join(PROFILES)}")
    m = _PARAM_CELL.search(text)
    params = parse_parameters(m.group(2), rel) if m else {}
    sweeps = _parse_sweep(dalib_fm.get("sweep"), rel)
    validator = dalib_fm.get("validator")
    if validator is not None and not (isinstance(validator, str) and re.fullmatch(r"[\w.]+\.\w+", validator)):
        raise RunError(f"{rel}: front matter dalib.validator must name a function as 'package.module.function', "
                       f"got {validator!r}")
    res = dalib_fm.get("resources") or {}
    if not (isinstance(res, dict) and all(k in PROFILES and isinstance(v, dict)
                                           and set(v) <= {"num_cpus", "num_gpus"} for k, v in res.items())):
        raise RunError(f"{rel}: front matter dalib.resources must map profile -> {{num_cpus: n, num_gpus: n}}, "
                       f"got {res!r}")
    skip = dalib_fm.get("skip") or {}
    if not (isinstance(skip, dict) and all(k in PROFILES and isinstance(v, str) and v for k, v in skip.items())):
        raise RunError(f"{rel}: front matter dalib.skip must map profile -> the reason it has no runs, got {skip!r}")
    return Notebook(path, rel, path.stem, text, kind, {k: v or {} for k, v in profiles.items()}, params, sweeps,
                    validator, res, skip)


def validate_parameters(nb: Notebook, params: dict) -> None:
    """Run the notebook's front-matter ``validator`` on resolved parameters, before any kernel
    starts: a bad value (``model="vitt"``, ``depth=0``, ``lr=-1``) becomes a :class:`RunError`
    that names the notebook, the parameter, the value and the valid range (the validator's
    message), also under ``--dry-run`` and ``--list``."""
    if not nb.validator:
        return
    import importlib

    module, _, name = nb.validator.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise RunError(f"{nb.rel}: front matter dalib.validator {nb.validator!r} cannot be imported: {e}") from None
    try:
        fn(dict(params))
    except (ValueError, TypeError, KeyError, RunError) as e:
        raise RunError(f"{nb.rel}: bad parameter value: {e}") from None


def _parse_sweep(sweep, rel: str) -> dict:
    """Front matter ``dalib.sweep``: ``{param: [values]}`` (or a list of such grids) for every
    profile, or ``{profile: that}`` per profile. Returns ``{profile: [{param: [values]}, ...]}``."""
    if not sweep:
        return {}
    if not isinstance(sweep, (dict, list)):
        raise RunError(f"{rel}: front matter dalib.sweep must map param -> [values] (or profile -> that)")
    if isinstance(sweep, dict) and sweep and all(k in PROFILES and isinstance(v, (dict, list)) for k, v in sweep.items()):
        per_profile = dict(sweep)
    else:
        per_profile = {p: sweep for p in PROFILES}
    out = {}
    for prof, grids in per_profile.items():
        grids = grids if isinstance(grids, list) else [grids]
        for grid in grids:
            if not isinstance(grid, dict) or not grid:
                raise RunError(f"{rel}: dalib.sweep ({prof}) must be a grid {{param: [values]}} or a list of "
                               f"such grids, got {grid!r}")
            for name, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise RunError(f"{rel}: dalib.sweep {name!r} ({prof}) must be a non-empty list of values, got {values!r}")
        out[prof] = grids
    return out


# --------------------------------------------------------------------------------------------
# parameters


def _parse_value(raw: str):
    try:
        return literal_value(ast.parse(raw.strip(), mode="eval").body)
    except (ValueError, SyntaxError):
        return raw


def _coerce(name: str, value, default, source: str):
    """Check ``value`` against the default's type (int accepted for float, list for tuple)."""
    if default is _NO_LITERAL or default is None or value is None:
        return value
    dt, vt = type(default), type(value)
    if dt is bool or vt is bool:
        if dt is vt:
            return value
    elif dt is float and vt is int:
        return float(value)
    elif dt is tuple and vt is list:
        return tuple(value)
    elif dt is list and vt is tuple:
        return list(value)
    elif isinstance(value, dt):
        return value
    raise RunError(
        f"parameter {name!r} ({source}) must be {dt.__name__} like its default {default!r}, "
        f"got {vt.__name__} {value!r}"
    )


def _unknown(names, nb: Notebook, source: str) -> RunError:
    valid = ", ".join(f"{p.name} ({p.type_name}, default {p.default!r})" if p.default is not _NO_LITERAL
                      else f"{p.name} (expression)" for p in nb.params.values())
    return RunError(
        f"unknown parameter(s) {', '.join(repr(n) for n in names)} ({source}) for {nb.rel}; "
        f"valid parameters: {valid or 'none (the notebook has no cell tagged `parameters`)'}"
    )


def parse_overrides(pairs: list[str]) -> dict:
    """``["eps=2/255", "model=vit"]`` -> ``{"eps": "2/255", "model": "vit"}``; values are parsed
    later against the defaults (a literal or arithmetic on numbers, else a string)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise RunError(f"-p expects name=value, got {pair!r}")
        name, raw = pair.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise RunError(f"-p {pair!r}: {name!r} is not a parameter name")
        out[name] = raw
    return out


def resolve_parameters(nb: Notebook, profile: str, overrides: dict[str, str] | None = None,
                       sweep: dict | None = None) -> tuple[dict, dict]:
    """(resolved parameters, validated -p overrides): defaults <- profile <- sweep point <- overrides."""
    overrides = overrides or {}
    prof = dict(nb.profiles.get(profile, {}))
    bad = [n for n in prof if n not in nb.params]
    if bad:
        raise _unknown(bad, nb, f"front matter dalib.profiles.{profile}")
    bad = [n for grids in nb.sweeps.values() for grid in grids for n in grid if n not in nb.params]
    if bad:
        raise _unknown(sorted(set(bad)), nb, "front matter dalib.sweep")
    for n, v in (sweep or {}).items():
        prof[n] = v
    bad = [n for n in overrides if n not in nb.params]
    if bad:
        raise _unknown(bad, nb, "-p")
    params = {n: p.default for n, p in nb.params.items() if p.default is not _NO_LITERAL}
    for n, v in prof.items():
        where = f"sweep ({profile})" if sweep and n in sweep else f"profile {profile}"
        default = nb.params[n].default
        if isinstance(v, str) and default is not _NO_LITERAL and not isinstance(default, str):
            v = _parse_value(v)  # YAML reads 1e-3 (no dot) and 8/255 as strings
        params[n] = _coerce(n, v, default, where)
    given = {}
    for n, raw in overrides.items():
        default = nb.params[n].default
        value = raw if isinstance(default, str) and not _is_quoted(raw) else _parse_value(raw)
        given[n] = params[n] = _coerce(n, value, default, "-p")
    # JSON-compatible (tuples become lists) so the key and the record agree
    return json.loads(json.dumps(params)), json.loads(json.dumps(given))


def _is_quoted(raw: str) -> bool:
    raw = raw.strip()
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\""


# --------------------------------------------------------------------------------------------
# provenance


def _git(root: Path, *args) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def git_state(root: Path, nb_rel: str) -> tuple[str, bool | None]:
    """(HEAD commit or "unknown", True if ``dalib/`` or the notebook differ from HEAD)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return "unknown", None
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", "dalib", nb_rel)
    return commit, bool(status)


def versions() -> dict:
    out = {"python_version": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[f"{pkg}_version"] = _metadata.version(pkg)
        except _metadata.PackageNotFoundError:
            out[f"{pkg}_version"] = None
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _runner_device(params: dict) -> str:
    from dalib.device import resolve_device

    try:
        return str(resolve_device(params.get("device", "auto")))
    except (ValueError, TypeError):
        return str(params.get("device"))


# --------------------------------------------------------------------------------------------
# running


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
    def done(self) -> bool:
        return self.record.exists() or (self.legacy_record is not None and self.legacy_record.exists())

    @property
    def existing(self) -> Path:
        """The record file that makes this run done (``record`` unless only the legacy one exists)."""
        if not self.record.exists() and self.legacy_record is not None and self.legacy_record.exists():
            return self.legacy_record
        return self.record


def plan(nb: Notebook, profile: str, overrides: dict[str, str] | None, root: Path,
         sweep: dict | None = None) -> Plan:
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


def notebook_parameters(name: str, profile: str = "cpu", overrides: dict | None = None,
                        root: Path | None = None) -> dict:
    """The resolved parameters of runnable notebook ``name`` (a stem or path) under ``profile``
    with ``overrides`` (``{name: value}``, Python values, validated like ``-p``): how one notebook
    reuses another's recipe (e.g. the training recipe of ``train``) without copying it."""
    root = Path(root or project_root())
    if profile not in PROFILES:
        raise RunError(f"unknown profile {profile!r}; profiles are {', '.join(PROFILES)}")
    nb = load_notebook(resolve_notebook(name, root), root)
    params, _ = resolve_parameters(nb, profile, {k: repr(v) if not isinstance(v, str) else v
                                                 for k, v in (overrides or {}).items()})
    return params


def format_record(record: dict) -> str:
    """Indented JSON with one line per result row (diff-friendly when records are committed)."""
    head = {k: v for k, v in record.items() if k != "tables"}
    text = json.dumps(head, indent=1)[:-2]
    tables = []
    for name, rows in record.get("tables", {}).items():
        body = ",\n".join("   " + json.dumps(r) for r in rows)
        tables.append(f'  {json.dumps(name)}: [\n{body}\n  ]' if rows else f"  {json.dumps(name)}: []")
    return text + ',\n "tables": {\n' + ",\n".join(tables) + ("\n }\n}\n" if tables else " }\n}\n")


class _Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception so clean-up (kernel shutdown, staging removal) runs."""


def _on_sigterm(signum, frame):
    raise _Terminated(f"signal {signum}")


def _strip_ansi(s: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", s)


def execute(p: Plan, root: Path, log_output: bool = False, progress: bool = True) -> dict:
    """Execute the notebook of plan ``p`` and write its record; return the record."""
    import jupytext
    import papermill as pm

    if log_output:  # papermill logs cell output through its logger at INFO level
        import logging

        pm_log = logging.getLogger("papermill")
        if not pm_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("  | %(message)s"))
            pm_log.addHandler(handler)
            pm_log.setLevel(logging.INFO)
            pm_log.propagate = False

    staging_root = results_dir(root) / p.profile / ".staging"
    _remove_dead_staging(staging_root)
    run_dir = staging_root / f"{p.nb.stem}-{p.key}-{os.getpid()}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    out_nb = run_dir / f"{p.key}.ipynb"
    old_env = {k: os.environ.get(k) for k in (RUN_DIR_ENV, PROFILE_ENV)}
    os.environ[RUN_DIR_ENV] = str(run_dir)
    os.environ[PROFILE_ENV] = p.profile
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    commit, dirty = git_state(root, p.nb.rel)
    started, t0 = _now(), time.perf_counter()
    try:
        nb = jupytext.reads(p.nb.text, fmt="md:myst")
        try:
            pm.execute_notebook(
                nb, str(out_nb), parameters=p.params, kernel_name="python3", language="python",
                cwd=str(root), progress_bar=progress, log_output=log_output, report_mode=False,
            )
        except pm.PapermillExecutionError as e:
            failed = staging_root / f"failed-{p.nb.stem}-{p.key}.ipynb"
            if out_nb.exists():
                os.replace(out_nb, failed)
            tb = _strip_ansi("\n".join(e.traceback[-12:])) if e.traceback else ""
            raise RunError(
                f"{p.nb.rel} failed in cell {e.exec_count or e.cell_index}: {e.ename}: {e.evalue}\n{tb}\n"
                f"(executed notebook kept for inspection: {failed.relative_to(root)}; no record written)"
            ) from None
        wall = time.perf_counter() - t0
        tables = {}
        for t in sorted((run_dir / "tables").glob("*.json")):
            tables[t.stem] = json.loads(t.read_text(encoding="utf-8"))
        meta_path = run_dir / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        device = meta.pop("device", None)
        record = {
            "notebook": p.nb.rel,
            "stem": p.nb.stem,
            "kind": p.nb.kind,
            "key": p.key,
            "profile": p.profile,
            "params": p.params,
            "overrides": p.overrides,
            "sweep": p.sweep,
            "seed": p.params.get("seed"),
            "git_commit": commit,
            "git_dirty": dirty,
            **versions(),
            "device": device or _runner_device(p.params),
            "device_source": "notebook" if device else "runner",
            "started": started,
            "finished": _now(),
            "wall_time_s": round(wall, 3),
            "hostname": socket.gethostname(),
            "cpu_count": os.cpu_count(),
            "executed_notebook": p.executed.name,
            "meta": meta,
            "tables": tables,
        }
        if not tables:
            print(f"dalib.run: note: {p.nb.rel} wrote no rows (call dalib.records.write_rows)", file=sys.stderr)
        # executed notebook first, record last: a record's existence means the run completed
        atomic_write_text(p.executed, out_nb.read_text(encoding="utf-8"))
        atomic_write_text(p.record, format_record(record))
        if p.legacy_record is not None and p.legacy_record != p.record:  # superseded by this run
            p.legacy_record.unlink(missing_ok=True)
            p.legacy_record.with_suffix(".ipynb").unlink(missing_ok=True)
        return record
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            staging_root.rmdir()  # only if empty
        except OSError:
            pass


def _remove_dead_staging(staging_root: Path) -> None:
    """Remove staging folders left by runs that were killed outright (SIGKILL, power loss)."""
    for d in staging_root.glob("*-*-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if not (d.is_dir() and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# --------------------------------------------------------------------------------------------
# command line


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m dalib.run",
        description="Run a dalib experiment/benchmark notebook with papermill and store a result record.",
    )
    ap.add_argument("notebook", nargs="?", help="path under notebooks/ or its stem")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a parameter (Python literal, else string); repeatable")
    ap.add_argument("--profile", default="cpu", choices=PROFILES, help="parameter profile (default: cpu)")
    ap.add_argument("--force", action="store_true", help="rerun even if the record exists")
    ap.add_argument("--all", action="store_true", help="run every pending experiment/benchmark notebook")
    ap.add_argument("--kind", choices=KINDS, help="with --all/--list: only this kind")
    ap.add_argument("--list", action="store_true", help="list runnable notebooks and their record status")
    ap.add_argument("--dry-run", action="store_true", help="resolve parameters and show the plan, run nothing")
    ap.add_argument("--log-output", action="store_true", help="stream cell output to the terminal")
    ap.add_argument("--no-progress", action="store_true", help="no papermill progress bar")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="run the pending sweep points / notebooks in N parallel processes (default 1)")
    ap.add_argument("--backend", default="local", choices=("local", "ray"),
                    help="local processes (default) or one Ray task per pending run")
    ap.add_argument("--address", default=None, metavar="ADDR",
                    help="with --backend ray: the address of a running Ray cluster (default: start a local one)")
    ap.add_argument("--max-retries", type=int, default=2, metavar="N",
                    help="with --backend ray: resubmit a failed task (or one whose node died) up to N times")
    ap.add_argument("--where", action="append", default=[], metavar="NAME=VALUE",
                    help="with a sweep or --all/--list: only the planned runs whose parameter NAME equals VALUE "
                         "(Python literal, else string); repeatable")
    ap.add_argument("--shard", default=None, metavar="K/N",
                    help="run only every N-th planned run starting at the K-th (K = 0..N-1); what --jobs uses")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    root = project_root()
    try:
        args.shard = _parse_shard(args.shard)
        if args.jobs < 1:
            raise RunError(f"--jobs must be >= 1, got {args.jobs}")
    except RunError as e:
        print(f"dalib.run: error: {e}", file=sys.stderr)
        return 2
    if _main_thread():  # Ctrl-C / kill -INT interrupt the run even if SIGINT was ignored by the parent shell
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        if args.list or args.all:
            if args.notebook or args.param:
                raise RunError("--all/--list take no NOTEBOOK or -p (run one notebook to override parameters)")
            plans, broken = [], []
            for path in runnable_notebooks(root, args.kind):
                try:
                    plans += profile_plans(load_notebook(path, root), args.profile, root)
                except RunError as e:
                    broken.append(_rel(path, root))
                    print(f"dalib.run: error: {e}", file=sys.stderr)
            plans = where_filter(plans, args.where)
            if args.list:
                for pl in plans:
                    state = "done   " if pl.done else "pending"
                    point = f"  sweep {_fmt_params(pl.sweep)}" if pl.sweep else ""
                    print(f"{state} {pl.nb.kind:10s} {pl.nb.rel}  [{args.profile}] key {pl.key}{point}")
                    print(f"        {_fmt_params(pl.params)}")
                return 1 if broken else 0
            return max(_run_many(plans, root, args), 1 if broken else 0)
        if not args.notebook:
            ap.error("give a NOTEBOOK, or --all / --list")
        nb = load_notebook(resolve_notebook(args.notebook, root), root)
        overrides = parse_overrides(args.param)
        if args.profile in nb.skip and not overrides:
            raise RunError(f"{nb.rel} has no runs under profile {args.profile!r}: {nb.skip[args.profile]} "
                           f"(give -p NAME=VALUE to run one point anyway)")
        if args.where and (overrides or not nb.sweeps.get(args.profile)):
            raise RunError(f"--where selects points of a sweep: give no -p, and a notebook with a "
                           f"{args.profile!r} sweep ({nb.rel} has sweeps for {sorted(nb.sweeps) or 'no profile'})")
        if not overrides and nb.sweeps.get(args.profile):
            # no -p: every point of the notebook's sweep for this profile (or those --where selects)
            return _run_many(where_filter(profile_plans(nb, args.profile, root), args.where), root, args)
        pl = plan(nb, args.profile, overrides, root)
        if args.dry_run:
            status = "exists (would skip; --force reruns)" if pl.done else "pending (would run)"
            print(f"{nb.rel} [{args.profile}] key {pl.key}\n  params: {_fmt_params(pl.params)}\n"
                  f"  record: {_rel(pl.record, root)} {status}")
            return 0
        if pl.done and not args.force:
            print(f"dalib.run: {nb.rel} [{args.profile}] up to date: {_rel(pl.existing, root)} (--force reruns)")
            return 0
        if args.backend == "ray":
            return _run_ray([pl], 1, root, args)
        print(f"dalib.run: {nb.rel} [{args.profile}] key {pl.key}: {_fmt_params(pl.params)}", flush=True)
        rec = execute(pl, root, log_output=args.log_output, progress=not args.no_progress)
        print(f"dalib.run: wrote {_rel(pl.record, root)} ({rec['wall_time_s']:.1f} s, device {rec['device']})")
        return 0
    except RunError as e:
        print(f"dalib.run: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dalib.run: interrupted; no record written (run again to complete)", file=sys.stderr)
        return 130


def where_filter(plans: list, pairs: list[str]) -> list:
    """The plans whose resolved parameters match every ``NAME=VALUE`` of ``pairs`` (the value a
    Python literal, else a string; ``lambda_init`` and other text compare as text). A name that no
    plan has is an error naming the parameters there are."""
    import ast

    conds = parse_overrides(pairs)
    if not conds:
        return plans
    want = {}
    for name, raw in conds.items():
        try:
            want[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            want[name] = raw
        if plans and not any(name in pl.params for pl in plans):
            have = sorted({k for pl in plans for k in pl.params})
            raise RunError(f"--where {name}={raw}: no planned run has a parameter {name!r}; parameters: {', '.join(have)}")

    def match(v, w):
        return v == w or (isinstance(v, str) and v == str(w))

    return [pl for pl in plans if all(n in pl.params and match(pl.params[n], w) for n, w in want.items())]


def _parse_shard(text):
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise RunError(f"--shard must be K/N with 0 <= K < N, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _run_jobs(argv: list[str], jobs: int) -> int:
    """Run ``python -m dalib.run <argv> --shard k/jobs`` for k = 0..jobs-1 in parallel; worst exit code."""
    procs = [subprocess.Popen([sys.executable, "-m", "dalib.run", *argv, "--shard", f"{k}/{jobs}"])
             for k in range(jobs)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    return max(codes)


def shard_plans(plans: list[Plan], shard) -> list[Plan]:
    """Shard ``k/n`` of ``plans``: every n-th run from the k-th, over the *whole* plan, before any
    run done is filtered out. Every process of a ``--jobs`` group then agrees on who owns which
    run, even when runs finish between the moments the processes look (filtering first let two
    processes see different pending lists, so a run could be skipped by both or run twice)."""
    if shard is None:
        return list(plans)
    k, n_shards = shard
    return list(plans)[k::n_shards]


def _run_many(plans: list[Plan], root: Path, args) -> int:
    if args.shard is not None:  # this process's share of the whole plan
        plans = shard_plans(plans, args.shard)
    pending = [pl for pl in plans if args.force or not pl.done]
    if getattr(args, "backend", "local") == "ray" and not args.dry_run:
        return _run_ray(pending, len(plans), root, args)
    if args.shard is None and args.jobs > 1 and not args.dry_run:
        if len(pending) > 1:
            argv, skip = [], False
            for a in args.argv:
                if skip or a.startswith("--jobs"):
                    skip = a == "--jobs"
                    continue
                argv.append(a)
            print(f"dalib.run: {len(pending)} pending run(s) in {args.jobs} processes", flush=True)
            return _run_jobs(argv, min(args.jobs, len(pending)))
    todo = pending
    n = len(plans)
    print(f"dalib.run: profile {args.profile}: {n} run(s), {len(todo)} to run", flush=True)
    if args.dry_run:
        for pl in todo:
            print(f"  would run {pl.nb.rel} key {pl.key}: {_fmt_params(pl.params)}")
        return 0
    failed = []
    t_all = time.perf_counter()
    for i, pl in enumerate(plans, 1):
        shard = f"shard {args.shard[0]}/{args.shard[1]} " if args.shard else ""
        tag = f"{shard}[{i}/{n}] {pl.nb.rel}" + (f" ({_fmt_params(pl.sweep)})" if pl.sweep else "")
        if pl not in todo:
            print(f"{tag}: up to date ({_rel(pl.existing, root)})", flush=True)
            continue
        print(f"{tag}: running (key {pl.key})", flush=True)
        t0 = time.perf_counter()
        try:
            execute(pl, root, log_output=args.log_output, progress=not args.no_progress)
        except RunError as e:
            print(f"{tag}: FAILED after {time.perf_counter() - t0:.0f} s\n{e}", file=sys.stderr, flush=True)
            failed.append(pl.nb.rel)
            continue
        print(f"{tag}: done in {time.perf_counter() - t0:.0f} s -> {_rel(pl.record, root)}", flush=True)
    print(f"dalib.run: {len(todo) - len(failed)} run, {len(failed)} failed, "
          f"{n - len(todo)} up to date ({time.perf_counter() - t_all:.0f} s)")
    if failed:
        print("dalib.run: failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def _run_ray(pending: list[Plan], n_planned: int, root: Path, args) -> int:
    from . import ray_backend

    print(f"dalib.run: profile {args.profile}: {n_planned} run(s), {len(pending)} to run on Ray"
          + (f" at {args.address}" if args.address else ""), flush=True)
    if not pending:
        return 0
    try:
        out = ray_backend.run_plans(pending, root, address=args.address, max_retries=args.max_retries,
                                    progress=not args.no_progress)
    except ImportError as e:
        raise RunError(str(e)) from None
    print(f"dalib.run: {len(out['done'])} done, {len(out['failed'])} failed, {out['retried']} retried "
          f"({out['wall_time_s']:.0f} s)", flush=True)
    for key, err in out["failed"].items():
        print(f"dalib.run: FAILED {key}: {err}", file=sys.stderr)
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
