"""The mechanism chapter's measurements (dalib.sensitivity) and analysis (dalib.mechanism) on tiny seeded models."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from dalib import mechanism as mech
from dalib.metrics import gram_exact
from dalib.metrics.maps import DIFF_KEYS, views
from dalib.models import create_model
from dalib.sensitivity import (
    BASE_QUANTITIES,
    DA_QUANTITIES,
    LIPSCHITZ_QUANTITIES,
    jacobian_rows,
    key_attention,
    lipschitz_rows,
    pack_rows,
    pack_values,
    unpack_rows,
    unpack_values,
)

TINY = dict(depth=2, img_size=8, patch_size=4, embed_dim=16, num_heads=4, num_classes=3)


def _model(name, seed=0):
    torch.manual_seed(seed)
    return create_model(name, **TINY).eval()


def _x(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g)


def test_forward_gram_equals_vmap_gram():
    m, x = _model("diffvit"), _x(2).double()
    m = m.double()
    from dalib.metrics import eval_mode

    with eval_mode(m):
        _, f, inp = next(iter(views(m, x, "image", DIFF_KEYS)))

        def fb(z):
            return tuple(f(z).unbind(2))

        g_vmap = gram_exact(fb, inp, group_dims=2, method="vmap")
        g_fwd = gram_exact(fb, inp, group_dims=2, method="forward", chunk_size=37)  # blocks not dividing D
    torch.testing.assert_close(g_fwd, g_vmap, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="method must be one of"):
        gram_exact(fb, inp, method="reverse")


def test_pack_roundtrip_and_partial_quantities():
    v = [0.1, -2.5e-7, float("inf"), 3.0]
    np.testing.assert_allclose(unpack_values(pack_values(v)), v, rtol=1e-6)
    assert unpack_values("").size == 0
    rows = [{"sample": s, "layer": 0, "q1": float(s), "q2": float(10 * s) if s < 2 else None} for s in (3, 0, 2, 1)]
    packed = pack_rows(rows, ("layer",), ("q1", "q2", "absent"), model="m")
    by_q = {r["quantity"]: r for r in packed}
    assert set(by_q) == {"q1", "q2"}
    assert by_q["q1"]["values"] == "0,1,2,3" and by_q["q1"]["n"] == 4 and by_q["q1"]["mean"] == 1.5
    assert by_q["q2"]["samples"] == "0,1" and by_q["q2"]["n"] == 2  # measured on a prefix only
    long = unpack_rows(pd.DataFrame(packed))
    assert len(long) == 6 and set(long.columns) >= {"model", "layer", "quantity", "sample", "value"}
    # the vectorised unpacking equals the row-by-row reading, values and column types alike (a
    # column with a missing value, a string column and an integer column)
    df = pd.DataFrame(packed)
    df["lambda"] = [0.5, None]
    ref = []
    for _, r in df.iterrows():
        for s_, v_ in zip(unpack_values(r["samples"]), unpack_values(r["values"])):
            ref.append(
                {"sample": int(s_), "value": v_, "model": r["model"], "layer": r["layer"], "lambda": r["lambda"]}
            )
    got = unpack_rows(df, keep=["model", "layer", "lambda"])
    pd.testing.assert_frame_equal(got, pd.DataFrame(ref), check_dtype=True)
    assert unpack_rows(df.iloc[:0], keep=["model"]).columns.tolist() == ["model", "sample", "value"]


def test_rows_do_not_depend_on_batching():
    m, x = _model("diffvit"), _x(3)
    kw = dict(n_worst=2, n_samples=4, ascent_steps=2, power_iter=3, seed=4)
    both = lipschitz_rows(m, x, [10, 11, 12], **kw)
    alone = lipschitz_rows(m, x[1:2], [11], **{**kw, "n_worst": 1})  # image 11 is among the worst-case ones
    pick = [r for r in both if r["sample"] == 11]
    assert len(pick) == len(alone) == 2 * 3 * 2  # layers x maps x heads
    for a, b in zip(pick, alone):
        assert a == b
    assert all("L_power" not in r for r in both if r["sample"] == 12)
    j3 = jacobian_rows(m, x, [10, 11, 12], method="probe", n_probes=4, seed=4)
    j1 = jacobian_rows(m, x[2:3], [12], method="probe", n_probes=4, seed=4)
    assert [r for r in j3 if r["sample"] == 12] == j1


def test_jacobian_rows_exact_identities():
    m, x = _model("diffvit"), _x(2)
    rows = jacobian_rows(m, x, method="exact")
    assert len(rows) == 2 * 2 * 2 and set(DA_QUANTITIES) <= set(rows[0])
    for r in rows:
        assert -1 <= r["cos"] <= 1
        assert math.isclose(r["norm_A_DA"], r["norm_JDA_lemma"], rel_tol=1e-4)  # Lemma 1 / Theorem 2's identity
        assert math.isclose(r["rho"], r["norm_A2"] / r["norm_A1"], rel_tol=1e-9)
    probe = jacobian_rows(m, x, method="probe", n_probes=256, seed=0)
    for e, p in zip(rows, probe):  # unbiased estimate, close with many probes
        assert abs(p["norm_A_DA"] / e["norm_A_DA"] - 1) < 0.25
    base = jacobian_rows(_model("vit"), x, method="exact")
    assert len(base) == 2 * 2 * 4 and set(BASE_QUANTITIES) <= set(base[0]) and "cos" not in base[0]


def test_lipschitz_estimators_order():
    m, x = _model("vit"), _x(2)
    rows = lipschitz_rows(m, x[:1], n_worst=1, n_samples=8, ascent_steps=5, power_iter=10, seed=0)
    for r in rows:
        assert set(LIPSCHITZ_QUANTITIES) <= set(r)
        assert r["L_sampling_max"] >= r["L_sampling_mean"] > 0
        assert r["L_ascent"] >= r["L_sampling_max"] * 0.9  # ascent from a random start keeps its best ratio


def test_key_attention_row_mass():
    x = _x(2)
    da = _model("diffvit")
    prof = key_attention(da, x)
    lam = torch.tensor([r["lambda"] for r in jacobian_rows(da, x[:1], method="probe", n_probes=1)[::2]])
    assert set(prof) == set(DIFF_KEYS)
    torch.testing.assert_close(prof["A1"].sum(-1), torch.ones(2, 2), rtol=0, atol=1e-5)
    torch.testing.assert_close(prof["A_DA"].sum(-1), (1 - lam).float().expand(2, 2), rtol=0, atol=1e-5)
    assert set(key_attention(_model("vit"), x)) == {"A"}


def _records():
    """Packed rows of two seeds of a ViT and a DiffViT on 2 images, as the notebook writes them."""
    lip, jac = [], []
    x = _x(2)
    for seed in (0, 1):
        for name in ("vit", "diffvit"):
            m = _model(name, seed)
            common = dict(model=name, depth=2, lambda_init="0.8", seed=seed, point="clean", point_eps=0.0)
            rows = lipschitz_rows(m, x, n_worst=2, n_samples=4, ascent_steps=1, power_iter=8, seed=0)
            lip += pack_rows(rows, ("layer", "map", "head", "lambda"), LIPSCHITZ_QUANTITIES, **common, lip_eps=8)
            qs = DA_QUANTITIES if name == "diffvit" else BASE_QUANTITIES
            for method in ("exact", "probe"):
                rows = jacobian_rows(m, x, method=method, n_probes=8, seed=0)
                jac += pack_rows(rows, ("layer", "head", "lambda"), qs, **common, method=method)
    return mech.long_table(pd.DataFrame(lip)), mech.long_table(pd.DataFrame(jac))


@pytest.fixture(scope="module")
def measured():
    return _records()


def test_theorem_checks_on_models(measured):
    lip, jac = measured
    th = mech.theorem_checks(jac, lip)
    assert len(th) == 2 * 2 * 2 * 2  # seeds x images x layers x DA heads
    assert th["thm2_rel_err"].max() < 1e-4  # Theorem 2 is an identity
    assert th["lemma2_corrected"].all()  # the corrected bound always holds for spectral norms
    assert (th["kappa_base"] >= 1 - 1e-6).all()


def test_claims_shape_and_verdicts(measured):
    lip, jac = measured
    c4 = mech.lipschitz_claim(lip)
    assert list(c4["layer"]) == [0, 1] and (c4["n_seeds"] == 2).all()
    assert c4["verdict"].isin(["reproduced", "not reproduced", "inconclusive"]).all()
    d = lip[(lip.quantity == "L_sampling_mean") & (lip["map"] == "A_DA") & (lip.layer == 0) & (lip.seed == 0)]
    b = lip[(lip.quantity == "L_sampling_mean") & (lip["map"] == "A") & (lip.layer == 0) & (lip.seed == 0)]
    want = math.log(d.groupby("sample")["value"].mean().mean() / b.groupby("sample")["value"].mean().mean())
    assert math.isclose(float(c4.iloc[0]["per_seed"].split(",")[0]), want, abs_tol=5e-4)
    c5 = mech.alignment_claim(jac, method="exact")
    cos = jac[(jac.quantity == "cos") & (jac.method == "exact") & (jac.layer == 0)]
    assert math.isclose(c5.iloc[0]["freq"], float((cos["value"] < 0).mean()), abs_tol=1e-12)
    acc = mech.probe_accuracy(jac)
    assert acc["n"] == 2 * 2 * 2 * 2 and 0 <= acc["sign_agreement"] <= 1
    gap = mech.estimator_gap(lip)
    assert set(gap["map"]) == {"A", "A1", "A2", "A_DA"}
    assert (gap["L_sampling_mean/L_power"] < 1).all()


def test_attack_shift_pairs_by_image(measured):
    lip, jac = measured
    adv_lip = lip.copy()
    adv_lip["point"], adv_lip["point_eps"] = "pgd", 1.0
    adv_lip["value"] = adv_lip["value"] * 2.0  # every estimate doubles under "attack"
    adv_jac = jac.copy()
    adv_jac["point"], adv_jac["point_eps"] = "pgd", 1.0
    sh = mech.attack_shift(pd.concat([jac, adv_jac]), pd.concat([lip, adv_lip]), "diffvit")
    r = sh[sh.quantity == "L_sampling_mean"].iloc[0]
    assert math.isclose(r["change"], math.log(2.0), rel_tol=1e-9)
    r = sh[sh.quantity == "cos"].iloc[0]
    assert r["change"] == 0 and math.isnan(r["p_pooled"])


def test_sampling_estimate_is_a_scaled_frobenius_norm(measured):
    lip, jac = measured
    sf = mech.sampling_vs_frobenius(lip, jac, n_inputs=3 * 8 * 8)
    assert set(sf["map"]) == {"A", "A1", "A2", "A_DA"}
    assert ((sf["ratio_median"] > 0.6) & (sf["ratio_median"] < 1.4)).all()  # 4 draws per image: a loose band
