"""Invariants of the attack contract (dalib.attacks) on tiny seeded models."""

import pytest
import torch
from test_attacks_util import N_CLASSES, SHAPE, TinyNet, easy_task, one_thread
from torch import nn

from dalib.attacks import ATTACKS, CW, PGD, AutoAttack, CosineLoss, PatchPGD, cosine_loss, create_attack

EPS = 4 / 255

# cheap configurations of every registered attack
CHEAP = {
    "pgd_linf": dict(eps=EPS, steps=5),
    "patch": dict(w=3, steps=5),
    "cw_l2": dict(search_steps=2, max_steps=20),
    "autoattack": dict(eps=EPS, version="custom", attacks=("apgd-ce",)),
    "pgd_restarts": dict(eps=EPS, steps=5, n_restarts=2),
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    yield from one_thread()


@pytest.fixture
def model():
    return TinyNet(seed=0)


@pytest.fixture
def data():
    return easy_task(16, seed=3)


def test_registry_names():
    # the records' attack_kind names, read from the suite table (one registry of attacks)
    assert set(ATTACKS) == {"pgd_linf", "patch", "pgd_restarts", "cw_l2", "autoattack"}
    with pytest.raises(ValueError, match="unknown attack 'fgsm'"):
        create_attack("fgsm", TinyNet())


@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("n_restarts", [1, 3])
def test_pgd_linf_bound_and_range(model, data, random_start, n_restarts):
    x, y = data
    x_adv = PGD(model, eps=EPS, steps=5, random_start=random_start, n_restarts=n_restarts)(x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    per_sample = (x_adv - x).abs().flatten(1).amax(1)
    assert (per_sample <= EPS + 1e-6).all()
    assert (x_adv >= 0).all() and (x_adv <= 1).all()
    assert (per_sample > 0).all()  # every sample was actually perturbed


def test_pgd_bound_at_the_box_edges(model):
    # images at 0 and 1: the projection must keep [0, 1] and the eps-ball at once
    x = torch.zeros(4, *SHAPE)
    x[2:] = 1
    y = torch.arange(4) % N_CLASSES
    x_adv = PGD(model, eps=0.5, alpha=0.3, steps=3)(x, y)
    assert (x_adv >= 0).all() and (x_adv <= 1).all()
    assert ((x_adv - x).abs() <= 0.5 + 1e-6).all()


def test_pgd_default_alpha_and_repr(model):
    a = PGD(model, eps=8 / 255, steps=10)
    assert a.hparams["alpha"] == pytest.approx(2 / 255)  # 2.5 eps / steps = torchattacks' default
    r = repr(a)
    for key in ("eps=", "alpha=", "steps=10", "random_start=True", "n_restarts=1", "loss=CrossEntropyLoss()", "seed=0"):
        assert key in r
    assert repr(PGD(model, alpha=0.01)).count("alpha=0.01") == 1


def test_pgd_increases_loss_and_restarts_keep_best(model, data):
    x, y = data
    loss = nn.functional.cross_entropy
    with torch.no_grad():
        clean = loss(model.eval()(x), y, reduction="none")
    single = PGD(model, eps=EPS, steps=5, seed=7)(x, y)
    multi = PGD(model, eps=EPS, steps=5, seed=7, n_restarts=3)(x, y)
    with torch.no_grad():
        l1 = loss(model(single), y, reduction="none")
        l3 = loss(model(multi), y, reduction="none")
        s1 = model(single).argmax(1) != y
        s3 = model(multi).argmax(1) != y
    assert (l1 > clean).float().mean() > 0.9
    # the first restart is the single run (same seed): best-of-3 never loses a success and never
    # has a lower loss where neither succeeds
    assert (s3 | ~s1).all()
    neither = ~s1 & ~s3
    assert (l3[neither] >= l1[neither] - 1e-6).all()


def test_pgd_custom_cosine_loss():
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))  # "image encoder" -> embeddings
    text = torch.randn(N_CLASSES, 16)  # class-prompt embeddings
    x, y = easy_task(8, seed=5)
    loss = cosine_loss(text)
    assert isinstance(loss, CosineLoss) and "4x16" in repr(loss)
    x_adv = PGD(encoder, eps=EPS, steps=5, loss=loss)(x, y)
    assert ((x_adv - x).abs() <= EPS + 1e-6).all()
    tn = nn.functional.normalize(text, dim=-1)
    with torch.no_grad():
        cos_clean = nn.functional.cosine_similarity(encoder(x), tn[y])
        cos_adv = nn.functional.cosine_similarity(encoder(x_adv), tn[y])
        assert (cos_adv < cos_clean).all()  # the attack minimises the cosine to the own prompt
        assert torch.equal(loss.predict(encoder(x)), (nn.functional.normalize(encoder(x), dim=-1) @ tn.T).argmax(1))
    with pytest.raises(ValueError, match="one value per sample"):
        PGD(encoder, steps=1, loss=lambda out, y: out.sum())(x, y)


