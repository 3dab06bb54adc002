"""Every experiment notebook's parameter validator, in one place: the front matter of
``notebooks/experiments/<stem>.md`` names ``dalib.validators.check_<stem>``, and the runner calls it
on the resolved parameters before any kernel starts.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.

Each validator raises ``ValueError`` naming the parameter, its value and the valid range (or the
fix). This module sits above the packages it checks: it imports ``attacks``, ``train``, ``data``
and the rest, and none of them imports it, so checking a notebook never makes one of those
packages import another. The bounds themselves (counts, budgets, choices) are :mod:`dalib.validate`'s.
"""

from __future__ import annotations

import numbers

from . import validate


def check_train(params: dict) -> dict:
    """``train.md`` (and any notebook that trains or loads one model): the training recipe. Returns
    the training config (:func:`dalib.train.check_recipe`)."""
    from .train import check_recipe

    return check_recipe(params)


def check_asr(params: dict) -> None:
    """``asr.md``: the model's training recipe, the budgets and the image counts (the notebook builds
    every attack once more on a placeholder model, which checks the rest)."""
    from .data import get_spec

    _check_budgets(params)
    validate.budgets(params, "eps", nonempty=True)  # the notebook's headline attack
    n = validate.count(params, "n_eval")
    validate.within_split(get_spec(params.get("dataset", "cifar10")), n, "n_eval")
    for name in ("n_eval_aa", "n_eval_cw"):
        validate.count(params, name, 0, n, "n_eval")
    for name in ("steps", "n_restarts", "batch_size", "n_boot"):
        validate.count(params, name)
    validate.choice(params, "attack_labels", ("clean_pred", "true"))
    check_train(params)


def check_asr_suite(params: dict) -> None:
    """``asr_suite.md``: the dataset and the size of its evaluation split, the training ``recipe``
    (a dict of ``train.md`` parameters), everything :func:`check_asr` checks, and the suite itself
    (:func:`dalib.attacks.suite.check_suite`)."""
    from .attacks.suite import build_suite, check_suite, parameters
    from .data import get_spec

    spec = get_spec(params["dataset"])  # unknown dataset: the error lists the registered ones
    _check_recipe_dict(params)
    v = params["patch_w"]
    if isinstance(v, list) and any(isinstance(w, (int, float)) and w > spec.image_size for w in v):
        raise ValueError(
            f"patch_w {v!r}: a patch cannot be larger than the {spec.image_size}-pixel images of {spec.name}"
        )
    validate.within_split(spec, params["n_eval"], "n_eval")
    from .attacks.suite import SUITE, budget_rows

    lists = [r.budgets for r in budget_rows() if r.budgets in params and r.labels is None]
    counts = [r.n_images for r in SUITE.values() if not r.budgets and r.n_images in params]
    if not (any(params[k] for k in lists) or any(params[k] for k in counts)):
        raise ValueError(
            f"the suite is empty: name at least one budget ({', '.join(lists)}) or "
            + " or ".join(f"{k} > 0" for k in counts)
        )
    check_asr({**params, "eps": params["eps"] or [1]})  # asr_suite allows eps = []
    suite = build_suite(**{k: params[k] for k in parameters() if k in params and k != "loss"})
    check_suite(suite, spec.num_classes, spec.image_size)


def _check_budgets(params: dict) -> None:
    """Every budget list of the attack registry that the notebook's parameters name
    (``dalib.attacks.suite.budget_rows``: a row's own parameter, unit and largest budget)."""
    from .attacks.suite import budget_rows

    for row in budget_rows():
        if row.budgets in params:
            unit = "pixels" if row.unit == "pixels" else f"units of {row.unit}"
            validate.budgets(params, row.budgets, row.high, unit=unit)


def _check_recipe_dict(params: dict) -> None:
    """The ``recipe`` parameter of ``*_suite.md``: a dict of ``train.md`` parameters other than the
    notebook's own model parameters."""
    if not isinstance(params["recipe"], dict):
        raise ValueError(
            f"recipe must be a dict of train.md parameters, e.g. {{'adv_eps': 0.5}}, got {params['recipe']!r}"
        )
    own = sorted(set(params["recipe"]) & {"model", "depth", "lambda_init", "seed", "dataset"})
    if own:
        raise ValueError(f"recipe sets {own}: set these as this notebook's own parameters instead")


