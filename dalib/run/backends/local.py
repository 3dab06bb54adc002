"""The local backend of the experiment runner: the pending runs of a plan, one after the other in
this process, or split over ``--jobs N`` shard processes (``python -m dalib.run ... --shard k/N``).

A failing run fails alone (its kernel's notebook is kept, the others go on); SIGTERM and SIGINT of
the parent reach every shard, and a shard dies with its parent.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from dalib.notebooks import RunError

from ..execute import _main_thread, _on_sigterm, _Terminated, execute
from ..notebook import _rel
from ..plan import Plan


def fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def die_with_parent() -> None:
    """In a shard process (before exec): ask Linux to send SIGTERM when the ``--jobs`` parent
    dies, ``kill -9`` included, so that no shard runs on under init after its job ended (Slurm,
    ``timeout``). Elsewhere a no-op: there only SIGTERM and SIGINT of the parent are forwarded."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def run_shards(argv: list[str], jobs: int) -> int:
    """Run ``python -m dalib.run <argv> --shard k/jobs`` for k = 0..jobs-1 in parallel; worst exit
    code. SIGTERM and SIGINT to this parent reach every shard (each stops its run, which leaves no
    record and no staging), and a shard dies with its parent."""
    preexec = die_with_parent if sys.platform.startswith("linux") else None
    procs = [
        subprocess.Popen([sys.executable, "-m", "dalib.run", *argv, "--shard", f"{k}/{jobs}"], preexec_fn=preexec)
        for k in range(jobs)
    ]
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM turned into _Terminated
        sig = signal.SIGTERM if isinstance(e, _Terminated) else signal.SIGINT
        for p in procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        raise
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return max(codes)


def run_in_process(
    plans: list[Plan], todo: list[Plan], root: Path, *, shard=None, log_output=False, progress=True
) -> int:
    """Run the plans of ``todo`` (a sub-list of ``plans``) one after the other; say which of
    ``plans`` are up to date. A failing run is reported and the others go on; exit code 1 if any
    failed."""
    n = len(plans)
    failed = []
    t_all = time.perf_counter()
    prefix = f"shard {shard[0]}/{shard[1]} " if shard else ""
    for i, pl in enumerate(plans, 1):
        tag = f"{prefix}[{i}/{n}] {pl.nb.rel}" + (f" ({fmt_params(pl.sweep)})" if pl.sweep else "")
        if pl not in todo:
            print(f"{tag}: up to date ({_rel(pl.existing, root)})", flush=True)
            continue
        print(f"{tag}: running (key {pl.key})", flush=True)
        t0 = time.perf_counter()
        try:
            execute(pl, root, log_output=log_output, progress=progress)
        except RunError as e:  # this run only: the sweep goes on
            print(f"{tag}: FAILED after {time.perf_counter() - t0:.0f} s\n{e}", file=sys.stderr, flush=True)
            kept = getattr(e, "kept", None)
            failed.append(
                f"{pl.nb.rel} key {pl.key}: {getattr(e, 'reason', str(e).splitlines()[0])}"
                + (f" (notebook kept: {_rel(kept, root)})" if kept else "")
            )
            continue
        print(f"{tag}: done in {time.perf_counter() - t0:.0f} s -> {_rel(pl.record, root)}", flush=True)
    print(
        f"dalib.run: {len(todo) - len(failed)} run, {len(failed)} failed, "
        f"{n - len(todo)} up to date ({time.perf_counter() - t_all:.0f} s)"
    )
    if failed:
        print("dalib.run: failed runs:\n" + "\n".join(f"  {f}" for f in failed), file=sys.stderr)
        return 1
    return 0