def test_patch_changes_only_its_square(model, data):
    x, y = data
    a = PatchPGD(model, w=3, steps=5)
    res = a.run(x, y)
    B, C, H, W = x.shape
    assert res.mask.shape == (B, 1, H, W)
    assert (res.mask.flatten(1).sum(1) == 9).all()
    assert ((res.top >= 0) & (res.top <= H - 3) & (res.left >= 0) & (res.left <= W - 3)).all()
    for i in range(B):  # the mask is exactly the square at (top, left)
        t, l = int(res.top[i]), int(res.left[i])
        expect = torch.zeros(H, W, dtype=torch.bool)
        expect[t : t + 3, l : l + 3] = True
        assert torch.equal(res.mask[i, 0], expect)
    outside = ~res.mask.expand_as(x)
    assert torch.equal(res.x_adv[outside], x[outside])
    assert (res.x_adv != x)[res.mask.expand_as(x)].float().mean() > 0.5
    assert (res.x_adv >= 0).all() and (res.x_adv <= 1).all()
    assert torch.equal(a(x, y), res.x_adv)
    assert len(set(zip(res.top.tolist(), res.left.tolist()))) > 1  # random locations per image


def test_patch_location_is_seeded(model, data):
    x, y = data
    r0 = PatchPGD(model, w=3, steps=1, seed=0).run(x, y)
    r0b = PatchPGD(model, w=3, steps=1, seed=0).run(x, y)
    r1 = PatchPGD(model, w=3, steps=1, seed=1).run(x, y)
    assert torch.equal(r0.top, r0b.top) and torch.equal(r0.left, r0b.left)
    assert not (torch.equal(r0.top, r1.top) and torch.equal(r0.left, r1.left))


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_mode_restored_and_params_untouched(data, name):
    x, y = data
    model = TinyNet(seed=0)
    model.train()
    model.net[3].eval()  # a sub-module deliberately in eval mode must stay so
    flags = [p.requires_grad for p in model.parameters()]
    model.net[1].weight.requires_grad_(False)
    flags[0] = False
    seen = []
    model.register_forward_pre_hook(lambda m, inp: seen.append(m.training))
    create_attack(name, model, **CHEAP[name])(x, y)
    assert seen and not any(seen)  # every forward during the attack ran in eval mode
    assert model.training and model.net[1].training and not model.net[3].training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())


def test_mode_restored_on_exception(data):
    x, y = data
    model = TinyNet().train()

    def bad_loss(out, y):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        PGD(model, loss=bad_loss)(x, y)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("name", ["pgd_linf", "patch", "cw_l2"])
def test_same_seed_same_result_and_global_rng_untouched(model, data, name):
    x, y = data
    state = torch.get_rng_state()
    a = create_attack(name, model, seed=3, **CHEAP[name])(x, y)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not used
    b = create_attack(name, model, seed=3, **CHEAP[name])(x, y)
    assert torch.equal(a, b)
    if name != "cw_l2":  # CW is deterministic (zero init); the others draw random starts
        c = create_attack(name, model, seed=4, **CHEAP[name])(x, y)
        assert not torch.equal(a, c)


