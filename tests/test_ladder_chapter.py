"""The model-quality ladder's chapter (dalib.chapters.ladder): rung recipes, the rung points'
validator, and the chapter's numbers and scorecard lines on the committed cpu records."""

import json

import numpy as np
import pytest

from dalib.ladder import LADDER_RECIPE, RUNGS, rung_of, rung_recipe


def test_a_rung_is_named_by_its_recipe_and_nothing_else():
    for k in RUNGS:
        assert rung_of(rung_recipe(k)) == k
        assert rung_of(json.dumps(rung_recipe(k), sort_keys=True)) == k  # as a record stores it
    assert rung_of({}) is None and rung_of("not json") is None
    assert rung_of({**rung_recipe(8), "adv_eps": 0.5}) is None  # another recipe at 8 epochs
    assert rung_of({**LADDER_RECIPE, "lr": 1e-3, "epochs": 8}) is None


def test_rung_recipes_name_the_ladders_zoo_entries():
    """A rung point of asr_suite/mechanism_suite resolves to the model the ladder saved for that epoch
    (the cpu profile's depth-1 pair), so that it loads the rung instead of training anew."""
    from dalib.train import config_from_parameters, recipe_of, run_name

    rec = json.load(open("results/cpu/ladder/753f5c666fca.json"))
    for row in rec["tables"]["rungs"]:
        p = recipe_of(
            dict(
                model=row["model"],
                depth=1,
                lambda_init="0.8",
                seed=row["seed"],
                dataset="cifar10",
                train_profile="cpu",
                recipe=rung_recipe(row["rung"]),
            )
        )
        assert f"{run_name(config_from_parameters(p))}.safetensors" == row["zoo_file"]


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(recipe=[1]), "recipe must be a dict"),
        (dict(recipe={"seed": 3}), "recipe sets \\['seed'\\]"),
        (dict(n_images=0), "n_images"),
        (dict(adv_eps=[0]), "adv_eps"),
        (dict(lip_eps=300), "lip_eps"),
        (dict(dataset="nope"), "nope"),
    ],
)
def test_mechanism_suite_validator_names_the_problem(kw, match):
    from dalib.run import notebook_parameters
    from dalib.validators import check_mechanism_suite

    params = notebook_parameters("mechanism_suite", "smoke")
    check_mechanism_suite(params)  # the defaults pass
    with pytest.raises((ValueError, KeyError), match=match):
        check_mechanism_suite({**params, **kw})


@pytest.fixture(scope="module")
def ch():
    from dalib.chapters import ladder

    c = ladder.Chapter("cpu")
    if c.asr is None:
        pytest.skip("no committed rung record")
    return c


def test_the_gap_is_diffvit_minus_vit_on_the_same_rung_and_seed(ch):
    g = ch.seed_gaps
    a = ch.asr
    for r in g.head(6).itertuples():
        one = a[
            (a["epochs"] == r.epochs)
            & (a["seed"] == r.seed)
            & (a["attack_kind"] == r.attack_kind)
            & (a["budget"] == r.budget)
        ].set_index("model")
        assert r.gap == pytest.approx(one.loc["diffvit", "asr"] - one.loc["vit", "asr"])
        assert r.accuracy == pytest.approx(one["train_clean_accuracy"].mean())


def test_trends_and_top_rung_claims_come_from_the_records(ch):
    from dalib import scorecard
    from dalib.claims import ladder

    t = ch.trends
    assert set(t["family"]) <= {"pgd_linf", "patch", "lipschitz", "alignment"}
    assert (t["points"] >= t["seeds"]).all()
    top = ladder.claims("cpu")
    assert set(top) <= {f"top_{k}" for k in ladder.TOP_CLAIMS}
    card = scorecard.scorecard("cpu")
    lines = card[card["scope"] == "top rung"]
    assert len(lines) == len(top)
    for i in lines.index:  # each line sits under its artifact
        assert lines.loc[i, "artifact"].startswith(card.loc[i - 1, "artifact"].split(",")[0])
    assert np.isin(lines["status"], scorecard.STATUSES).all()


