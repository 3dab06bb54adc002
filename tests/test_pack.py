"""`python -m dalib.pack` and `make ladder-gpu`: a notebook's records, with the zoo entries and
ladder states they name, in one archive that unpacks into a checkout."""

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dalib.notebooks import RunError
from dalib.pack import pack

ROOT = Path(__file__).resolve().parents[1]


def test_pack_holds_the_records_and_every_zoo_entry_they_name(tmp_path):
    out = tmp_path / "ladder.tar.gz"
    names = pack("ladder", "cpu", out, ROOT)
    recs = [n for n in names if n.startswith("results/cpu/ladder/") and n.endswith(".json")]
    assert recs and all(n.replace(".json", ".ipynb") in names for n in recs)
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    for n in recs:
        for row in json.loads((tmp_path / "x" / n).read_text())["tables"]["rungs"]:
            w = tmp_path / "x" / "zoo" / row["zoo_file"]
            sha = (w.with_suffix(".sha256")).read_text().split()[0]
            assert hashlib.sha256(w.read_bytes()).hexdigest() == sha  # weights arrive whole
    assert any(n.startswith("zoo/ladder-states/") for n in names)  # the run can resume there too


def test_pack_refuses_records_whose_zoo_entries_are_missing(tmp_path):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    out = tmp_path / "a.tar.gz"
    with pytest.raises(RunError, match="does not hold"):
        pack("ladder", "cpu", out, ROOT, zoo=zoo)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("campaign, jobs", [("ladder", "LADDER_JOBS"), ("pair", "PAIR_JOBS")])
def test_the_gpu_command_runs_on_cpu_with_tiny_counts(tmp_path, campaign, jobs):
    """`make ladder-gpu` / `make pair-gpu` under the smoke profile (tiny counts, two runs at once)
    leave one archive with both records (the smoke models go to a scratch zoo, so no zoo entry
    travels)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    r = subprocess.run(
        ["make", "-s", f"{campaign}-gpu", "PROFILE=smoke", f"{jobs}=2", f"OUT={tmp_path}", f"PY={sys.executable}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    with tarfile.open(tmp_path / f"{campaign}-smoke.tar.gz") as tar:
        names = tar.getnames()
    assert sum(n.startswith(f"results/smoke/{campaign}/") and n.endswith(".json") for n in names) == 2
    if campaign == "pair":  # and its attacks and mechanism, measured by the same command
        for stem in ("asr_suite", "mechanism_suite"):
            assert sum(n.startswith(f"results/smoke/{stem}/") and n.endswith(".json") for n in names) >= 2, stem
