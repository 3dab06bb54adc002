"""The Results landing page: the verdict rules (:data:`dalib.stats.RULES`) with the commit that
fixed them, each chapter's verdicts, and every verdict under the old and the new rules.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from ..paths import current_profile
from ..stats import RULES, RULES_VERSION, SCALE_FACTOR, rules_commit
from . import _show as show

CHAPTER_LINES = (  # (page, what it covers, the artifacts whose verdicts it gives)
    (
        "[Depth 1: ViT vs DiffViT](results_depth1.md) covers paper Fig. 2a, Fig. 2c, Fig. 6 and Table 1 on CIFAR-10, "
        "with PGD, patch PGD, PGD with restarts, AutoAttack and CW-L2, on the models of the committed model zoo.",
        ["Fig. 2a", "Fig. 2c", "Fig. 6", "Table 1"],
    ),
    (
        "[Mechanism: local Lipschitz and negative alignment](results_mechanism.md) covers paper Fig. 4, Fig. 5 and "
        "Fig. 1 on the same zoo models: the paper's Lipschitz estimator beside the worst case, the frequency of negative "
        "branch alignment, Theorem 2 and Lemma 2 evaluated on the trained layers, and the shift of all of it under PGD.",
        ["Fig. 4", "Fig. 5"],
    ),
    (
        "[Do the verdicts depend on model quality?](results_ladder.md) measures the depth-1 claims along a ladder of "
        "model quality (the depth-1 pair trained with the paper's optimiser for 8 to 100 epochs), fits their trend "
        "against clean accuracy and extrapolates it to the paper's 0.87; its top rung gives a line under each depth-1 "
        "verdict of the scorecard.",
        "top rung",  # the scorecard's top-rung lines (dalib.scorecard.TOP_RUNG), whichever have records
    ),
    (
        "[Depth](results_depth.md) covers paper Fig. 3a–d: ViT and DiffViT at five depths under PGD, AutoAttack and "
        "CW-L2, the Lipschitz estimates per depth, and the crossover depth predicted from measured propagation ratios "
        "against the one observed.",
        ["Fig. 3a", "Fig. 3b", "Fig. 3c", "Fig. 3d"],
    ),
    (
        "[Adversarial training and Tiny ImageNet](results_tables.md) covers paper Table 3 (DiffViT trained with PGD "
        "at three budgets against the vanilla DiffViT) and Table 2 (depth-4 ViT and DiffViT on a Tiny ImageNet stand-in "
        "split).",
        ["Table 3", "Table 2"],
    ),
    (
        "[CLIP and DiffCLIP](results_clip.md) covers paper Fig. 2b and 2d (zero-shot COCO and ImageNet under PGD and "
        "patch PGD, with the paper's cosine objective) and the CLIP rows of Fig. 4 and 5. The released weights cannot be "
        "downloaded here; the page says what is missing and shows the pipeline on random-weight models in the smoke "
        "profile.",
        ["Fig. 2b", "Fig. 2d"],
    ),
)


class Chapter:
    """The scorecard of one profile, indexed by artifact."""

    def __init__(self, profile: str | None = None):
        from ..scorecard import scorecard

        self.card = scorecard(profile or current_profile()).set_index("artifact")

    @staticmethod
    def rules() -> None:
        """The words, the rule for a claim of several parts, and the commit that fixed the rules."""
        show.md("\n".join(f"- **{word}**: {text}." for word, text in RULES.items()))
        commit = rules_commit()
        show.md(
            "**A claim of several parts** (budgets, layers, depths) is an intersection-union test: it is *reproduced* "
            "when every part that is not saturated is, each at the 95 % level, with no correction across parts. The "
            'other words are unions ("some part contradicts"), so each part reads them from its interval at level '
            "$1 - 0.05/k$ for its $k$ non-saturated parts (Bonferroni); then *contradicted* if any part is, else *not "
            f"reproduced* if any part is, else *inconclusive* (`dalib.stats.combine`). **Not testable at this scale**: "
            f"the base model's ASR at the smallest budget the paper prints is more than {SCALE_FACTOR:g} times the "
            "paper's (`dalib.stats.scale_check`); our models then break at budgets where the paper's hold.\n\n"
            f"These are rules version {RULES_VERSION}, fixed in commit `{commit or 'unknown (no git history here)'}` "
            "before the attack records of the depth-1 pair's seeds 3 to 7 existed. The rules before them (version 1) "
            "gated *reproduced* on an extra pooled image-level test and Holm's correction, had no word for the "
            "opposite effect, and read *not reproduced* from the raw interval; a reader can compare both below."
        )

    def chapters(self) -> None:
        """One line per results chapter with its verdicts."""

        def line(artifacts):
            if artifacts == "top rung":
                artifacts = list(self.card.index[self.card["scope"] == "top rung"])
            return "; ".join(f"{a}: **{self.card.loc[a, 'status']}**" for a in artifacts) or "none yet"

        show.md(
            "\n".join(f"- {text} Verdicts: {line(arts)}." for text, arts in CHAPTER_LINES) + "\n\n"
            "The verdicts come from `dalib.scorecard`, the same code as each chapter's verdict table and the "
            "scorecard on the first page."
        )

    def before_after(self) -> None:
        """Every artifact that keeps both words, under rules v1 and the current rules."""
        both = self.card[self.card["status_v1"].notna()].reset_index()[["artifact", "status_v1", "status"]]
        show.md(
            "**The same records under the old and the new rules**, for the artifacts whose parts keep both "
            "words (`verdict_v1` beside `verdict` in each comparison):\n\n"
            + both.rename(columns={"status_v1": "rules v1", "status": f"rules v{RULES_VERSION}"}).to_markdown(
                index=False
            )
        )
