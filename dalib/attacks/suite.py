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
from dataclasses import dataclass, field
from typing import Callable

import torch

from .autoattack import AutoAttack
from .cw import CW
from .evaluate import check_rises, evaluate_attack
from .patch_pgd import PatchPGD
from .pgd import PGD


@dataclass(frozen=True)
class SuiteKind:
    """One row of the suite table: how an attack kind enters the experiments.

    ``kind``: its name in the records (``attack_kind``); ``budgets``: the parameter that lists its
    budgets (``None``: one run at budget 0, made when its image count is positive); ``unit``: the
    budget's unit in the records; ``make(net, budget, p)``: the attack, from the suite's parameters
    ``p`` (every parameter of :data:`COMMON` and of ``defaults``); ``n_images``: the parameter that
    gives its image count (the first images of the fixed set); ``labels``: a fixed label choice
    (``"true"``), else the suite's ``attack_labels``; ``defaults``: its own parameters and their
    defaults; ``logits_only``: it attacks logits with its own loss (no custom objective);
    ``whole_batch``: its randomness is global to one call, so its subset is attacked at once;
    ``minimal_norm``: it returns each image's minimal L2 norm (``l2_values`` in the row);
    ``n_default``: the default of its image-count parameter; ``cls``: its attack class (the
    :data:`dalib.attacks.ATTACKS` registry is read from these rows); ``display``: its name on the
    book's pages; ``symbol``: its budget's symbol there (``"ε"``, ``"w"``); ``high``: the largest
    budget the validators accept (in ``unit``)."""

    kind: str
    budgets: str | None
    unit: str
    make: Callable
    n_images: str = "n_eval"
    labels: str | None = None
    defaults: dict = field(default_factory=dict)
    logits_only: bool = False
    whole_batch: bool = False
    minimal_norm: bool = False
    n_default: int = 0  # default of its image-count parameter (when not n_eval)
    cls: type | None = None  # the attack class (dalib.attacks.ATTACKS)
    display: str = ""  # its name on the book's pages
    symbol: str = ""  # its budget's symbol on the book's pages
    high: float = 255  # the largest budget the validators accept (in unit)

    @property
    def key(self) -> str:
        return self.kind if self.labels is None else f"{self.kind}/{self.labels}"


COMMON = dict(steps=10, attack_labels="clean_pred", attack_seed=0, batch_size=250, n_eval=1000, loss=None)

SUITE: dict[str, SuiteKind] = {}  # key -> row, in the order the records' rows come
ATTACKS: dict[str, type] = {}  # the records' attack_kind -> its class, filled by register (dalib.attacks.ATTACKS)


def register(row: SuiteKind) -> SuiteKind:
    """Add ``row`` to the suite table (a new attack: its file, then this one call)."""
    if row.key in SUITE:
        raise ValueError(f"attack kind {row.key!r} is registered already")
    clash = set(row.defaults) & (set(COMMON) | {r.budgets for r in SUITE.values()} | _own_parameters())
    if row.budgets in parameters() or clash:
        raise ValueError(
            f"attack kind {row.key!r}: parameter(s) {sorted(clash) or [row.budgets]} already belong to another row"
        )
    SUITE[row.key] = row
    if row.cls is not None and row.labels is None:
        ATTACKS[row.kind] = row.cls
    return row


def _own_parameters() -> set:
    return {k for r in SUITE.values() for k in r.defaults} | {r.n_images for r in SUITE.values()}


def parameters() -> dict:
    """Every parameter the suite takes, with its default (budget lists default to empty)."""
    out = dict(COMMON)
    for r in SUITE.values():
        if r.budgets:
            out[r.budgets] = ()
        out.setdefault(r.n_images, r.n_default)
        out.update(r.defaults)
    return out


def _aa(net, e, p):
    return AutoAttack(
        net,
        eps=e / 255,
        batch_size=p["batch_size"],
        version=p["aa_version"],
        attacks=tuple(p["aa_attacks"]) if p["aa_version"] == "custom" else None,
        seed=p["attack_seed"],
    )


