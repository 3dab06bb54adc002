"""The experiments' attack suite (dalib.attacks.suite) and the asr_suite notebook's validator."""

import numpy as np
import pytest
from test_attacks_util import TinyNet, easy_task, one_thread

from dalib.attacks import PGD, Attack, build_suite, check_suite, evaluate_attack, run_suite
from dalib.records import unpack_flags


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    yield from one_thread()


def test_build_suite_names_every_attack_and_skips_empty_lists():
    s = build_suite(
        eps=[1, 4], patch_w=[2], restart_eps=[1], aa_eps=[1], n_eval_cw=8, true_label_eps=[4], n_eval=32, n_eval_aa=16
    )
    assert set(s) == {
        ("pgd_linf", 1, "clean_pred"),
        ("pgd_linf", 4, "clean_pred"),
        ("patch", 2, "clean_pred"),
        ("pgd_restarts", 1, "clean_pred"),
        ("autoattack", 1, "clean_pred"),
        ("cw_l2", 0.0, "clean_pred"),
        ("pgd_linf", 4, "true"),
    }
    assert s[("autoattack", 1, "clean_pred")][1] == 16 and s[("cw_l2", 0.0, "clean_pred")][1] == 8
    assert s[("pgd_linf", 1, "clean_pred")][1] == 32
    assert set(build_suite(eps=[1])) == {("pgd_linf", 1, "clean_pred")}
    # attacking the true labels already: no second true-label PGD
    assert set(build_suite(eps=[1], true_label_eps=[1], attack_labels="true")) == {("pgd_linf", 1, "true")}


@pytest.mark.parametrize(
    "kw, match",
    [(dict(eps=[300]), "eps"), (dict(patch_w=[40]), "patch"), (dict(aa_eps=[1], aa_attacks=["foo"]), "unknown attack")],
)
def test_check_suite_fails_before_any_compute(kw, match):
    with pytest.raises(ValueError, match=match):
        check_suite(build_suite(**kw), num_classes=10, img_size=32)


def test_run_suite_rows_match_single_evaluations():
    net, (x, y) = TinyNet(seed=0), easy_task(12, seed=3)
    s = build_suite(eps=[1, 8], patch_w=[3], n_eval_cw=6, steps=3, n_eval=12, cw_search_steps=2, cw_max_steps=10)
    rows = run_suite(s, net, x, y, batch_size=5, n_boot=50, log=lambda *_: None, model="tiny", seed=0)
    assert [(r["attack_kind"], r["budget"]) for r in rows] == [
        ("pgd_linf", 1.0),
        ("pgd_linf", 8.0),
        ("patch", 3.0),
        ("cw_l2", 0.0),
    ]
    assert all(r["model"] == "tiny" and r["attack_time_s"] >= 0 for r in rows)
    assert [r["budget_unit"] for r in rows] == ["1/255", "1/255", "pixels", "none"]
    # the suite's PGD row is exactly one evaluate_attack of the same attack (per-image randomness)
    ev = evaluate_attack(PGD(net, eps=8 / 255, steps=3, seed=0), x, y, batch_size=12, n_boot=50)
    assert np.array_equal(unpack_flags(rows[1]["changed_flags"], rows[1]["n"]), np.asarray(ev.flags["changed"]))
    l2 = np.array([float(v) for v in rows[3]["l2_values"].split(",")])
    assert len(l2) == rows[3]["n"] == 6 and np.all((l2 > 0) | np.isinf(l2))
    assert "gm_warning" in rows[0] and "gm_warning" not in rows[3]


def _params(**kw):
    from dalib.run import notebook_parameters

    return {**notebook_parameters("asr_suite", "smoke"), **kw}


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(dataset="svhn"), "unknown dataset 'svhn'"),
        (dict(recipe=[1]), "recipe must be a dict"),
        (dict(recipe={"depth": 4}), "set these as this notebook's own parameters"),
        (dict(dataset="tiny-imagenet-valsplit", recipe={"num_classes": 200}, patch_w=[80]), "cannot be larger than"),
        (dict(dataset="tiny-imagenet-valsplit", recipe={"num_classes": 200}, n_eval=5000), "exceeds the 2000 images"),
        (dict(dataset="tiny-imagenet-valsplit"), "num_classes=10, but dataset 'tiny-imagenet-valsplit' has 200"),
        (dict(eps=[], patch_w=[]), "the suite is empty"),
        (dict(aa_eps=[1], aa_attacks=["foo"]), "unknown attack"),
        (dict(recipe={"adv_eps": -1.0}), "adv_eps"),
    ],
)
def test_asr_suite_validator_names_the_problem(kw, match):
    from dalib.validators import check_asr_suite

    with pytest.raises(ValueError, match=match):
        check_asr_suite(_params(**kw))


def test_asr_suite_recipe_reaches_the_training_config():
    from dalib.train import config_from_parameters, recipe_of
    from dalib.validators import check_asr_suite

    p = _params(dataset="tiny-imagenet-valsplit", recipe={"num_classes": 200, "patch_size": 8, "adv_eps": 0.5})
    check_asr_suite(p)
    cfg = config_from_parameters(recipe_of(p))
    assert (cfg["dataset"], cfg["num_classes"], cfg["img_size"], cfg["patch_size"], cfg["adv_eps"]) == (
        "tiny-imagenet-valsplit",
        200,
        64,
        8,
        0.5,
    )


