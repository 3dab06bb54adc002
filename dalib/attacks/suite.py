"""The attack suite of the paper's ASR experiments (Sec. 5.2, Fig. 2a/2c/3a-c/6, Tables 1-3): which
attacks run, at which budgets and on how many images, and their evaluation into record rows.

A suite is a dict ``(attack_kind, budget, labels) -> (factory, n_images)``; ``factory(model)``
builds the attack. :func:`build_suite` makes it from an experiment's parameters, :func:`check_suite`
builds every attack once on a placeholder model (so a bad budget, step count or AutoAttack name
fails before any training or data loading), and :func:`run_suite` evaluates every attack on the
first ``n_images`` of the same fixed images (:func:`dalib.attacks.evaluate.evaluate_attack`).

PGD takes 10 steps of ``2.5 eps / steps`` from a random start (Madry et al.) by default; the paper
states neither. Patch PGD puts a ``w x w`` square at a random location with budget 1 inside it.
Randomness is per image, keyed by (``attack_seed``, image index), except AutoAttack's, which is the
official code's: it attacks its whole subset in one call.
"""

from __future__ import annotations

import time

import torch

from .autoattack import AutoAttack
from .cw import CW
from .evaluate import check_rises, evaluate_attack
from .patch_pgd import PatchPGD
from .pgd import PGD

SUITE_PARAMETERS = (
    "eps",
    "patch_w",
    "restart_eps",
    "n_restarts",
    "aa_eps",
    "aa_version",
    "aa_attacks",
    "n_eval_cw",
    "cw_search_steps",
    "cw_max_steps",
    "true_label_eps",
    "steps",
    "attack_labels",
    "attack_seed",
    "batch_size",
    "n_eval",
    "n_eval_aa",
)  # the notebook parameters that build_suite takes

KIND_UNITS = {"pgd_linf": "1/255", "patch": "pixels", "pgd_restarts": "1/255", "autoattack": "1/255", "cw_l2": "none"}


def build_suite(
    *,
    eps=(),
    patch_w=(),
    restart_eps=(),
    n_restarts=3,
    aa_eps=(),
    aa_version="custom",
    aa_attacks=("apgd-ce", "apgd-t"),
    n_eval_cw=0,
    cw_search_steps=5,
    cw_max_steps=100,
    true_label_eps=(),
    steps=10,
    attack_labels="clean_pred",
    attack_seed=0,
    batch_size=250,
    n_eval=1000,
    n_eval_aa=200,
    loss=None,
) -> dict:
    """``(attack_kind, budget, labels) -> (factory, n_images)`` for PGD at ``eps`` (units of 1/255),
    patch PGD at sides ``patch_w``, PGD with ``n_restarts`` restarts at ``restart_eps``, AutoAttack
    at ``aa_eps`` on the first ``n_eval_aa`` images, CW-L2 on the first ``n_eval_cw`` (0: none), and
    PGD once more with the true labels at ``true_label_eps``. Empty lists skip an attack.

    ``loss``: the objective of the PGD attacks (default cross-entropy; the CLIP experiments pass
    :class:`dalib.attacks.CosineLoss`). AutoAttack and CW optimise their own margin losses on
    logits, so they cannot be combined with another objective."""
    if loss is not None and (aa_eps or n_eval_cw):
        raise ValueError(
            "AutoAttack and CW-L2 attack logits with their own losses; with a custom loss run only "
            "the PGD attacks (aa_eps=[], n_eval_cw=0)"
        )
    S = {}
    S.update(
        {
            ("pgd_linf", e, attack_labels): (
                lambda net, e=e: PGD(net, eps=e / 255, steps=steps, loss=loss, seed=attack_seed),
                n_eval,
            )
            for e in eps
        }
    )
    S.update(
        {
            ("patch", w, attack_labels): (
                lambda net, w=w: PatchPGD(net, w=w, eps=1.0, steps=steps, loss=loss, seed=attack_seed),
                n_eval,
            )
            for w in patch_w
        }
    )
    S.update(
        {
            ("pgd_restarts", e, attack_labels): (
                lambda net, e=e: PGD(net, eps=e / 255, steps=steps, loss=loss, n_restarts=n_restarts, seed=attack_seed),
                n_eval,
            )
            for e in restart_eps
        }
    )
    aa_kw = dict(version=aa_version, attacks=tuple(aa_attacks) if aa_version == "custom" else None, seed=attack_seed)
    S.update(
        {
            ("autoattack", e, attack_labels): (
                lambda net, e=e: AutoAttack(net, eps=e / 255, batch_size=batch_size, **aa_kw),
                n_eval_aa,
            )
            for e in aa_eps
            if n_eval_aa
        }
    )
    if n_eval_cw:
        S[("cw_l2", 0.0, attack_labels)] = (
            lambda net: CW(net, search_steps=cw_search_steps, max_steps=cw_max_steps, seed=attack_seed),
            n_eval_cw,
        )
    S.update(
        {
            ("pgd_linf", e, "true"): (
                lambda net, e=e: PGD(net, eps=e / 255, steps=steps, loss=loss, seed=attack_seed),
                n_eval,
            )
            for e in true_label_eps
            if attack_labels != "true"
        }
    )
    return S


