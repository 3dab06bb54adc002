"""The verdict policy: the words a claim can get (:data:`VERDICTS`), the rules that give them
(:data:`RULES`, version :data:`RULES_VERSION`), how the parts of one claim combine, and the claim row.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*.
"""

from __future__ import annotations

import math

import numpy as np

from .mixed import seeds_needed

RULES_VERSION = 2
# the verdict vocabulary (rules v2), one word per claim in every chapter
VERDICTS = (
    "reproduced",
    "reproduced, smaller",
    "contradicted",
    "not reproduced",
    "inconclusive",
    "saturated",
    "not testable at this scale",
)
RULES = {
    "reproduced": "the 95 % interval of the effect, in the paper's direction, lies above 0",
    "reproduced, smaller": "reproduced, and the interval lies below the paper's printed effect",
    "contradicted": "the interval lies below 0: significant in the opposite direction",
    "not reproduced": "the interval includes 0 and excludes the paper's effect (or, where the paper prints "
    "none, lies within the ±0.02 practical margin)",
    "inconclusive": "none of the above",
    "saturated": "both models' rates are at least 0.98: the attack breaks (almost) every image of both",
    "not testable at this scale": "the models are too weak for the claim to mean what it means in the paper "
    "(the chapter states its criterion). It outranks every other word of a claim's parts, *contradicted* "
    "included: at a scale where the claim's premise fails, no part's direction speaks to the paper's claim",
}
PRACTICAL_MARGIN = 0.02  # |difference| of rates below which an effect counts as absent (2 points)
SATURATION = 0.98  # both rates at least this high: the attack breaks (almost) everything


def verdict(
    low: float,
    high: float,
    n: int,
    *,
    margin: float = PRACTICAL_MARGIN,
    what: str = "the difference",
    paper_effect: float | None = None,
    rates: tuple | None = None,
    saturation: float = SATURATION,
    unit: str = "seeds",
    testable: bool = True,
    why_untestable: str = "",
    size_name: str = "the paper's",
) -> tuple[str, str]:
    """``(verdict, reason)`` under the rules v2 (:data:`RULES`) from the interval ``[low, high]`` of
    an effect in the paper's direction (e.g. ASR(DiffViT) - ASR(ViT)) over ``n`` ``unit``.

    One interval decides both ways: no extra gate on either side. The interval comes from the
    chapter's primary test (:func:`crossed_effect` where per-image outcomes exist, else
    :func:`seed_effect`); for one part of a claim over several parts, pass the interval that
    :func:`combine` expects (see there). ``size_name`` names ``paper_effect`` in the reason (a claim
    whose size is the chapter's, not a printed number, says so)."""
    if not testable:
        return "not testable at this scale", why_untestable
    if rates is not None and min(rates) >= saturation:
        return "saturated", (
            f"both rates are at least {saturation:.2f} ({rates[0]:.3f}, {rates[1]:.3f}): "
            "the attack breaks almost every image of both models"
        )
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"{n} {unit}: no interval"
    ci = f"95% CI of {what} over {n} {unit} [{low:+.3f}, {high:+.3f}]"
    size = "" if paper_effect is None else f"; {size_name} is {paper_effect:+.3f}"
    if low > 0:
        if paper_effect is not None and high < paper_effect:
            return "reproduced, smaller", f"{ci} lies above 0 and below {size_name} {paper_effect:+.3f}"
        return "reproduced", f"{ci} lies above 0{size}"
    if high < 0:
        return "contradicted", f"{ci} lies below 0: the data point the other way{size}"
    if paper_effect is not None and high < paper_effect:
        return "not reproduced", (
            f"{ci} contains 0 and excludes {size_name} {paper_effect:+.3f}: an effect of "
            "that size is ruled out, a smaller one is not"
        )
    if paper_effect is None and -margin < low and high < margin:
        return "not reproduced", f"{ci} lies within ±{margin:.2f}: no effect of practical size"
    return "inconclusive", f"{ci} contains 0{size}"


def adjusted_interval(mean: float, low: float, high: float, df: float, level: float) -> tuple[float, float]:
    """The ``level`` t interval of an estimate whose 95 % t interval with ``df`` degrees of freedom
    is ``[low, high]`` (the same standard error): how a part of a family is read at ``1 - 0.05 / k``."""
    from scipy import stats as st

    if not (np.isfinite(low) and np.isfinite(high) and df > 0):
        return math.nan, math.nan
    se = (high - low) / (2 * float(st.t.ppf(0.975, df)))
    h = float(st.t.ppf(0.5 + level / 2, df)) * se
    return mean - h, mean + h


