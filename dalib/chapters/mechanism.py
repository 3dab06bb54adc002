"""The mechanism chapter: local Lipschitz constants of the attention maps and the alignment of the
two DA branches (paper Fig. 4, Fig. 5, Fig. 1b), from the records of
``notebooks/experiments/mechanism.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The statistics are :mod:`dalib.mechanism`'s; this module loads the records once and
lays them out as the chapter's tables, figures and reading.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import mechanism as mech
from .. import paper, plots
from ..paths import current_profile
from ..records import caption_source, load_rows
from . import _show as show
from .mechanism_alignment import Alignment, _main  # noqa: F401

MAIN_MAPS = [
    ("vit A", {"model": "vit"}, "A"),
    ("diffvit A_DA", {"model": "diffvit", "lambda_init": "0.8"}, "A_DA"),
    ("A1 (DiffViT)", {"model": "diffvit", "lambda_init": "0.8"}, "A1"),
    ("A2 (DiffViT)", {"model": "diffvit", "lambda_init": "0.8"}, "A2"),
]
ESTIMATORS = {"L_sampling_mean": "paper's (sampling mean)", "L_power": "worst case (power)"}


def paper_claims() -> None:
    """The paper's claims that this chapter tests, quoted."""
    show.md(
        f'- **C4, Fig. 4.** "{paper.CLAIM_FIG4}" The estimate is eq. (4) with $\\xi$ sampled uniformly in the '
        "$\\ell_\\infty$ ball of radius 8/255 (Sec. 5.3).\n"
        f'- **C5, Fig. 5.** "{paper.CLAIM_FIG5}" The figure shows the frequency of $\\cos(\\nabla A_1, \\nabla A_2) < 0$ '
        "per layer (Sec. 5.4).\n"
        f'- **Fig. 1(b).** "{paper.CLAIM_FIG1B}"'
    )


def _per_seed(long, quantity, maps, **where):
    """{label: {layer: per-seed image-and-head means}}."""
    out = {}
    for label, sel, mp in maps:
        d = long[(long["quantity"] == quantity) & (long["map"] == mp) & (long["point"] == "clean")]
        for k, v in {**sel, **where}.items():
            d = d[d[k] == v]
        if len(d):
            out[label] = {int(layer): g.groupby("seed")["value"].mean().tolist() for layer, g in d.groupby("layer")}
    return out


from ..claims.mechanism import claims_of  # noqa: E402,F401  (the chapter draws them)