def check_mechanism_suite(params: dict) -> None:
    """``mechanism_suite.md``: the dataset, the training ``recipe``, the counts and the budgets."""
    from .data import get_spec

    spec = get_spec(params["dataset"])  # unknown dataset: the error lists the registered ones
    _check_recipe_dict(params)
    for name in ("n_images", "n_samples", "n_probes", "ascent_steps", "power_iter", "pgd_steps", "batch_size"):
        validate.count(params, name)
    validate.within_split(spec, params["n_images"], "n_images")
    for name in ("n_exact", "n_worst", "n_fig"):
        validate.count(params, name, 0, params["n_images"], "n_images")
    validate.number(params, "lip_eps", 0, 255)
    validate.budgets(params, "adv_eps")
    check_train(params)


def check_mechanism(params: dict) -> None:
    """``mechanism.md``: the model's training recipe and the measurement counts and budgets."""
    from .data import get_spec
    from .metrics.maps import check_wrt

    for name in ("n_images", "n_samples", "ascent_steps", "power_iter", "n_probes", "pgd_steps", "batch_size"):
        validate.count(params, name)
    validate.within_split(get_spec(params.get("dataset", "cifar10")), params["n_images"], "n_images")
    for name in ("n_exact", "n_worst", "n_fig"):
        validate.count(params, name, 0, params["n_images"], "n_images")
    validate.number(params, "lip_eps", 0, 255)
    validate.budgets(params, "adv_eps")
    check_wrt(params["wrt"])
    check_train(params)


