"""Attacks against independent references (torchattacks, the official AutoAttack), CW's
minimum-norm property, the ASR evaluation, and the project's ViT / DiffViT models."""

import warnings

import pytest
import torch
from test_attacks_util import N_CLASSES, easy_task, one_thread, trained_net
from torch import nn

from dalib.attacks import CW, PGD, AutoAttack, PatchPGD, bootstrap_ci, check_rises, evaluate_attack, sweep


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    yield from one_thread()


@pytest.fixture(scope="module")
def net():
    return trained_net()


@pytest.fixture(scope="module")
def test_set():
    return easy_task(256, seed=99)


def _changed(model, x, x_adv):
    with torch.no_grad():
        return (model(x).argmax(1) != model(x_adv).argmax(1)).float().mean().item()


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_asr_matches_torchattacks(net, test_set, random_start):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = test_set
    ours = PGD(net, eps=4 / 255, steps=10, random_start=random_start, seed=0)
    ev = evaluate_attack(ours, x, y, attack_labels="true", grad_check=False)  # torchattacks: true labels
    ref = torchattacks.PGD(net, eps=4 / 255, alpha=ours.hparams["alpha"], steps=10, random_start=random_start)
    asr_ref = _changed(net, x, ref(x, y))
    assert ev.summary["asr_n"] == 256
    assert 0.1 < ev.summary["asr"] < 0.9  # a non-trivial operating point
    assert abs(ev.summary["asr"] - asr_ref) <= 0.02


def test_autoattack_wrapper_equals_official(net, test_set):
    from pyautoattack import AutoAttack as Official

    x, y = test_set[0][:64], test_set[1][:64]
    ours = AutoAttack(net, eps=4 / 255, version="custom", attacks=("apgd-ce",), seed=0)
    ev = evaluate_attack(ours, x, y, attack_labels="true", grad_check=False)
    official = Official(net.eval(), attacks=["apgd-ce"], version="custom", eps=4 / 255, seed=0, device="cpu")
    x_off, _ = official.run_standard_evaluation(x, y, batch_size=250)
    with torch.no_grad():
        robust_off = (net(x_off).argmax(1) == y).float().mean().item()
    assert ev.summary["robust_acc"] == pytest.approx(robust_off, abs=1e-12)
    assert ev.summary["robust_acc"] < ev.summary["clean_acc"]  # the attack did something


@pytest.mark.slow
def test_autoattack_standard_equals_official(net, test_set):
    from pyautoattack import AutoAttack as Official

    x, y = test_set[0][:32], test_set[1][:32]
    ours = AutoAttack(net, eps=4 / 255, seed=0)
    x_ours = ours(x, y)
    official = Official(net.eval(), version="standard", eps=4 / 255, seed=0, device="cpu")
    official.apgd_targeted.n_target_classes = N_CLASSES - 1  # 4 classes -> 3 targets
    official.fab.n_target_classes = N_CLASSES - 1
    x_off, _ = official.run_standard_evaluation(x, y, batch_size=250)
    with torch.no_grad():
        assert (net(x_ours).argmax(1) == y).float().mean() == (net(x_off).argmax(1) == y).float().mean()


def test_cw_norms_smaller_than_pgd(net, test_set):
    x, y = test_set[0][:64], test_set[1][:64]
    with torch.no_grad():
        correct = net(x).argmax(1) == y
    x, y = x[correct], y[correct]
    cw = CW(net, c_init=0.1, search_steps=6, max_steps=100).run(x, y)
    x_pgd = PGD(net, eps=8 / 255, steps=10)(x, y)
    with torch.no_grad():
        pgd_ok = net(x_pgd).argmax(1) != y
        cw_pred = net(cw.x_adv).argmax(1)
    assert (cw_pred[cw.success] != y[cw.success]).all()  # successes are real
    assert torch.equal(cw.x_adv[~cw.success], x[~cw.success])
    both = cw.success & pgd_ok
    assert both.sum() >= 10
    l2_pgd = (x_pgd - x).flatten(1).norm(dim=1)
    assert (cw.l2[both] < l2_pgd[both]).all()
    assert torch.allclose(cw.l2[cw.success], (cw.x_adv - x).flatten(1).norm(dim=1)[cw.success])


