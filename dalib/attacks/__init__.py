"""Adversarial attacks with one contract: ``Attack(model, **hparams)(x, y) -> x_adv``.

``x`` holds images in [0, 1] (normalisation is inside the model), ``y`` the labels. Each attack
validates its hyper-parameters at construction, runs the model in eval mode (restoring every
sub-module's mode afterwards), draws randomness from a local generator seeded by ``seed``, and
``repr(attack)`` is its full configuration (it goes into every result record).

Registry ``ATTACKS`` (name -> class) and ``create_attack(name, model, **hparams)``:

- ``"pgd_linf"``: :class:`PGD` (l_inf, random start, restarts, pluggable loss),
- ``"patch"``: :class:`PatchPGD` (w x w patch at a seeded random location, eps = 1),
- ``"cw_l2"``: :class:`CW` (CW-L2 with binary search over c; ``run`` gives the L2 norms),
- ``"autoattack"``: :class:`AutoAttack` (the official code via ``pyautoattack``).

Evaluation with explicit denominators: :func:`evaluate_attack`, :func:`sweep`
(``dalib.attacks.evaluate``). The experiments' suite of attacks and budgets: :func:`build_suite`,
:func:`check_suite`, :func:`run_suite` (``dalib.attacks.suite``).
"""

from .attack import Attack, eval_mode
from .autoattack import AutoAttack
from .cw import CW, CWResult
from .evaluate import (
    ASR_DEFINITION,
    AttackEvaluation,
    bootstrap_ci,
    check_rises,
    evaluate_attack,
    input_gradients,
    sweep,
)
from .losses import CosineLoss, CrossEntropyLoss, cosine_loss
from .patch_pgd import PatchPGD, PatchResult
from .pgd import PGD

# ATTACKS: the records' attack_kind -> its class, filled by the one registry of attacks (dalib.attacks.suite.register)
from .suite import ATTACKS, build_suite, check_suite, run_suite


def create_attack(name: str, model, **hparams) -> Attack:
    """Build the registered attack ``name`` on ``model``; unknown names raise ``ValueError``."""
    if not isinstance(name, str) or name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid names: {sorted(ATTACKS)}")
    return ATTACKS[name](model, **hparams)


__all__ = [
    "ATTACKS",
    "create_attack",
    "Attack",
    "eval_mode",
    "PGD",
    "PatchPGD",
    "PatchResult",
    "CW",
    "CWResult",
    "AutoAttack",
    "CrossEntropyLoss",
    "CosineLoss",
    "cosine_loss",
    "evaluate_attack",
    "AttackEvaluation",
    "sweep",
    "check_rises",
    "bootstrap_ci",
    "input_gradients",
    "ASR_DEFINITION",
    "build_suite",
    "check_suite",
    "run_suite",
]
