"""Statistics for comparing attack outcomes: seed-level confidence intervals, paired tests on
per-sample flags, and the plain verdict the results chapter gives each claim of the paper.

Two sources of variation are kept apart (the paper reports single runs without error bars):

- **Across training seeds** (is the effect a property of the architecture, or of one training
  run?): per-seed values or per-seed paired differences, summarised by the mean and a Student-t
  95% confidence interval, :func:`mean_ci`. With 3 seeds the t quantile is 4.30, so the interval is
  wide; that is the honest width of a 3-seed experiment.
- **Across images, for one pair of trained models** (is the difference between these two models
  more than the luck of the 1,000 test images?): McNemar's exact test on the discordant pairs of
  per-sample flags (McNemar 1947; exact binomial form), :func:`mcnemar`, and a paired bootstrap
  CI of the difference of the two rates, :func:`paired_bootstrap`.

:func:`verdict` turns a seed-level CI of a difference (in the direction the paper claims) into
"reproduced", "not reproduced", "inconclusive" or "saturated" with the reason. A claim that spans
several budgets (e.g. "DiffViT has the higher ASR at every eps") is one family of tests: its
p-values are adjusted with Holm's step-down method (:func:`holm`) before they decide a verdict.
"""

from __future__ import annotations

from .mixed import (  # noqa: F401
    Effect,
    claim_seeds_needed,
    crossed_effect,
    image_effect,
    power,
    seed_effect,
    seeds_needed,
)
from .tests import (  # noqa: F401
    holm,
    mcnemar,
    mcnemar_pooled,
    mean_ci,
    paired_bootstrap,
    t_test_p,
    trend,
    trend_word,
)
from .v1 import (  # noqa: F401
    combine_v1,
    verdict_v1,
)
from .verdicts import (  # noqa: F401
    PRACTICAL_MARGIN,
    RULES,
    RULES_VERSION,
    SATURATION,
    SCALE_FACTOR,
    VERDICTS,
    adjusted_interval,
    claim_row,
    combine,
    headline_numbers,
    rules_commit,
    scale_check,
    verdict,
)

__all__ = [
    "mean_ci",
    "t_test_p",
    "holm",
    "mcnemar",
    "mcnemar_pooled",
    "paired_bootstrap",
    "verdict",
    "verdict_v1",
    "combine",
    "Effect",
    "crossed_effect",
    "seed_effect",
    "image_effect",
    "power",
    "seeds_needed",
    "claim_row",
    "VERDICTS",
    "RULES",
    "RULES_VERSION",
    "PRACTICAL_MARGIN",
    "SATURATION",
    "trend",
    "trend_word",
    "claim_seeds_needed",
    "adjusted_interval",
    "SCALE_FACTOR",
    "scale_check",
    "headline_numbers",
    "rules_commit",
    "combine_v1",
]