def test_cw_binary_search_beats_single_large_c(net, test_set):
    x, y = test_set[0][:32], test_set[1][:32]
    search = CW(net, c_init=0.1, search_steps=6, max_steps=100).run(x, y)
    large = CW(net, c_init=100.0, search_steps=1, max_steps=100).run(x, y)
    both = search.success & large.success
    assert both.sum() >= 10
    assert search.l2[both].mean() < 0.9 * large.l2[both].mean()
    assert (search.c[both] < 100).all()  # the search settled on smaller constants


def test_cw_failure_is_flagged():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, N_CLASSES))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([5.0, 0, 0, 0]))  # constant prediction: class 0
    x, y = easy_task(6, seed=1)
    y = torch.zeros(6, dtype=torch.long)
    res = CW(model, search_steps=2, max_steps=10).run(x, y)
    assert not res.success.any()
    assert torch.isinf(res.l2).all() and torch.isnan(res.c).all()
    assert torch.equal(res.x_adv, x)


def test_evaluation_flags_and_denominators(net, test_set):
    x, y = test_set[0][:128], test_set[1][:128]
    ev = evaluate_attack(PGD(net, eps=4 / 255, steps=5), x, y, batch_size=50)
    f, s = ev.flags, ev.summary
    n_correct = int(f["clean_correct"].sum())
    assert s["n"] == s["asr_n"] == s["robust_acc_n"] == 128
    assert s["asr_correct_n"] == n_correct < 128
    assert s["asr"] == pytest.approx(f["changed"].mean())
    assert s["asr_correct"] == pytest.approx(f["changed"][f["clean_correct"]].sum() / n_correct)
    assert s["robust_acc"] == pytest.approx(f["adv_correct"].mean())
    assert (f["changed"] == (f["clean_pred"] != f["adv_pred"])).all()
    # a correct sample that is not changed stays correct
    assert not (f["clean_correct"] & ~f["changed"] & ~f["adv_correct"]).any()
    for k in ("asr", "asr_correct", "robust_acc", "clean_acc"):
        assert s[f"{k}_ci_low"] <= s[k] <= s[f"{k}_ci_high"]
    assert "all trials" in s["asr_definition"] and "PGD(" in s["attack"]
    assert s["zero_grad_frac"] == 0.0 and s["linf_max"] <= 4 / 255 + 1e-6
    assert all(isinstance(v, (str, int, float, bool)) for v in s.values())  # flat, write_rows-ready
    rows = ev.rows(model="tiny")
    assert len(rows) == 128 and rows[0]["model"] == "tiny" and isinstance(rows[0]["changed"], bool)
    rec = ev.record(model="tiny")  # one row: summary + packed per-sample flags
    from dalib.records import unpack_flags

    for k in ("changed", "clean_correct", "adv_correct"):
        assert (unpack_flags(rec[f"{k}_flags"], rec["n"]) == f[k]).all()
    assert rec["model"] == "tiny" and rec["asr"] == s["asr"]
    with pytest.raises(KeyError, match="nope"):
        ev.record(flags=("nope",))
    # batching does not change a deterministic attack's result
    ev2 = evaluate_attack(PGD(net, eps=4 / 255, steps=5, random_start=False), x, y, batch_size=128)
    ev3 = evaluate_attack(PGD(net, eps=4 / 255, steps=5, random_start=False), x, y, batch_size=32)
    assert (ev2.flags["adv_pred"] == ev3.flags["adv_pred"]).all()


