"""The depth chapter: ViT and DiffViT at D ∈ {1, 2, 4, 8, 12} (paper Fig. 3a–d) and the predicted
against the observed robustness crossover, from the depth points of ``asr_suite.md`` and from
``propagation.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The statistics are :mod:`dalib.depth`'s.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import plots
from ..analysis import attack_note, fmt_diff, fmt_rate, l2_for_full_asr, seed_summary
from ..attacks.suite import display_name
from ..depth import (
    DEPTH_PLANNING_ZOO_BUDGET,
    chapter_table,
    depth_claims,
    depth_comparison,
    depth_recipe,
    observed_crossover,
    predicted_crossover,
    propagation_summary,
    recipe_parameter_count,
)
from ..paths import current_profile
from ..records import caption_source
from . import _show as show
from .depth_lipschitz import LABEL, Lipschitz, _present


class Chapter(Lipschitz, show.Facts):
    """The depth chapter's records (loaded once) and its tables, figures and claims."""

    def __init__(self, profile: str | None = None):
        self.profile = profile = profile or current_profile()
        self.plans = {
            s: [
                p
                for p in show.plans(s, profile)
                if p.params["recipe"] == depth_recipe(profile) and p.params["dataset"] == "cifar10"
            ]
            for s in ("asr_suite", "propagation")
        }
        asr = chapter_table("asr_suite", "asr")
        self.asr = asr[asr["attack_labels"] == "clean_pred"] if asr is not None else None
        self.models = chapter_table("asr_suite", "model")
        self.prop, self.plip = chapter_table("propagation", "propagation"), chapter_table("propagation", "lipschitz")

    def _label(self) -> str:
        """The next figure's name: D1, D2, ... in page order."""
        self._n_fig = getattr(self, "_n_fig", 0) + 1
        return f"D{self._n_fig}"

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`dp_...```): the depths with records."""
        depths = sorted({int(d) for d in self.asr["depth"]}) if _present(self.asr) else []
        return {"dp_depths": f"depths {show.words(depths)}" if depths else "no depth yet"}

    def status(self) -> None:
        plans, profile = self.plans, self.profile
        done = {s: sum(p.done for p in ps) for s, ps in plans.items()}
        status = (
            f"Profile `{profile}`: "
            + "; ".join(f"`{s}` {done[s]} of {len(ps)} runs have records" for s, ps in plans.items())
            + "."
        )
        if any(done[s] < len(ps) for s, ps in plans.items()):
            status += (
                f" **The campaign is not complete**; the figures show the depths that have records. Train the zoo "
                f"models with `python -m dalib.run train --profile {profile} --where patch_size=8 --jobs 2`, then "
                f'run `python -m dalib.run asr_suite --profile {profile} --where "recipe={depth_recipe(profile)}" '
                f"--jobs 2` and `python -m dalib.run propagation --profile {profile} --jobs 2`."
            )
        show.md(status)

    def models_table(self) -> None:
        """The depth recipe (and what set it) and Table D1, clean accuracy per depth."""
        from ..models.zoo import ZOO_BUDGET_BYTES, zoo_bytes, zoo_dir

        models, profile = self.models, self.profile
        if not _present(models):
            return show.md("No depth-chapter models have records yet.")
        r = models.iloc[0]
        zoo_files = {f for f in models["zoo_file"].dropna() if f and (zoo_dir() / f).exists()}
        chapter_zoo = sum((zoo_dir() / f).stat().st_size for f in zoo_files)
        n_tok, n_ep = (32 // int(r["patch_size"])) ** 2, int(r["epochs"])
        text = (
            f"One training recipe for every depth and both models (`train.md`, profile `{r['param.train_profile']}`, "
            f"with {depth_recipe(profile)}): width {int(r['embed_dim'])}, {int(r['num_heads'])} heads, patch "
            f"{int(r['patch_size'])} ({n_tok} patches of the 32 × 32 CIFAR-10 images), {n_ep} epoch{'s' * (n_ep != 1)} "
            f"on {int(r['n_train']):,} images, batch {int(r['batch_size'])}, Adam at lr {r['lr']:g}, training precision "
            f"{r['precision']}; DiffViT with λ_init = 0.8 in every layer."
        )
        if "embed_dim" in depth_recipe(profile):  # the budget recipe (cpu, smoke): say what set it
            depths = sorted({p.params["depth"] for p in self.plans["asr_suite"]})
            n_seed, n_seed_128 = (
                sum(recipe_parameter_count(m, d, profile, embed_dim=c) for m in ("vit", "diffvit") for d in depths)
                for c in (int(r["embed_dim"]), 128)
            )
            text += (
                " Two budgets set the recipe. The patch size is 8, not the depth-1 chapter's 4, so that the five "
                "depths, two models and three seeds train within the chapter's 12 core-hours (measured before the "
                "campaign: 2.6 core-hours per seed at patch 8 and width 128 against 9.7 at patch 4, fp32). The width is "
                f"{int(r['embed_dim'])}, not the other chapters' 128, so that the committed zoo stayed within the "
                f"{DEPTH_PLANNING_ZOO_BUDGET / 2**20:.0f} MiB budget it had when this chapter was planned (it is "
                f"{ZOO_BUDGET_BYTES / 2**20:.0f} MiB now): the {2 * len(depths)} models of one seed hold "
                f"{n_seed / 1e6:.2f} M parameters ({4 * n_seed / 2**20:.1f} MiB in float32) at this width and "
                f"{n_seed_128 / 1e6:.2f} M ({4 * n_seed_128 / 2**20:.1f} MiB) at width 128."
            )
        else:
            text += " This is the paper's recipe."
        text += f" The zoo holds {zoo_bytes() / 2**20:.1f} MiB now, " + (
            f"{chapter_zoo / 2**20:.1f} MiB of it this chapter's {len(zoo_files)} models."
            if zoo_files
            else "none of it this profile's models (they are not saved to the zoo)."
        )
        show.md(text)
        acc = seed_summary(models, ["model", "depth"], value="clean_accuracy")
        acc["clean accuracy [95% CI]"] = [fmt_rate(a.mean, a.ci_low, a.ci_high) for a in acc.itertuples()]
        show.table(
            acc.pivot(index="depth", columns="model", values="clean accuracy [95% CI]"),
            label="D1",
            caption=(f"* Clean test accuracy per depth (mean over seeds, t 95 % CI). {caption_source(models)}."),
        )

    @cached_property
    def comps(self):
        """Paired comparisons per attack kind with records (:func:`dalib.depth.depth_comparison`)."""
        asr = self.asr
        if not _present(asr):
            return {}
        return {
            kind: depth_comparison(asr, kind)
            for kind in ("pgd_linf", "autoattack")
            if len(asr[asr["attack_kind"] == kind])
        }

    def fig3ab(self) -> None:
        """Paper Fig. 3a and 3b: ASR against depth, Table D2, and the full ε curve per depth."""
        asr = self.asr
        if not _present(asr):
            return show.md("No attack records of the depth chapter yet.")
        for kind, fig_id, budgets in (("pgd_linf", "3a", (1.0, 4.0)), ("autoattack", "3b", (1.0, 4.0))):
            if kind not in self.comps:
                continue
            sub = asr[asr["attack_kind"] == kind]
            present = [b for b in budgets if (sub["budget"] == b).any()]
            if present:
                fig, axes = plots.small_multiples(len(present), ncols=2, panel=(5.0, 3.4))
                for ax, b in zip(axes, present):
                    at = sub[sub["budget"] == b]
                    series = {}
                    for m in ("vit", "diffvit"):
                        g = at[at["model"] == m]
                        if len(g):
                            summ = seed_summary(g, ["depth"]).rename(columns={"depth": "budget"})
                            series[LABEL[m]] = (summ, g[["depth", "asr"]].rename(columns={"depth": "budget"}))
                    plots.asr_curves(series, "depth D", logx=True, title=f"ε = {b:g}/255", ax=ax)
                at = sub[sub["budget"].isin(present)]
                show.figure(
                    fig,
                    label=self._label(),
                    caption=f"Paper Fig. {fig_id} ({display_name(kind)}): ASR against depth at "
                    + " and ".join(f"ε = {b:g}/255" for b in present)
                    + f", mean over seeds with t 95 % CI, dots: seeds. {attack_note(at)} {caption_source(at)}.",
                )
            table = self.comps[kind].copy()
            table["DiffViT − ViT [95% CI]"] = [
                fmt_diff(r.diff_mean, r.diff_low, r.diff_high) for r in table.itertuples()
            ]
            show.table(
                table[
                    [
                        "budget",
                        "depth",
                        "a_mean",
                        "b_mean",
                        "DiffViT − ViT [95% CI]",
                        "n_seeds",
                        "p_two_level",
                        "verdict",
                    ]
                ]
                .rename(columns={"a_mean": "ViT", "b_mean": "DiffViT", "p_two_level": "p (two-level)"})
                .round(3),
                label=f"D2{'ab'[fig_id == '3b']}",  # D2a PGD, D2b AutoAttack
                caption=(
                    f"({kind}). Paired by seed and image: the two-level interval and p (seeds and "
                    "images crossed); the depths of one budget are one family (see the Results page's rules). "
                    'The verdict column reads the claim "DiffViT\'s ASR is the higher" (the depth-1 claim); '
                    "the crossover claim is the opposite sign at depth."
                ),
            )
        pgd = asr[asr["attack_kind"] == "pgd_linf"]
        depths = sorted(set(pgd["depth"]))
        fig, axes = plots.small_multiples(len(depths))
        for ax, D in zip(axes, depths):
            at = pgd[pgd["depth"] == D]
            series = {LABEL[m]: (seed_summary(g, ["budget"]), g[["budget", "asr"]]) for m, g in at.groupby("model")}
            plots.asr_curves(series, "ε (1/255)", logx=True, title=f"depth {int(D)}", ax=ax)
        show.figure(
            fig,
            label=self._label(),
            caption=f"Paper Fig. 3a at every depth: the full PGD ε curve of each depth, one panel per depth; mean over "
            f"seeds with t 95 % CI, dots: seeds. {caption_source(pgd)}.",
        )

    def fig3c(self) -> None:
        """Paper Fig. 3c: CW-L2 ASR against the L2 budget per depth, and Table D3."""
        cw = self.asr[self.asr["attack_kind"] == "cw_l2"] if _present(self.asr) else None
        if not _present(cw):
            return show.md("No CW-L2 records of the depth chapter yet.")
        grid = np.linspace(0, 2.0, 81)
        full = []
        fig, axes = plots.small_multiples(cw["depth"].nunique())
        for ax, (D, gd) in zip(axes, cw.groupby("depth")):
            plots.cw_curves({LABEL[m]: g for m, g in gd.groupby("model")}, grid, ax=ax, title=f"depth {int(D)}")
            for _, r in gd.iterrows():
                full.append(
                    {
                        "model": LABEL[r["model"]],
                        "depth": int(D),
                        "seed": int(r["seed"]),
                        "L2 at 100% ASR": l2_for_full_asr(r),
                    }
                )
        show.figure(
            fig,
            label=self._label(),
            caption="Paper Fig. 3c: CW-L2 ASR against the L2 budget (the fraction of images whose minimal CW norm is "
            f"at most the budget), one panel per depth; thin: seeds. {caption_source(cw)}.",
        )
        show.table(
            pd.DataFrame(full)
            .pivot_table(index="depth", columns="model", values="L2 at 100% ASR", aggfunc="max")
            .round(3),
            label="D3",
            caption=(
                "The L2 budget at which every attacked image is broken (the largest per-image minimal "
                "norm; max over seeds); inf: CW never broke every image."
            ),
        )

    def claims(self):
        return depth_claims(self.asr, self.lipschitz)

    def crossover(self) -> None:
        """The predicted crossover depth D* against the observed one, and the chapter's claims."""
        lines = []
        if _present(self.prop):
            pred = predicted_crossover(propagation_summary(self.propagation, "random", 1.0))
            if len(pred):
                show.table(
                    pred,
                    label="D5",
                    caption="The crossover predicted per seed from random perturbations at 1/255 (models of depth ≥ 2, "
                    "blocks after the first): each model's mean propagation ratio α and block spectral norm L, and "
                    f"the corrected Corollary 1's D* (inf: no crossover). {caption_source(self.prop)}.",
                )
                smaller = int((pred["alpha_da"] < pred["alpha_base"]).sum())
                finite = pred["D_star"][np.isfinite(pred["D_star"])]
                lines.append(
                    f"**Predicted.** From random perturbations at 1/255 (models of depth ≥ 2, blocks after the first): "
                    f"DiffViT's mean α = {pred['alpha_da'].mean():.3f}, ViT's = {pred['alpha_base'].mean():.3f}. "
                    "α is at most 1 for any network to first order (a block cannot amplify a perturbation by more "
                    "than its spectral norm), so α < 1 alone is no evidence of DA-specific cancellation; the "
                    f"paper's mechanism needs DiffViT's α below ViT's, which holds in {smaller} of {len(pred)} seeds. "
                    f"L̄_DA = {pred['L_da'].mean():.3f}, L̄_base = {pred['L_base'].mean():.3f}. "
                    + (
                        f"Corollary 1 (corrected) predicts D* = {finite.mean():.2f} (seeds: "
                        + ", ".join(f"{v:.2f}" for v in finite)
                        + ")."
                        if len(finite)
                        else "The corrected Corollary 1 predicts **no crossover** for these values (it needs "
                        "ᾱ L̄_DA < L̄_base < L̄_DA)."
                    )
                )
        if "pgd_linf" in self.comps:
            obs = observed_crossover(self.comps["pgd_linf"], 1.0)
            lines.append(
                (
                    f"**Observed.** At ε = 1/255, DiffViT's mean ASR is below ViT's from depth {obs['depth']} on"
                    if np.isfinite(obs["depth"])
                    else "**Observed.** At ε = 1/255, DiffViT's mean ASR is below ViT's at no depth from which it stays "
                    "below"
                )
                + f", among the depths with records ({', '.join(map(str, obs['depths']))})."
            )
        lines.append("\n".join(f"- **{r.claim}**: {r.verdict}. {r.detail}." for r in self.claims().itertuples()))
        show.md("\n\n".join(lines) if lines else "Neither the prediction nor the observation has records yet.")

    def compute(self) -> None:
        """Training and run wall time per notebook and depth (Table D6)."""
        parts = []
        for name, df in (("asr_suite", self.asr), ("propagation", self.prop)):
            if _present(df):
                w = df.drop_duplicates("record")[["model", "depth", "seed", "wall_time_s"]]
                parts.append(w.assign(notebook=name))
        models = self.models
        if _present(models) and "train_cpu_s" in models:
            t = models.drop_duplicates(["model", "depth", "seed"])
            show.md(
                f"Training: {t['train_cpu_s'].sum() / 3600:.2f} CPU-hours over {len(t)} models "
                f"(longest {t['train_time_s'].max() / 60:.0f} min wall)."
            )
        if parts:
            w = pd.concat(parts)
            show.table(
                w.groupby(["notebook", "depth"])["wall_time_s"]
                .agg(["count", "sum", "max"])
                .div([1, 60, 60])
                .round(1)
                .rename(columns={"sum": "total min", "max": "longest min", "count": "runs"}),
                label="D6",
                caption=(
                    f"Wall time of the runs (including training where a run trained its model), "
                    f"total {w['wall_time_s'].sum() / 3600:.2f} h."
                ),
            )
