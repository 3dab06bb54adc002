"""The Ray backend of the experiment runner: one Ray task per pending run, on a local machine or a
cluster (``python -m dalib.run --all --backend ray [--address ADDR]``).

Each task executes one notebook with papermill (:func:`dalib.run.execute`) and writes its record
atomically into the results folder of ``root``, which must be on storage that every node sees (a
shared file system on a cluster). A task that fails, or whose worker or node dies, is resubmitted
up to ``max_retries`` times; a record is only ever written by a run that finished, so a retried run
never leaves half a file. Runs that need a trained model share it through the model zoo and the
checkpoints: :func:`dalib.train.train` holds a lock per configuration, so a model is never trained
twice at once, whichever task asks first.

Resources per task come from the notebook's front matter ``dalib: resources: {profile: {num_cpus:
.., num_gpus: ..}}``; by default one CPU per thread the run asks for (its ``num_threads``
parameter) and no GPU.

Ray is an optional dependency (``pip install -r requirements-ray.txt`` or the ``ray`` extra).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray backend needs ray: pip install -r requirements-ray.txt (or pip install "
                          "'dalib[ray]'); the local backend (the default) needs nothing more") from None
    return ray


def resources(plan) -> dict:
    """``{"num_cpus": .., "num_gpus": ..}`` of one run: the front matter's ``dalib.resources`` for
    its profile, else one CPU per ``num_threads`` and no GPU."""
    declared = (plan.nb.resources or {}).get(plan.profile) or {}
    out = {"num_cpus": float(plan.params.get("num_threads", 1) or 1), "num_gpus": 0.0}
    out.update({k: float(v) for k, v in declared.items() if k in ("num_cpus", "num_gpus")})
    return out


def _execute_task(plan, root: str):
    """Body of one Ray task: run the notebook, return (key, wall time, host)."""
    from dalib.run import execute

    rec = execute(plan, Path(root), progress=False)
    return plan.key, rec["wall_time_s"], rec.get("hostname")


def run_plans(plans, root, *, address=None, max_retries: int = 2, progress: bool = True, init_kwargs=None) -> dict:
    """Run ``plans`` (the pending ones) as Ray tasks; return ``{"done": [keys], "failed": {key:
    error}, "retried": n}``. ``address``: a running cluster's address (``None`` starts a local
    instance, or joins one named by ``$RAY_ADDRESS``). Already-connected sessions are reused."""
    ray = _import_ray()
    from tqdm.auto import tqdm

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, **(init_kwargs or {}))
    remote = ray.remote(_execute_task)
    todo = {pl.key: pl for pl in plans}
    attempts = {k: 0 for k in todo}

    def submit(pl):
        attempts[pl.key] += 1
        return remote.options(max_retries=0, **resources(pl)).remote(pl, str(root))

    running = {submit(pl): pl.key for pl in todo.values()}
    done, failed, retried = [], {}, 0
    bar = tqdm(total=len(todo), desc="dalib.run (ray)", disable=not progress, file=sys.stderr)
    t0 = time.perf_counter()
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        ref = ready[0]
        key = running.pop(ref)
        try:
            ray.get(ref)
        except Exception as err:  # a failing notebook, a dead worker or node: retry a bounded number of times
            if attempts[key] <= max_retries:
                retried += 1
                running[submit(todo[key])] = key
                continue
            failed[key] = f"{type(err).__name__}: {err}"
        else:
            done.append(key)
        bar.update(1)
    bar.close()
    return {"done": done, "failed": failed, "retried": retried, "wall_time_s": time.perf_counter() - t0}
