"""The verdict rules of version 1, kept only for the Results page's before/after table (Table R2).

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness*. The live rules are :mod:`dalib.stats.verdicts`.
"""

from __future__ import annotations

import numpy as np

from .verdicts import PRACTICAL_MARGIN, SATURATION


def verdict_v1(
    low: float,
    high: float,
    n: int,
    *,
    p: float | None = None,
    alpha: float = 0.05,
    margin: float = PRACTICAL_MARGIN,
    what: str = "the difference",
    paper_effect: float | None = None,
    p_seed: float | None = None,
    family: int = 1,
    rates: tuple | None = None,
    saturation: float = SATURATION,
    unit: str = "seeds",
) -> tuple[str, str]:
    """The rules of version 1 (until rules v2, :data:`RULES_VERSION`), kept so that the book can show
    every verdict under the old and the new rules side by side. Do not use for new verdicts.

    ``(verdict, reason)`` for a claimed positive effect, from the CI ``[low, high]`` of the
    effect in the claimed direction (e.g. ASR(DiffViT) - ASR(ViT)) over ``n`` seeds and, if given,
    the p-value ``p`` of an image-level test pooled over the seeds (e.g. McNemar on all pairs):

    - **saturated**: both rates ``rates = (rate_a, rate_b)`` are at least ``saturation``: the
      attack breaks (almost) every image of both models, so the budget cannot tell them apart;
    - **reproduced**: the CI lies above 0 (and ``p < alpha``);
    - **not reproduced**: the CI lies below 0 (and ``p < alpha``): the opposite effect; or the CI
      lies inside ``(-margin, margin)``: no effect of practical size;
    - **inconclusive**: otherwise (the CI contains 0 and reaches beyond the margin; or the seeds
      agree but the images do not settle it, ``p >= alpha``, which happens when a few seeds give
      near-identical differences and the t interval collapses), or fewer than two seeds (no CI).

    Multiple budgets: when the test is one of a ``family`` of ``k > 1`` (one claim over several
    budgets), pass the Holm-adjusted p-values (:func:`holm`): ``p`` for the pooled image-level
    test and ``p_seed`` for the seed-level t test (:func:`t_test_p`). An effect (a CI beside 0)
    then also needs ``p_seed < alpha``; one that is significant only before the adjustment is
    **inconclusive**. The margin and paper-effect rules read the unadjusted 95% CI.

    ``unit``: what ``n`` counts in the reason text (``"seeds"``; ``"images"`` when one fixed model
    pair is compared image by image, the CI then a paired bootstrap over images).

    ``paper_effect``: the size of the effect the paper reports (same units, > 0), if it reports
    one. A CI that contains 0 but lies wholly below it excludes the paper's effect: **not
    reproduced** (an effect of the paper's size is ruled out; a smaller one is not). A CI above 0
    but below it stays **reproduced**, with the smaller size stated.
    """
    if rates is not None and min(rates) >= saturation:
        return "saturated", (
            f"both rates are at least {saturation:.2f} ({rates[0]:.3f}, {rates[1]:.3f}): "
            "the attack breaks almost every image of both models"
        )
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", f"only {n} {unit}: no confidence interval"
    ci = f"95% CI of {what} over {n} {unit} [{low:+.3f}, {high:+.3f}]"
    adj = f" (Holm-adjusted over {family} budgets)" if family > 1 else ""
    pooled = "" if p is None else f", pooled image-level p = {p:.2g}{adj}"
    if p_seed is not None and family > 1 and (low > 0 or high < 0) and not p_seed < alpha:
        side = "above" if low > 0 else "below"
        return "inconclusive", (
            f"{ci} lies {side} 0, but not after the Holm correction over {family} "
            f"budgets (seed-level p = {p_seed:.2g}){pooled}"
        )
    weak = p is not None and not p < alpha
    size = "" if paper_effect is None else f"; the paper's difference is {paper_effect:+.3f}"
    if low > 0:
        if weak:
            return "inconclusive", f"{ci} lies above 0, but the images do not settle it{pooled}"
        smaller = paper_effect is not None and high < paper_effect
        return "reproduced", f"{ci} lies above 0{pooled}" + (f"{size} (ours is smaller)" if smaller else "")
    if high < 0:
        if weak:
            return "inconclusive", f"{ci} lies below 0, but the images do not settle it{pooled}"
        return "not reproduced", f"{ci} lies below 0: the opposite effect{pooled}"
    if -margin < low and high < margin:
        return "not reproduced", f"{ci} lies within ±{margin:.2f}: no effect of practical size"
    if paper_effect is not None and high < paper_effect:
        return "not reproduced", (
            f"{ci} contains 0 and excludes the paper's difference "
            f"{paper_effect:+.3f}: an effect of that size is ruled out, a smaller one is not"
        )
    return "inconclusive", f"{ci} contains 0{pooled}{size}"


def combine_v1(verdicts) -> str:
    """Rules v1 (kept for the before/after table): one verdict for a claim tested at several
    budgets: saturated budgets are left out; it is reproduced only if every other budget is, not
    reproduced if any budget is, else inconclusive."""
    verdicts = list(verdicts)
    v = [x for x in verdicts if x != "saturated"]
    if not v:
        return "saturated" if verdicts else "not yet run"
    if all(x == "reproduced" for x in v):
        return "reproduced"
    if any(x == "not reproduced" for x in v):
        return "not reproduced"
    return "inconclusive"


# ---------------------------------------------------------------- trends (the model-quality ladder)
