"""Re-key a notebook's records after a refactor that does not change its results.

A record's key hashes the notebook's code cells and the run's parameters, so any edit of the code
makes every record of the notebook stale, even one that only moves code into the package. Re-keying
checks instead of trusting: it reruns a sample of the stale runs under the new code, and only if every
row of every table comes out identical (timings aside) does it give the other stale records of the
same parameters the new key. What it checked is written into each re-keyed record's ``rekey`` field,
and the executed notebook beside it still shows the code that really ran.

``python -m dalib.run rekey NOTEBOOK [--profile P] [--sample N] [--dry-run]``
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from dalib.notebooks import RunError

from ..atomic import atomic_write_text
from .execute import VOLATILE_FIELDS, execute, format_record
from .plan import Plan

# timing columns by name: a (wall, CPU, load, step, warm-up) time, optionally in seconds, or a rate per second
TIMING = re.compile(
    r"(^|_)(time|wall|cpu|load|step|warmup|elapsed|seconds)(_s)?$|(^|_)time_[a-z]+_s$|(^|_)per_(cpu_)?s$|^started$|^finished$"
)


def is_timing(column: str) -> bool:
    """Columns that measure time (they differ between any two runs and are not compared)."""
    return bool(TIMING.search(column))


def with_added_defaults(params: dict, plan: Plan) -> dict:
    """A stale record's ``params`` completed by the parameters its notebook gained since, at their
    defaults: a parameter added with a default that keeps the old computation (e.g. ``n_worst = 0``,
    "off") leaves the record's run unchanged, so the rerun decides, as for any refactor."""
    added = {k: p.default for k, p in plan.nb.params.items() if k not in params}
    return {**params, **added}


def stale_matches(plans: list[Plan], records: list[tuple[dict, Path]]) -> list[tuple[Plan, dict, Path]]:
    """(plan, stale record, its path) for each plan whose parameters equal a stale record's (with the
    notebook's added parameters at their defaults, :func:`with_added_defaults`): the runs that the code
    change made stale (a plan that is done already was rerun under the new code)."""
    by_params = {}
    for rec, path in records:
        params = with_added_defaults(rec.get("params", {}), plans[0]) if plans else rec.get("params", {})
        by_params.setdefault(json.dumps(params, sort_keys=True), []).append((rec, path))
    out = []
    for p in plans:
        stale = [(r, q) for r, q in by_params.get(json.dumps(p.params, sort_keys=True), []) if r.get("key") != p.key]
        if stale:
            rec, path = max(stale, key=lambda rp: rp[0].get("finished", ""))  # the newest of them
            out.append((p, rec, path))
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def compare_tables(old: dict, new: dict) -> list[str]:
    """The differences between two records' tables, timing columns left out ([] if identical)."""
    diffs = []
    if set(old.get("tables", {})) != set(new.get("tables", {})):
        return [f"tables differ: {sorted(old.get('tables', {}))} vs {sorted(new.get('tables', {}))}"]
    for name, rows_old in old["tables"].items():
        rows_new = new["tables"][name]
        if len(rows_old) != len(rows_new):
            diffs.append(f"{name}: {len(rows_old)} rows vs {len(rows_new)}")
            continue
        for i, (ro, rn) in enumerate(zip(rows_old, rows_new)):
            cols = {c for c in set(ro) | set(rn) if not is_timing(c) and c not in VOLATILE_FIELDS}
            bad = sorted(c for c in cols if not _same(ro.get(c), rn.get(c)))
            if bad:
                diffs.append(f"{name} row {i}: {', '.join(bad[:6])}" + (" ..." if len(bad) > 6 else ""))
    return diffs


