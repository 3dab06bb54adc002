"""The paper-quality pair on the scorecard (dalib.claims.pair): its recipe is pair.md's, its lines sit
beneath the artifacts until it has LEAD_SEEDS seeds, and then its verdicts lead the artifacts' rows
with the headline pair's verdict on a line beneath. The pair's records are simulated here by the
headline pair's committed cpu records under the pair's name (so its verdicts must equal the
headline's)."""

import pandas as pd
import pytest

from dalib import mechanism as mech
from dalib import scorecard
from dalib.claims import depth1, pair, registry
from dalib.records import load_rows
from dalib.run import notebook_parameters


def test_the_pair_recipe_is_what_pair_md_changes_in_the_train_recipe():
    p, t = notebook_parameters("pair", "cpu"), notebook_parameters("train", "cpu")
    changed = {k: v for k, v in p.items() if k in t and t[k] != v and k not in ("save_to_zoo", "num_threads")}
    assert pair.PAIR_RECIPE == {**changed, "stem": p["stem"]}
    assert pair.is_pair(dict(pair.PAIR_RECIPE)) and pair.is_pair(
        '{"stem": "conv", "embed_dim": 256, "num_heads": 8, '
        '"epochs": 100, "lr": 0.0005, "lr_schedule": "constant", '
        '"augment": true}'
    )
    assert not pair.is_pair({**pair.PAIR_RECIPE, "epochs": 8}) and not pair.is_pair("not json")


@pytest.fixture
def simulated_pair(monkeypatch):
    """The pair's rows = the headline pair's (ViT, DiffViT at λ_init 0.8), on ``seeds`` seeds."""
    asr = depth1.attack_rows("cpu")
    asr = asr[(asr["model"] == "vit") | (asr["lambda_init"] == "0.8")]
    lip = mech.long_table(load_rows("mechanism", table="lipschitz", profile="cpu"))
    jac = mech.long_table(load_rows("mechanism", table="jacobian", profile="cpu"))
    lip, jac = (d.assign(lambda_init=d["lambda_init"].astype(str)) for d in (lip, jac))
    lip, jac = (d[d["model"].isin(["vit", "diffvit"])] for d in (lip, jac))

    def use(seeds):
        keep = set(range(seeds))
        monkeypatch.setattr(pair, "attack_rows", lambda profile=None: asr[asr["seed"].isin(keep)])
        monkeypatch.setattr(
            pair, "mechanism_rows", lambda profile=None: (lip[lip["seed"].isin(keep)], jac[jac["seed"].isin(keep)])
        )
        monkeypatch.setattr(registry, "_MEMO", {})
        return scorecard.scorecard("cpu")

    return use


def test_the_pair_leads_its_artifacts_from_four_seeds(simulated_pair):
    before = simulated_pair(0).set_index("artifact")  # no pair seeds: the scorecard as it is
    card = simulated_pair(8)
    rows = card.set_index("artifact")
    for art in ("Fig. 2a", "Fig. 2c", "Fig. 4", "Fig. 5"):
        assert rows.loc[art, "status"] == before.loc[art, "status"], art  # the same records under another name
        assert "clean accuracy" in rows.loc[art, "ours"] and "8 seeds" in rows.loc[art, "ours"], art
        moved = rows.loc[f"{art}, headline pair (8 epochs)"]
        assert moved["status"] == before.loc[art, "status"] and moved["scope"] == "headline pair"
        assert moved["ours"] == before.loc[art, "ours"]
    assert rows.loc["Fig. 2a", "accuracy"] == pytest.approx(
        depth1.attack_rows("cpu").query("model == 'vit' or lambda_init == '0.8'")["train_clean_accuracy"].mean()
    )
    # leading lines are not repeated beneath; Table 1's sweep, not run on the pair, is marked as such
    assert list(card.loc[card["artifact"].str.contains("paper-quality pair"), "artifact"]) == [
        "Table 1, paper-quality pair (8 seeds)"
    ]
    mark = rows.loc["Table 1, paper-quality pair (8 seeds)"]
    assert mark["status"] == "not yet run" and mark["ours"].startswith("not run at this quality")
    assert rows.loc["Table 1", "status"] == before.loc["Table 1", "status"]  # the headline's verdict stays
    assert card["artifact"].is_unique


