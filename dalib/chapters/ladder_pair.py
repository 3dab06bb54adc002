"""The ladder chapter's top point: the paper-quality pair (``notebooks/experiments/pair.md``: conv stem,
width 256, 100 epochs of the paper's optimiser) drawn beside the rungs, at its clean accuracy.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The pair is another architecture than the rungs (the pilot's choice), so it is a point
of its own, outside the rungs' trend fits: it shows where the quantities stand at the accuracy the
paper's claims were made at, measured, not extrapolated.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..analysis import paired_comparison
from ..claims import pair as _pair
from ..stats import mean_ci
from . import _show as show

PAIR = dict(a={"model": "vit"}, b={"model": "diffvit", "lambda_init": "0.8"})
PAIR_LABEL = "paper-quality pair"


def seed_gaps_of(a) -> pd.DataFrame:
    """One row per (epochs, seed, attack, budget) of attack rows ``a``: both models' ASR, the gap
    DiffViT − ViT and the pair's mean clean accuracy."""
    if a is None or not len(a):
        return pd.DataFrame()
    key = ["epochs", "seed", "attack_kind", "budget"]
    cols = ["asr", "train_clean_accuracy"]
    v = a[a["model"] == "vit"].set_index(key)[cols]
    d = a[(a["model"] == "diffvit") & (a["lambda_init"] == "0.8")].set_index(key)[cols]
    j = v.add_suffix("_vit").join(d.add_suffix("_diffvit"), how="inner").reset_index()
    j["gap"] = j["asr_diffvit"] - j["asr_vit"]
    j["accuracy"] = (j["train_clean_accuracy_vit"] + j["train_clean_accuracy_diffvit"]) / 2
    return j.sort_values(key).reset_index(drop=True)


def mech_seeds_of(lip, jac, acc) -> pd.DataFrame:
    """One row per (epochs, seed): L_DA / L_base (means over the same images and the heads of the
    paper's sampling estimator at the clean images), freq(cos < 0) of the DiffViT's branch gradients
    (JVP probes), and the clean accuracies (``acc(model, seed, epochs)``)."""
    if lip is None:
        return pd.DataFrame()
    rows = []
    for (k, s), d in lip[(lip["quantity"] == "L_sampling_mean") & (lip["point"] == "clean")].groupby(
        ["epochs", "seed"]
    ):
        da = d[(d["model"] == "diffvit") & (d["map"] == "A_DA")].groupby("sample")["value"].mean()
        base = d[(d["model"] == "vit") & (d["map"] == "A")].groupby("sample")["value"].mean()
        both = pd.concat([da.rename("da"), base.rename("base")], axis=1, join="inner")
        c = jac[(jac["epochs"] == k) & (jac["seed"] == s) & (jac["quantity"] == "cos") & (jac["point"] == "clean")]
        c = c[(c["model"] == "diffvit") & (c["method"] == "probe")] if "method" in c else c[c["model"] == "diffvit"]
        acc_v, acc_d = acc("vit", s, k), acc("diffvit", s, k)
        rows.append(
            {
                "epochs": int(k),
                "seed": int(s),
                "L_DA": float(both["da"].mean()) if len(both) else np.nan,
                "L_base": float(both["base"].mean()) if len(both) else np.nan,
                "ratio": float(both["da"].mean() / both["base"].mean()) if len(both) else np.nan,
                "freq_cos_neg": float((c["value"] < 0).mean()) if len(c) else np.nan,
                "accuracy_vit": acc_v,
                "accuracy_diffvit": acc_d,
                "accuracy": (acc_v + acc_d) / 2,
            }
        )
    return pd.DataFrame(rows)


def _with_epochs(df):
    """The pair's rows with the ``epochs`` column the rung code groups by (its recipe's 100)."""
    if df is None or not len(df):
        return None
    return df.assign(epochs=int(_pair.PAIR_RECIPE["epochs"])) if "epochs" not in df else df


