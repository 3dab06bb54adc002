"""The Ray backend of the runner (dalib.run.backends.ray) on a local Ray cluster on loopback with 2 CPUs:
the same records as the local backend, bounded retries, nothing half-written."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from dalib import run as runner  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_run import DEMO  # noqa: E402

FLAKY = DEMO.replace(
    "fail = False  # raise inside the notebook",
    'fail = False  # raise inside the notebook\nflaky = ""  # fail once: while this file is absent',
)
# the first attempt kills its Ray worker (the kernel's parent), as a lost node or an OOM kill would
FLAKY = FLAKY.replace(
    "if fail:\n",
    "if flaky and not os.path.exists(flaky):\n    Path(flaky).touch()\n"
    "    import signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    time.sleep(60)\nif fail:\n",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Ray workers inherit the environment of the process that starts the cluster: their own
    # checkpoint folder, so that a training run on Ray never finds the local backend's checkpoint
    ckpt = tmp_path_factory.mktemp("ray-checkpoints")
    old = os.environ.get("DALIB_CHECKPOINTS")
    os.environ["DALIB_CHECKPOINTS"] = str(ckpt)
    # one declared GPU (none needed): Ray sets CUDA_VISIBLE_DEVICES for a task that asks for it
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    if old is None:
        os.environ.pop("DALIB_CHECKPOINTS")
    else:
        os.environ["DALIB_CHECKPOINTS"] = old
    yield ckpt
    ray.shutdown()


def _project(root: Path, text: str, sweep: str):
    for sub in ("experiments", "benchmarks", "theory"):
        (root / "notebooks" / sub).mkdir(parents=True, exist_ok=True)
    (root / "notebooks/experiments/demo.md").write_text(text.replace("  profiles:", f"  sweep: {sweep}\n  profiles:"))


def _records(root: Path) -> dict:
    out = {}
    for p in sorted((root / "results/cpu/demo").glob("*.json")):
        rec = json.loads(p.read_text())
        out[rec["key"]] = (rec["params"], rec["tables"])
    return out


def test_ray_backend_writes_the_records_of_the_local_backend(cluster, tmp_path, monkeypatch):
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.delenv("DALIB_PROFILE", raising=False)
    local, remote = tmp_path / "local", tmp_path / "ray"
    for root in (local, remote):
        _project(root, DEMO, "{cpu: {n: [1, 2, 3]}}")
    monkeypatch.setenv("DALIB_ROOT", str(local))
    assert runner.main(["demo", "--no-progress"]) == 0
    monkeypatch.setenv("DALIB_ROOT", str(remote))
    assert runner.main(["demo", "--backend", "ray", "--no-progress"]) == 0
    a, b = _records(local), _records(remote)
    assert len(a) == 3 and a == b  # same keys, same parameters, same rows
    assert not list((remote / "results/cpu").glob(".staging/*"))
    assert runner.main(["demo", "--backend", "ray", "--no-progress"]) == 0  # all done: nothing resubmitted
    assert _records(remote) == b


def test_ray_backend_retries_a_bounded_number_of_times(cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    marker = tmp_path / "first-attempt-done"
    _project(tmp_path, FLAKY, f"{{cpu: [{{flaky: ['{marker}']}}, {{fail: [true]}}]}}")
    nb = runner.load_notebook(tmp_path / "notebooks/experiments/demo.md", tmp_path)
    plans = runner.profile_plans(nb, "cpu", tmp_path)
    from dalib.run.backends.ray import resources, run_plans

    assert resources(plans[0]) == {"num_cpus": 1.0, "num_gpus": 0.0}
    out = run_plans(plans, tmp_path, max_retries=1, progress=False)
    flaky, failing = plans
    assert out["done"] == [flaky.key] and list(out["failed"]) == [failing.key]
    assert out["retried"] == 1  # the lost worker's run once; a failing notebook never (it would fail again)
    assert "ValueError: selftest failure requested" in out["failed"][failing.key]
    assert flaky.record.exists() and not failing.record.exists() and not failing.executed.exists()


def test_ray_retries_only_lost_workers():
    from dalib.run.backends.ray import is_lost_worker

    assert is_lost_worker(ray.exceptions.WorkerCrashedError())
    assert is_lost_worker(ray.exceptions.NodeDiedError("node gone"))
    assert not is_lost_worker(ray.exceptions.RayTaskError("f", "tb", ValueError("a cell raised")))
    assert not is_lost_worker(RuntimeError("anything else"))


def test_a_device_no_task_can_have_fails_before_submission(tmp_path, monkeypatch):
    from dalib.notebooks import RunError
    from dalib.run.backends.ray import check_task_device

    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    _project(tmp_path, DEMO, "{cpu: {n: [1]}}")
    nb = runner.load_notebook(tmp_path / "notebooks/experiments/demo.md", tmp_path)
    monkeypatch.setenv("DALIB_DEVICE_CHECK", "cluster")  # what --backend ray sets: no local CUDA check
    pl = runner.plan(nb, "cpu", {"device": "cuda:9"}, tmp_path)
    with pytest.raises(RunError, match=r"device='cuda:9' needs 10 GPU\(s\) in its Ray task, which gets 0"):
        check_task_device(pl)
    check_task_device(runner.plan(nb, "cpu", {"device": "cpu"}, tmp_path))


def test_a_cluster_that_refuses_the_connection_gives_one_line(monkeypatch):
    from dalib.notebooks import RunError
    from dalib.run.backends.ray import _connect

    class FakeRay:
        exceptions = ray.exceptions

        @staticmethod
        def init(**kw):
            raise ConnectionError("Failed to authenticate: token mismatch\n  (many more lines)")

    with pytest.raises(RunError) as e:
        _connect(FakeRay, "127.0.0.1:6380")
    msg = str(e.value)
    assert "\n" not in msg and "127.0.0.1:6380" in msg and "RAY_AUTH_MODE=disabled" in msg and "RAY_AUTH_TOKEN" in msg


def test_declared_gpu_reaches_the_kernel(cluster, tmp_path, monkeypatch):
    """A run whose profile declares a GPU gets one from Ray, and the papermill kernel inherits it."""
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    text = DEMO.replace(
        'write_rows([{"total": n * scale}], table="summary")',
        'write_rows([{"total": n * scale}], table="summary")\n'
        'write_rows([{"cuda": os.environ.get("CUDA_VISIBLE_DEVICES", "unset")}], table="env")',
    )
    text = text.replace("  profiles:", "  resources: {cpu: {num_cpus: 1, num_gpus: 1}}\n  profiles:")
    _project(tmp_path, text, "{cpu: {n: [1]}}")
    nb = runner.load_notebook(tmp_path / "notebooks/experiments/demo.md", tmp_path)
    plans = runner.profile_plans(nb, "cpu", tmp_path)
    from dalib.run.backends.ray import resources, run_plans

    assert resources(plans[0]) == {"num_cpus": 1.0, "num_gpus": 1.0}
    out = run_plans(plans, tmp_path, progress=False)
    assert out["done"] == [plans[0].key]
    rec = json.loads(plans[0].record.read_text())
    assert rec["tables"]["env"] == [{"cuda": "0"}]


TIMING = ("time", "per_s", "cpu_s")  # wall and CPU times differ between any two runs


def test_real_smoke_training_run_matches_the_local_backend(cluster, tmp_path, monkeypatch):
    """The train notebook's smoke run (real data, a real model trained for one epoch) through both
    backends: the same key and the same rows, up to the timing columns."""
    repo = Path(runner.__file__).resolve().parents[2]
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.delenv("DALIB_PROFILE", raising=False)
    monkeypatch.setenv("DALIB_DATA", os.environ.get("DALIB_DATA") or str(repo / "data"))
    monkeypatch.setenv("DALIB_CHECKPOINTS", str(tmp_path / "local-checkpoints"))
    recs = {}
    for backend in ("local", "ray"):
        root = tmp_path / backend
        (root / "notebooks/experiments").mkdir(parents=True)
        shutil.copy(repo / "notebooks/experiments/train.md", root / "notebooks/experiments/train.md")
        monkeypatch.setenv("DALIB_ROOT", str(root))
        # precision pinned: "auto" times a probe matmul, and on a loaded machine two runs can decide differently
        args = ["train", "--profile", "smoke", "-p", "precision=fp32", "--backend", backend, "--no-progress"]
        assert runner.main(args) == 0
        (path,) = (root / "results/smoke/train").glob("*.json")
        recs[backend] = json.loads(path.read_text())
    a, b = recs["local"], recs["ray"]
    assert a["key"] == b["key"] and a["params"] == b["params"]
    strip = lambda rows: [{k: v for k, v in r.items() if not any(t in k for t in TIMING)} for r in rows]
    assert set(a["tables"]) == set(b["tables"])
    for t in a["tables"]:
        assert strip(a["tables"][t]) == strip(b["tables"][t]), t