class Chapter(Alignment, show.Facts):
    """The mechanism chapter's records (loaded once) and its tables, figures and reading."""

    def __init__(self, profile: str | None = None):
        self.profile = profile or current_profile()
        rows = lambda table: paper.paper_models(load_rows("mechanism", table=table))  # noqa: E731
        self.lip_rows = rows("lipschitz")
        self.jac_rows = rows("jacobian")
        self.models = models = rows("model")
        self.cost_rows = rows("cost")
        self.fig_rows = rows("fig1")
        self.fig_images = rows("fig1_images")
        self.lip = mech.long_table(self.lip_rows)
        self.jac = mech.long_table(self.jac_rows)
        self.src = caption_source(self.lip_rows)
        self.plans = paper.paper_plans(show.plans("mechanism", self.profile))
        self.P = {
            k: models[f"param.{k}"].iloc[0]
            for k in (
                "n_images",
                "n_exact",
                "n_worst",
                "lip_eps",
                "n_samples",
                "ascent_steps",
                "power_iter",
                "n_probes",
                "pgd_steps",
            )
        }
        self.main = models[models["lambda_init"].astype(str).isin(["0.8"]) | (models["model"] == "vit")]
        self.seeds = {m: sorted(int(s) for s in g["seed"]) for m, g in self.main.groupby("model")}
        self.adv = sorted(e for e in self.lip["point_eps"].unique() if e > 0)
        self.acc = self.main.groupby("model")["clean_accuracy"].mean()

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`m_...```), from the records: the
        main pair's seeds and the row sum $1 - \\lambda$ of DiffViT's map (learned λ, mean over the
        main DiffViTs' layers)."""
        n = sorted({len(v) for v in self.seeds.values()})
        dv = self.lip[(self.lip["model"] == "diffvit") & (self.lip["lambda_init"].astype(str) == "0.8")]
        lam = dv.drop_duplicates(["seed", "layer"])["lambda"].astype(float).mean()
        return {
            "m_seeds": " or ".join(map(str, n)) or "no",
            "m_row_sum": f"{1 - lam:.2f}" if lam == lam else "not measured",
        }

    def setup(self) -> None:
        """Models, images and estimators, from the records' parameters."""
        P, seeds, acc, models = self.P, self.seeds, self.acc, self.models
        show.md(
            f"**Models.** ViT (seeds {seeds.get('vit', [])}) and DiffViT at $\\lambda_{{\\mathrm{{init}}}} = 0.8$ "
            f"(seeds {seeds.get('diffvit', [])}), depth 1, the `{models['param.train_profile'].iloc[0]}` training profile "
            f"(mean clean accuracy ViT {acc.get('vit', float('nan')):.3f}, DiffViT {acc.get('diffvit', float('nan')):.3f}), "
            "and the DiffViTs of the $\\lambda_{\\mathrm{init}}$ sweep. Each is loaded from the model zoo "
            f"(sources in the records: {', '.join(sorted(models['source'].unique()))}).\n\n"
            f"**Images.** The same {P['n_images']} class-balanced CIFAR-10 test images for every model (offline JPEG "
            "stand-in, see the depth-1 chapter). Exact Jacobians and the worst-case estimators use the first "
            f"{P['n_exact']} and {P['n_worst']} of them.\n\n"
            "**Estimators** (`dalib.metrics`, validated on toy models in [Metrics](metrics.md)), per layer and head, "
            "w.r.t. the input image:\n"
            f"- the paper's: $\\xi$ uniform in the $\\ell_\\infty$ ball of radius {P['lip_eps']}/255, {P['n_samples']} "
            "draws per image, the mean (and the max) of $\\lVert A(x+\\xi) - A(x)\\rVert_2 / \\lVert\\xi\\rVert_2$;\n"
            f"- the worst case: projected gradient ascent of the same quotient in the same ball ({P['ascent_steps']} "
            f"steps) and power iteration for $\\lVert J(x)\\rVert_2$ (at most {P['power_iter']} iterations);\n"
            "- Frobenius quantities of $J = \\partial\\,\\mathrm{vec}(A)/\\partial x$: exact (forward mode over the "
            f"3,072 pixels), and from {P['n_probes']} JVP probes on all images;\n"
            f"- at the clean images and at PGD examples of the same images "
            f"({', '.join(f'{e:g}/255' for e in self.adv) or 'none'}; "
            f"{P['pgd_steps']} steps, the clean prediction as label); exact Jacobians at the clean images only.\n\n"
            "Every random draw comes from a stream keyed by (seed, image index), so no value depends on batching. "
            f"**Campaign status:** {sum(p.done for p in self.plans)} of {len(self.plans)} planned runs of profile "
            f"`{self.profile}` are recorded."
        )

    def cost(self) -> None:
        """The chapter's cost per model kind and stage, and what the depth sweep would add."""
        cost = self.cost_rows
        c = cost.groupby(["model", "lambda_init", "seed"])["time_s"].sum().reset_index()
        c["kind"] = np.where(
            (c["model"] == "vit") | (c["lambda_init"] == "0.8"),
            "main (all points, exact)",
            "lambda sweep (clean, probes)",
        )
        per_kind = c.groupby(["model", "kind"])["time_s"].agg(["mean", "count", "sum"]).reset_index()
        stages = (
            cost.assign(stage=cost["stage"].str.replace(r" [\d.]+(/255)?$", "", regex=True))
            .groupby(["model", "stage"])["time_s"]
            .mean()
            .unstack(0)
            .round(1)
        )
        show.md(
            "**Cost** (from the records' `cost` table; one CPU thread per run, up to three runs sharing the two cores, "
            "so the wall times are contended): "
            + "; ".join(
                f"{r['model']} {r['kind']}: {r['mean'] / 60:.1f} min per model ({r['count']} runs)"
                for _, r in per_kind.iterrows()
            )
            + f". The chapter took **{c['time_s'].sum() / 3600:.2f} core-hours** in all. "
            + self.src
            + "."
        )
        main_min = c[c["kind"].str.startswith("main")].groupby("model")["time_s"].mean().sum() / 60  # one pair
        depths = [1, 2, 4, 8, 12]
        show.md(
            "**What the depth sweep adds.** At depth $D$ every pass through the model costs about $D$ times as much, "
            "and the worst-case estimators run one input copy per (layer, map, head), so their cost grows like $D^2$. "
            f"At the counts used here, a ViT/DiffViT pair costs {main_min:.0f} core-minutes at depth 1, so the pairs "
            f"at depths {depths} would cost at most about {main_min * sum(d * d for d in depths) / 60:.0f} core-hours "
            f"per seed (the $D^2$ bound; at least {main_min * sum(depths) / 60:.0f} by the linear part alone). The "
            "depth chapter will therefore run the worst-case estimators and exact Jacobians on fewer images."
        )
        show.table(
            stages,
            label="M1",
            caption=(
                "Mean wall time per stage and model [s] (a stage is summed over its images; the "
                "Lipschitz stage includes the worst-case estimators on the first images)."
            ),
        )

    # ------------------------------------------------------------------ C4
    def fig4(self) -> None:
        """Paper Fig. 4 per layer: the paper's estimator, then the worst case."""
        show.figure(
            plots.per_layer(
                _per_seed(self.lip, "L_sampling_mean", MAIN_MAPS),
                "mean local Lipschitz estimate",
                f"paper's estimator (xi ~ U, {self.P['lip_eps']}/255 ball)",
            ),
            label="M1",
            caption=(
                "(paper Fig. 4). The paper's estimator per layer: the mean over images and heads of "
                "the mean difference quotient, per training seed (dots) with the mean and t 95 % CI over seeds. "
                "ViT's $A$ against DiffViT's $A_{\\mathrm{DA}}$, and DiffViT's branches $A_1$, $A_2$. " + self.src + "."
            ),
        )
        show.figure(
            plots.per_layer(
                _per_seed(self.lip, "L_power", MAIN_MAPS), "spectral norm ||J(x)||_2", "worst case (power iteration)"
            ),
            label="M2",
            caption=(
                f"The same for the worst case, $\\lVert J(x)\\rVert_2$ on the first "
                f"{self.P['n_worst']} images. " + self.src + "."
            ),
        )

    @cached_property
    def c4(self):
        """C4 per layer, per estimator (:func:`dalib.mechanism.lipschitz_claim`)."""
        return {q: mech.lipschitz_claim(self.lip, q) for q in ESTIMATORS}

    def c4_table(self) -> None:
        rows = [
            {
                "estimator": ESTIMATORS[q],
                "layer": r["layer"] + 1,
                "ViT A": r["mean_base"],  # numbers: the book table writes them (dalib.chapters._show.cell)
                "DiffViT A_DA": r["mean_da"],
                "ratio DA/base": f"{r['ratio']:.2f}",
                "log ratio [95% CI]": f"{r['effect']:+.3f} [{r['effect_low']:+.3f}, {r['effect_high']:+.3f}]",
                "per seed": r["per_seed"],
                "p seed (Holm)": r["p_seed_holm"],
                "p pooled (Holm)": r["p_pooled_holm"],
                "verdict": r["verdict"],
            }
            for q, t in self.c4.items()
            for _, r in t.iterrows()
        ]
        if not rows:
            return show.md("*No ViT/DiffViT pair of the same seed has been measured yet.*")
        show.table(
            pd.DataFrame(rows),
            label="M2",
            caption="C4 per layer. Effect: $\\log(\\overline{L}_{\\mathrm{DA}} / \\overline{L}_{\\mathrm{base}})$ "
            "per seed (image means of the head-mean estimate), CI over seeds; pooled: Wilcoxon signed-rank over "
            "the per-image log ratios of all seeds; Holm over layers. A ratio within 5 % counts as no effect. "
            + self.src
            + ".",
        )
        t, tp = self.c4["L_sampling_mean"], self.c4["L_power"]
        if len(t):
            r = t.iloc[0]
            show.md(
                f"**Verdict C4 (paper's estimator, layer 1): {r['verdict']}.** {r['reason']}. "
                f"With the worst-case estimator: **{tp.iloc[0]['verdict']}** "
                f"(ratio {tp.iloc[0]['ratio']:.2f})."
                if len(tp)
                else ""
            )
            if r["verdict"] == "contradicted":
                show.md(
                    "In plain words: by the paper's own estimator, DiffViT's attention map $A_{\\mathrm{DA}}$ is "
                    f"*less* sensitive to small input changes than ViT's $A$ (ratio {r['ratio']:.2f}; "
                    f"{tp.iloc[0]['ratio']:.2f} in the worst case), the opposite of what Fig. 4 shows."
                    if len(tp) and tp.iloc[0]["verdict"] == "contradicted"
                    else f"In plain words: by the paper's own estimator, DiffViT's attention map is *less* sensitive "
                    f"to small input changes than ViT's (ratio {r['ratio']:.2f}), the opposite of what Fig. 4 shows."
                )

    @cached_property
    def gap(self):
        gap = mech.estimator_gap(self.lip)
        return _main(gap)

    def estimator_gap(self) -> None:
        """Each estimate against the spectral norm (Table M3)."""
        gap, P = self.gap, self.P
        if not len(gap):
            return
        show.table(
            gap[
                [
                    "model",
                    "map",
                    "n_cells",
                    "L_power_mean",
                    "L_sampling_mean/L_power",
                    "L_sampling_max/L_power",
                    "L_ascent/L_power",
                    "L_sampling_max/L_power per seed",
                ]
            ],
            label="M3",
            caption="Median over (seed, image, head) of each estimate divided by $\\lVert J(x)\\rVert_2$, on the "
            f"first {P['n_worst']} clean images. " + self.src + ".",
        )
        lo, hi = gap["L_sampling_max/L_power"].min(), gap["L_sampling_max/L_power"].max()
        show.md(
            f"The paper's estimator sits far below the worst case on trained models: even the max over "
            f"{P['n_samples']} random draws reaches only {lo:.3f} to {hi:.3f} of the spectral norm, while gradient "
            f"ascent in the same ball reaches {gap['L_ascent/L_power'].min():.2f} to "
            f"{gap['L_ascent/L_power'].max():.2f} of it. A random direction in a 3,072-dimensional ball has almost no "
            "component along the top singular vector, so the sampling estimate measures an average sensitivity, not "
            "the worst case that an attack exploits."
        )

    def sampling_vs_frobenius(self) -> None:
        """The paper's estimate against ‖J‖_F/√D (Table M3b)."""
        shape = self.fig_images["image_shape"].iloc[0]
        D = int(np.prod([int(v) for v in str(shape).split("x")]))
        sf = _main(mech.sampling_vs_frobenius(self.lip, self.jac, D))
        if len(sf):
            show.table(
                sf,
                label="M3b",
                caption=f"The paper's estimate divided by $\\lVert J\\rVert_F/\\sqrt{{D}}$ ($D$ = {D}; exact "
                "Jacobians, clean images), per map: median and range over (seed, image, head), and the correlation of "
                "the two. " + self.src + ".",
            )
            show.md(
                f"The ratio stays within {sf['ratio_min'].min():.2f} to "
                f"{sf['ratio_max'].max():.2f} (correlation at least {sf['correlation'].min():.3f}): on these trained "
                "layers the paper's Fig. 4 is, up to a constant, a plot of Frobenius norms of the input Jacobians. It "
                "therefore compares the same quantities as Theorem 2, and says nothing more about the worst case than "
                "they do."
            )

    def reading(self) -> None:
        """The chapter's reading, generated from the records."""
        c4, c5, th, gap, acc = self.c4, self.c5, self.theorems, self.gap, self.acc
        lines = []
        if len(c4["L_sampling_mean"]):
            r = c4["L_sampling_mean"].iloc[0]
            lines.append(
                f"- **C4 ({r['verdict']}).** With the paper's estimator, DiffViT's $A_{{\\mathrm{{DA}}}}$ has "
                f"{r['ratio']:.2f} times ViT's mean Lipschitz estimate at layer 1 (log ratio per seed "
                f"{r['per_seed']}; pooled image-level p = {r['p_pooled_holm']:.2g}). "
                + (
                    "Every seed points the other way from the paper: lower, not higher."
                    if r["effect_high"] < 0 or all(float(v) < 0 for v in r["per_seed"].split(","))
                    else ""
                )
            )
        if len(c4["L_power"]):
            r = c4["L_power"].iloc[0]
            lines.append(f"  In the worst case (spectral norm) the ratio is {r['ratio']:.2f} ({r['verdict']}).")
        if len(c5["probe"]):
            r = c5["probe"].iloc[0]
            lines.append(
                f"- **C5 ({r['verdict']}).** The branch gradients are negatively aligned in {r['freq']:.1%} of "
                f"(image, head) cells (median cos {r['cos_median']:+.3f})."
            )
        if len(th):
            lem = th.dropna(subset=["lip_ratio"])
            lines.append(
                f"- **Theory.** Theorem 2's identity holds to {th['thm2_rel_err'].max():.0e}; Lemma 2 as "
                f"printed holds in {lem['lemma2_printed'].astype(float).mean():.0%} of cells, corrected in "
                f"{lem['lemma2_corrected'].astype(float).mean():.0%}."
            )
        sh = self.shift
        d = sh[(sh["model"] == "diffvit") & (sh["quantity"] == "freq(cos<0)")] if len(sh) else sh
        if len(d):
            lines.append(
                "- **Fig. 1(b).** Under PGD the frequency of negative alignment changes by "
                + ", ".join(
                    f"{r['change']:+.4f} [{r['change_low']:+.4f}, {r['change_high']:+.4f}] at {r['point_eps']:g}/255"
                    for _, r in d.iterrows()
                )
                + "."
            )
        if len(th):
            lines.append(
                f"- **Magnitude.** Negative alignment adds a median factor of {th['alignment_gain'].median():.4f} "
                "to $\\lVert J_{\\mathrm{DA}}\\rVert_F$: the sign is dominant, the effect is not."
            )
        if len(gap):
            lines.append(
                f"- **Estimators.** The paper's sampling estimate is {gap['L_sampling_mean/L_power'].median():.3f} "
                "of the spectral norm (median): Fig. 4 measures typical, not worst-case, sensitivity."
            )
        show.md(
            "\n".join(lines) + f"\n\nThese are depth-1 models at {acc.min():.1%} to {acc.max():.1%} clean "
            f"accuracy (`{self.profile}` profile); the paper's reach 87 %."
        )
