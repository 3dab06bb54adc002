"""Result records: the contract between experiment notebooks, the runner and the book.

In a notebook (``notebooks/experiments``, ``notebooks/benchmarks``)::

    from dalib.records import set_meta, write_rows
    set_meta(device=str(device))                    # the device actually used
    write_rows(rows, table="results")               # rows: list of flat dicts

Under the runner (``python -m dalib.run``) the rows are staged in ``$DALIB_RUN_DIR`` and the runner
writes one record per run, ``results/<profile>/<notebook-stem>/<key>.json`` (+ the executed
``<key>.ipynb``), atomically and only after the notebook succeeded. Interactively nothing is saved.

In a book page::

    from dalib.records import caption_source, load_rows
    df = load_rows("bench_attacks", table="results")   # profile: $DALIB_PROFILE, default "cpu"
    caption_source(df)  # "Produced by notebooks/...md; records results/cpu/.../<key>.json"

A record is one JSON object: flat provenance (``notebook``, ``key``, ``profile``, ``params``,
``overrides``, ``sweep``, ``seed``, ``git_commit``, ``git_dirty``, ``<package>_version``,
``device``, ``started``, ``finished``, ``wall_time_s``, ``hostname``, ``cpu_count``) plus
``tables``: ``{table name: [row, ...]}``. A record is *current* if its key is the hash of the
notebook's present source text and its own parameters, *stale* otherwise.

This module imports neither torch nor pandas at import time (pandas is loaded by
:func:`load_rows` only), so ``from dalib.records import write_rows`` is cheap.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path

from .atomic import atomic_write_text
from .paths import DEFAULT_PROFILE, RUN_DIR_ENV, current_profile, project_root, results_dir


class RecordNotFoundError(FileNotFoundError):
    """No record exists for a notebook stem and profile (the message names the command that makes one)."""


class CorruptRecordError(ValueError):
    """A record file that does not parse, or lacks a field every record has (a truncated copy, a
    bad merge). The message names the file and the fix; the runner treats the run as not done."""


# the fields the runner writes into every record (see dalib.run.execute); a record without one of
# them was not written whole by the runner
REQUIRED_FIELDS = {
    "notebook": str,
    "stem": str,
    "key": str,
    "profile": str,
    "params": dict,
    "overrides": dict,
    "finished": str,
    "tables": dict,
}


def record_problem(path) -> str | None:
    """Why the record file ``path`` is not a whole record (does not parse, not an object, a field
    missing or of the wrong type, a table that is not a list of rows), or None if it is whole."""
    try:
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
    except UnicodeDecodeError as e:
        return f"not UTF-8 text ({e.reason})"
    except json.JSONDecodeError as e:
        return f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    if not isinstance(rec, dict):
        return f"not a JSON object but {type(rec).__name__}"
    for name, typ in REQUIRED_FIELDS.items():
        if name not in rec:
            return f"field {name!r} is missing"
        if not isinstance(rec[name], typ):
            return f"field {name!r} is {type(rec[name]).__name__}, not {typ.__name__}"
    for t, rows in rec["tables"].items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return f"table {t!r} is not a list of row objects"
    for t, state in (rec.get("row_state") or {}).items():
        if not isinstance(state, list) or len(state) != len(rec["tables"].get(t, [])):
            return f"row_state of table {t!r} does not have one entry per row"
    return None


def _corrupt(path, problem: str) -> CorruptRecordError:
    p = Path(path)
    stem = p.parent.name
    return CorruptRecordError(
        f"record {p} is corrupt: {problem}. Fix: restore it (`git checkout -- {p}`) if it is committed, "
        f"else delete it and its notebook (`rm {p} {p.with_suffix('.ipynb')}`) and rerun "
        f"`python -m dalib.run {stem}`, which makes the missing records again"
    )


def _clean_value(key, value):
    """Rows are flat: str/int/float/bool/None. NumPy and 0-d torch scalars are converted."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else str(v)  # JSON has no nan/inf; keep them readable
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return _clean_value(key, item())
    raise TypeError(
        f"write_rows: column {key!r} has a {type(value).__name__} value {value!r}; rows must be flat "
        "dicts of str/int/float/bool (convert tensors with .item(), lists to separate columns)"
    )


