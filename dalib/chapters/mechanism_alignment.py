"""The mechanism chapter's alignment half: paper Fig. 5 (negative branch alignment), Theorems 1-2 and Lemma 2 on the trained layers, the shift under attack, Fig. 1 and lambda.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from .. import mechanism as mech
from .. import plots
from ..records import caption_source
from . import _show as show


def fig1_maps(fig_rows, image_rows):
    """Paper Fig. 1 of one seed's ``fig1``/``fig1_images`` rows: ViT's A and DiffViT's A1, A2, A_DA."""
    from ..data import CIFAR10_CLASSES

    return plots.attention_maps(
        fig_rows,
        image_rows,
        [("vit", "A"), ("diffvit", "A1"), ("diffvit", "A2"), ("diffvit", "A_DA")],
        class_names=CIFAR10_CLASSES,
    )


def _main(df):
    return df[(df["model"] == "vit") | (df["lambda_init"] == "0.8")]


class Alignment:
    """The methods of ``mechanism.Chapter`` that paper Fig. 5 (negative branch alignment), Theorems 1-2 and Lemma 2 on the trained layers, the shift under attack, Fig. 1 and lambda (a mixin; the records are the chapter's)."""

    # ------------------------------------------------------------------ C5
    @cached_property
    def c5(self):
        """C5 per layer, per Jacobian method (:func:`dalib.mechanism.alignment_claim`)."""
        return {m: mech.alignment_claim(self.jac, method=m) for m in ("probe", "exact")}

    def fig5(self) -> None:
        """Paper Fig. 5: the frequency of negative alignment per layer, its claim table and the distributions."""
        jac, P, src = self.jac, self.P, self.src
        groups = {}
        for m, label in (
            ("probe", f"diffvit probes ({P['n_images']} images)"),
            ("exact", f"diffvit exact ({P['n_exact']} images)"),
        ):
            d = jac[
                (jac["quantity"] == "cos")
                & (jac["method"] == m)
                & (jac["point"] == "clean")
                & (jac["model"] == "diffvit")
                & (jac["lambda_init"] == "0.8")
            ]
            if len(d):
                groups[label] = {
                    int(layer): g.groupby("seed")["value"].apply(lambda v: float((v < 0).mean())).tolist()
                    for layer, g in d.groupby("layer")
                }
        show.figure(
            plots.per_layer(groups, "freq(cos < 0)", "negative alignment per layer", hline=0.5, bounds=(0, 1)),
            label="M3",
            caption=(
                "(paper Fig. 5). Frequency of $\\cos(J_1, J_2) < 0$ over images and heads, per "
                "layer and seed, for DiffViT at $\\lambda_{\\mathrm{init}} = 0.8$; dashed: 1/2. " + src + "."
            ),
        )
        rows = [
            {
                "method": m,
                "layer": r["layer"] + 1,
                "cells": r["n_cells"],
                "freq(cos<0)": f"{r['freq']:.3f}",
                "median cos": f"{r['cos_median']:+.3f}",
                "freq - 1/2 [95% CI]": f"{r['effect']:+.3f} [{r['effect_low']:+.3f}, {r['effect_high']:+.3f}]",
                "per seed": r["per_seed"],
                "p pooled (Holm)": r["p_pooled_holm"],
                "verdict": r["verdict"],
            }
            for m, t in self.c5.items()
            for _, r in t.iterrows()
        ]
        if rows:
            show.table(
                pd.DataFrame(rows),
                label="M4",
                caption="C5 per layer. Effect: frequency of $\\cos < 0$ minus 1/2, per seed, CI over seeds; "
                "pooled: exact binomial test over all (seed, image, head) cells. " + src + ".",
            )
        else:
            show.md("*No DiffViT has been measured yet.*")
        acc_probe = mech.probe_accuracy(jac)
        if acc_probe["n"]:
            show.md(
                f"The probe estimate agrees with the exact value on the {acc_probe['n']} cells that have both: "
                f"rms error of cos {acc_probe['cos_rms_error']:.3f}, relative rms error of "
                f"$\\lVert J_{{\\mathrm{{DA}}}}\\rVert_F$ {acc_probe['norm_rel_rms_error']:.3f}, same sign of cos in "
                f"{acc_probe['sign_agreement']:.1%} of cells."
            )
        if len(self.c5["probe"]):
            r = self.c5["probe"].iloc[0]
            show.md(f"**Verdict C5 (layer 1, probes): {r['verdict']}.** {r['reason']}.")
        samples = {}
        for lam in sorted(jac["lambda_init"].dropna().unique()):
            d = jac[
                (jac["quantity"] == "cos")
                & (jac["method"] == "probe")
                & (jac["point"] == "clean")
                & (jac["model"] == "diffvit")
                & (jac["lambda_init"] == lam)
            ]
            if len(d):
                samples[f"diffvit lambda_init {lam}"] = d["value"].to_numpy()
        if samples:
            show.figure(
                plots.distributions(samples, "cos(J1, J2)", "distribution of the branch alignment", vline=0.0),
                label="M4",
                caption=(
                    "The full distribution of $\\cos(J_1, J_2)$ (probes, clean images, all heads and "
                    "seeds) for each $\\lambda_{\\mathrm{init}}$. " + src + "."
                ),
            )

    # ------------------------------------------------------------------ theory, attacks, maps, lambda
    @cached_property
    def theorems(self):
        """Theorem 2 and Lemma 2 per (seed, image, head) cell with exact Jacobians."""
        return mech.theorem_checks(self.jac, self.lip)

    def theorem_checks(self) -> None:
        th = self.theorems
        if not len(th):
            return
        lem = th.dropna(subset=["lip_ratio"])
        show.md(
            f"On {len(th)} (seed, image, head) cells with exact Jacobians, each DiffViT head paired with the ViT of "
            "the same seed on the same image (its per-head rms), Theorem 2's identity "
            "$\\lVert J_{\\mathrm{DA}}\\rVert_F / \\lVert J_{\\mathrm{base}}\\rVert_F = \\gamma\\sqrt{1 + \\lambda^2\\rho^2 - 2\\lambda\\rho\\cos\\theta}$ "
            f"holds to a relative error of at most **{th['thm2_rel_err'].max():.1e}** (float32 Jacobians, float64 Gram "
            "matrices), as it must: it is an identity of the Frobenius inner product.\n\n"
            f"**Lemma 2** bounds $L_{{\\mathrm{{DA}}}}/L_{{\\mathrm{{base}}}}$ (here the spectral norms from power "
            f"iteration, {len(lem)} cells). As printed ($L_{{\\mathrm{{DA}}}}/L_{{\\mathrm{{base}}}} \\le "
            f"\\gamma\\sqrt{{\\cdot}}$) it holds in **{lem['lemma2_printed'].astype(float).mean():.1%}** of the cells; "
            "corrected by $\\kappa_{\\mathrm{base}} = \\lVert J_{\\mathrm{base}}\\rVert_F / \\lVert J_{\\mathrm{base}}\\rVert_2$ "
            "([theory chapter](../notebooks/theory/fragile_principle.md), `dalib.theory.lipschitz_ratio_bound`) it "
            f"holds in **{lem['lemma2_corrected'].astype(float).mean():.1%}**. On these layers "
            f"$\\kappa_{{\\mathrm{{base}}}}$ has median {lem['kappa_base'].median():.2f} (range "
            f"{lem['kappa_base'].min():.2f} to {lem['kappa_base'].max():.2f}): the factor by which the valid bound "
            "exceeds the printed one. The printed bound can hold on real layers, but nothing guarantees it: where it "
            "holds, it is because $\\kappa_{\\mathrm{DA}}$ is at least as large as $\\kappa_{\\mathrm{base}}$."
        )
        g = th["alignment_gain"]
        show.md(
            f"**How much the alignment amplifies.** Theorem 1's factor $\\sqrt{{1 + \\lambda^2\\rho^2 - 2\\lambda\\rho\\cos\\theta}}$ "
            "against its value for orthogonal branches ($\\cos\\theta = 0$) is what negative alignment adds to "
            f"$\\lVert J_{{\\mathrm{{DA}}}}\\rVert_F$. On these layers it is {g.median():.4f} (median; range "
            f"{g.min():.4f} to {g.max():.4f}): with $|\\cos\\theta|$ at most {th['cos'].abs().max():.3f}, the branch "
            "gradients are nearly orthogonal, so the sign of $\\cos\\theta$ is negative far more often than not, but the "
            "amplification it causes is a fraction of a percent to a few percent. What sets $\\lVert J_{\\mathrm{DA}}\\rVert$ "
            f"against the base is $\\gamma$ (median {th['gamma'].median():.2f}) and $\\lambda\\rho$ (median "
            f"{(th['lambda'] * th['rho']).median():.2f})."
        )
        q = (
            th[["gamma", "rho", "cos", "lambda", "alignment_gain", "ratio", "thm2", "lip_ratio", "kappa_base"]]
            .describe()
            .T
        )
        show.table(
            q[["mean", "50%", "min", "max"]].round(3),
            label="M5",
            caption=(
                "The quantities of Theorem 2 and Lemma 2 on the trained depth-1 models (exact "
                "Jacobians, clean images). " + self.src + "."
            ),
        )

    @cached_property
    def shift(self):
        """Each quantity at clean and PGD inputs (:func:`dalib.mechanism.attack_shift`), both models."""
        return pd.concat(
            [mech.attack_shift(self.jac, self.lip, "diffvit"), mech.attack_shift(self.jac, self.lip, "vit")],
            ignore_index=True,
        )

    def attack_shift(self) -> None:
        """Clean against adversarial inputs (Table M6, paper Fig. 1b)."""
        sh = self.shift
        if not len(sh):
            return
        sh["change [95% CI]"] = [
            f"{r['change']:+.4f} [{r['change_low']:+.4f}, {r['change_high']:+.4f}]" for _, r in sh.iterrows()
        ]
        show.table(
            sh[
                [
                    "model",
                    "point_eps",
                    "quantity",
                    "clean",
                    "adversarial",
                    "change_kind",
                    "change [95% CI]",
                    "n_cells",
                    "p_pooled",
                ]
            ].round(4),
            label="M6",
            caption=(
                "Each quantity at the clean images and at PGD examples of the same images "
                "(budget in units of 1/255), paired by seed, image and head: the change (a difference, or the "
                "log ratio of the means for Lipschitz estimates), its t 95 % CI over seeds, and a Wilcoxon "
                "signed-rank test pooled over all cells. " + self.src + "."
            ),
        )
        d = sh[(sh["model"] == "diffvit") & (sh["quantity"] == "freq(cos<0)")]
        if not len(d):
            return

        def reading(r):
            if r["change_low"] > 0:
                return "more negative alignment under attack, as Fig. 1(b) says"
            if r["change_high"] < 0:
                return "*less* negative alignment under attack, the opposite of Fig. 1(b)"
            return "no change that the seeds can establish"

        parts = [
            f"at {r['point_eps']:g}/255 the frequency of $\\cos < 0$ goes from {r['clean']:.3f} to "
            f"{r['adversarial']:.3f} (change {r['change']:+.4f}, CI [{r['change_low']:+.4f}, "
            f"{r['change_high']:+.4f}]): " + reading(r)
            for _, r in d.iterrows()
        ]
        show.md(
            "For DiffViT, " + "; ".join(parts) + ". All changes are small beside the clean level: PGD "
            "at these budgets moves the images too little to reorganise the branch gradients."
        )

    def fig1(self) -> None:
        """Attention maps of two clean and attacked images (paper Fig. 1)."""
        s0 = min(self.seeds.get("diffvit", [0]) or [0])
        fr = _main(self.fig_rows[self.fig_rows["seed"] == s0])
        fi = _main(self.fig_images[self.fig_images["seed"] == s0])
        fr = fr[fr["sample"] < 2]
        show.figure(
            fig1_maps(fr, fi),
            label="M5",
            caption=(
                f"(paper Fig. 1). Two test images (rows: clean and PGD examples against each model; the "
                f"image shown is the one that attacks the ViT), and the attention each of the 8x8 patch tokens "
                f"receives, averaged over queries and heads, for ViT's $A$ and DiffViT's $A_1$, $A_2$ and "
                f"$A_{{\\mathrm{{DA}}}}$ (training seed {s0}; $A_{{\\mathrm{{DA}}}}$ can be negative, diverging colours). "
                + caption_source(self.fig_rows)
                + "."
            ),
        )

    def lambda_relation(self) -> None:
        """Sensitivity against the learned λ over the λ_init sweep (Figure M6, Table M7)."""
        rel = mech.lambda_relation(self.lip, self.jac, self.models)
        if rel["lambda_init"].nunique() <= 1:
            return show.md(
                "The $\\lambda_{\\mathrm{init}}$ sweep's models have not been measured yet under this profile."
            )
        from scipy.stats import spearmanr

        show.figure(
            plots.scatter_by_group(
                rel,
                "lambda",
                "L_sampling_mean",
                "lambda_init",
                "learned lambda",
                "mean L of A_DA (paper's estimator)",
                "sensitivity against lambda",
            )
        )
        rs = spearmanr(rel["lambda"], rel["L_sampling_mean"])
        rf = spearmanr(rel["lambda"], rel["freq_negative"])
        show.md(
            f"**Figure M6.** The mean Lipschitz estimate of $A_{{\\mathrm{{DA}}}}$ against the learned $\\lambda$, one "
            f"point per trained DiffViT ({len(rel)} models). " + self.src + ".\n\n"
            f"Spearman's rank correlation over the models: $\\lambda$ with the Lipschitz estimate "
            f"{rs.statistic:+.2f} (p = {rs.pvalue:.2g}); $\\lambda$ with the frequency of $\\cos < 0$ "
            f"{rf.statistic:+.2f} (p = {rf.pvalue:.2g}). Subtracting more of $A_2$ shrinks the row mass "
            "$1 - \\lambda$ of $A_{\\mathrm{DA}}$, which by itself would lower its Lipschitz constant; "
            + (
                "the estimate nevertheless rises with $\\lambda$, in the direction of the paper's 'maxima at layers "
                "using larger λ'."
                if rs.statistic > 0
                else "the estimate does not rise with $\\lambda$."
            )
        )
        show.table(
            rel.groupby("lambda_init")[["lambda", "L_sampling_mean", "L_power", "freq_negative", "clean_accuracy"]]
            .mean()
            .round(4),
            label="M7",
            caption=("Means over seeds per $\\lambda_{\\mathrm{init}}$. " + self.src + "."),
        )