class PairPoint:
    """The methods of ``ladder.Chapter`` that place the paper-quality pair as its top point (a mixin)."""

    def _load_pair(self, profile) -> None:
        self.pair_asr = _with_epochs(_pair.attack_rows(profile))
        lip, jac = _pair.mechanism_rows(profile)
        self.pair_lip, self.pair_jac = _with_epochs(lip), _with_epochs(jac)

    @cached_property
    def pair_gaps(self) -> pd.DataFrame:
        return seed_gaps_of(self.pair_asr)

    @cached_property
    def pair_comparisons(self) -> pd.DataFrame:
        a = self.pair_asr
        return paired_comparison(a, **PAIR) if a is not None and len(a) else pd.DataFrame()

    @cached_property
    def pair_mech(self) -> pd.DataFrame:
        g = self.pair_asr

        def acc(model, seed, _epochs):
            r = g[(g["model"] == model) & (g["seed"] == seed)] if g is not None else ()
            return float(r["train_clean_accuracy"].iloc[0]) if len(r) else np.nan

        return mech_seeds_of(self.pair_lip, self.pair_jac, acc)

    def pair_gap_series(self, kind: str, budget: float) -> list:
        """The pair's gap at one budget as a one-point series of ``plots.trend_panels`` (none without records)."""
        c, g = self.pair_comparisons, self.pair_gaps
        if not len(c):
            return []
        c = c[(c["attack_kind"] == kind) & (c["budget"] == budget)]
        g = g[(g["attack_kind"] == kind) & (g["budget"] == budget)]
        if not len(c):
            return []
        r = c.iloc[0]
        return [
            {
                "label": f"{PAIR_LABEL}, {'ε' if kind == 'pgd_linf' else 'w'} = {budget:g}",
                "color": "k",
                "x": [float(g["accuracy"].mean())],
                "y": [r["diff_mean"]],
                "low": [r["diff_low"]],
                "high": [r["diff_high"]],
                "points": (g["accuracy"].to_numpy(), g["gap"].to_numpy()),
            }
        ]

    def pair_asr_series(self, model: str, label: str, color) -> list:
        g = self.pair_gaps
        if not len(g):
            return []
        p1 = g[(g["attack_kind"] == "pgd_linf") & (g["budget"] == 1.0)]
        s = mean_ci(p1[f"asr_{model}"].to_numpy())
        return [
            {
                "label": f"{label}, {PAIR_LABEL}",
                "color": color,
                "x": [float(p1[f"train_clean_accuracy_{model}"].mean())],
                "y": [s["mean"]],
                "low": [max(s["low"], 0)],
                "high": [min(s["high"], 1)],
                "points": (p1[f"train_clean_accuracy_{model}"].to_numpy(), p1[f"asr_{model}"].to_numpy()),
            }
        ]

    def pair_mech_series(self, col: str, xcol: str) -> list:
        m = self.pair_mech
        if not len(m):
            return []
        s = mean_ci(m[col].to_numpy())
        lo, hi = (
            (np.clip([s["low"]], 0, 1), np.clip([s["high"]], 0, 1))
            if col == "freq_cos_neg"
            else ([s["low"]], [s["high"]])
        )
        return [
            {
                "label": PAIR_LABEL,
                "color": "k",
                "x": [float(m[xcol].mean())],
                "y": [s["mean"]],
                "low": list(lo),
                "high": list(hi),
                "points": (m[xcol].to_numpy(), m[col].to_numpy()),
            }
        ]

    def pair_rows(self) -> pd.DataFrame:
        """The pair's rows of the rung table (PGD at 1/255, the mechanism's ratio and frequency)."""
        g = self.pair_gaps
        if not len(g):
            return pd.DataFrame()
        t = g[(g["attack_kind"] == "pgd_linf") & (g["budget"] == 1.0)].copy()
        m = self.pair_mech
        if len(m):
            t = t.merge(m[["seed", "epochs", "ratio", "freq_cos_neg"]], on=["seed", "epochs"], how="left")
        return t.assign(models=PAIR_LABEL)

    def quality_table(self) -> None:
        """Table L3: every depth-1 claim at each model quality measured (:func:`dalib.claims.quality.by_quality`)."""
        from ..claims.quality import accuracy_line, by_quality

        show.table(
            by_quality(self.profile),
            label="L3",
            caption=(
                "the depth-1 and mechanism claims at each model quality: the effect with its 95 % interval (or the "
                "claim's summary where it has no single effect) and the verdict, by the chapters' own tests; "
                f"{accuracy_line(self.profile)}. The scorecard leads with the paper-quality pair once it has "
                f"{_pair.LEAD_SEEDS} seeds of both models. Computed by `dalib.claims.quality` from the records of "
                "`asr.md`, `mechanism.md`, the ladder's and the pair's suite points."
            ),
        )

    def pair_fig1(self) -> None:
        """Paper Fig. 1 on the paper-quality pair: two test images, clean and attacked, and the attention
        each token receives under ViT's A and DiffViT's A1, A2 and A_DA (its ``mechanism_suite`` points'
        ``n_fig`` profiles)."""
        from ..records import caption_source
        from .mechanism_alignment import fig1_maps

        rows, images = (_pair._pair_rows("mechanism_suite", t, self.profile) for t in ("fig1", "fig1_images"))
        if rows is None or images is None:
            return show.md(
                f"The {PAIR_LABEL}'s attention maps (paper Fig. 1) come with its `mechanism_suite` points "
                "(`n_fig` images each); none has a record yet."
            )
        s0 = int(rows["seed"].min())
        fr, fi = rows[(rows["seed"] == s0) & (rows["sample"] < 2)], images[images["seed"] == s0]
        show.figure(
            fig1_maps(fr, fi),
            label="L4",
            caption=(
                f"paper Fig. 1 on the {PAIR_LABEL} (training seed {s0}): two test images (rows: clean and PGD examples "
                "against each model; the image shown is the one that attacks the ViT) and the attention each of the "
                "8x8 tokens receives, averaged over queries and heads, for ViT's $A$ and DiffViT's $A_1$, $A_2$ and "
                "$A_{\\mathrm{DA}}$ ($A_{\\mathrm{DA}}$ can be negative, diverging colours). The mechanism chapter "
                "draws the same for the headline pair. " + caption_source(rows) + "."
            ),
        )

    def pair_compute(self) -> str:
        """What the paper-quality pair cost so far, from its records: the pilot, the training (CPU seconds
        of every epoch), the attacks and the mechanism (wall time of their records)."""
        from ..records import rows_or_none

        parts = []
        pilot = rows_or_none("pilot", "results", self.profile)
        if pilot is not None:
            parts.append(
                f"the accuracy pilot {pilot.drop_duplicates('record')['wall_time_s'].sum() / 3600:.2f} h "
                f"({len(pilot)} candidates)"
            )
        trained = rows_or_none("pair", "results", self.profile)
        if trained is not None:
            parts.append(
                f"training {trained['train_cpu_s'].sum() / 3600:.1f} core-hours for {len(trained)} models "
                f"({trained['train_cpu_s'].min() / 3600:.2f}-{trained['train_cpu_s'].max() / 3600:.2f} each)"
            )
        mech_models = _pair._pair_rows("mechanism_suite", "model", self.profile)
        for name, d in (("attacks", self.pair_asr), ("mechanism", mech_models)):
            if d is not None and len(d) and "record" in d:
                parts.append(
                    f"{name} {d.drop_duplicates('record')['wall_time_s'].sum() / 3600:.2f} h "
                    f"({d['record'].nunique()} records)"
                )
        if not parts:
            return ""
        return f"The {PAIR_LABEL} so far: " + "; ".join(parts) + " (one thread per run, two runs on two cores)."

    def pair_reading(self) -> str:
        """One paragraph: the pair's measured values against the rungs' trends."""
        g, m = self.pair_gaps, self.pair_mech
        if not len(g) and not len(m):
            return (
                f"The {PAIR_LABEL} (`notebooks/experiments/pair.md`: conv stem, width 256, 100 epochs) has no attack or "
                "mechanism record yet; it joins the figures as their top point when it does."
            )
        parts = []
        c = self.pair_comparisons
        for kind, b, unit in (("pgd_linf", 1.0, "ε"), ("patch", 8.0, "w")):
            r = c[(c["attack_kind"] == kind) & (c["budget"] == b)] if len(c) else c
            if len(r):
                r = r.iloc[0]
                parts.append(
                    f"gap at {unit} = {b:g}: {r['diff_mean']:+.3f} [{r['diff_low']:+.3f}, {r['diff_high']:+.3f}] ({r['verdict']})"
                )
        if len(m):
            s = mean_ci(m["ratio"].to_numpy())
            f = mean_ci(m["freq_cos_neg"].to_numpy())
            parts.append(f"L_DA / L_base {s['mean']:.2f} [{s['low']:.2f}, {s['high']:.2f}]")
            parts.append(f"freq(cos < 0) {f['mean']:.3f} [{f['low']:.3f}, {f['high']:.3f}]")
        acc = g["accuracy"].mean() if len(g) else m["accuracy"].mean()
        seeds = int(g["seed"].nunique()) if len(g) else int(m["seed"].nunique())
        return (
            f"**The {PAIR_LABEL}** (conv stem, width 256, 100 epochs; mean clean accuracy {acc:.2f}, {seeds} "
            f"seed{'s' * (seeds != 1)}), the black point of each figure, measured rather than extrapolated: "
            + "; ".join(parts)
            + ". It is another architecture than the rungs, so it is not part of their trend fits."
        )
