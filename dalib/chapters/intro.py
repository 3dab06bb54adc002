"""The book's first page: the scorecard (:func:`dalib.scorecard.scorecard`) as a forest plot, a
table with the seeds each open claim would need, and a summary generated from it.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import pandas as pd

from .. import paper
from ..claims import QUALITIES
from ..paths import current_profile
from ..records import RecordNotFoundError, load_rows
from . import _show as show

OPEN = (
    "inconclusive",
)  # only an open verdict shows the seeds it "would need" (a settled or contradicted one needs none)
ONE_LINE = 90  # characters of the paper's claim on the scorecard (the chapter quotes it whole)


def link(page) -> str:
    """An HTML link from the intro (``book/intro.html``) to a chapter page (``book/x.md``) or a
    notebook page of the built book."""
    if not page:
        return ""
    name = page.rsplit("/", 1)[-1].removesuffix(".md")
    target = name + ".html" if page.startswith("book/") else "../" + page.removesuffix(".md") + ".html"
    return f'<a href="{target}">{name}</a>'


def needed(r) -> str:
    """The 'would need' cell: training seeds for 80 % power at the observed effect."""
    if r["effect"] is None or pd.isna(r["effect"]) or r["status"] not in OPEN:
        return ""
    n = r["seeds_needed"]
    return "over 200 seeds" if n is None or pd.isna(n) else f"{int(n)} seeds"


def interval(r) -> str:
    """The headline effect with its 95 % interval, in the claim's unit ("" where the row has none)."""
    if r["effect"] is None or pd.isna(r["effect"]) or pd.isna(r["low"]) or pd.isna(r["high"]):
        return ""
    unit = r["unit"] if isinstance(r["unit"], str) and r["unit"] else "effect"
    return f"{unit}: {r['effect']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"


def one_line(text: str, width: int = ONE_LINE) -> str:
    """The paper's claim cut to its first sentence, at most ``width`` characters (numbers kept: a cut
    falls only at a sentence's end or, past ``width``, at a word with an ellipsis)."""
    import re

    text = str(text).strip()
    m = re.search(r"(?<!\bSec)(?<!\bFig)(?<!\bEq)\.\s+(?=[A-Z])", text)
    if m and m.start() < width:
        text = text[: m.start() + 1]
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + " …"


def _with_accuracy(label: str, accuracy) -> str:
    """``"top rung (100 epochs)"`` -> ``"top rung (100 epochs; clean accuracy 0.72)"``."""
    if accuracy is None or pd.isna(accuracy):
        return label
    acc = f"clean accuracy {accuracy:.2f}"
    return f"{label[:-1]}; {acc})" if label.endswith(")") else f"{label} ({acc})"


