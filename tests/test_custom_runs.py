"""A user's ``-p`` run beside a sweep (the README invites "one more model") never changes or breaks
a chapter: on a copy of the committed depth-1 records with a second seed-0 ViT run added."""

import json
import shutil

import pytest

from dalib.paths import project_root


@pytest.fixture
def proj_with_custom_run(tmp_path, monkeypatch):
    repo = project_root()
    if not list((repo / "results/cpu/asr").glob("*.json")):
        pytest.skip("no committed cpu records of asr")
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(repo / "notebooks/experiments", tmp_path / "notebooks/experiments")
    shutil.copytree(repo / "results/cpu/asr", tmp_path / "results/cpu/asr")
    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    from dalib.records import load_rows

    before = load_rows("asr", table="asr")
    vit0 = before[(before["model"] == "vit") & (before["seed"] == 0)]["record"].iloc[0]
    rec = json.loads((tmp_path / vit0).read_text())
    # what `python -m dalib.run asr -p model=vit -p seed=0 -p "eps=[1]"` writes: the same model, its own key
    rec["overrides"] = {"model": "vit", "seed": 0, "eps": [1]}
    (tmp_path / "results/cpu/asr/custom0000001.json").write_text(json.dumps({**rec, "key": rec["key"]}))
    return tmp_path, before


def test_a_custom_run_does_not_enter_the_chapter(proj_with_custom_run):
    from dalib.analysis import paired_comparison
    from dalib.records import load_rows

    _, before = proj_with_custom_run
    after = load_rows("asr", table="asr")
    assert len(after) == len(before) and not after["custom"].any()
    a, b = {"model": "vit"}, {"model": "diffvit", "lambda_init": "0.8"}
    pgd = lambda df: df[
        (df["attack_kind"] == "pgd_linf")
        & (df["attack_labels"] == "clean_pred")  # noqa: E731
        & (df["model"].eq("vit") | df["lambda_init"].astype(str).eq("0.8"))
    ].assign(lambda_init=lambda d: d["lambda_init"].astype(str))
    got = paired_comparison(pgd(after), a, b)
    want = paired_comparison(pgd(before), a, b)
    assert got.equals(want)
    both = load_rows("asr", table="asr", custom=True)
    assert both["custom"].sum() > 0
    # a comparison fed both runs of seed 0 says what is wrong, not "too many values to unpack"
    with pytest.raises(ValueError, match=r"seed\(s\) \[0\] appear in more than one row .*custom=True"):
        paired_comparison(pgd(both), a, b)
