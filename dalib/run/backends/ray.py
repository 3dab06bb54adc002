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
        raise ImportError(
            "the Ray backend needs ray: pip install -r requirements-ray.txt (or pip install "
            "'dalib[ray]'); the local backend (the default) needs nothing more"
        ) from None
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
    from ..execute import execute

    rec = execute(plan, Path(root), progress=False)
    return plan.key, rec["wall_time_s"], rec.get("hostname")


def run_plans(plans, root, *, address=None, max_retries: int = 2, progress: bool = True, init_kwargs=None) -> dict:
    """Run ``plans`` (the pending ones) as Ray tasks; return ``{"done": [keys], "failed": {key:
    error}, "retried": n}``. ``address``: a running cluster's address (``None`` starts a local
    instance, or joins one named by ``$RAY_ADDRESS``). Already-connected sessions are reused."""
    ray = _import_ray()
    from tqdm.auto import tqdm

    for pl in plans:  # before connecting: a device no task can have fails here, not on a node
        check_task_device(pl)

    if not ray.is_initialized():
        _connect(ray, address, init_kwargs)
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
        except Exception as err:
            # a dead worker or node is retried a bounded number of times; a failed notebook (its
            # cell raised, its kernel died, a bad device) would fail the same way again: never
            if attempts[key] <= max_retries and is_lost_worker(err, ray):
                retried += 1
                running[submit(todo[key])] = key
                continue
            failed[key] = _one_line(err)
        else:
            done.append(key)
        bar.update(1)
    bar.close()
    return {"done": done, "failed": failed, "retried": retried, "wall_time_s": time.perf_counter() - t0}


# the errors of a task whose worker process or node went away, not of the task's own code
_LOST = (
    "WorkerCrashedError",
    "NodeDiedError",
    "LocalRayletDiedError",
    "ObjectLostError",
    "OwnerDiedError",
    "OutOfMemoryError",
    "TaskCancelledError",
)


def is_lost_worker(err: BaseException, ray=None) -> bool:
    """True if ``err`` (from ``ray.get``) means the task's worker or node was lost, so that a
    resubmission may succeed; False for an error raised by the task itself (``RayTaskError``
    wrapping a failed notebook), which would fail again."""
    ray = ray or _import_ray()
    lost = tuple(getattr(ray.exceptions, n) for n in _LOST if hasattr(ray.exceptions, n))
    task_error = getattr(ray.exceptions, "RayTaskError", ())
    if isinstance(err, task_error) and not isinstance(err, lost):
        return False
    return isinstance(err, lost)


def _one_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None)  # RayTaskError: the task's own exception
    e = cause if isinstance(cause, BaseException) else err
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def _connect(ray, address, init_kwargs=None) -> None:
    """``ray.init`` with one clear line instead of Ray's traceback when the cluster at ``address``
    cannot be joined (wrong address, or token authentication on one side only)."""
    try:
        ray.init(address=address, log_to_driver=False, **(init_kwargs or {}))
    except Exception as e:
        from dalib.notebooks import RunError

        auth = getattr(ray.exceptions, "AuthenticationError", ())
        token_hint = (
            "Ray's token authentication: if the cluster was started with RAY_AUTH_MODE=token, "
            "give this client its token (RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH; `ray get-auth-token` "
            "prints it on the head node); if it was started without it, set RAY_AUTH_MODE=disabled "
            "here (a token file left in ~/.ray by an earlier local run turns it on)"
        )
        first = (str(e).strip().splitlines() or [""])[0][:300]
        where = address or "$RAY_ADDRESS or a new local instance"
        raise RunError(
            f"could not connect to Ray at {where}: {type(e).__name__}: {first}. "
            + (
                token_hint
                if isinstance(e, auth) or "auth" in str(e).lower() or "token" in str(e).lower()
                else f"Check the address (`ray status` on the head node); if the cluster uses token "
                f"authentication, see {token_hint}"
            )
        ) from None


def check_task_device(plan) -> None:
    """A run's ``device`` must exist inside its Ray task: Ray sets ``CUDA_VISIBLE_DEVICES`` to the
    task's ``num_gpus`` GPUs, so ``cuda:N`` needs ``N < num_gpus`` (and ``cuda`` at least one).
    Raises :class:`~dalib.notebooks.RunError` naming the run and the fix."""
    import re

    from dalib.notebooks import RunError

    dev = plan.params.get("device")
    m = re.fullmatch(r"cuda(?::(\d+))?", dev) if isinstance(dev, str) else None
    if not m:
        return
    gpus = resources(plan)["num_gpus"]
    need = int(m.group(1) or 0) + 1
    if gpus < need:
        raise RunError(
            f"{plan.nb.rel} key {plan.key}: device={dev!r} needs {need} GPU(s) in its Ray task, "
            f"which gets {gpus:g} (front matter dalib.resources.{plan.profile}.num_gpus); "
            f"declare num_gpus >= {need}, or use device='auto'"
        )
