"""The command line, ``python -m dalib.run``: one notebook, or ``--all``/``--list``, with
``--where`` selection, ``--jobs`` (shards in parallel processes) and the Ray backend."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path

from dalib.notebooks import NOTEBOOK_KINDS, PROFILES, RunError, resolve_notebook, runnable_notebooks
from dalib.paths import DEFAULT_PROFILE, project_root

from .backends import local
from .backends.local import fmt_params
from .execute import _main_thread, execute
from .notebook import _rel, load_notebook
from .params import parse_overrides
from .plan import Plan, plan, profile_plans


def rekey_main(argv) -> int:
    """``python -m dalib.run rekey NOTEBOOK``: see :mod:`dalib.run.rekey`."""
    from . import rekey

    ap = argparse.ArgumentParser(
        prog="python -m dalib.run rekey",
        description="After a refactor of NOTEBOOK's code: rerun a sample of its stale runs under the new code and, "
        "if every row of every table is identical (timings aside), give the other stale records of the same "
        "parameters the new key.",
    )
    ap.add_argument("notebook", help="path under notebooks/ or its stem")
    ap.add_argument(
        "--profile", default=DEFAULT_PROFILE, choices=PROFILES, help=f"parameter profile (default: {DEFAULT_PROFILE})"
    )
    ap.add_argument("--sample", type=int, default=1, metavar="N", help="stale runs to rerun and compare (default 1)")
    ap.add_argument("--dry-run", action="store_true", help="say what would be rerun and re-keyed, run nothing")
    args = ap.parse_args(argv)
    try:
        return rekey.main(args.notebook, args.profile, project_root(), sample=args.sample, dry_run=args.dry_run)
    except RunError as e:
        print(f"dalib.run rekey: {e}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["rekey"]:
        return rekey_main(argv[1:])
    ap = argparse.ArgumentParser(
        prog="python -m dalib.run",
        description="Run a dalib experiment/benchmark notebook with papermill and store a result record.",
    )
    ap.add_argument("notebook", nargs="?", help="path under notebooks/ or its stem")
    ap.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (Python literal, else string); repeatable",
    )
    ap.add_argument(
        "--profile", default=DEFAULT_PROFILE, choices=PROFILES, help=f"parameter profile (default: {DEFAULT_PROFILE})"
    )
    ap.add_argument("--force", action="store_true", help="rerun even if the record exists")
    ap.add_argument("--all", action="store_true", help="run every pending experiment/benchmark notebook")
    ap.add_argument("--kind", choices=NOTEBOOK_KINDS, help="with --all/--list: only this kind")
    ap.add_argument("--list", action="store_true", help="list runnable notebooks and their record status")
    ap.add_argument("--dry-run", action="store_true", help="resolve parameters and show the plan, run nothing")
    ap.add_argument("--log-output", action="store_true", help="stream cell output to the terminal")
    ap.add_argument("--no-progress", action="store_true", help="no papermill progress bar")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the pending sweep points / notebooks in N parallel processes (default 1)",
    )
    ap.add_argument(
        "--backend",
        default="local",
        choices=("local", "ray"),
        help="local processes (default) or one Ray task per pending run",
    )
    ap.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="with --backend ray: the address of a running Ray cluster (default: start a local one)",
    )
    ap.add_argument(
        "--max-retries",
        type=int,
        default=2,
        metavar="N",
        help="with --backend ray: resubmit a failed task (or one whose node died) up to N times",
    )
    ap.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="with a sweep or --all/--list: only the planned runs whose parameter NAME equals VALUE "
        "(Python literal, else string); repeatable",
    )
    ap.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only every N-th planned run starting at the K-th (K = 0..N-1); what --jobs uses",
    )
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
    if args.backend == "ray":  # a device is checked against the GPUs each Ray task gets, not this machine's
        import os

        from dalib.validate import DEVICE_CHECK_ENV

        os.environ[DEVICE_CHECK_ENV] = "cluster"
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
                    problem = pl.problem
                    state = "done   " if pl.done else "CORRUPT" if problem else "pending"
                    point = f"  sweep {fmt_params(pl.sweep)}" if pl.sweep else ""
                    print(f"{state} {pl.nb.kind:10s} {pl.nb.rel}  [{args.profile}] key {pl.key}{point}")
                    print(f"        {fmt_params(pl.params)}")
                    if problem:
                        print(f"        record {_rel(pl.existing, root)} is corrupt: {problem} (a run rewrites it)")
                return 1 if broken else 0
            return max(_run_many(plans, root, args), 1 if broken else 0)
        if not args.notebook:
            ap.error("give a NOTEBOOK, or --all / --list")
        nb = load_notebook(resolve_notebook(args.notebook, root), root)
        overrides = parse_overrides(args.param)
        if args.profile in nb.skip and not overrides:
            raise RunError(
                f"{nb.rel} has no runs under profile {args.profile!r}: {nb.skip[args.profile]} "
                f"(give -p NAME=VALUE to run one point anyway)"
            )
        if args.where and (overrides or not nb.sweeps.get(args.profile)):
            raise RunError(
                f"--where selects points of a sweep: give no -p, and a notebook with a "
                f"{args.profile!r} sweep ({nb.rel} has sweeps for {sorted(nb.sweeps) or 'no profile'})"
            )
        if not overrides and nb.sweeps.get(args.profile):
            # no -p: every point of the notebook's sweep for this profile (or those --where selects)
            return _run_many(where_filter(profile_plans(nb, args.profile, root), args.where), root, args)
        pl = plan(nb, args.profile, overrides, root)
        if args.dry_run:
            status = "exists (would skip; --force reruns)" if pl.done else "pending (would run)"
            print(
                f"{nb.rel} [{args.profile}] key {pl.key}\n  params: {fmt_params(pl.params)}\n"
                f"  record: {_rel(pl.record, root)} {status}"
            )
            return 0
        if pl.done and not args.force:
            print(f"dalib.run: {nb.rel} [{args.profile}] up to date: {_rel(pl.existing, root)} (--force reruns)")
            return 0
        if args.backend == "ray":
            return _run_ray([pl], 1, root, args)
        print(f"dalib.run: {nb.rel} [{args.profile}] key {pl.key}: {fmt_params(pl.params)}", flush=True)
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
            raise RunError(
                f"--where {name}={raw}: no planned run has a parameter {name!r}; parameters: {', '.join(have)}"
            )

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
            return local.run_shards(argv, min(args.jobs, len(pending)))
    todo = pending
    n = len(plans)
    print(f"dalib.run: profile {args.profile}: {n} run(s), {len(todo)} to run", flush=True)
    if args.dry_run:
        for pl in todo:
            print(f"  would run {pl.nb.rel} key {pl.key}: {fmt_params(pl.params)}")
        return 0
    return local.run_in_process(
        plans, todo, root, shard=args.shard, log_output=args.log_output, progress=not args.no_progress
    )


def _run_ray(pending: list[Plan], n_planned: int, root: Path, args) -> int:
    from .backends import ray as ray_backend

    print(
        f"dalib.run: profile {args.profile}: {n_planned} run(s), {len(pending)} to run on Ray"
        + (f" at {args.address}" if args.address else ""),
        flush=True,
    )
    if not pending:
        return 0
    try:
        out = ray_backend.run_plans(
            pending, root, address=args.address, max_retries=args.max_retries, progress=not args.no_progress
        )
    except ImportError as e:
        raise RunError(str(e)) from None
    print(
        f"dalib.run: {len(out['done'])} done, {len(out['failed'])} failed, {out['retried']} retried "
        f"({out['wall_time_s']:.0f} s)",
        flush=True,
    )
    for key, err in out["failed"].items():
        print(f"dalib.run: FAILED {key}: {err}", file=sys.stderr)
    return 1 if out["failed"] else 0
