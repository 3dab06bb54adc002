"""The runner when things go wrong (issue: a new user's first hour never fails): a dead kernel in a
sweep, a corrupt record, signals to a ``--jobs`` parent, staging folders of other hosts, and
``-p`` runs beside a sweep. Each end-to-end run starts a kernel (1-2 s)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SWEEP_NB = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
dalib:
  kind: experiment
  sweep:
    cpu:
      - {n: [1, 2, 3]}
---

# A sweep whose kernel can die

```{code-cell} ipython3
:tags: [parameters]

n = 1  # rows to write
seed = 0  # RNG seed
die_at = 0  # kill the kernel (SIGKILL, as the out-of-memory killer does) when n equals this
gate = ""  # path of a file to wait for ("" = no wait)
```

```{code-cell} ipython3
import os
import signal
import time
from pathlib import Path

from dalib.records import write_rows

if gate:
    Path(f"{gate}.{n}.started").touch()
    while not os.path.exists(gate):
        time.sleep(0.05)
if n == die_at:
    os.kill(os.getpid(), signal.SIGKILL)
write_rows([{"i": i, "n": n} for i in range(n)])
```
"""


@pytest.fixture
def proj(tmp_path, monkeypatch):
    exp = tmp_path / "notebooks" / "experiments"
    exp.mkdir(parents=True)
    for sub in ("benchmarks", "theory"):
        (tmp_path / "notebooks" / sub).mkdir()
    (exp / "sweepy.md").write_text(SWEEP_NB)
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.delenv("DALIB_PROFILE", raising=False)
    return tmp_path