def rekey(
    plans: list[Plan],
    records: list[tuple[dict, Path]],
    root: Path,
    *,
    sample: int = 1,
    dry_run: bool = False,
    log=print,
) -> dict:
    """Rerun ``sample`` of the stale runs of ``plans`` (the cheapest first) under the new code; if each
    gives the stale record's rows exactly (timings aside), re-key the other stale records of the same
    parameters. Returns ``{"matched": n, "sampled": [keys], "rekeyed": [(old, new)], "diffs": [...]}``."""
    matches = stale_matches(plans, records)
    out = {"matched": len(matches), "sampled": [], "rekeyed": [], "diffs": []}
    rerun_already = [m for m in matches if m[0].done]  # a run of the new code exists: compare it as it is
    pending = sorted((m for m in matches if not m[0].done), key=lambda m: m[1].get("wall_time_s") or 0)
    if not pending:
        log("rekey: no stale record has the parameters of a pending run; nothing to do")
        return out
    probe = pending[: max(0, sample - len(rerun_already))]
    rest = pending[len(probe) :]
    log(
        f"rekey: {len(pending)} stale record(s) match pending runs; comparing {len(rerun_already)} run(s) the new "
        f"code made already and rerunning {len(probe)}: "
        + ", ".join(f"{rec['key']} -> {p.key} ({rec.get('wall_time_s') or 0:.0f} s before)" for p, rec, _ in probe)
    )
    if dry_run:
        return out
    checks = []
    for p, rec, _ in rerun_already + probe:
        # a real run of the new code: its record stays, whatever follows
        new = json.loads(p.existing.read_text()) if p.done else execute(p, root, progress=False)
        diffs = compare_tables(rec, new)
        out["sampled"].append(p.key)
        checks.append(
            {
                "old_key": rec["key"],
                "new_key": p.key,
                "tables": sorted(rec.get("tables", {})),
                "rows": sum(len(v) for v in rec.get("tables", {}).values()),
                "identical": not diffs,
            }
        )
        if diffs:
            out["diffs"] += [f"{rec['key']} -> {p.key}: {d}" for d in diffs]
    probe = rerun_already + probe
    if out["diffs"]:
        log("rekey: the new code changes results; nothing re-keyed:\n  " + "\n  ".join(out["diffs"][:20]))
        return out
    provenance = {
        "method": "reran a sample under the new code; every row of every table identical, timing and cache-state "
        "columns aside",
        "timing_columns": TIMING.pattern,
        "cache_state_columns": list(VOLATILE_FIELDS),
        "checks": checks,
    }
    for p, rec, path in rest:
        added = sorted(set(p.params) - set(rec.get("params", {})))
        new_rec = {**rec, "key": p.key, "params": p.params, "rekey": {**provenance, "from_key": rec["key"]}}
        if added:  # the parameters the notebook gained, at the defaults the rerun used
            new_rec["rekey"]["added_parameters"] = {k: p.params[k] for k in added}
        new_rec["executed_notebook"] = f"{p.key}.ipynb"
        nb_old = path.with_suffix(".ipynb")
        target = p.record
        if nb_old.exists():  # the notebook that really ran, under the new name
            atomic_write_text(target.with_suffix(".ipynb"), nb_old.read_text(encoding="utf-8"))
        atomic_write_text(target, format_record(new_rec))
        out["rekeyed"].append((rec["key"], p.key))
    for p, rec, path in probe + rest:  # the old files go once every new one is written (a rerun replaced each probe)
        path.unlink()
        if path.with_suffix(".ipynb").exists():
            path.with_suffix(".ipynb").unlink()
    log(f"rekey: {len(out['rekeyed'])} record(s) re-keyed after {len(probe)} identical rerun(s)")
    return out


def main(notebook: str, profile: str, root: Path, sample: int = 1, dry_run: bool = False) -> int:
    from dalib.notebooks import resolve_notebook

    from ..records import records_with_paths
    from .notebook import load_notebook
    from .plan import profile_plans

    if sample < 1:
        raise RunError(f"--sample must be at least 1 (rerunning nothing checks nothing), got {sample}")
    nb = load_notebook(resolve_notebook(notebook, root), root)
    plans = profile_plans(nb, profile, root)
    out = rekey(plans, records_with_paths(nb.stem, profile, root, "all"), root, sample=sample, dry_run=dry_run)
    return 1 if out["diffs"] else 0