def _clean_rows(rows) -> list[dict]:
    if isinstance(rows, dict):
        rows = [rows]
    try:
        rows = list(rows)
    except TypeError:
        raise TypeError(f"write_rows: rows must be a list of flat dicts, got {type(rows).__name__}") from None
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"write_rows: row {i} is a {type(row).__name__}, expected a flat dict")
        clean = {}
        for k, v in row.items():
            if not isinstance(k, str):
                raise TypeError(f"write_rows: row {i} has a non-string column name {k!r}")
            clean[k] = _clean_value(k, v)
        out.append(clean)
    return out


def _check_table(table: str) -> str:
    if not isinstance(table, str) or not table.isidentifier():
        raise ValueError(f"table must be an identifier-like string such as 'results', got {table!r}")
    return table


def _run_dir() -> Path | None:
    d = os.environ.get(RUN_DIR_ENV)
    return Path(d) if d else None


def write_rows(rows, table: str = "results") -> list[dict]:
    """Record result rows (a list of flat dicts) in table ``table`` of this run's record.

    Under the runner the rows are staged (appended, across calls) and written into the record
    once the whole notebook has succeeded. Run interactively, nothing is written: the cleaned
    rows are returned and a note is printed.
    """
    table = _check_table(table)
    rows = _clean_rows(rows)
    run_dir = _run_dir()
    if run_dir is None:
        print(
            f"dalib.records: not under the runner, {len(rows)} row(s) of table {table!r} not saved "
            "(run `python -m dalib.run <notebook>` to produce a record)"
        )
        return rows
    path = run_dir / "tables" / f"{table}.json"
    staged = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    atomic_write_text(path, json.dumps(staged + rows))
    return rows


def set_meta(**meta) -> dict:
    """Add provenance fields reported by the notebook itself, e.g. ``set_meta(device=str(device))``
    (the device actually used). Values must be str/int/float/bool. Interactive: no-op."""
    meta = {k: _clean_value(k, v) for k, v in meta.items()}
    run_dir = _run_dir()
    if run_dir is None:
        return meta
    path = run_dir / "meta.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    old.update(meta)
    atomic_write_text(path, json.dumps(old))
    return meta


# --------------------------------------------------------------------------------------------
# reading (book pages)


def _producer_command(stem: str, profile: str) -> str:
    prof = "" if profile == DEFAULT_PROFILE else f" --profile {profile}"
    return f"python -m dalib.run {stem}{prof}"


RUNS = ("current", "all", "latest")


def _current_text(stem: str, root: Path) -> str | None:
    """Source text of notebook ``stem`` in this checkout, or None if it is not found."""
    from dalib.notebooks import RunError, resolve_notebook, runnable_notebooks

    hits = [p for p in runnable_notebooks(root) if p.stem == stem]  # records come from these
    try:
        path = hits[0] if len(hits) == 1 else resolve_notebook(stem, root)
    except RunError:
        return None
    return path.read_text(encoding="utf-8")


def is_current(record: dict, text: str) -> bool:
    """True if ``record`` was produced by notebook source ``text`` (its key is the hash of that
    source and the record's own parameters): not stale."""
    from dalib.notebooks import legacy_run_key, run_key

    params = record.get("params", {})
    return record.get("key") in (run_key(text, params), legacy_run_key(text, params))


def records_for(stem: str, profile: str | None = None, root: Path | None = None, runs: str = "current") -> list[Path]:
    """Record files (``results/<profile>/<stem>/<key>.json``) of notebook ``stem``, oldest first.

    ``runs="current"`` (default): the records produced by the notebook's current source text,
    whatever their parameters (profile defaults, sweep points, ``-p`` runs); records of an older
    source are *stale* and left out. If the notebook is not in this checkout, every record.
    ``"all"``: every record. ``"latest"``: the newest current record. Empty list if none.
    """
    return [p for _, p in records_with_paths(stem, profile, root, runs)]