def cli(root, *args, timeout=180):
    env = {**os.environ, "DALIB_ROOT": str(root)}
    env.pop("DALIB_RUN_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "dalib.run", *args, "--no-progress"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def records(root):
    return sorted((root / "results/cpu/sweepy").glob("*.json"))


def test_a_dead_kernel_fails_that_run_only_and_the_sweep_goes_on(proj):
    r = cli(proj, "sweepy", "-p", "die_at=2", "-p", "n=2")  # one run: the kernel dies
    assert r.returncode != 0 and "DeadKernelError" in r.stderr and "Traceback" not in r.stderr
    assert not records(proj)
    staging = proj / "results/cpu/.staging"
    before = set(staging.glob("failed-sweepy-*.ipynb"))
    assert len(before) == 1
    # in a sweep: n=2 dies, n=1 and n=3 complete; the summary names the failure and the kept notebook
    nb = proj / "notebooks/experiments/sweepy.md"
    nb.write_text(nb.read_text().replace("die_at = 0", "die_at = 2"))
    r = cli(proj, "sweepy")
    assert r.returncode == 1, r.stderr
    assert len(records(proj)) == 2
    assert "2 run, 1 failed" in r.stdout
    summary = r.stderr.split("dalib.run: failed runs:")[1]
    assert "DeadKernelError" in summary and "notebook kept: results/cpu/.staging/failed-sweepy-" in summary
    kept = sorted(set(staging.glob("failed-sweepy-*.ipynb")) - before)
    assert len(kept) == 1 and json.loads(kept[0].read_text())["cells"]
    assert kept[0].name in summary
    assert not [d for d in staging.iterdir() if d.is_dir()]  # no run folder left


def test_a_corrupt_record_is_listed_rerun_and_named(proj):
    from dalib.records import CorruptRecordError, load_rows

    assert cli(proj, "sweepy").returncode == 0
    first = records(proj)[0]
    whole = first.read_text()
    first.write_text(whole[: len(whole) // 2])  # truncated, as by a full disk or a bad copy
    with pytest.raises(CorruptRecordError, match=rf"{first.name} is corrupt: not valid JSON.*git checkout -- "):
        load_rows("sweepy")
    r = cli(proj, "--list")
    assert "CORRUPT" in r.stdout and "not valid JSON" in r.stdout
    r = cli(proj, "sweepy")
    assert r.returncode == 0 and "1 run, 0 failed, 2 up to date" in r.stdout
    assert json.loads(first.read_text())["tables"] == json.loads(whole)["tables"]
    # a record that parses but lacks a field every record has is not whole either
    rec = json.loads(whole)
    del rec["tables"]
    first.write_text(json.dumps(rec))
    with pytest.raises(CorruptRecordError, match="field 'tables' is missing"):
        load_rows("sweepy")
    assert "CORRUPT" in cli(proj, "--list").stdout


def test_custom_runs_stay_out_of_the_sweep_rows(proj):
    from dalib.records import RecordNotFoundError, load_rows

    assert cli(proj, "sweepy", "-p", "n=1", "-p", "seed=5").returncode == 0  # a user's own point
    with pytest.raises(RecordNotFoundError, match=r"no runs of its profile or sweep.*custom=True"):
        load_rows("sweepy")
    assert cli(proj, "sweepy").returncode == 0
    df = load_rows("sweepy")
    assert sorted(df["n"].unique()) == [1, 2, 3] and not df["custom"].any()
    assert len(df) == 6  # 1 + 2 + 3 rows: the -p point (n=1, seed 5) is not among them
    both = load_rows("sweepy", custom=True)
    assert len(both) == 7 and both["custom"].sum() == 1
    assert load_rows("sweepy", custom="only")["seed"].tolist() == [5]
    with pytest.raises(ValueError, match="custom must be one of"):
        load_rows("sweepy", custom="yes")


def _children(pid):
    """Process ids of ``pid``'s children (Linux /proc)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        kids += [int(c) for c in (task / "children").read_text().split()]
    return kids


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited


def _start_jobs(proj, gate):
    env = {**os.environ, "DALIB_ROOT": str(proj)}
    p = subprocess.Popen(
        [sys.executable, "-m", "dalib.run", "sweepy", "--jobs", "2", "--no-progress"],
        cwd=proj,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for _ in range(1200):  # both shards' kernels have started
        if len(list(Path(gate).parent.glob("release.*.started"))) >= 2 or p.poll() is not None:
            break
        time.sleep(0.05)
    assert len(list(Path(gate).parent.glob("release.*.started"))) >= 2, p.communicate()[1]
    return p


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_signals_to_the_jobs_parent_stop_its_shards(proj, tmp_path_factory, sig):
    gate = str(tmp_path_factory.mktemp("gate") / "release")
    nb = proj / "notebooks/experiments/sweepy.md"
    nb.write_text(nb.read_text().replace('gate = ""', f"gate = {gate!r}"))
    p = _start_jobs(proj, gate)
    try:
        shards = _children(p.pid)
        assert len(shards) == 2
        p.send_signal(sig)
        p.wait(timeout=60)
        for _ in range(600):  # the shards stop their runs and exit
            if not any(_alive(s) for s in shards):
                break
            time.sleep(0.1)
        assert not [s for s in shards if _alive(s)]
    finally:  # whatever happened, leave no process behind
        Path(gate).touch()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not records(proj)
    staging = proj / "results/cpu/.staging"
    assert not staging.exists() or not [d for d in staging.iterdir() if d.is_dir()]


def test_staging_of_another_host_is_never_removed(proj):
    from dalib.run.execute import OWNER_FILE, _remove_dead_staging

    staging = proj / "results/cpu/.staging"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = staging / f"sweepy-aaaa-{socket.gethostname()}-{dead.pid}"
    theirs = staging / f"sweepy-bbbb-node-b-{dead.pid}"
    alive = staging / f"sweepy-cccc-{socket.gethostname()}-{os.getpid()}"
    for d, host, pid in (
        (mine, socket.gethostname(), dead.pid),
        (theirs, "node-b", dead.pid),
        (alive, socket.gethostname(), os.getpid()),
    ):
        d.mkdir(parents=True)
        (d / OWNER_FILE).write_text(json.dumps({"host": host, "pid": pid}))
    _remove_dead_staging(staging)
    assert not mine.exists() and theirs.exists() and alive.exists()


def test_a_notebook_named_dots_md_is_refused(proj):
    bad = proj / "notebooks/experiments/...md"
    bad.write_text(SWEEP_NB)
    r = cli(proj, str(bad), "--dry-run")
    assert r.returncode == 2 and "names its records' folder" in r.stderr and "'..'" in r.stderr
    assert not list((proj / "results").glob("*.json"))


def test_cache_dependent_fields_live_beside_the_rows(proj):
    """A rerun that loads a model instead of training it changes only provenance: ``source`` and
    ``trained_now`` leave the rows for ``row_state``, and load_rows puts them back as columns."""
    from dalib.records import CorruptRecordError, load_rows
    from dalib.run.execute import split_row_state

    assert cli(proj, "sweepy").returncode == 0
    path = records(proj)[0]
    rec = json.loads(path.read_text())
    rows = [{"acc": 0.5, "source": "zoo", "trained_now": False}, {"acc": 0.6, "source": "trained", "trained_now": True}]
    tables = {"model": rows, "other": [{"x": 1}]}
    state = split_row_state(tables)
    assert tables == {"model": [{"acc": 0.5}, {"acc": 0.6}], "other": [{"x": 1}]}
    assert state == {"model": [{"source": "zoo", "trained_now": False}, {"source": "trained", "trained_now": True}]}
    rec["tables"].update(tables)
    rec["row_state"] = state
    path.write_text(json.dumps(rec))
    df = load_rows("sweepy", table="model")
    assert df["source"].tolist() == ["zoo", "trained"] and df["trained_now"].tolist() == [False, True]
    rec["row_state"]["model"] = state["model"][:1]  # one entry per row, or the record is not whole
    path.write_text(json.dumps(rec))
    with pytest.raises(CorruptRecordError, match="row_state of table 'model'"):
        load_rows("sweepy", table="model")