class RandomSign(Attack):
    """A toy attack for the test below: x + eps * a random sign per pixel, drawn per image."""

    def __init__(self, model, eps=8 / 255, seed=0):
        super().__init__(model)
        if not 0 < eps <= 1:
            raise ValueError(f"RandomSign: eps must lie in (0, 1], got {eps}")
        self._hparams = {"eps": eps, "seed": seed}

    def _attack(self, x, y, index):
        sign = self._streams(index, x.device).rand(x.shape[1:]) * 2 - 1  # (B, C, H, W) in [-1, 1)
        return (x + self._hparams["eps"] * sign.sign()).clamp(0, 1)


@pytest.fixture
def toy_kind():
    """Register the toy attack as one row of the suite table, from this test file alone."""
    from dalib.attacks import suite

    row = suite.register(
        suite.SuiteKind(
            "random_sign",
            "sign_eps",
            "1/255",
            lambda net, e, p: RandomSign(net, eps=e / 255, seed=p["attack_seed"]),
            cls=RandomSign,
            display="random sign",
            symbol="ε",
        )
    )
    yield row
    del suite.SUITE[row.key]
    del suite.ATTACKS[row.kind]


def test_an_attack_added_in_one_row_runs_through_the_suite_and_its_validator(toy_kind):
    """Adding an attack is one file (here: the class above) plus one row: build_suite takes its
    budget list, check_suite builds it, run_suite writes its rows with the row's unit, and the
    asr_suite notebook's validator accepts and checks it."""
    from dalib.attacks.suite import parameters
    from dalib.validators import check_asr_suite

    assert parameters()["sign_eps"] == ()  # its budget list is a new parameter, empty by default
    net, (x, y) = TinyNet(seed=0), easy_task(10, seed=1)
    s = build_suite(eps=[4], sign_eps=[2, 64], n_eval=10, steps=2)
    assert list(s) == [
        ("pgd_linf", 4, "clean_pred"),
        ("random_sign", 2, "clean_pred"),
        ("random_sign", 64, "clean_pred"),
    ]
    check_suite(s, num_classes=4, img_size=8)
    rows = run_suite(s, net, x, y, batch_size=3, n_boot=20, log=lambda *_: None, model="tiny", seed=0)
    toy = [r for r in rows if r["attack_kind"] == "random_sign"]
    assert [r["budget"] for r in toy] == [2.0, 64.0] and {r["budget_unit"] for r in toy} == {"1/255"}
    assert toy[0]["linf_max"] <= 2 / 255 + 1e-6 and toy[1]["asr"] >= toy[0]["asr"]
    # the same outcomes whatever the batch size: the toy draws per image, as the contract asks
    again = run_suite(s, net, x, y, batch_size=10, n_boot=20, log=lambda *_: None)
    assert [r["changed_flags"] for r in again] == [r["changed_flags"] for r in rows]
    with pytest.raises(ValueError, match="eps must lie"):
        check_suite(build_suite(sign_eps=[300], n_eval=10), num_classes=4, img_size=8)
    from dalib.run import notebook_parameters

    params = {**notebook_parameters("asr_suite", "smoke"), "sign_eps": [1]}
    check_asr_suite(params)  # the validator builds the whole suite, the new row included
    with pytest.raises(ValueError, match=r"sign_eps must be a list of budgets in \(0, 255\]"):
        check_asr_suite({**params, "sign_eps": [300]})  # the registry's bound, before any attack is built
    # a suite of the new attack alone is not empty; an empty one names the new budget list
    alone = {**params, "eps": [], "patch_w": [], "restart_eps": [], "aa_eps": [], "n_eval_cw": 0, "sign_eps": [1]}
    check_asr_suite(alone)
    with pytest.raises(ValueError, match="suite is empty: .*sign_eps"):
        check_asr_suite({**alone, "sign_eps": []})
    # one registry: create_attack knows it, and the chapters' tables name it by its row's display name
    from dalib.attacks import ATTACKS, create_attack
    from dalib.attacks.suite import display_name

    assert ATTACKS["random_sign"] is RandomSign and isinstance(create_attack("random_sign", net, eps=0.01), RandomSign)
    assert display_name("random_sign") == "random sign"  # what the chapters print for it


def test_a_chapter_table_names_an_attack_added_in_one_row(toy_kind, monkeypatch):
    """The depth-1 chapter's comparison table of the toy attack (its rows: copies of the committed
    PGD rows under the toy's name) takes the budget's symbol and the attack's name from its row."""
    import pandas as pd

    from dalib.chapters import _show as show
    from dalib.chapters import depth1

    ch = depth1.Chapter("cpu")
    if not ch.has("pgd_linf"):
        pytest.skip("no committed cpu attack records")
    toy = {"attack_kind": "random_sign"}
    ch.comp = pd.concat([ch.comp, ch.comp[ch.comp["attack_kind"] == "pgd_linf"].assign(**toy)], ignore_index=True)
    ch.summ = pd.concat([ch.summ, ch.summ[ch.summ["attack_kind"] == "pgd_linf"].assign(**toy)], ignore_index=True)
    shown = []
    monkeypatch.setattr(show, "table", lambda df, caption=None, label=None: shown.append((df, caption)))
    monkeypatch.setattr(show, "md", lambda text: None)
    ch.comparison_table("random_sign")
    (table, caption), *_ = shown
    assert table.columns[0] == "ε" and caption.startswith("random sign: ASR of each model")
    assert len(table) == ch.has("pgd_linf") * len(ch.comparison("pgd_linf"))


def test_the_suite_table_refuses_a_second_row_for_a_parameter():
    from dalib.attacks import suite

    with pytest.raises(ValueError, match="already"):
        suite.register(suite.SuiteKind("pgd_again", "eps", "1/255", lambda net, e, p: None))
    with pytest.raises(TypeError, match="unknown parameter"):
        build_suite(epsilon=[1])