def check_lambda_v2(params: dict) -> None:
    """``lambda_v2.md``: a differential model (V2 or DiffViT), its recipe, the image counts and the rows."""
    from .data import get_spec
    from .models import MODEL_KINDS
    from .models.attention import get_kind

    if params["model"] not in MODEL_KINDS or not get_kind(MODEL_KINDS[params["model"]]).differential:
        diff = sorted(m for m, k in MODEL_KINDS.items() if get_kind(k).differential)
        raise ValueError(f"model={params['model']!r} has no lambda; give a differential model: {diff}")
    validate.count(params, "n_images")
    validate.within_split(get_spec(params.get("dataset", "cifar10")), params["n_images"], "n_images")
    validate.count(params, "n_exact", 0, params["n_images"], "n_images")
    rows = params["rows"]
    if (
        not isinstance(rows, list)
        or not rows
        or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in rows)
    ):
        raise ValueError(
            f"rows must be a non-empty list of token positions (ints >= 0, 0: the class token), got {rows!r}"
        )
    config = check_train(params)
    n_tokens = (config["img_size"] // config["patch_size"]) ** 2 + 1
    if max(rows) >= n_tokens:
        raise ValueError(f"rows={rows}: the model has {n_tokens} tokens (positions 0 to {n_tokens - 1})")


def check_pair(params: dict) -> None:
    """``pair.md``: the interval of committed states and the training recipe (with the model's stem)."""
    validate.count(params, "state_every", 1, params["epochs"], "epochs")
    check_train({k: v for k, v in params.items() if k not in ("state_every", "save_to_zoo")})


def check_propagation(params: dict) -> None:
    """``propagation.md``: the dataset, the training recipe, the counts and the budgets."""
    from .data import get_spec

    spec = get_spec(params["dataset"])
    for name in ("n_images", "pgd_steps", "power_iter", "lip_samples", "batch_size"):
        validate.count(params, name)
    n = params["n_images"]
    validate.within_split(spec, n, "n_images")
    for name in ("n_lip", "lip_worst"):
        validate.count(params, name, 0, n, "n_images")
    if params["lip_worst"] > params["n_lip"]:
        raise ValueError(f"lip_worst={params['lip_worst']} exceeds n_lip={params['n_lip']}")
    for name in ("random_eps", "pgd_eps"):
        validate.budgets(params, name)
    if not params["random_eps"] and not params["pgd_eps"]:
        raise ValueError("random_eps and pgd_eps are both empty: name at least one perturbation")
    check_train(params)  # also rejects a recipe that is not a dict of train.md parameters


def check_calibration(params: dict) -> None:
    """``calibration.md``: the source profile and attack, the seed counts, the scales and the number
    of simulations (the records themselves are checked when the run reads them)."""
    from .run import PROFILES

    validate.choice(params, "source_profile", list(PROFILES))
    validate.choice(params, "attack_kind", ["pgd_linf", "patch"])
    validate.number(params, "budget", 0.0, 255.0, "units of 1/255, or pixels for patch")
    validate.count(params, "source_seeds", 2)
    validate.count(params, "n_sim", 10)
    counts = params["seed_counts"]
    if not isinstance(counts, list) or not counts or not all(validate._is_int(k) and k >= 2 for k in counts):
        raise ValueError(f"seed_counts must be a non-empty list of seed counts (each at least 2), got {counts!r}")
    scales = params["seed_variance_scale"]
    if not isinstance(scales, list) or not scales:
        raise ValueError(f"seed_variance_scale must be a non-empty list of positive multiples, got {scales!r}")
    for v in scales:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0:
            raise ValueError(f"seed_variance_scale holds {v!r}; each entry must be a positive number (1: as measured)")


def check_ladder(params: dict) -> None:
    """``ladder.md``: the rungs, a constant learning rate, and the training recipe of the longest rung."""
    from .ladder import check_rungs

    rungs = check_rungs(params["rungs"])
    if params["lr_schedule"] != "constant":
        raise ValueError(
            f"lr_schedule must be 'constant' for a ladder (epoch k of a long run is then a k-epoch run), "
            f"got {params['lr_schedule']!r}"
        )
    check_train({k: v for k, v in params.items() if k != "rungs"} | {"epochs": rungs[-1]})


def check_clip(params: dict) -> None:
    """``clip.md``: the model and the weights agree, the weights exist (else the error names the
    file, where to put it and the online alternative), the dataset is a zero-shot one, and every
    budget and count is valid."""
    from .data import get_spec
    from .data.cache import check_resize
    from .models.clip import ARCHS, check_config
    from .models.clip_weights import find_checkpoint, get_release

    model, weights = params["model"], params["weights"]
    if model not in ARCHS:
        raise ValueError(f"model must be one of {sorted(ARCHS)}, got {model!r}")
    arch = params["arch"]
    if not isinstance(arch, dict):
        raise ValueError(f"arch must be a dict of CLIP config overrides (keys of VIT_B16), got {arch!r}")
    cfg = check_config(model, **arch)
    if weights != "random":
        rel = get_release(weights)
        if rel.model != model:
            raise ValueError(f"weights {weights!r} hold a {rel.model!r} model, not {model!r}")
        if arch:
            raise ValueError("arch overrides apply to weights='random' only; a release is ViT-B/16")
        find_checkpoint(weights, params["checkpoint"] or None, online=bool(params["online"]))
    spec = get_spec(params["dataset"])
    if spec.train_split is not None:
        raise ValueError(
            f"dataset {spec.name!r} is a training set; zero-shot evaluation runs on an evaluation-only "
            f"dataset such as coco2014-val or imagenet-val"
        )
    for name in ("n_eval", "steps", "batch_size", "n_boot"):
        validate.count(params, name)
    for name in ("n_samples", "n_probes"):
        validate.count(params, name, 0)
    validate.count(params, "n_metric", 0, params["n_eval"], "n_eval")
    validate.within_split(spec, params["n_eval"], "n_eval")
    check_resize(params["resize"])
    for name in ("eps", "lip_eps"):
        validate.budgets(params, name, scalar=True)
    w = params["patch_w"]
    if not isinstance(w, list) or not all(isinstance(v, numbers.Integral) and 0 < v <= cfg["image_size"] for v in w):
        raise ValueError(f"patch_w must be a list of patch sides in 1..{cfg['image_size']} pixels, got {w!r}")
    if not (params["eps"] or w):
        raise ValueError("no attack: give at least one budget in eps or patch_w")
