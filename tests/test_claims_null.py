"""Each claim's effect is defined so that 0 means "no effect" (dalib.claims, CONTRIBUTING "Add a
claim"): fed two identical models, every claim that compares two models measures an effect of
exactly 0 and is never called reproduced or contradicted. The twins are built from the committed
cpu records: the base model's rows, copied under the other model's name.

The mechanism's within-model claims get their null the same way: branch cosines that are negative
exactly as often as positive (alignment), and no cosine at all (amplification, whose gain is
measured against orthogonal branches)."""

import math

import numpy as np
import pandas as pd
import pytest

from dalib import mechanism as mech
from dalib.claims import beyond_v2, depth1, tables
from dalib.claims import mechanism as mechanism_claims
from dalib.records import RecordNotFoundError, load_rows

CALLED = {"reproduced", "reproduced, smaller", "contradicted"}


def twin(df, base: dict, *targets: dict):
    """``df`` with the rows of ``targets`` replaced by copies of the rows of ``base`` (column filters)."""
    keep = np.ones(len(df), bool)
    for t in targets:
        keep &= ~np.logical_and.reduce([df[k].astype(str) == str(v) for k, v in t.items()])
    b = df[np.logical_and.reduce([df[k].astype(str) == str(v) for k, v in base.items()])]
    return pd.concat([df[keep], *(b.assign(**t) for t in targets)], ignore_index=True)


def assert_null(row):
    assert row["verdict"] not in CALLED, f"{row['id']}: two identical models called {row['verdict']!r}"
    if row.get("effect") is not None and not math.isnan(row["effect"]):
        assert row["effect"] == pytest.approx(0, abs=1e-12), f"{row['id']}: effect {row['effect']} on identical models"
        assert row["low"] <= 0 <= row["high"], row


@pytest.fixture(scope="module")
def attack_rows():
    d = depth1.attack_rows("cpu")
    if d is None or not len(d):
        pytest.skip("no committed cpu attack records")
    return d


@pytest.fixture(scope="module")
def mechanism_tables():
    try:
        lip = mech.long_table(load_rows("mechanism", table="lipschitz", profile="cpu"))
        jac = mech.long_table(load_rows("mechanism", table="jacobian", profile="cpu"))
    except RecordNotFoundError:
        pytest.skip("no committed cpu mechanism records")
    lip["lambda_init"], jac["lambda_init"] = lip["lambda_init"].astype(str), jac["lambda_init"].astype(str)
    return lip, jac


def test_the_depth1_claims_measure_nothing_between_identical_models(attack_rows):
    lams = sorted(set(attack_rows.loc[attack_rows["model"] == "diffvit", "lambda_init"]))
    same = twin(attack_rows, {"model": "vit"}, *({"model": "diffvit", "lambda_init": lam} for lam in lams))
    got = depth1.claims_of(same).set_index("id", drop=False)
    for cid in ("fig2a_pgd", "fig2c_patch", "fig2a_autoattack", "fig6_restarts"):
        assert_null(got.loc[cid])
        assert got.loc[cid, "effect"] == 0.0
    # CW-L2: the sign statistic of the paired minimal norms; Table 1: each λ_init contrast
    assert got.loc["fig3c_cw_depth1", "verdict"] not in CALLED
    assert "+0.000 [+0.000, +0.000]" in got.loc["fig3c_cw_depth1", "short"]
    assert got.loc["table1_lambda", "verdict"] not in CALLED
    assert got.loc["table1_lambda", "detail"].count("(+0.000)") == len(depth1.LAMBDA_SWEEP)


def test_the_v2_attack_claims_measure_nothing_between_identical_models(attack_rows):
    df = beyond_v2.attack_rows("cpu")
    if df is None or not (df["model"] == "diffv2").any():
        pytest.skip("no committed cpu V2 attack records")
    same = twin(df, {"model": "vit"}, {"model": "diffv2"}, {"model": "diffvit", "lambda_init": "0.8"})
    rows = beyond_v2.asr_claims(same)
    assert rows
    for r in rows:
        assert_null(r)


def test_the_lipschitz_claims_measure_nothing_between_identical_models(mechanism_tables):
    lip, jac = mechanism_tables
    vit_as = {"model": "vit", "map": "A"}
    same = twin(lip, vit_as, {"model": "diffvit", "lambda_init": "0.8", "map": "A_DA"})
    got = mechanism_claims.claims_of(same, jac).set_index("id", drop=False)
    assert_null(got.loc["fig4_lipschitz"])
    assert got.loc["fig4_lipschitz", "effect"] == 0.0
    v2 = twin(lip, vit_as, {"model": "diffv2", "map": "A_DA"})
    if (v2["model"] == "diffv2").any():
        for r in beyond_v2.mechanism_claims(v2, jac[jac["model"] == "diffv2"])[:2]:
            assert_null(r)
            assert r["effect"] == 0.0


def test_the_alignment_and_amplification_claims_measure_nothing_without_alignment(mechanism_tables):
    lip, jac = mechanism_tables
    cos = jac["quantity"] == "cos"
    # every cosine once as measured and once negated (no zeros among them): negative exactly half the time
    nonzero = jac[cos & (jac["value"] != 0)]
    balanced = pd.concat([jac[~cos], nonzero, nonzero.assign(value=-nonzero["value"])], ignore_index=True)
    c5 = mech.alignment_claim(balanced, method="probe")
    assert len(c5) and (c5["effect"] == 0).all() and not set(c5["verdict"]) & CALLED
    # orthogonal branches: Theorem 1's factor equals its orthogonal value, a gain of exactly 1
    ortho = jac.assign(value=np.where(cos, 0.0, jac["value"]))
    c5b = mech.amplification_claim(ortho, lip)
    if not len(c5b):
        pytest.skip("no exact Jacobians in the committed records")
    assert np.allclose(c5b["effect"], 0, atol=1e-12) and not set(c5b["verdict"]) & CALLED


def test_the_table_claims_measure_nothing_between_identical_models():
    tab = tables.suite_rows("cpu")
    if tab is None or not len(tab):
        pytest.skip("no committed cpu asr_suite records")
    t4 = tab[tab["dataset"].astype(str).str.startswith("tiny-imagenet")]
    if len(t4):
        for r in tables.table2_claims(twin(tab, {"model": "vit"}, {"model": "diffvit"})).to_dict("records"):
            assert_null(r)
    t3 = tables.table3_rows(tab)
    eps = sorted(set(t3["adv_eps"].astype(float)) - {0.0})
    if eps:
        vanilla = t3[t3["adv_eps"].astype(float) == 0.0]
        same = pd.concat([vanilla.assign(adv_eps=e) for e in [0.0, *eps]], ignore_index=True)
        for r in tables.table3_claims(same).to_dict("records"):
            assert_null(r)
