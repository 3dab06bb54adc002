"""The ladder chapter's figures and trend table: the ViT-DiffViT gaps and the mechanism's quantities against clean accuracy, and the trends with their intervals.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import paper, plots
from ..attacks.suite import budget_symbol, display_name
from ..records import caption_source
from ..stats import mean_ci, trend, trend_word
from . import _show as show

PAPER_ACCURACY = paper.TABLE1_LAMBDA_SWEEP["0.8"]["accuracy"]  # the paper's depth-1 DiffViT (lambda_init 0.8)
# the attack kinds the ladder measures, with their names and budget symbols from the attack registry
PER = 0.1  # slopes are reported per 0.1 of clean accuracy (10 points)
KIND_NAMES = {k: (display_name(k), budget_symbol(k)) for k in ("pgd_linf", "patch")}


def _around(values, margin: float = 0.06) -> tuple:
    """y limits that show every single value (and 0) with a margin: an interval of two seeds can be
    ten times wider than the data, and would flatten them; its ends then run off the panel."""
    v = np.append(np.asarray(values, float), 0.0)
    return float(np.nanmin(v)) - margin, float(np.nanmax(v)) + margin


class Figures:
    """The methods of ``ladder.Chapter`` that the ViT-DiffViT gaps and the mechanism's quantities against clean accuracy, and the trends with their intervals (a mixin; the records are the chapter's)."""

    def _gap_series(self, kind):
        c = self.comparisons
        g = self.seed_gaps
        c = c[c["attack_kind"] == kind]
        out = []
        for b, cb in c.groupby("budget"):
            cb = cb.sort_values("epochs")
            gb = g[(g["attack_kind"] == kind) & (g["budget"] == b)]
            x = gb.groupby("epochs")["accuracy"].mean().reindex(cb["epochs"]).to_numpy()
            out.append(
                {
                    "label": f"{KIND_NAMES[kind][1]} = {b:g}",
                    "x": x,
                    "y": cb["diff_mean"].to_numpy(),
                    "low": cb["diff_low"].to_numpy(),
                    "high": cb["diff_high"].to_numpy(),
                    "points": (gb["accuracy"].to_numpy(), gb["gap"].to_numpy()),
                }
            )
        return out

    def fig_gap(self) -> None:
        """DiffViT − ViT ASR against clean accuracy, one line per budget (PGD, patch PGD), and
        both models' PGD ASR with the paper's DiffViT."""
        g = self.seed_gaps
        if not len(g):
            return show.md("No attack record of a rung yet.")
        vline = (PAPER_ACCURACY, f"paper's accuracy {PAPER_ACCURACY:.2f}")
        panels = [
            {
                "title": "PGD: DiffViT − ViT ASR",
                "ylabel": "ASR difference",
                "series": self._gap_series("pgd_linf") + self.pair_gap_series("pgd_linf", 1.0),
                "hline": 0.0,
                "vline": vline,
                "ylim": _around(g.loc[g["attack_kind"] == "pgd_linf", "gap"]),
            },
        ]
        if (g["attack_kind"] == "patch").any():
            panels.append(
                {
                    "title": "patch PGD: DiffViT − ViT ASR",
                    "ylabel": "ASR difference",
                    "series": self._gap_series("patch") + self.pair_gap_series("patch", 8.0),
                    "hline": 0.0,
                    "vline": vline,
                    "ylim": _around(g.loc[g["attack_kind"] == "patch", "gap"]),
                }
            )
        p1 = g[(g["attack_kind"] == "pgd_linf") & (g["budget"] == 1.0)]
        series = []
        for model, label in (("vit", "ViT"), ("diffvit", "DiffViT")):
            by = p1.groupby("epochs")
            s = by.apply(lambda d, m=model: mean_ci(d[f"asr_{m}"].to_numpy()), include_groups=False)
            acc = by[f"train_clean_accuracy_{model}"].mean()
            series.append(
                {
                    "label": f"{label}, ε = 1",
                    "color": plots.COLORS[model],
                    "x": acc.to_numpy(),
                    "y": [v["mean"] for v in s],
                    "low": [max(v["low"], 0) for v in s],
                    "high": [min(v["high"], 1) for v in s],
                    "points": (p1[f"train_clean_accuracy_{model}"].to_numpy(), p1[f"asr_{model}"].to_numpy()),
                }
            )
        for model, label in (("vit", "ViT"), ("diffvit", "DiffViT")):
            series += self.pair_asr_series(model, label, plots.COLORS[model])
        refs = [
            {
                "x": paper.TABLE3_DIFFVIT_ACCURACY,
                "y": paper.TABLE3_DIFFVIT_ASR[1.0],
                "label": "paper's DiffViT, ε = 1 (Table 3)",
            }
        ]
        panels.append(
            {
                "title": "PGD ASR at ε = 1/255",
                "ylabel": "ASR",
                "series": series,
                "refs": refs,
                "vline": vline,
                "ylim": (0, 1.02),
            }
        )
        show.figure(
            plots.trend_panels(
                panels, "clean accuracy (test split)", figsize=(10, 3.6 * -(-len(panels) // 2)), ncols=2
            ),
            label="L1",
            caption=(
                "Top, DiffViT − ViT attack success rate against the pair's mean clean accuracy (PGD left, patch PGD "
                "right), one line per "
                "budget (ε in 1/255, patch side w in pixels); a point per rung, the mean over training seeds with the "
                "depth-1 chapter's two-level 95 % interval (seeds and images crossed; with two seeds an interval can "
                "run off the panel, which shows every single value); dots: single seeds. Below, both "
                "models' PGD ASR at 1/255, mean with the t interval over seeds; the paper-quality pair (conv stem, width "
                "256, 100 epochs), where it has records, is a point of its own (black in the gap panels), outside the "
                "rungs' lines; the star is the paper's DiffViT (paper Table 3: "
                f"ASR {paper.TABLE3_DIFFVIT_ASR[1.0]:.2f} at accuracy {paper.TABLE3_DIFFVIT_ACCURACY:.2f}). The paper "
                "prints no ViT ASR at depth 1 (paper Fig. 2a is a plot without values), so its gap cannot be marked; the "
                f"dotted line is its accuracy. Drawn by `dalib.chapters.ladder`. {caption_source(self.asr)}."
            ),
        )

    def fig_mechanism(self) -> None:
        """L_DA / L_base and freq(cos < 0) against clean accuracy."""
        m = self.mech_seeds
        if not len(m):
            return show.md("No mechanism record of a rung yet.")
        vline = (PAPER_ACCURACY, f"paper's accuracy {PAPER_ACCURACY:.2f}")
        panels = []
        for col, xcol, title, ylabel, ref in (
            ("ratio", "accuracy", "Fig. 4's ratio L_DA / L_base", "L_DA / L_base", 1.0),
            ("freq_cos_neg", "accuracy_diffvit", "Fig. 5: freq(cos(∇A1, ∇A2) < 0)", "frequency", 0.5),
        ):
            by = m.groupby("epochs")
            s = [mean_ci(d[col].to_numpy()) for _, d in by]
            low = [v["low"] for v in s]
            high = [v["high"] for v in s]
            if col == "freq_cos_neg":
                low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
            panels.append(
                {
                    "title": title,
                    "ylabel": ylabel,
                    "hline": ref,
                    "vline": vline,
                    "series": [
                        {
                            "label": "mean over seeds",
                            "x": by[xcol].mean().to_numpy(),
                            "y": [v["mean"] for v in s],
                            "low": low,
                            "high": high,
                            "points": (m[xcol].to_numpy(), m[col].to_numpy()),
                        },
                        *self.pair_mech_series(col, xcol),
                    ],
                }
            )
        show.figure(
            plots.trend_panels(panels, "clean accuracy", figsize=(8, 3.6)),
            label="L2",
            caption=(
                "left, the ratio of the paper's sampling Lipschitz estimates (DiffViT's A_DA over ViT's A, "
                f"same {self._n_mech} images, heads averaged) against the pair's mean clean accuracy; right, the frequency of negative "
                "branch-gradient alignment in the DiffViT against its clean accuracy. Mean over seeds with the t 95 % "
                "interval (clipped to [0, 1] for the frequency), dots: single seeds; grey lines: no effect (ratio 1, "
                "frequency 1/2); black: the paper-quality pair, where it has records. Drawn by `dalib.chapters.ladder`. "
                f"{caption_source(self.mech_models)}."
            ),
        )

    def trend_table(self) -> None:
        t = self.trends
        if not len(t):
            return show.md("No rung records yet.")
        out = pd.DataFrame(
            {
                "quantity": t["quantity"],
                "points (seeds)": [f"{int(a)} ({int(b)})" for a, b in zip(t["points"], t["seeds"])],
                "slope per 0.1 accuracy": [
                    f"{show.cell(s)} [{show.cell(lo)}, {show.cell(hi)}]"
                    for s, lo, hi in zip(t["slope"], t["low"], t["high"])
                ],
                "p": t["p"],
                "reading": t["reading"],
                f"fitted at accuracy {PAPER_ACCURACY:.2f}": [
                    f"{show.cell(f)} [{show.cell(lo)}, {show.cell(hi)}]"
                    for f, lo, hi in zip(t["at_paper"], t["at_paper_low"], t["at_paper_high"])
                ],
            }
        )
        show.table(
            out,
            label="L2",
            caption=(
                "the trend of each quantity with clean accuracy: the least-squares slope common to the seeds "
                "(each seed its own intercept, `dalib.stats.trend`), per 0.1 of accuracy, with its t 95 % interval on "
                "points − seeds − 1 degrees of freedom and its p-value. The reading is the slope's sign when its interval "
                "at the family's Bonferroni level (1 − 0.05/k over the k budgets of one attack) excludes 0; the fitted "
                f"value at the paper's accuracy {PAPER_ACCURACY:.2f} is an extrapolation beyond the measured range, with "
                "its interval, clipped to the range the quantity lives in (a difference of rates to [−1, 1], a frequency "
                "to [0, 1]). The interval treats the rungs of one run as independent points; they share one "
                "training trajectory, so it may be too narrow. The log ratio is fitted for paper Fig. 4 (its fitted value: "
                "exponentiate for the ratio)."
            ),
        )

    # ------------------------------------------------------------ trends
    @cached_property
    def trends(self) -> pd.DataFrame:
        """The slope of each quantity against clean accuracy, common to the seeds, per 0.1 of
        accuracy, with its 95 % interval and the word read at the family's Bonferroni level
        (the budgets of one attack are one family), and the fitted value at the paper's accuracy."""
        rows = []
        g = self.seed_gaps
        for kind, fam in g.groupby("attack_kind") if len(g) else ():
            name, unit = KIND_NAMES.get(kind, (kind, "budget"))
            k = fam["budget"].nunique()
            for b, d in fam.groupby("budget"):
                rows.append(self._trend_row(f"gap, {name} {unit} = {b:g}", kind, float(b), d, "gap", k, (-1, 1)))
        m = self.mech_seeds
        if len(m):
            m = m.assign(log_ratio=np.log(m["ratio"]), acc_d=m["accuracy_diffvit"])
            rows.append(self._trend_row("log(L_DA / L_base)", "lipschitz", np.nan, m, "log_ratio", 1))
            rows.append(
                self._trend_row(
                    "freq(cos < 0)", "alignment", np.nan, m.assign(accuracy=m["acc_d"]), "freq_cos_neg", 1, (0, 1)
                )
            )
        order = {"pgd_linf": 0, "patch": 1, "lipschitz": 2, "alignment": 3}
        out = pd.DataFrame(rows)
        return (
            out.sort_values(
                ["family", "budget"], key=lambda c: c.map(order) if c.name == "family" else c, ignore_index=True
            )
            if len(out)
            else out
        )

    @staticmethod
    def _trend_row(label, family, budget, d, y, k, bounds=(-np.inf, np.inf)):
        """One quantity's trend; ``bounds``: the range it lives in, to which the fitted value at the
        paper's accuracy and its interval are clipped (a straight line can leave it)."""
        t = trend(d["accuracy"], d[y], d["seed"], at=PAPER_ACCURACY)
        t.update({k_: float(np.clip(t[k_], *bounds)) for k_ in ("fit", "fit_low", "fit_high")})
        adj = trend(d["accuracy"], d[y], d["seed"], level=1 - 0.05 / k)
        return {
            "quantity": label,
            "family": family,
            "budget": budget,
            "points": t["n"],
            "seeds": t["groups"],
            "slope": t["slope"] * PER,
            "low": t["low"] * PER,
            "high": t["high"] * PER,
            "p": t["p"],
            "reading": trend_word(adj["low"], adj["high"]),
            "at_paper": t["fit"],
            "at_paper_low": t["fit_low"],
            "at_paper_high": t["fit_high"],
            "accuracy_min": float(d["accuracy"].min()),
            "accuracy_max": float(d["accuracy"].max()),
        }
