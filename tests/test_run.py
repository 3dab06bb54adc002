"""The experiment runner (`python -m dalib.run`) on a throw-away project with a tiny notebook.

Parameter validation is tested in-process with the executor replaced by a tripwire, so "no kernel
started" is checked directly. A few end-to-end runs (each starts a kernel, about 1-2 s) check the
record, skipping, --force, failures and interruption.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dalib import run as runner

FRONT = """\
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
  kind: {kind}
  profiles:
    smoke: {{n: 2}}
    paper: {{n: 50, scale: 2e-1}}
---
"""

DEMO = (
    FRONT.format(kind="experiment")
    + """
# Pipeline self-check

```{code-cell} ipython3
:tags: [parameters]

n = 3  # number of rows
scale = 0.5  # multiplier (float)
model = "vit"  # registry key
verbose = False  # print more
seed = 0  # RNG seed
device = "auto"  # torch device
gate = ""  # path of a file to wait for ("" = no wait); used to interrupt runs mid-way
fail = False  # raise inside the notebook
```

```{code-cell} ipython3
import os
import time
from pathlib import Path

from dalib.records import set_meta, write_rows

if gate:
    Path(gate + ".started").touch()
    while not os.path.exists(gate):
        time.sleep(0.05)
if fail:
    raise ValueError("selftest failure requested")
set_meta(device="cpu")
write_rows([{"i": i, "value": i * scale, "model": model} for i in range(n)])
write_rows([{"total": n * scale}], table="summary")
```
"""
)


def _git(root, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=root, check=True, capture_output=True
    )


@pytest.fixture
def proj(tmp_path, monkeypatch):
    """A project root with notebooks/experiments/demo.md, a same-stem theory notebook 'dup'."""
    nbs = tmp_path / "notebooks"
    for sub in ("experiments", "benchmarks", "theory"):
        (nbs / sub).mkdir(parents=True)
    (nbs / "experiments" / "demo.md").write_text(DEMO)
    (nbs / "experiments" / "dup.md").write_text(DEMO)
    (nbs / "theory" / "dup.md").write_text(DEMO)
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    monkeypatch.delenv("DALIB_RUN_DIR", raising=False)
    monkeypatch.delenv("DALIB_PROFILE", raising=False)
    return tmp_path


def _patch_execute(monkeypatch, fn):
    """Replace the runner's executor wherever it calls it (the command line, the local backend)."""
    import dalib.run.backends.local

    monkeypatch.setattr(runner.cli, "execute", fn)
    monkeypatch.setattr(dalib.run.backends.local, "execute", fn)


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if the runner gets as far as executing a notebook."""

    def tripwire(*a, **k):
        raise AssertionError("a kernel would have been started")

    _patch_execute(monkeypatch, tripwire)


def cli(root, *args, timeout=120):
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


def demo(root):
    return runner.load_notebook(root / "notebooks/experiments/demo.md", root)


# ---------------------------------------------------------------------------------------------
# validation: before any kernel


def test_unknown_parameter_names_it_and_starts_no_kernel(proj, no_kernel, capsys):
    assert runner.main(["demo", "-p", "not_a_param=1"]) == 2
    err = capsys.readouterr().err
    assert "not_a_param" in err and "valid parameters" in err and "scale (float" in err
    assert not (proj / "results").exists()


def test_unknown_parameter_cli_exit_code(proj):
    r = cli(proj, "demo", "-p", "not_a_param=1")
    assert r.returncode == 2
    assert "not_a_param" in r.stderr
    assert not (proj / "results").exists()


@pytest.mark.parametrize(
    "pair, fragment",
    [
        ("n=1.5", "'n' (-p) must be int"),
        ("n=True", "'n' (-p) must be int"),
        ("verbose=1", "'verbose' (-p) must be bool"),
        ("scale='x'", "'scale' (-p) must be float"),
    ],
)
def test_wrong_type_is_rejected(proj, no_kernel, capsys, pair, fragment):
    assert runner.main(["demo", "-p", pair]) == 2
    assert fragment in capsys.readouterr().err


def test_parameters_cell_is_parsed_with_literal_defaults(proj):
    params = demo(proj).params
    assert list(params) == ["n", "scale", "model", "verbose", "seed", "device", "gate", "fail"]
    assert params["scale"].default == 0.5 and params["scale"].comment == "multiplier (float)"
    assert params["model"].default == "vit" and params["verbose"].default is False


def test_profile_merge_defaults_profile_then_overrides(proj):
    nb = demo(proj)
    cpu, _ = runner.resolve_parameters(nb, "cpu")
    assert cpu["n"] == 3 and cpu["scale"] == 0.5  # no cpu overrides: defaults
    smoke, _ = runner.resolve_parameters(nb, "smoke")
    assert smoke["n"] == 2 and smoke["scale"] == 0.5
    paper, given = runner.resolve_parameters(nb, "paper", {"n": "7", "model": "diffvit"})
    assert paper["n"] == 7 and paper["model"] == "diffvit"  # -p beats the profile; bare string ok
    assert paper["scale"] == 0.2  # YAML reads 2e-1 as a string: parsed against the float default
    assert given == {"n": 7, "model": "diffvit"}
    smoke, _ = runner.resolve_parameters(nb, "smoke", {"scale": "2"})
    assert smoke["scale"] == 2.0 and isinstance(smoke["scale"], float)  # int accepted for float
    eps, _ = runner.resolve_parameters(nb, "cpu", {"scale": "2/255", "model": "'vit_small'"})
    assert eps["scale"] == 2 / 255 and eps["model"] == "vit_small"  # arithmetic; quoted string


def test_key_depends_on_source_and_parameters(proj):
    nb = demo(proj)
    k = runner.plan(nb, "cpu", None, proj).key
    assert runner.plan(nb, "cpu", {"n": "3"}, proj).key == k  # same resolved parameters
    assert runner.plan(nb, "cpu", {"n": "4"}, proj).key != k
    code = nb.text
    nb.text = code.replace("# Pipeline self-check", "# Pipeline self-check, with a typo fixed\n\nMore prose.")
    assert nb.text != code and runner.plan(nb, "cpu", None, proj).key == k  # prose is not hashed
    nb.text = code.replace('write_rows([{"total"', 'write_rows([{"sum"')
    assert runner.plan(nb, "cpu", None, proj).key != k  # any code change is


def test_prose_edit_keeps_records_current(proj):
    """Editing a markdown cell of a notebook never makes its records stale (records.is_current)."""
    from dalib.records import is_current

    nb = demo(proj)
    p = runner.plan(nb, "cpu", None, proj)
    record = {"key": p.key, "params": p.params}
    assert is_current(record, nb.text)
    assert is_current(record, nb.text.replace("# Pipeline self-check", "# Pipeline self-check (edited)"))
    assert not is_current(record, nb.text.replace("n * scale", "n * scale * 2"))


def test_unknown_parameter_in_profile_front_matter(proj, no_kernel, capsys):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("smoke: {n: 2}", "smoke: {n_imgs: 2}"))
    assert runner.main(["demo", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "n_imgs" in err and "dalib.profiles.smoke" in err


def test_stem_resolution(proj, no_kernel, capsys):
    assert runner.resolve_notebook("demo", proj) == (proj / "notebooks/experiments/demo.md").resolve()
    assert runner.resolve_notebook("notebooks/theory/dup.md", proj).parent.name == "theory"
    with pytest.raises(runner.RunError, match="ambiguous") as e:
        runner.resolve_notebook("dup", proj)
    assert "notebooks/theory/dup.md" in str(e.value) and "notebooks/experiments/dup.md" in str(e.value)
    with pytest.raises(runner.RunError, match="candidates") as e:
        runner.resolve_notebook("dem", proj)
    assert "notebooks/experiments/demo.md" in str(e.value)
    assert runner.main(["nope"]) == 2 and "no notebook 'nope'" in capsys.readouterr().err


def test_all_reports_a_broken_notebook_and_exits_nonzero(proj, no_kernel, capsys):
    (proj / "notebooks/benchmarks/broken.md").write_text(DEMO.replace("smoke: {n: 2}", "smoke: {nn: 2}"))
    assert runner.main(["--all", "--profile", "smoke", "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "'nn'" in err and "notebooks/benchmarks/broken.md" in err


def test_dry_run_and_list_start_nothing(proj, no_kernel, capsys):
    assert runner.main(["demo", "--dry-run", "-p", "n=5"]) == 0
    out = capsys.readouterr().out
    assert "n=5" in out and "pending" in out
    assert runner.main(["--list", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "notebooks/experiments/demo.md" in out and "n=2" in out
    assert not (proj / "results").exists()


def test_sweep_makes_one_run_per_grid_point(proj, no_kernel, capsys):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: {model: [vit, diffvit], n: [1, 2]}}\n  profiles:"))
    nb = demo(proj)
    plans = runner.profile_plans(nb, "cpu", proj)
    assert [(p.params["model"], p.params["n"]) for p in plans] == [
        ("vit", 1),
        ("vit", 2),
        ("diffvit", 1),
        ("diffvit", 2),
    ]
    assert len({p.key for p in plans}) == 4 and plans[0].sweep == {"model": "vit", "n": 1}
    assert len(runner.profile_plans(nb, "smoke", proj)) == 1  # no sweep for smoke
    assert runner.main(["--list"]) == 0 and capsys.readouterr().out.count("demo.md  [cpu]") == 4
    assert runner.main(["demo", "--dry-run"]) == 0 and capsys.readouterr().out.count("would run") == 4
    path.write_text(DEMO.replace("  profiles:", "  sweep: {n: [1, 2.5]}\n  profiles:"))
    with pytest.raises(runner.RunError, match="must be int"):
        runner.profile_plans(demo(proj), "cpu", proj)


# ---------------------------------------------------------------------------------------------
# records (no kernel)


def test_write_rows_outside_the_runner_writes_nothing(proj, capsys):
    import numpy as np

    from dalib.records import write_rows

    rows = write_rows([{"a": np.float32(0.5), "b": np.int64(2)}])
    assert rows == [{"a": 0.5, "b": 2}] and type(rows[0]["b"]) is int
    assert "not under the runner" in capsys.readouterr().out
    assert not (proj / "results").exists()
    with pytest.raises(TypeError, match="column 'c'"):
        write_rows([{"c": [1, 2]}])


def test_load_rows_without_record_names_the_command(proj):
    from dalib.records import RecordNotFoundError, load_rows

    with pytest.raises(RecordNotFoundError, match=r"python -m dalib\.run demo --profile smoke"):
        load_rows("demo", profile="smoke")


def test_a_rows_own_column_wins_over_the_records_provenance(proj):
    """A run that trains several seeds writes each row's ``seed``; the record's run ``seed`` (provenance)
    must not overwrite it (it did, silently, for the kernels benchmark's curves)."""
    import json

    from dalib.records import load_rows

    folder = proj / "results" / "smoke" / "demo"
    folder.mkdir(parents=True)
    rec = {
        "notebook": "notebooks/experiments/demo.md",
        "stem": "demo",
        "key": "k",
        "profile": "smoke",
        "params": {},
        "overrides": {},
        "sweep": {},
        "finished": "2026-12-07T00:00:00+00:00",
        "seed": 0,
        "device": "cpu",
        "tables": {"results": [{"seed": 3, "v": 1.0}, {"seed": 4, "v": 2.0}]},
    }
    (folder / "k.json").write_text(json.dumps(rec))
    df = load_rows("demo", profile="smoke", runs="all")
    assert df["seed"].tolist() == [3, 4] and df["device"].tolist() == ["cpu", "cpu"]
    assert list(df.columns[:2]) == ["seed", "v"]  # the row's columns first, then provenance


# ---------------------------------------------------------------------------------------------
# end to end (each run starts a kernel)


def test_run_writes_record_skips_then_force_reruns(proj):
    from dalib.records import caption_source, load_rows, records_for

    _git(proj, "init", "-q")
    _git(proj, "add", ".")
    _git(proj, "commit", "-q", "-m", "init")
    r = cli(proj, "demo", "-p", "scale=2")
    assert r.returncode == 0, r.stderr
    nb = demo(proj)
    pl = runner.plan(nb, "cpu", {"scale": "2"}, proj)
    rec = json.loads(pl.record.read_text())
    assert pl.executed.exists() and json.loads(pl.executed.read_text())["cells"]
    assert rec["notebook"] == "notebooks/experiments/demo.md" and rec["key"] == pl.key
    assert rec["params"]["scale"] == 2.0 and rec["overrides"] == {"scale": 2.0}
    assert rec["profile"] == "cpu" and rec["seed"] == 0
    assert len(rec["git_commit"]) == 40 and rec["git_dirty"] is False
    assert rec["torch_version"] and rec["timm_version"] and rec["numpy_version"] and rec["python_version"]
    assert rec["device"] == "cpu" and rec["device_source"] == "notebook"
    assert rec["wall_time_s"] > 0 and rec["started"] <= rec["finished"] and rec["cpu_count"] >= 1
    assert rec["tables"]["results"] == [{"i": i, "value": i * 2.0, "model": "vit"} for i in range(3)]
    assert rec["tables"]["summary"] == [{"total": 6.0}]
    assert not (proj / "results/cpu/.staging").exists()

    # load_rows round trip
    df = load_rows("demo", custom=True)  # a -p run: not among the profile's own runs
    assert df["value"].tolist() == [0.0, 2.0, 4.0]
    assert set(df["param.scale"]) == {2.0} and set(df["record"]) == {f"results/cpu/demo/{pl.key}.json"}
    for col in ("git_commit", "profile", "device", "wall_time_s", "torch_version", "pyautoattack_version"):
        assert df[col].notna().all()
    assert rec["pyautoattack_version"] == df["pyautoattack_version"].iloc[0]  # the AutoAttack rows state it
    assert load_rows("demo", table="summary", custom="only")["total"].tolist() == [6.0]
    assert f"results/cpu/demo/{pl.key}.json" in caption_source(df)
    assert "notebooks/experiments/demo.md" in caption_source(df)
    import pandas as pd

    many = pd.concat([df.assign(record=f"results/cpu/demo/k{i}.json") for i in range(5)])
    assert caption_source(many).endswith("5 records in results/cpu/demo/ (each listed on the Runs page)")
    assert "k4.json" in caption_source(many, max_listed=5)
    assert df["custom"].all()

    # second run: skipped
    mtime = pl.record.stat().st_mtime_ns
    r = cli(proj, "demo", "-p", "scale=2")
    assert r.returncode == 0 and "up to date" in r.stdout
    assert pl.record.stat().st_mtime_ns == mtime

    # --force: rerun, new record replaces the old one
    r = cli(proj, "demo", "-p", "scale=2.0", "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads(pl.record.read_text())["finished"] >= rec["finished"]
    assert pl.record.stat().st_mtime_ns != mtime
    assert records_for("demo") == [pl.record]

    # editing the notebook's code makes the record stale: load_rows no longer reads it, but can
    nb_path = proj / "notebooks/experiments/demo.md"
    nb_path.write_text(nb_path.read_text() + "\n```{code-cell} ipython3\nprint('an edit')\n```\n")
    with pytest.raises(FileNotFoundError, match="stale"):
        load_rows("demo", custom=True)
    assert len(load_rows("demo", runs="all", custom=True)) == 3


def test_failing_notebook_exits_nonzero_with_the_error_and_no_record(proj):
    r = cli(proj, "demo", "-p", "fail=True")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "selftest failure requested" in r.stderr
    assert not list((proj / "results").glob("cpu/demo/*.json"))


def _start_gated(proj, gate):
    env = {**os.environ, "DALIB_ROOT": str(proj)}
    p = subprocess.Popen(
        [sys.executable, "-m", "dalib.run", "demo", "-p", f"gate={gate}", "--no-progress"],
        cwd=proj,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = Path(gate + ".started")
    for _ in range(1200):  # the kernel has started once the notebook touches the marker
        if started.exists() or p.poll() is not None:
            break
        time.sleep(0.05)
    assert started.exists(), p.communicate()[1]
    return p


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_interrupted_run_leaves_no_record_and_reruns(proj, tmp_path_factory, sig):
    gate = str(tmp_path_factory.mktemp("gate") / "release")
    p = _start_gated(proj, gate)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode != 0 and "interrupted" in err
    folder = proj / "results/cpu/demo"
    assert not folder.exists() or not list(folder.iterdir())  # no record, no half-written file
    assert not list((proj / "results/cpu").glob(".staging/*"))

    Path(gate).touch()  # the rerun (same parameters, same key) passes the gate and completes
    r = cli(proj, "demo", "-p", f"gate={gate}")
    assert r.returncode == 0, r.stderr
    assert len(list(folder.glob("*.json"))) == 1 and len(list(folder.glob("*.ipynb"))) == 1


def test_sweep_list_of_grids_is_their_union_without_duplicates(proj, no_kernel):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(
        DEMO.replace(
            "  profiles:",
            "  sweep:\n    cpu:\n      - {model: [vit, diffvit], n: [1]}\n"
            "      - {model: [diffvit], n: [1, 2]}\n  profiles:",
        )
    )
    plans = runner.profile_plans(demo(proj), "cpu", proj)
    # (diffvit, 1) is in both grids: it runs once
    assert [(p.params["model"], p.params["n"]) for p in plans] == [("vit", 1), ("diffvit", 1), ("diffvit", 2)]
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: [{model: [vit]}, {}]}\n  profiles:"))
    with pytest.raises(runner.RunError, match="grid"):
        demo(proj)
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: [{nope: [1]}]}\n  profiles:"))
    with pytest.raises(runner.RunError, match="nope"):
        runner.profile_plans(demo(proj), "cpu", proj)


def test_shard_splits_pending_runs_and_bad_shard_is_rejected(proj, monkeypatch, capsys):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: {n: [1, 2, 3, 4, 5]}}\n  profiles:"))
    ran = {}

    def fake_execute(pl, root, **kw):
        ran.setdefault("n", []).append(pl.params["n"])
        return {"wall_time_s": 0.0}

    _patch_execute(monkeypatch, fake_execute)
    assert runner.main(["demo", "--shard", "1/2"]) == 0
    assert ran["n"] == [2, 4]
    ran.clear()
    assert runner.main(["demo", "--shard", "0/2"]) == 0
    assert ran["n"] == [1, 3, 5]
    for bad in ("2/2", "x", "1/0"):
        assert runner.main(["demo", "--shard", bad]) == 2
        assert "--shard must be K/N" in capsys.readouterr().err
    assert runner.main(["demo", "--jobs", "0"]) == 2