def test_evaluation_clean_pred_labels(net, test_set):
    x, y = test_set[0][:64], test_set[1][:64]
    a = PGD(net, eps=4 / 255, steps=5, random_start=False)
    true = evaluate_attack(a, x, y, attack_labels="true", grad_check=False)
    pred = evaluate_attack(a, x, y, grad_check=False)  # the default: the clean prediction
    cc = true.flags["clean_correct"]
    # identical on correctly classified samples (the labels coincide there)
    assert (true.flags["adv_pred"][cc] == pred.flags["adv_pred"][cc]).all()
    assert pred.summary["attack_labels"] == "clean_pred"
    with pytest.raises(ValueError, match="attack_labels"):
        evaluate_attack(a, x, y, attack_labels="pred")


def test_bootstrap_ci():
    assert bootstrap_ci([True] * 10) == (1.0, 1.0)
    lo, hi = bootstrap_ci([True] * 50 + [False] * 50, seed=1)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_ci([True] * 50 + [False] * 50, seed=1) == (lo, hi)
    assert all(v != v for v in bootstrap_ci([]))


def test_check_rises():
    assert check_rises([1, 2, 4], [0.1, 0.3, 0.5]) == (True, "")
    ok, msg = check_rises([4, 1, 2], [0.5, 0.1, 0.3])  # unsorted input is sorted by budget
    assert ok
    ok, msg = check_rises([1, 2, 4], [0.3, 0.5, 0.4])
    assert not ok and "fell" in msg
    ok, msg = check_rises([1, 2], [0.3, 0.3])
    assert not ok and "did not rise" in msg
    assert check_rises([1, 2], [1.0, 1.0])[0]  # saturated is fine


class Quantised(nn.Module):
    """Rounds its input: zero input gradients everywhere (gradient masking)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.round(x * 4) / 4)


def test_gradient_masking_is_diagnosed(net, test_set):
    x, y = test_set[0][:32], test_set[1][:32]
    masked = Quantised(net)
    ev = evaluate_attack(PGD(masked, eps=4 / 255, steps=3), x, y)
    assert ev.summary["zero_grad_frac"] == 1.0 and ev.summary["zero_grad_entry_frac"] == 1.0
    with pytest.warns(UserWarning, match="gradient masking"):
        rows = sweep(lambda eps: PGD(masked, eps=eps, steps=3, random_start=False), "eps", [1 / 255, 4 / 255], x, y)
    assert all(r["gm_warning"] for r in rows) and rows[0]["asr"] == rows[1]["asr"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = sweep(
            lambda steps: PGD(net, eps=4 / 255, steps=steps, alpha=1 / 255), "steps", [1, 5], x, y, grad_check=False
        )
    assert not any(r["gm_warning"] for r in rows) and [r["sweep_value"] for r in rows] == [1.0, 5.0]


# ---- the project's models (C's dalib.models): tiny configs


@pytest.mark.parametrize("name", ["vit", "diffvit"])
def test_attacks_on_project_models(name):
    models = pytest.importorskip("dalib.models")
    model = models.create_model(name, depth=1, embed_dim=32, num_heads=2, img_size=16, patch_size=4, num_classes=10)
    model.train()
    x = torch.rand(4, 3, 16, 16)
    y = torch.arange(4)
    a = PGD(model, eps=EPS_M, steps=2, seed=1)
    x_adv = a(x, y)
    assert ((x_adv - x).abs() <= EPS_M + 1e-6).all() and (x_adv >= 0).all() and (x_adv <= 1).all()
    assert torch.equal(x_adv, PGD(model, eps=EPS_M, steps=2, seed=1)(x, y))
    assert all(m.training for m in model.modules())
    res = PatchPGD(model, w=4, steps=2).run(x, y)
    assert torch.equal(res.x_adv[~res.mask.expand_as(x)], x[~res.mask.expand_as(x)])
    with pytest.raises(ValueError, match="fit"):
        PatchPGD(model, w=17)
    assert evaluate_attack(a, x, y).summary["zero_grad_frac"] == 0.0


EPS_M = 2 / 255