class Chapter(show.Facts):
    """The scorecard of one profile, computed once."""

    def __init__(self, profile: str | None = None):
        from ..scorecard import scorecard

        self.profile = profile or current_profile()
        self.card = scorecard(self.profile)
        theorem = self.card["artifact"].str.match(r"(Lemma|Theorem|Corollary)")
        self.theory = self.card[theorem]
        self.experiments = self.card[~theorem & (self.card["scope"] == "paper")]  # top-rung lines are no artifacts

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`i_...```), from the dataset registry:
        the stand-ins' fidelity and sizes."""
        from ..data import get_spec
        from ..data.sources import MEAN_ABS_DIFF_255

        canon, stand_in = get_spec("tiny-imagenet"), get_spec("tiny-imagenet-valsplit")
        per_class = {k: v // stand_in.num_classes for k, v in stand_in.sizes.items()}
        return {
            "i_jpeg_diff": f"{MEAN_ABS_DIFF_255['cifar10']:g}/255",
            "i_tiny_val": f"{canon.sizes['val']:,}",
            "i_tiny_canon_train": f"{canon.sizes['train']:,}",
            "i_tiny_train_per_class": str(per_class["train"]),
            "i_tiny_test_per_class": str(per_class["test"]),
            "i_tiny_fewer": f"{canon.sizes['train'] / stand_in.sizes['train']:g}",
        }

    def forest(self) -> None:
        from ..plots import forest

        show.figure(
            forest(self.card),
            label="I1",
            caption=(
                "the scorecard's headline effects (the budget each chapter leads with: ε = 1/255, "
                "patch w = 8, training budget 1/255 for paper Table 3; paper Fig. 4 as the log ratio of the Lipschitz "
                "estimates), each with its two-level 95 % interval (paper Fig. 4: the t interval over seeds), coloured "
                "and marked by verdict; × marks the paper's printed difference where it prints one. "
                "Produced by `dalib.scorecard.scorecard` and `dalib.plots.forest` from the chapters' records."
            ),
        )

    def table(self) -> None:
        card = self.card
        t = card.assign(
            page=card["page"].map(link),
            need=card.apply(needed, axis=1),
            headline=[interval(r) or r["ours"] for _, r in card.iterrows()],
            paper=card["paper"].map(one_line),
        )
        t = t[["artifact", "paper", "headline", "status", "need", "page"]]
        show.table(
            t.rename(
                columns={"paper": "paper's claim", "headline": "ours: effect [95 % interval]", "need": "would need"}
            ),
            label="I1",
            caption="The scorecard: one line per artifact of the paper (and lines beneath it for the ladder's top rung "
            "and for V2, beyond the paper), the paper's claim in one line (its chapter quotes it whole), our headline "
            "effect with its 95 % interval (where a claim has no single effect, its result in words), the verdict, for an inconclusive verdict the training seeds the two-level "
            "test would need for 80 % power at our effect, and the page that tests it. Produced by "
            "`dalib.scorecard.scorecard` from the claims registry (`dalib.claims`) and the records.",
        )

    def summary(self) -> None:
        """Which artifacts got which word, the models' scale, and what 'contradicted' means here."""
        experiments, profile = self.experiments, self.profile
        try:
            acc = paper.paper_models(load_rows("asr", table="model", profile=profile))["clean_accuracy"]
            scale = (
                f" The models behind these verdicts reach {acc.min():.0%} to {acc.max():.0%} clean accuracy "
                f"(`{profile}` profile), not the paper's 87 %."
            )
        except RecordNotFoundError:
            scale = ""

        def got(s):
            return ", ".join(experiments.loc[experiments["status"] == s, "artifact"]) or "none"

        counts = "; ".join(
            f"{s}: {got(s)}"
            for s in (
                "reproduced",
                "reproduced, smaller",
                "contradicted",
                "not reproduced",
                "inconclusive",
                "saturated",
                "not testable at this scale",
            )
        )
        show.md(
            f"**Summary ({profile} profile).** Of {len(experiments)} experimental artifacts, {counts}; "
            f"not yet run: {got('not yet run')}; blocked here: {got('blocked')}. Of the {len(self.theory)} "
            f"theoretical statements, {int((self.theory['status'] == 'corrected').sum())} needed a correction (the theory "
            "chapter gives each counterexample) and the others hold as printed." + scale
        )
        contra = experiments[experiments["status"] == "contradicted"]
        if len(contra):
            show.md(
                "**Contradicted** means that our data point significantly the other way from the paper's claim: "
                + "; ".join(f"{r.artifact}: {r.ours}" for r in contra.itertuples())
                + "."
            )

    def quality(self) -> None:
        """Which depth-1 verdicts change with model quality, and which hold at every quality measured:
        each artifact's headline verdict (the headline pair) against its lines of other qualities
        (the ladder's top rung; later the paper-quality pair)."""
        card = self.card
        scopes = [q.scope for q in QUALITIES.values() if not q.own_claim]
        # a line of a claim not run at that quality (Table 1's sweep on the pair) is not a differing verdict
        lines = card[card["scope"].isin(scopes) & (card["status"] != "not yet run")]
        if not len(lines):
            return show.md("**Verdicts and model quality.** No claim has been measured at a second model quality yet.")
        head = card[card["scope"] == "paper"].set_index("artifact")
        same, moved = [], []
        for art, g in lines.groupby(lines["artifact"].str.split(",").str[0], sort=False):
            if art not in head.index:
                continue
            led = (g["scope"] == "headline pair").any()  # the paper-quality pair leads the artifact's row
            steps = [f"{head.loc[art, 'status']} on the {'paper-quality' if led else 'headline'} pair"] + [
                f"{r.status} at the {_with_accuracy(r.artifact.split(', ', 1)[1], r.accuracy)}" for r in g.itertuples()
            ]
            words = {head.loc[art, "status"], *g["status"]}
            (same if len(words) == 1 else moved).append(
                f"{art} ({head.loc[art, 'status']})" if len(words) == 1 else f"{art}: " + " → ".join(steps)
            )
        try:
            acc = paper.paper_models(load_rows("asr", table="model", profile=self.profile))["clean_accuracy"]
            where = f" (clean accuracy {acc.min():.2f} to {acc.max():.2f})"
        except RecordNotFoundError:
            where = ""
        show.md(
            f"**Verdicts and model quality.** The depth-1 claims are measured on the headline pair{where} and again on "
            "stronger models of the same architecture (the [ladder](results_ladder.md)'s top rung, trained with the "
            "paper's optimiser). "
            + (f"The same verdict at every quality measured: {'; '.join(same)}. " if same else "")
            + (
                f"A verdict that differs between qualities: {'; '.join(moved)} (an *inconclusive* line rests on fewer "
                "seeds, so it may only lack power). "
                if moved
                else ""
            )
            + (
                "The paper-quality pair (`notebooks/experiments/pair.md`: a conv stem, the pilot's choice) is the "
                "closest to the paper's models (clean accuracy 0.86 to 0.87); its lines carry their accuracy."
                if lines["scope"].isin(["pair", "headline pair"]).any()
                else "None of these models reaches the paper's clean accuracy (0.86 to 0.87); the paper-quality pair "
                "(`notebooks/experiments/pair.md`) is the line that will."
            )
        )