def test_below_four_seeds_the_pair_is_a_line_beneath(simulated_pair):
    card = simulated_pair(3)
    rows = card.set_index("artifact")
    assert card["artifact"].is_unique
    lines = card[card["scope"] == "pair"]
    assert {"Fig. 2a, paper-quality pair (3 seeds)", "Fig. 2a, AutoAttack, paper-quality pair (3 seeds)"} <= set(
        lines["artifact"]
    )
    assert not (card["scope"] == "headline pair").any()
    assert "clean accuracy" not in rows.loc["Fig. 2a", "ours"]  # the headline pair still leads
    assert isinstance(rows.loc["Fig. 2a", "status"], str)
    assert pd.notna(lines["accuracy"]).all()


@pytest.mark.parametrize("profile, seeds", [("cpu", 8), ("paper", 8), ("smoke", 1)])
def test_the_suites_measure_the_pair_by_its_recipe(profile, seeds):
    """asr_suite and mechanism_suite have points for both models of the pair under each profile, with
    the recipe pair_recipe computes from pair.md and train.md (front matter: adding them stales no
    record)."""
    from pathlib import Path

    from dalib.notebooks import resolve_notebook
    from dalib.run.notebook import load_notebook
    from dalib.run.plan import profile_plans

    root = Path(__file__).resolve().parents[1]
    if profile == "cpu":
        assert pair.pair_recipe("cpu") == pair.PAIR_RECIPE
    for stem in ("asr_suite", "mechanism_suite"):
        nb = load_notebook(resolve_notebook(stem, root), root)
        pts = [p for p in profile_plans(nb, profile, root) if pair.is_pair(p.params.get("recipe"), profile)]
        assert {(p.params["model"], p.params["seed"]) for p in pts} == {
            (m, s) for m in ("vit", "diffvit") for s in range(seeds)
        }, stem


@pytest.mark.parametrize("profile", ["cpu", "paper", "smoke"])
@pytest.mark.parametrize("model", ["vit", "diffvit"])
def test_the_suites_load_the_model_pair_md_trains(model, profile):
    """The suites' recipe resolves to the same training configuration (hash) as pair.md's run, so they
    load its zoo entry rather than train another."""
    from dalib.train import config_from_parameters, config_hash, recipe_of

    suite = recipe_of(
        dict(
            train_profile=profile,
            model=model,
            depth=1,
            lambda_init="0.8",
            seed=3,
            dataset="cifar10",
            recipe=pair.pair_recipe(profile),
        )
    )
    p = notebook_parameters("pair", profile, {"model": model, "seed": 3})
    own = {k: p[k] for k in suite if k in p}
    assert config_hash(config_from_parameters(suite)) == config_hash(config_from_parameters(own))


# what a suite notebook's point shares with its chapter notebook but does not set for the model
_RUN_ONLY = {"model", "seed", "depth", "lambda_init", "dataset", "train_profile", "recipe", "device", "num_threads"}