for _row in (
    SuiteKind(
        "pgd_linf",
        "eps",
        "1/255",
        lambda net, e, p: PGD(net, eps=e / 255, steps=p["steps"], loss=p["loss"], seed=p["attack_seed"]),
        cls=PGD,
        display="PGD",
        symbol="ε",
    ),
    SuiteKind(
        "patch",
        "patch_w",
        "pixels",
        lambda net, w, p: PatchPGD(net, w=w, eps=1.0, steps=p["steps"], loss=p["loss"], seed=p["attack_seed"]),
        cls=PatchPGD,
        display="patch PGD",
        symbol="w",
        high=1024,
    ),
    SuiteKind(
        "pgd_restarts",
        "restart_eps",
        "1/255",
        lambda net, e, p: PGD(
            net, eps=e / 255, steps=p["steps"], loss=p["loss"], n_restarts=p["n_restarts"], seed=p["attack_seed"]
        ),
        defaults={"n_restarts": 3},
        cls=PGD,
        display="PGD, 3 restarts",
        symbol="ε",
    ),
    SuiteKind(
        "autoattack",
        "aa_eps",
        "1/255",
        _aa,
        n_images="n_eval_aa",
        n_default=200,
        defaults={"aa_version": "custom", "aa_attacks": ("apgd-ce", "apgd-t")},
        logits_only=True,
        whole_batch=True,
        cls=AutoAttack,
        display="AutoAttack",
        symbol="ε",
    ),
    SuiteKind(
        "cw_l2",
        None,
        "none",
        lambda net, _, p: CW(
            net, search_steps=p["cw_search_steps"], max_steps=p["cw_max_steps"], seed=p["attack_seed"]
        ),
        n_images="n_eval_cw",
        defaults={"cw_search_steps": 5, "cw_max_steps": 100},
        logits_only=True,
        minimal_norm=True,
        cls=CW,
        display="CW-L2",
    ),
    SuiteKind(
        "pgd_linf",
        "true_label_eps",
        "1/255",
        lambda net, e, p: PGD(net, eps=e / 255, steps=p["steps"], loss=p["loss"], seed=p["attack_seed"]),
        labels="true",
        cls=PGD,
        display="PGD (true labels)",
        symbol="ε",
    ),
):
    register(_row)


def build_suite(**params) -> dict:
    """``(attack_kind, budget, labels) -> (factory, n_images)`` from the suite's parameters (the
    notebooks' names, :func:`parameters`): for each row of :data:`SUITE`, one attack per budget in
    its budget list on the first ``n_images`` images (a row without budgets: one attack when its
    image count is positive). Empty lists skip an attack. A true-label row is skipped when the
    suite attacks the true labels already. ``loss``: the objective of the attacks that take one
    (default cross-entropy; the CLIP experiments pass :class:`dalib.attacks.CosineLoss`); a row
    that attacks logits with its own loss (AutoAttack, CW) cannot be combined with it."""
    allowed = parameters()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError(f"build_suite got unknown parameter(s) {unknown}; the suite's parameters: {sorted(allowed)}")
    p = {**allowed, **params}
    S = {}
    for row in SUITE.values():
        labels = row.labels or p["attack_labels"]
        if row.labels is not None and p["attack_labels"] == row.labels:
            continue
        n = p[row.n_images]
        budgets = list(p[row.budgets]) if row.budgets else ([0.0] if n else [])
        if not n or not budgets:
            continue
        if row.logits_only and p["loss"] is not None:
            raise ValueError(
                f"{row.kind} attacks logits with its own loss; with a custom loss run only the attacks "
                f"that take one (leave {row.budgets or row.n_images} empty)"
            )
        for b in budgets:
            S[(row.kind, b, labels)] = (lambda net, b=b, row=row: row.make(net, b, p), n)
    return S


def row_of(kind: str, labels: str | None = None) -> SuiteKind:
    """The table row of an attack kind (the true-label row where ``labels`` names it)."""
    return SUITE.get(f"{kind}/{labels}") or SUITE[kind]


KIND_UNITS = {r.kind: r.unit for r in SUITE.values()}


def display_name(kind: str) -> str:
    """An attack kind's name on the book's pages (its row's ``display``, else the kind itself)."""
    row = SUITE.get(kind)
    return (row.display or kind) if row else kind


def budget_symbol(kind: str) -> str:
    """The symbol of an attack kind's budget on the book's pages (``"ε"``, ``"w"``; "" for none)."""
    row = SUITE.get(kind)
    return row.symbol if row else ""


def budget_rows() -> list:
    """The rows whose budgets a notebook lists (those with a ``budgets`` parameter)."""
    return [r for r in SUITE.values() if r.budgets]


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
        row = row_of(kind, labels)
        bs = n if row.whole_batch else batch_size  # e.g. AutoAttack's randomness is global to one call
        ev = evaluate_attack(
            attack, x[:n], y[:n], batch_size=bs, attack_labels=labels, n_boot=n_boot, ci_seed=attack_seed
        )
        extra = {}
        if row.minimal_norm:  # per-image minimal L2 norm of a successful example; inf where it failed
            l2 = [float(v) if c else float("inf") for v, c in zip(ev.flags["l2"], ev.flags["changed"])]
            extra["l2_values"] = ",".join(f"{v:.5g}" for v in l2)
        rows.append(
            ev.record(
                **columns,
                attack_kind=kind,
                budget=float(budget),
                budget_unit=row.unit,
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
    for kind, labels in sorted({(k, lab) for k, _, lab in suite if row_of(k, lab).budgets}):
        sub = [r for r in rows if r["attack_kind"] == kind and r["attack_labels"] == labels]
        ok, msg = check_rises([r["budget"] for r in sub], [r["asr"] for r in sub])
        for r in sub:
            r["gm_warning"], r["gm_message"] = not ok, msg
        log(f"{kind} ({labels}): ASR rises with the budget" if ok else f"{kind} ({labels}): WARNING {msg}")
    return rows