def test_the_paper_quality_pair_is_the_top_point(monkeypatch):
    """With pair records (simulated: the headline pair's rows, seeds 0-3), the ladder draws the pair as its
    own point: its gap equals the depth-1 comparison of those rows, its rows close the rung table, and
    the reading names its accuracy; the rungs' trends do not change."""
    from dalib import mechanism as mech
    from dalib.analysis import paired_comparison
    from dalib.chapters import ladder, ladder_pair
    from dalib.claims import depth1
    from dalib.records import load_rows

    base = ladder.Chapter("cpu")
    if base.asr is None:
        pytest.skip("no committed rung record")
    asr = depth1.attack_rows("cpu")
    asr = asr[((asr["model"] == "vit") | (asr["lambda_init"] == "0.8")) & (asr["seed"] < 4)]
    asr = asr[asr["model"].isin(["vit", "diffvit"])]
    lip, jac = (
        mech.long_table(load_rows("mechanism", table=t, profile="cpu")).pipe(
            lambda d: d[d["model"].isin(["vit", "diffvit"]) & (d["seed"] < 4)].assign(
                lambda_init=lambda x: x["lambda_init"].astype(str)
            )
        )
        for t in ("lipschitz", "jacobian")
    )
    monkeypatch.setattr(ladder_pair._pair, "attack_rows", lambda profile=None: asr)
    monkeypatch.setattr(ladder_pair._pair, "mechanism_rows", lambda profile=None: (lip, jac))
    ch = ladder.Chapter("cpu")
    want = paired_comparison(asr, **ladder_pair.PAIR)
    want = want[(want["attack_kind"] == "pgd_linf") & (want["budget"] == 1.0)].iloc[0]
    s = ch.pair_gap_series("pgd_linf", 1.0)[0]
    assert s["y"] == [pytest.approx(want["diff_mean"])] and s["low"] == [pytest.approx(want["diff_low"])]
    assert s["x"][0] == pytest.approx(asr["train_clean_accuracy"].mean(), abs=1e-9)
    rows = ch.pair_rows()
    assert set(rows["seed"]) == {0, 1, 2, 3} and (rows["models"] == ladder_pair.PAIR_LABEL).all()
    m = ch.pair_mech
    assert len(m) == 4 and m["ratio"].between(0.1, 10).all() and m["freq_cos_neg"].between(0, 1).all()
    assert f"{asr.drop_duplicates(['model', 'seed'])['train_clean_accuracy'].mean():.2f}" in ch.pair_reading()
    assert ch.pair_mech_series("ratio", "accuracy")[0]["y"] == [pytest.approx(m["ratio"].mean())]
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(ch.trends, base.trends)  # the pair is not part of the rungs' fits
    cost = ch.pair_compute()
    assert f"attacks {asr.drop_duplicates('record')['wall_time_s'].sum() / 3600:.2f} h" in cost
    ch.rung_table(), ch.fig_gap(), ch.fig_mechanism()  # draw with the pair's point
    ch.pair_fig1()  # no pair fig1 records: says so
    fig = {t: load_rows("mechanism", table=t, profile="cpu") for t in ("fig1", "fig1_images")}
    fig = {t: d[(d["model"] == "vit") | (d["lambda_init"].astype(str) == "0.8")] for t, d in fig.items()}
    monkeypatch.setattr(ladder_pair._pair, "_pair_rows", lambda stem, table, profile: fig.get(table))
    shown = []
    monkeypatch.setattr(ladder_pair.show, "figure", lambda f, caption=None, label=None: shown.append((label, caption)))
    ch.pair_fig1()
    assert shown and shown[0][0] == "L4" and "training seed 0" in shown[0][1]