def check_suite(suite: dict, num_classes: int, img_size: int) -> None:
    """Build every attack of ``suite`` on a placeholder model of the given output and input size:
    a bad budget, step count, patch side or AutoAttack name raises here, before any compute."""
    placeholder = torch.nn.Linear(1, num_classes)
    placeholder.config = {"num_classes": num_classes, "img_size": img_size}
    for make, _ in suite.values():
        make(placeholder)


def run_suite(suite: dict, net, x, y, *, batch_size=250, n_boot=1000, attack_seed=0, log=print, **columns) -> list:
    """Evaluate every attack of ``suite`` on the first ``n_images`` of ``x`` ([0, 1], (N, C, H, W))
    and ``y``: one record row per attack (summary, per-image flags packed as hex, CW's per-image
    minimal L2 norms in ``l2_values``, ``attack_time_s``) with ``columns`` added. Each attack kind's
    ASR must rise with its budget, else its rows carry ``gm_warning`` (a gradient-masking sign)."""
    rows = []
    for (kind, budget, labels), (make, n) in suite.items():
        attack = make(net)
        t0 = time.perf_counter()
        bs = n if kind == "autoattack" else batch_size  # AutoAttack's randomness is global to one call
        ev = evaluate_attack(
            attack, x[:n], y[:n], batch_size=bs, attack_labels=labels, n_boot=n_boot, ci_seed=attack_seed
        )
        extra = {}
        if kind == "cw_l2":  # per-image minimal L2 norm of a successful example; inf where CW failed
            l2 = [float(v) if c else float("inf") for v, c in zip(ev.flags["l2"], ev.flags["changed"])]
            extra["l2_values"] = ",".join(f"{v:.5g}" for v in l2)
        rows.append(
            ev.record(
                **columns,
                attack_kind=kind,
                budget=float(budget),
                budget_unit=KIND_UNITS[kind],
                attack_time_s=time.perf_counter() - t0,
                **extra,
            )
        )
        log(
            f"{kind:12s} {budget:>5g} ({labels:10s}, {n} images): ASR {ev.summary['asr']:.4f} "
            f"[{ev.summary['asr_ci_low']:.4f}, {ev.summary['asr_ci_high']:.4f}], robust acc "
            f"{ev.summary['robust_acc']:.4f}, zero-gradient images {ev.summary['zero_grad_frac']:.3f}, "
            f"{rows[-1]['attack_time_s']:.0f} s"
        )
    for kind, labels in sorted({(k, lab) for k, _, lab in suite if k != "cw_l2"}):
        sub = [r for r in rows if r["attack_kind"] == kind and r["attack_labels"] == labels]
        ok, msg = check_rises([r["budget"] for r in sub], [r["asr"] for r in sub])
        for r in sub:
            r["gm_warning"], r["gm_message"] = not ok, msg
        log(f"{kind} ({labels}): ASR rises with the budget" if ok else f"{kind} ({labels}): WARNING {msg}")
    return rows