def combine(verdicts) -> str:
    """One verdict for a claim made of several parts (budgets, layers, depths), rules v2.

    "At every part" is an intersection-union test: the claim is **reproduced** when every part
    that is not saturated is, each at the 95 % level, with no correction across parts (Berger
    1982); "reproduced, smaller" when one of them is. The other words are unions over parts ("some
    part contradicts"), so the parts' verdicts passed here must come from family-adjusted
    intervals (:func:`Effect.ci` at level ``1 - 0.05 / k`` for ``k`` non-saturated parts,
    Bonferroni), which :func:`dalib.analysis.paired_comparison` does: **contradicted** if any part
    is, else **not reproduced** if any part is, else **inconclusive**. All parts saturated:
    **saturated**; any part not testable: **not testable at this scale**."""
    verdicts = list(verdicts)
    if not verdicts:
        return "not yet run"
    if "not testable at this scale" in verdicts:
        return "not testable at this scale"
    v = [x for x in verdicts if x != "saturated"]
    if not v:
        return "saturated"
    if all(x in ("reproduced", "reproduced, smaller") for x in v):
        return "reproduced, smaller" if "reproduced, smaller" in v else "reproduced"
    for word in ("contradicted", "not reproduced"):
        if word in v:
            return word
    return "inconclusive"


# --------------------------------------------------------------------------------------------
# the two-level test: training seeds and test images, crossed


SCALE_FACTOR = 2.0  # "not testable at this scale": our base model's ASR at the smallest budget above 2x the paper's


def scale_check(ours: float, papers: float, what: str, factor: float = SCALE_FACTOR) -> tuple[bool, str]:
    """``(testable, why)``: a comparison of attack success rates means what it means in the paper
    only in the paper's regime. The written criterion: the base model's ASR at the smallest budget
    the paper prints (``ours``) is at most ``factor`` times the paper's (``papers``); above, our
    models break at budgets where the paper's hold, and absolute ASR gaps are not comparable."""
    if not (np.isfinite(ours) and np.isfinite(papers)) or papers <= 0:
        return True, ""
    ok = ours <= factor * papers
    why = (
        f"{what}: our ASR {ours:.2f} against the paper's {papers:.2f} ({ours / papers:.1f}x; the criterion is "
        f"at most {factor:g}x)"
    )
    return ok, why if ok else why + ": our models are in another regime, where the paper's claim cannot be tested"


def claim_row(
    cid: str,
    claim: str,
    verdict: str = "not yet run",
    detail: str = "no records yet",
    short: str | None = None,
    **numbers,
) -> dict:
    """One row of a claims table (``{id, claim, verdict, detail, short}``: the scorecard, the
    chapter pages); ``short``, the scorecard's one-line cell, defaults to ``detail``. Called with
    the claim only, it is the row of a claim with no records yet. ``numbers``: the headline
    ``effect`` with its interval ``low``/``high``, the paper's value ``paper_value``,
    ``seeds_needed`` (80 % power at the observed effect) and ``verdict_v1``, where the chapter has them."""
    row = {"id": cid, "claim": claim, "verdict": verdict, "detail": detail, "short": detail if short is None else short}
    row.update(numbers)
    return row


def headline_numbers(row, paper_value=None) -> dict:
    """The ``numbers`` of :func:`claim_row` from one part's row of
    :func:`dalib.analysis.paired_comparison` (its headline budget): the effect and its two-level
    interval, the paper's value, and the training seeds 80 % power would need at the observed
    effect (and at the paper's, if it prints one)."""
    comp = {k: float(row[k]) for k in ("s2_seed", "s2_image", "s2_e") if k in row and np.isfinite(row[k])}
    # the power needs the images each seed was attacked on; a row without them gets no seeds_needed
    n_img = int(row["n_images"]) if "n_images" in row and np.isfinite(row["n_images"]) else None
    comp = comp if n_img else {}
    out = {
        "effect": float(row["diff_mean"]),
        "low": float(row["diff_low"]),
        "high": float(row["diff_high"]),
        "paper_value": paper_value,
        "unit": "Δ ASR",
        "seeds_needed": seeds_needed(float(row["diff_mean"]), comp, n_img) if comp else None,
    }
    if paper_value is not None and comp:
        out["seeds_needed_paper"] = seeds_needed(float(paper_value), comp, n_img)
    return out


def rules_commit(root=None) -> str | None:
    """The git commit that introduced the current rules (:data:`RULES_VERSION`), found with
    ``git log -S``; None where git or the history is not available (an exported tree)."""
    import subprocess
    from pathlib import Path

    root = Path(root) if root else Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            [
                "git",
                "log",
                "--reverse",
                "--format=%h %cs",
                "-S",
                f"RULES_VERSION = {RULES_VERSION}",
                "--",
                "dalib/stats.py",  # where the rules lived when they were fixed
                "dalib/stats/verdicts.py",
            ],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None