def records_with_paths(stem: str, profile: str | None, root: Path | None, runs: str) -> list[tuple[dict, Path]]:
    """``(record, path)`` pairs of :func:`records_for`, each file read once (the runner's ``rekey``
    reads both)."""
    if runs not in RUNS:
        raise ValueError(f"runs must be one of {RUNS}, got {runs!r}")
    root = Path(root or project_root())
    folder = results_dir(root) / current_profile(profile) / stem
    recs = []
    for p in folder.glob("*.json"):
        if not p.name.startswith("."):
            recs.append((read_record(p), p))
    if runs in ("current", "latest"):
        text = _current_text(stem, root)
        if text is not None:
            recs = [(r, p) for r, p in recs if is_current(r, text)]
    recs = sorted(recs, key=lambda rp: (rp[0].get("finished", ""), rp[1].name))
    return recs[-1:] if runs == "latest" else recs


def read_record(path) -> dict:
    """One record as a dict; :class:`CorruptRecordError` (naming the file and the fix) if it is not
    a whole record (:func:`record_problem`)."""
    problem = record_problem(path)
    if problem is not None:
        raise _corrupt(path, problem)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def all_records(profile: str | None = None, root: Path | None = None) -> list[dict]:
    """Every record of a profile, each with ``"path"`` (relative to the project root) added."""
    root = Path(root or project_root())
    out = []
    for p in sorted((results_dir(root) / current_profile(profile)).glob("*/*.json")):
        if p.name.startswith("."):
            continue
        rec = read_record(p)
        rec["path"] = p.relative_to(root).as_posix()
        out.append(rec)
    return out


def pack_flags(flags) -> str:
    """0/1 flags (length n) as a compact hex string (``np.packbits``, big-endian bit order): how a
    record stores per-sample outcomes in one cell (1,000 flags take 250 characters). The length is
    not encoded; store it beside (e.g. column ``n``) and pass it to :func:`unpack_flags`."""
    import numpy as np

    return np.packbits(np.asarray(flags, dtype=bool)).tobytes().hex()


def unpack_flags(text: str, n: int):
    """Inverse of :func:`pack_flags`: a bool array of length ``n``; ValueError if ``text`` holds
    fewer than ``n`` flags or is not hex."""
    import numpy as np

    try:
        raw = bytes.fromhex(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"unpack_flags: not a hex string of packed flags ({e})") from None
    if not (0 <= n <= 8 * len(raw)) or len(raw) != (n + 7) // 8:
        raise ValueError(f"unpack_flags: {len(raw)} bytes cannot hold exactly n={n} flags")
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).astype(bool)


def _relpath(p: Path, root: Path) -> str:
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(p)


CUSTOM = (False, True, "only")


