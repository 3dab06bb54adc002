"""Executing one plan with papermill in a staging folder, then writing the executed notebook and
the record atomically (record last: a record's existence means the run completed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from dalib.atomic import atomic_write_text
from dalib.notebooks import RunError
from dalib.paths import PROFILE_ENV, RUN_DIR_ENV, results_dir

from .plan import Plan
from .provenance import _now, _runner_device, git_state, versions


def format_record(record: dict) -> str:
    """Indented JSON with one line per result row (diff-friendly when records are committed)."""
    head = {k: v for k, v in record.items() if k != "tables"}
    text = json.dumps(head, indent=1)[:-2]
    tables = []
    for name, rows in record.get("tables", {}).items():
        body = ",\n".join("   " + json.dumps(r) for r in rows)
        tables.append(f"  {json.dumps(name)}: [\n{body}\n  ]" if rows else f"  {json.dumps(name)}: []")
    return text + ',\n "tables": {\n' + ",\n".join(tables) + ("\n }\n}\n" if tables else " }\n}\n")


# row fields that say what the run found cached (a zoo entry, a checkpoint), not what it computed:
# kept beside the rows (record["row_state"]) so that a rerun changes provenance fields only
# (dalib.records.load_rows puts them back as columns)
VOLATILE_FIELDS = ("source", "trained_now")


def split_row_state(tables: dict) -> dict:
    """Pop :data:`VOLATILE_FIELDS` out of every row of ``tables`` (in place); return them as
    ``{table: [{field: value} per row]}`` for the tables that had any."""
    state = {}
    for name, rows in tables.items():
        per_row = [{k: r.pop(k) for k in VOLATILE_FIELDS if k in r} for r in rows]
        if any(per_row):
            state[name] = per_row
    return state


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
    # named by host and pid: on a cluster with a shared results/, pids of two hosts can coincide
    run_dir = staging_root / f"{p.nb.stem}-{p.key}-{_host_tag()}-{os.getpid()}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / OWNER_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
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
                nb,
                str(out_nb),
                parameters=p.params,
                kernel_name="python3",
                language="python",
                cwd=str(root),
                progress_bar=progress,
                log_output=log_output,
                report_mode=False,
            )
        except pm.PapermillExecutionError as e:
            tb = _strip_ansi("\n".join(e.traceback[-12:])) if e.traceback else ""
            raise _failed(
                p,
                out_nb,
                staging_root,
                root,
                f"failed in cell {e.exec_count or e.cell_index}: {e.ename}: {e.evalue}",
                tb,
            ) from None
        except Exception as e:  # the kernel died (killed for memory, say), a cell timed out, ...
            raise _failed(
                p,
                out_nb,
                staging_root,
                root,
                f"failed: {type(e).__name__}: {_strip_ansi(str(e)).strip().splitlines()[0] if str(e).strip() else ''}",
                "",
            ) from None
        wall = time.perf_counter() - t0
        tables = {}
        for t in sorted((run_dir / "tables").glob("*.json")):
            tables[t.stem] = json.loads(t.read_text(encoding="utf-8"))
        row_state = split_row_state(tables)
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
            "row_state": row_state,
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


OWNER_FILE = ".owner.json"  # in each staging folder: {"host", "pid"} of the run that made it


def _host_tag() -> str:
    """This host's name, reduced to letters, digits, '.' and '_' (it goes into a folder name)."""
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"


class RunFailed(RunError):
    """One run failed (its notebook raised, its kernel died, ...): ``reason`` is one line,
    ``kept`` the executed notebook kept for inspection (or None)."""

    def __init__(self, message: str, reason: str, kept: Path | None):
        super().__init__(message)
        self.reason, self.kept = reason, kept

    def __reduce__(self):  # picklable (a Ray task returns it to the driver)
        return (type(self), (self.args[0], self.reason, self.kept))


def _failed(p: Plan, out_nb: Path, staging_root: Path, root: Path, reason: str, tb: str) -> RunFailed:
    """Keep the executed (partial) notebook of a failed run in staging and say why it failed."""
    kept = staging_root / f"failed-{p.nb.stem}-{p.key}-{_host_tag()}.ipynb"
    if out_nb.exists():
        os.replace(out_nb, kept)
    else:
        kept = None
    where = (
        f"executed notebook kept for inspection: {_relative(kept, root)}" if kept else "the kernel wrote no notebook"
    )
    return RunFailed(f"{p.nb.rel} {reason}\n{tb}\n({where}; no record written)".replace("\n\n(", "\n("), reason, kept)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _remove_dead_staging(staging_root: Path) -> None:
    """Remove staging folders left by runs of *this host* that were killed outright (SIGKILL,
    power loss). A folder of another host (a cluster sharing results/) is never touched: its pid
    means nothing here. Folders without an owner file (an older runner's) are left alone."""
    me = socket.gethostname()
    for d in staging_root.glob("*-*"):
        try:
            owner = json.loads((d / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(owner, dict) or owner.get("host") != me or not isinstance(owner.get("pid"), int):
            continue
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