def test_jobs_runs_the_sweep_in_parallel_processes(proj):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: {n: [1, 2, 3]}}\n  profiles:"))
    r = cli(proj, "demo", "--jobs", "2", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "3 pending run(s) in 2 processes" in r.stdout
    assert sorted(
        len(json.loads(p.read_text())["tables"]["results"]) for p in (proj / "results/cpu/demo").glob("*.json")
    ) == [1, 2, 3]
    r = cli(proj, "demo", "--jobs", "2")
    assert r.returncode == 0 and "0 run, 0 failed, 3 up to date" in r.stdout


def test_notebook_parameters_resolves_profile_and_overrides(proj):
    p = runner.notebook_parameters("demo", "smoke", {"scale": 3, "model": "diffvit"}, root=proj)
    assert p["n"] == 2 and p["scale"] == 3.0 and p["model"] == "diffvit"
    with pytest.raises(runner.RunError, match="nope"):
        runner.notebook_parameters("demo", "smoke", {"nope": 1}, root=proj)
    with pytest.raises(runner.RunError, match="unknown profile"):
        runner.notebook_parameters("demo", "gpu", root=proj)
    with pytest.raises(runner.RunError, match="must be int"):
        runner.notebook_parameters("demo", "cpu", {"n": "many"}, root=proj)


def test_legacy_record_keys_still_count(proj):
    """A record written before keys hashed code cells only (its key hashes the whole text) is done
    and current while the notebook text is unchanged, and a --force rerun replaces it."""
    from dalib.records import load_rows, records_for

    nb = demo(proj)
    pl = runner.plan(nb, "cpu", {"scale": "3.0"}, proj)
    r = cli(proj, "demo", "-p", "scale=3.0")
    assert r.returncode == 0, r.stderr
    rec = json.loads(pl.record.read_text())
    legacy_key = runner.legacy_run_key(nb.text, pl.params)
    assert legacy_key != pl.key and pl.legacy_record.name == f"{legacy_key}.json"
    pl.legacy_record.write_text(json.dumps({**rec, "key": legacy_key}))  # as an old runner wrote it
    pl.record.unlink()
    pl.executed.unlink()
    again = runner.plan(nb, "cpu", {"scale": "3.0"}, proj)
    assert again.done and again.existing == pl.legacy_record
    assert records_for("demo") == [pl.legacy_record]
    assert load_rows("demo", custom=True)["value"].tolist() == [0.0, 3.0, 6.0]
    r = cli(proj, "demo", "-p", "scale=3.0")
    assert r.returncode == 0 and "up to date" in r.stdout and pl.legacy_record.name in r.stdout
    r = cli(proj, "demo", "-p", "scale=3.0", "--force")
    assert r.returncode == 0, r.stderr
    assert pl.record.exists() and not pl.legacy_record.exists()
    assert records_for("demo") == [pl.record]


def test_shards_agree_on_owners_when_runs_finish_in_between(proj, monkeypatch):
    """The shard race: process 0 plans, then run n=1 finishes (its record appears), then process 1
    plans. Filtering before sharding would give process 1 a shifted pending list, so that one run
    is skipped by both and another run twice. Sharding the whole plan keeps every owner fixed."""
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  sweep: {cpu: {n: [1, 2, 3, 4, 5]}}\n  profiles:"))
    ran = []

    def fake_execute(pl, root, **kw):
        ran.append(pl.params["n"])
        pl.record.parent.mkdir(parents=True, exist_ok=True)
        pl.record.write_text("{}")  # the run is now done for everyone who looks later
        return {"wall_time_s": 0.0}

    _patch_execute(monkeypatch, fake_execute)
    assert runner.main(["demo", "--shard", "0/2"]) == 0  # runs 1, 3, 5; the others see them done
    assert runner.main(["demo", "--shard", "1/2"]) == 0  # still owns 2 and 4, whatever finished
    assert sorted(ran) == [1, 2, 3, 4, 5] and len(ran) == 5
    plans = runner.profile_plans(demo(proj), "cpu", proj)
    owners = [runner.shard_plans(plans, (k, 2)) for k in range(2)]
    assert [p.params["n"] for p in owners[0]] == [1, 3, 5] and [p.params["n"] for p in owners[1]] == [2, 4]


@pytest.mark.parametrize(
    "stem, override, message",
    [
        ("train", "model=vitt", "unknown model 'vitt'"),
        ("train", "depth=0", "'depth' must be a positive int, got 0"),
        ("train", "lr=-1", "lr must be a number in (0, 10], got -1"),
        ("asr", "depth=0", "'depth' must be a positive int, got 0"),
        ("asr", "n_eval_cw=5000", "n_eval_cw must be an int in [0, n_eval=1000], got 5000"),
        ("asr", "eps=[0]", "eps must be a list of budgets in (0, 255] (units of 1/255), got [0]"),
        ("mechanism", "n_exact=900", "n_exact must be an int in [0, n_images=500], got 900"),
        ("mechanism", "train_profile=fast", "train_profile must be one of"),
    ],
)
def test_bad_values_are_rejected_before_any_kernel(monkeypatch, capsys, stem, override, message):
    """The notebooks' front-matter validators run in plan(): --dry-run already says what is wrong."""
    monkeypatch.delenv("DALIB_ROOT", raising=False)
    _patch_execute(monkeypatch, lambda *a, **k: pytest.fail("a kernel was started"))
    assert runner.main([stem, "-p", override, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"notebooks/experiments/{stem}.md: bad parameter value" in err and message in err
    assert runner.main([stem, "-p", override]) == 2


def test_validator_must_be_importable(proj):
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  validator: dalib.nowhere.check\n  profiles:"))
    with pytest.raises(runner.RunError, match="cannot be imported"):
        runner.plan(demo(proj), "cpu", None, proj)
    path.write_text(DEMO.replace("  profiles:", "  validator: not a function\n  profiles:"))
    with pytest.raises(runner.RunError, match="must name a function"):
        demo(proj)


def test_missing_input_found_by_a_validator_is_an_error_line_not_a_traceback(proj, no_kernel, monkeypatch, capsys):
    """A validator that finds the weights or data absent (FileNotFoundError, e.g. the CLIP weights)
    makes a RunError: one error line naming the notebook, and --list goes on with the others."""
    (proj / "needs_file.py").write_text(
        "def check(params):\n    raise FileNotFoundError('weights.pt is not at /w; download it from X')\n"
    )
    monkeypatch.syspath_prepend(str(proj))
    path = proj / "notebooks/experiments/demo.md"
    path.write_text(DEMO.replace("  profiles:", "  validator: needs_file.check\n  profiles:"))
    with pytest.raises(runner.RunError, match="demo.md: missing input: weights.pt is not at /w; download it from X"):
        runner.plan(demo(proj), "cpu", None, proj)
    assert runner.main(["--list"]) == 1
    out, err = capsys.readouterr()
    assert "missing input: weights.pt" in err and "Traceback" not in err
    assert "notebooks/experiments/dup.md" in out  # the other notebooks are still listed


def test_records_do_not_import_the_runner():
    """dalib.records stands on dalib.notebooks, not on dalib.run (no import circle)."""
    import ast as _ast

    for mod in ("records", "notebooks"):
        tree = _ast.parse((Path(runner.__file__).parents[1] / f"{mod}.py").read_text())
        imported = {n.module for n in _ast.walk(tree) if isinstance(n, _ast.ImportFrom) and n.module}
        imported |= {a.name for n in _ast.walk(tree) if isinstance(n, _ast.Import) for a in n.names}
        assert "dalib.run" not in imported, f"dalib/{mod}.py imports dalib.run"


def test_where_selects_sweep_points_by_parameter():
    from types import SimpleNamespace

    from dalib.run import RunError, where_filter

    plans = [
        SimpleNamespace(params=dict(model=m, depth=d, lambda_init="0.8", recipe=r, eps=e))
        for m in ("vit", "diffvit")
        for d in (1, 4)
        for r in ({}, {"adv_eps": 0.5})
        for e in ([1], [1, 2])
    ]
    assert where_filter(plans, []) is plans
    got = where_filter(plans, ["model=vit", "depth=4"])
    assert len(got) == 4 and all(p.params["model"] == "vit" and p.params["depth"] == 4 for p in got)
    assert len(where_filter(plans, ["recipe={'adv_eps': 0.5}", "eps=[1, 2]"])) == 4
    assert len(where_filter(plans, ["lambda_init=0.8"])) == 16  # text parameters compare as text
    assert where_filter(plans, ["depth=12"]) == []
    with pytest.raises(RunError, match=r"no planned run has a parameter 'seed'"):
        where_filter(plans, ["seed=0"])


def test_where_on_the_command_line(capsys):
    from dalib.run import main

    assert main(["asr_suite", "--dry-run", "--where", "dataset=cifar10", "--where", "eps=[0.25, 0.5, 1]"]) == 0
    out = capsys.readouterr().out
    from dalib.paths import project_root
    from dalib.run import load_notebook, profile_plans, resolve_notebook

    root = project_root()
    plans = profile_plans(load_notebook(resolve_notebook("asr_suite", root), root), "cpu", root)
    want = [p for p in plans if p.params["dataset"] == "cifar10" and p.params["eps"] == [0.25, 0.5, 1]]
    assert want and f"profile cpu: {len(want)} run(s)" in out and "tiny-imagenet" not in out  # Table 3
    assert main(["asr_suite", "--where", "depth=1", "-p", "seed=1"]) == 2
    assert "--where selects points of a sweep" in capsys.readouterr().err


def test_skipped_profile_has_no_runs_and_says_why(proj, no_kernel, capsys):
    text = DEMO.replace("  profiles:\n", '  skip:\n    cpu: "needs weights that are not shipped"\n  profiles:\n', 1)
    (proj / "notebooks/experiments/demo.md").write_text(text)
    nb = demo(proj)
    assert nb.skip == {"cpu": "needs weights that are not shipped"}
    assert runner.profile_plans(nb, "cpu", proj) == [] and len(runner.profile_plans(nb, "smoke", proj)) == 1
    assert runner.main(["demo", "--profile", "cpu"]) == 2
    assert "no runs under profile 'cpu': needs weights that are not shipped" in capsys.readouterr().err
    (proj / "notebooks/experiments/demo.md").write_text(
        text.replace('cpu: "needs', 'cpu: ["needs').replace('shipped"', 'shipped"]')
    )
    with pytest.raises(runner.RunError, match="dalib.skip must map profile"):
        demo(proj)