class ExplodingModel(nn.Module):
    """Fails the test if the attack computes anything before validating its inputs."""

    config = {"img_size": 8, "num_classes": N_CLASSES}

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x):
        raise AssertionError("the model was called before the hyper-parameters were validated")


@pytest.mark.parametrize(
    "name, hparams, match",
    [
        ("pgd_linf", dict(eps=0.0), "eps"),
        ("pgd_linf", dict(eps=-1 / 255), "eps"),
        ("pgd_linf", dict(eps=8.0), "eps"),
        ("pgd_linf", dict(eps="8/255"), "eps"),
        ("pgd_linf", dict(alpha=0.0), "alpha"),
        ("pgd_linf", dict(alpha=2.0), "alpha"),
        ("pgd_linf", dict(steps=0), "steps"),
        ("pgd_linf", dict(steps=2.5), "steps"),
        ("pgd_linf", dict(n_restarts=0), "n_restarts"),
        ("pgd_linf", dict(random_start=1), "random_start"),
        ("pgd_linf", dict(loss="ce"), "loss"),
        ("pgd_linf", dict(seed=-1), "seed"),
        ("pgd_linf", dict(seed=None), "seed"),
        ("pgd_linf", dict(epsilon=0.1), "epsilon"),
        ("patch", dict(w=0), "w"),
        ("patch", dict(w=9), "w=9"),
        ("patch", dict(size=4), "size"),
        ("cw_l2", dict(c_init=0.0), "c_init"),
        ("cw_l2", dict(c_init=10.0, c_max=1.0), "c_init"),
        ("cw_l2", dict(search_steps=0), "search_steps"),
        ("cw_l2", dict(max_steps=0), "max_steps"),
        ("cw_l2", dict(kappa=-1.0), "kappa"),
        ("cw_l2", dict(lr=0), "lr"),
        ("cw_l2", dict(confidence=1.0), "confidence"),
        ("autoattack", dict(version="fast"), "version"),
        ("autoattack", dict(norm="linf"), "norm"),
        ("autoattack", dict(attacks=("apgd-ce",)), "custom"),
        ("autoattack", dict(version="custom"), "attacks"),
        ("autoattack", dict(version="custom", attacks=("apgd-ce", "pgd")), "pgd"),
        ("autoattack", dict(n_classes=3), "4 classes"),
        ("autoattack", dict(n_iter=10), "n_iter"),
    ],
)
def test_bad_hyperparameters_raise_before_compute(name, hparams, match):
    with pytest.raises((TypeError, ValueError), match=match):
        create_attack(name, ExplodingModel(), **hparams)


def test_bad_inputs_raise_before_compute():
    m = ExplodingModel()
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PGD(m)(torch.full((2, 3, 8, 8), 2.0), y)
    with pytest.raises(ValueError, match="shape"):
        PGD(m)(torch.rand(2, 3, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="fit"):
        PatchPGD(nn.Identity(), w=6)(torch.rand(2, 3, 4, 4), y)
    with pytest.raises(TypeError, match="nn.Module"):
        PGD(lambda x: x)


def test_empty_batch(model):
    x = torch.rand(0, *SHAPE)
    y = torch.zeros(0, dtype=torch.long)
    assert PGD(model)(x, y).shape == x.shape
    assert PatchPGD(model, w=2).run(x, y).top.shape == (0,)
    assert CW(model).run(x, y).l2.shape == (0,)


def test_autoattack_targets_adapted_to_class_count():
    a = AutoAttack(TinyNet(n_classes=5))  # 5 classes: apgd-t / fab-t can use 4 targets
    aa = a.official(n_classes=5)
    assert aa.apgd_targeted.n_target_classes == 4 and aa.fab.n_target_classes == 4
    big = AutoAttack(ExplodingModel(), n_classes=100).official()
    assert big.apgd_targeted.n_target_classes == 9 and big.fab.n_target_classes == 9
    assert "version='standard'" in repr(a) and "seed=0" in repr(a)