def load_rows(
    stem: str,
    table: str = "results",
    profile: str | None = None,
    root: Path | None = None,
    runs: str = "current",
    custom=False,
):
    """All rows of table ``table`` from every record of notebook ``stem`` under ``profile``
    (default ``$DALIB_PROFILE`` or ``"cpu"``), as a pandas DataFrame: the row's own columns,
    ``param.<name>`` for each resolved parameter, and provenance columns ``record``, ``key``,
    ``git_commit``, ``profile``, ``device``, ``wall_time_s``, the ``<package>_version`` columns of
    the record, ``custom`` (True if the run had
    ``-p`` overrides), ``seed`` and ``notebook``.

    ``runs`` picks the records (see :func:`records_for`): by default ``"current"``, every record
    made by the notebook's current source (all sweep points and ``-p`` runs; tell them apart by
    the ``param.*`` columns, ``custom`` is True for ``-p`` runs), so an edited notebook never
    silently mixes stale rows in; ``"all"`` includes stale records too.

    ``custom`` picks by origin: ``False`` (default) reads only the runs the notebook's own profile
    and sweep make, so that a user's ``python -m dalib.run NOTEBOOK -p ...`` run never enters a
    chapter's statistics (a second seed-0 model, say); ``True`` adds the ``-p`` runs (column
    ``custom`` tells them apart), ``"only"`` reads only them.

    Raises :class:`RecordNotFoundError` naming the command that produces a record, and
    :class:`CorruptRecordError` naming a record file that is not whole.
    """
    import pandas as pd

    if custom not in CUSTOM:
        raise ValueError(f"custom must be one of {CUSTOM}, got {custom!r}")
    profile = current_profile(profile)
    root = Path(root or project_root())
    recs = records_with_paths(stem, profile, root, runs)
    n_any = len(recs)
    if custom is not True:
        recs = [(r, p) for r, p in recs if bool(r.get("overrides")) == (custom == "only")]
    if not recs and n_any:
        which = "-p runs" if custom == "only" else "runs of its profile or sweep"
        raise RecordNotFoundError(
            f"notebook {stem!r} has {n_any} record(s) under profile {profile!r}, but no {which} "
            f"(custom={custom!r}); pass custom=True to read every record, or run "
            f"`{_producer_command(stem, profile)}`"
        )
    if not recs:
        others = sorted(p.parent.name for p in results_dir(root).glob(f"*/{stem}") if any(p.glob("*.json")))
        hint = f" (records exist for profile(s): {', '.join(others)})" if others else ""
        if runs == "current" and profile in others:
            hint = (
                " (only stale records exist, made by an earlier source of the notebook: "
                "rerun it, or pass runs='all' to read them)"
            )
        raise RecordNotFoundError(
            f"no record for notebook {stem!r} under profile {profile!r} in {results_dir(root) / profile / stem}"
            f"{hint}; produce one with `{_producer_command(stem, profile)}` "
            f"(or `make results PROFILE={profile}` for all notebooks)"
        )
    frames = []
    seen_table = False
    for rec, p in recs:
        rows = rec.get("tables", {}).get(table)
        if rows is None:
            continue
        seen_table = True
        prov = {f"param.{k}": v for k, v in rec.get("params", {}).items()}
        prov.update(
            record=_relpath(p, root),
            key=rec.get("key"),
            git_commit=rec.get("git_commit"),
            profile=rec.get("profile"),
            device=rec.get("device"),
            wall_time_s=rec.get("wall_time_s"),
            custom=bool(rec.get("overrides")),
            seed=rec.get("seed"),
            notebook=rec.get("notebook"),
            **{k: v for k, v in rec.items() if k.endswith("_version")},  # python_version, torch_version, ...
        )
        state = rec.get("row_state", {}).get(table) or [{}] * len(rows)  # cache-dependent fields, if any
        # a row's own column wins over the record's provenance of the same name (e.g. the ``seed`` of a row
        # of a run that trains several seeds, against the record's run seed)
        frames.append(
            pd.DataFrame(
                [{**row, **st, **{k: v for k, v in prov.items() if k not in row}} for row, st in zip(rows, state)]
            )
        )
    if not seen_table:
        tables = sorted({t for rec, _ in recs for t in rec.get("tables", {})})
        raise RecordNotFoundError(
            f"records of {stem!r} ({profile}) have no table {table!r}; tables present: {tables or 'none'}"
        )
    return pd.concat(frames, ignore_index=True)


def rows_or_none(stem: str, table: str = "results", profile: str | None = None):
    """:func:`load_rows`, or ``None`` where the notebook has no current record of ``table`` (a chapter
    whose producer has not run yet says so instead of failing)."""
    try:
        return load_rows(stem, table=table, profile=profile)
    except RecordNotFoundError:
        return None


def caption_source(df_or_stem, profile: str | None = None, runs: str = "current", max_listed: int = 3) -> str:
    """A caption fragment naming the producer notebook(s) and record file(s):
    ``"Produced by notebooks/benchmarks/x.md; records results/cpu/x/<key>.json"``. More than
    ``max_listed`` records are given as a count per folder (``"21 records in results/cpu/asr/"``),
    each of which the book's Runs page lists. Accepts a DataFrame from :func:`load_rows` or a
    notebook stem."""
    if isinstance(df_or_stem, str):
        recs = records_with_paths(df_or_stem, profile, None, runs)
        root = project_root()
        records = [_relpath(p, root) for _, p in recs]
        notebooks = sorted({rec.get("notebook", "?") for rec, _ in recs})
    else:
        records = sorted(df_or_stem["record"].unique())
        notebooks = sorted(df_or_stem["notebook"].dropna().unique())
    if len(records) <= max_listed:
        return f"Produced by {', '.join(notebooks)}; records {', '.join(records)}"
    folders = {}
    for r in records:
        folders.setdefault(r.rsplit("/", 1)[0] + "/", []).append(r)
    counted = ", ".join(f"{len(v)} records in {k}" for k, v in sorted(folders.items()))
    return f"Produced by {', '.join(notebooks)}; {counted} (each listed on the Runs page)"