@pytest.mark.parametrize("profile", ["cpu", "paper"])
@pytest.mark.parametrize("suite, chapter", [("asr_suite", "asr"), ("mechanism_suite", "mechanism")])
def test_the_pair_is_measured_with_the_chapters_own_settings(suite, chapter, profile):
    """Every parameter the pair's suite points share with the chapter's notebook (asr.md, mechanism.md)
    has the chapter's value for the same model and seed under the same profile: the pair's verdicts are
    measured like the headline's (all attacks: restarts, AutoAttack, CW-L2; Fig. 1 profiles)."""
    from pathlib import Path

    from dalib.notebooks import resolve_notebook
    from dalib.run.notebook import load_notebook
    from dalib.run.plan import profile_plans

    root = Path(__file__).resolve().parents[1]
    chapter_nb = load_notebook(resolve_notebook(chapter, root), root)
    chapter_pts = {
        (p.params["model"], p.params["seed"]): p.params
        for p in profile_plans(chapter_nb, profile, root)
        if p.params.get("lambda_init", "0.8") == "0.8" and p.params.get("depth", 1) == 1
    }
    nb = load_notebook(resolve_notebook(suite, root), root)
    pts = [p for p in profile_plans(nb, profile, root) if pair.is_pair(p.params.get("recipe"), profile)]
    assert len(pts) == 16
    for p in pts:
        key = p.params["model"], p.params["seed"]
        want = chapter_pts.get(key)
        shared = set()
        if want is None:  # a seed the chapter does not run: its defaults, and exact Jacobians on 3 seeds only
            want = notebook_parameters(chapter, profile, dict(zip(("model", "seed"), key)))
            assert p.params.get("n_exact", 0) == 0 or p.params["seed"] < 3
            shared = {"n_exact"}
        shared = (set(p.params) & set(want)) - _RUN_ONLY - shared
        assert {"n_eval_cw", "aa_eps", "restart_eps"} <= shared or {"n_fig", "adv_eps", "n_worst"} <= shared
        diff = {k: (p.params[k], want[k]) for k in shared if p.params[k] != want[k]}
        assert not diff, (suite, p.params["model"], p.params["seed"], diff)


def test_the_verdicts_by_quality_put_each_quality_in_its_column(simulated_pair):
    """Table L3: with simulated pair records, the pair's column equals the headline's (same rows), the
    top rung's column is the ladder's claims, and an unmeasured quality says so."""
    from dalib.claims import quality

    simulated_pair(4)
    found = registry.claims("cpu")
    t = quality.by_quality("cpu", found).set_index("claim")
    head, pair_col = t["headline pair (8 epochs)"], t["paper-quality pair"]
    for cid in ("fig2a_pgd", "fig2c_patch", "fig4_lipschitz"):
        name = found[cid]["claim"]
        assert f"**{found[f'pair_{cid}']['verdict']}**" in pair_col[name]
        assert f"{found[cid]['effect']:+.3f}" in head[name]
    assert "not measured" not in pair_col.to_list()[0]
    top = t["ladder top rung"]
    assert all((f"top_{c}" in found) == (v != "not measured") for c, v in zip(quality.CLAIM_IDS, top))
    assert "clean accuracy" in quality.accuracy_line("cpu", found)


def test_the_intro_reads_the_pair_and_skips_what_was_not_run_on_it(simulated_pair, monkeypatch):
    from dalib.chapters import _show as show
    from dalib.chapters import intro

    simulated_pair(4)
    said = []
    monkeypatch.setattr(show, "md", said.append)
    intro.Chapter("cpu").quality()
    text = said[0]
    assert "Table 1" not in text  # its sweep was not run on the pair: not a verdict that moved
    assert "Fig. 2a" in text and "closest to the paper's models" in text


def test_the_pilot_projection_is_checked_on_the_trained_pair(monkeypatch):
    from dalib import pilot as _pilot
    from dalib import records
    from dalib.chapters import models

    real = records.rows_or_none
    fake = pd.DataFrame(
        {
            "model": ["vit", "diffvit"],
            "seed": [0, 0],
            "clean_accuracy": [0.83, 0.84],
            "notebook": ["notebooks/experiments/pair.md"] * 2,
            "record": ["results/cpu/pair/a.json", "results/cpu/pair/b.json"],
        }
    )
    monkeypatch.setattr(
        records,
        "rows_or_none",
        lambda stem, table="results", profile=None: fake if stem == "pair" else real(stem, table, profile),
    )
    ch = models.Chapter("cpu")
    res, _ = ch.pilot_rows()
    r = res[res["candidate"] == "conv-w256"].iloc[0]
    text = ch.pilot_pair_check()
    assert f"projected to {float(_pilot.saturating(100, r['fit_a'], r['fit_b'], r['fit_c'])):.3f}" in text
    assert "vit: 0.830 (1 seed)" in text and "diffvit: 0.840" in text
