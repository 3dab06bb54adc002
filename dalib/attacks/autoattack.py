"""AutoAttack (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks"): a thin wrapper around the OFFICIAL code, repackaged
on PyPI as ``pyautoattack`` (attack files identical to github.com/fra31/auto-attack), as the
paper does (Appendix C.2.2). Nothing is re-implemented here.
"""

from __future__ import annotations

import logging

import torch

from .attack import Attack, check_int, check_real, check_seed, check_unknown, config_int, model_device

VERSIONS = ("standard", "plus", "rand", "custom")
ATTACK_NAMES = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
NORMS = ("Linf", "L2", "L1")
logger = logging.getLogger("auto-attack")  # the official code's logger; ours logs through it too


class AutoAttack(Attack):
    r"""Official AutoAttack through ``pyautoattack.AutoAttack``.

    Robust accuracy is ``(1/n) sum_i 1[f(x_i^adv) = y_i]`` where each attack of the ensemble only
    runs on the points still classified correctly (the official cascade): points misclassified
    on clean input are returned unchanged.

    Hyper-parameters:
        eps: budget in pixel units of [0, 1] images, in (0, 1] for Linf (default 8/255; for L2 /
            L1 any positive value).
        norm: "Linf" (default), "L2" or "L1".
        version: "standard" (default: APGD-CE, APGD-T, FAB-T, Square), "plus", "rand" or
            "custom" (then ``attacks`` lists the subset).
        attacks: tuple of names from ``ATTACK_NAMES`` for ``version="custom"``; must be None
            otherwise (the official code would silently override it).
        n_classes: number of classes C (default None: ``model.config["num_classes"]`` if present,
            else read from the model's output on the first image at call time). The targeted
            attacks (APGD-T, FAB-T) use ``min(9, C - 1)`` target classes, set on the official
            inner attack objects (the official default 9 assumes C >= 10).
        batch_size: batch size of ``run_standard_evaluation`` (default 250).
        seed: passed to the official code (which seeds the global torch RNG with it; we restore
            the global RNG state afterwards).

    Randomness is the official code's: one global stream for the whole call, drawn batch by batch.
    Unlike dalib's own attacks it is therefore not keyed per sample (``index`` is accepted and
    ignored): a result depends on which samples are attacked together. Attack the whole
    evaluation set in one call (``evaluate_attack(..., batch_size=len(x))``) to make it depend on
    that set and ``seed`` only.

    Progress is logged by the official code on the ``auto-attack`` logger (``logging``).
    """

    def __init__(
        self,
        model,
        *,
        eps=8 / 255,
        norm="Linf",
        version="standard",
        attacks=None,
        n_classes=None,
        batch_size=250,
        seed=0,
        **unknown,
    ):
        super().__init__(model)
        n = type(self).__name__
        check_unknown(n, unknown, ["eps", "norm", "version", "attacks", "n_classes", "batch_size", "seed"])
        if norm not in NORMS:
            raise ValueError(f"{n}: norm must be one of {NORMS}, got {norm!r}")
        eps = check_real(n, "eps", eps, 0.0, 1.0 if norm == "Linf" else None)
        if version not in VERSIONS:
            raise ValueError(f"{n}: version must be one of {VERSIONS}, got {version!r}")
        if version == "custom":
            if attacks is None or isinstance(attacks, str) or len(attacks) == 0:
                raise ValueError(f"{n}: version='custom' needs attacks=(names...) from {ATTACK_NAMES}, got {attacks!r}")
            attacks = tuple(attacks)
            bad = [a for a in attacks if a not in ATTACK_NAMES]
            if bad:
                raise ValueError(f"{n}: unknown attack(s) {bad}; valid: {ATTACK_NAMES}")
            if len(set(attacks)) != len(attacks):
                raise ValueError(f"{n}: duplicate attack names in {attacks}")
        elif attacks is not None:
            raise ValueError(
                f"{n}: attacks={attacks!r} is only used with version='custom' (version={version!r} fixes its own list)"
            )
        if n_classes is None:
            n_classes = config_int(model, "num_classes")
        if n_classes is not None:
            n_classes = check_int(n, "n_classes", n_classes, 2)
            self._check_classes(n_classes, version, attacks)
        self._hparams = {
            "eps": eps,
            "norm": norm,
            "version": version,
            "attacks": attacks,
            "n_classes": n_classes,
            "batch_size": check_int(n, "batch_size", batch_size, 1),
            "seed": check_seed(n, seed),
        }

    @staticmethod
    def _check_classes(C, version, attacks):
        names = set(attacks or ())
        if version in ("standard", "plus"):
            names |= {"apgd-t"}
        if version in ("plus", "rand"):
            names |= {"apgd-dlr"}
        if "apgd-t" in names and C < 4:
            raise ValueError(
                f"AutoAttack: APGD-T (targeted DLR loss) needs at least 4 classes, the model "
                f"has {C}; use version='custom' with e.g. attacks=('apgd-ce', 'square')"
            )
        if "apgd-dlr" in names and C < 3:
            raise ValueError(f"AutoAttack: the DLR loss needs at least 3 classes, the model has {C}")

    @staticmethod
    def n_target_classes(C: int) -> int:
        """Target classes of APGD-T / FAB-T for a C-class problem: ``min(9, C - 1)``."""
        return min(9, C - 1)

    def official(self, device=None, n_classes=None):
        """The configured official ``pyautoattack.AutoAttack`` object (no compute)."""
        from pyautoattack import AutoAttack as OfficialAutoAttack

        h = self._hparams
        device = device or model_device(self.model) or torch.device("cpu")
        aa = OfficialAutoAttack(
            self.model,
            attacks=list(h["attacks"]) if h["attacks"] else None,
            device=device,
            eps=h["eps"],
            norm=h["norm"],
            seed=h["seed"],
            version=h["version"],
        )
        C = n_classes or h["n_classes"]
        if C is not None:
            aa.apgd_targeted.n_target_classes = self.n_target_classes(C)
            aa.fab.n_target_classes = self.n_target_classes(C)
        return aa

    def _attack(self, x, y, index):
        h = self._hparams
        C = h["n_classes"]
        if C is None:
            with torch.no_grad():
                C = int(self.model(x[:1]).shape[-1])
            self._check_classes(C, h["version"], h["attacks"])
        aa = self.official(x.device, C)
        logger.info("dalib %r: %d classes -> %d target classes", self, C, self.n_target_classes(C))
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the official code reseeds the global RNG
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=h["batch_size"])
        return x_adv.detach()
