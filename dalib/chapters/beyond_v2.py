"""The chapter "Beyond the paper: Differential Attention V2": V2 against ViT and DiffViT on the depth-1
chapter's recipe, from the records of ``asr.md``, ``mechanism.md`` and ``lambda_v2.md``.

Paper under study: *Understanding Sensitivity of Differential Attention through the Lens of
Adversarial Robustness* (V1). The claims and verdicts are :mod:`dalib.claims.beyond_v2`'s; the
extended Lemma 1 is :mod:`dalib.theory_v2`'s. This module loads the records once, draws and glues.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import plots
from ..analysis import seed_summary
from ..claims import beyond_v2 as claims
from ..paths import current_profile
from ..records import caption_source, rows_or_none
from . import _show as show

LABEL = {"vit": "ViT", "diffvit": "DiffViT", "diffv2": "V2"}


def _load(stem, table, profile):
    return rows_or_none(stem, table, profile)


class Chapter(show.Facts):
    """The V2 chapter's records (loaded once), tables, figures and claims."""

    def __init__(self, profile: str | None = None):
        self.profile = profile or current_profile()
        self.asr = claims.attack_rows(self.profile)
        self.lip, self.jac = claims.mechanism_rows(self.profile)
        self.lam = _load("lambda_v2", "lambda", self.profile)
        self.exact = _load("lambda_v2", "exact", self.profile)
        models = _load("asr", "model", self.profile)
        self.models = None if models is None else models[models["model"].isin(claims.MODELS) & (models["depth"] == 1)]
        self.plans = {s: show.plans(s, self.profile) for s in ("train", "asr", "mechanism", "lambda_v2")}
        self.v2_plans = {s: [p for p in ps if p.params.get("model") == "diffv2"] for s, ps in self.plans.items()}

    @property
    def has_v2(self) -> bool:
        return self.asr is not None and (self.asr["model"] == "diffv2").any()

    def facts(self) -> dict:
        """The numbers the page's prose states, from the records."""
        from ..run import notebook_parameters

        done = {s: f"{sum(p.done for p in ps)} of {len(ps)}" for s, ps in self.v2_plans.items() if ps}
        n_seeds = int(self.asr.loc[self.asr["model"] == "diffv2", "seed"].nunique()) if self.has_v2 else 0
        acc = "(no V2 records yet)"
        if self.models is not None and (self.models["model"] == "diffv2").any():
            m = self.models.drop_duplicates(["model", "seed"]).groupby("model")["clean_accuracy"].mean()
            acc = show.words(f"{LABEL[k]} {m[k]:.3f}" for k in claims.MODELS if k in m)
        return {
            "v2_recipe": show.markdown(show.recipe_text(notebook_parameters("train", self.profile))),
            "v2_seeds": str(n_seeds),
            "v2_runs": show.words(f"{v} {k}" for k, v in done.items()),
            "v2_accuracy": acc,
        }

    def status(self) -> None:
        if not self.has_v2:
            show.md(
                f"**Not yet run** in profile `{self.profile}`: no attack record of the V2 model. "
                "`python -m dalib.run asr mechanism lambda_v2 --profile "
                f"{self.profile}` runs the V2 points of the sweeps (they train the models first)."
            )
            return
        show.md(
            f"**Campaign status** (profile `{self.profile}`): V2 runs done: {self.facts()['v2_runs']}. "
            f"Mean clean accuracy: {self.facts()['v2_accuracy']}."
        )

    # ------------------------------------------------------------------ claims
    @cached_property
    def claims(self) -> pd.DataFrame:
        rows = []
        if self.has_v2:
            rows += claims.asr_claims(self.asr)
        if self.lip is not None:
            rows += claims.mechanism_claims(self.lip, self.jac)
        return pd.DataFrame(rows)

    def verdicts(self) -> None:
        if not len(self.claims):
            show.md("No verdict yet: the V2 records are missing.")
            return
        t = self.claims[["claim", "verdict", "short"]].rename(columns={"short": "effect [95 % interval]"})
        show.table(
            t,
            label="B1",
            caption="The V2 claims under the rules of the paper's claims (two-level test over seeds and images for "
            "the ASR, the t over seeds of the per-seed log ratio for the Lipschitz estimates, the frequency over "
            "seeds for the alignment). 'Reproduced' means the claim as stated holds. " + caption_source(self.asr),
        )

    # ------------------------------------------------------------------ attacks
    def asr_figure(self) -> None:
        if not self.has_v2:
            return
        fig, axes = plots.small_multiples(2, ncols=2)
        for ax, (kind, xlabel, logx) in zip(
            axes, (("pgd_linf", "ε (/255), PGD", True), ("patch", "patch side w (pixels), patch PGD", False))
        ):
            d = self.asr[self.asr["attack_kind"] == kind]
            per_seed = d.groupby(["model", "budget", "seed"])["asr"].mean().reset_index()
            series = {
                LABEL[m]: (seed_summary(g, ["budget"]), g[["budget", "asr"]]) for m, g in per_seed.groupby("model")
            }
            plots.asr_curves(series, xlabel, logx=logx, ax=ax)
        show.figure(
            fig,
            label="B1",
            caption="ASR of ViT, DiffViT (λ_init 0.8) and V2 on the depth-1 chapter's images: mean over training "
            "seeds with the t 95 % interval, dots per seed. " + caption_source(self.asr),
        )

    def asr_table(self) -> None:
        if not self.has_v2:
            return
        comp = claims.comparisons(self.asr)
        t = comp[["id", "attack_kind", "budget", "a_mean", "b_mean", "diff_mean", "diff_low", "diff_high", "verdict"]]
        t = t.rename(columns={"id": "claim", "a_mean": "ASR a", "b_mean": "ASR b", "diff_mean": "b − a"})
        show.table(
            t,
            label="B2",
            caption="Every budget of the V2 comparisons: model a and b of each claim (v2_*_vs_vit: a = ViT, b = V2; "
            "v2_*_vs_diffvit: a = V2, b = DiffViT), the mean ASR difference b − a over seeds with its two-level "
            "95 % interval, and the verdict of that budget.",
        )

    # ------------------------------------------------------------------ lambda
    def lambda_table(self) -> None:
        if self.lam is None:
            show.md("No λ record yet (`notebooks/experiments/lambda_v2.md`).")
            return
        v2 = self.lam[self.lam["model"] == "diffv2"]
        dv = self.lam[self.lam["model"] == "diffvit"]
        cols = ["mean", "q0.01", "q0.1", "q0.5", "q0.9", "q0.99", "above_half"]
        rows = []
        if len(v2):
            for h, g in v2.groupby("head"):
                rows.append({"model": "V2", "head": int(h), "seeds": g["seed"].nunique(), **g[cols].mean().to_dict()})
        if len(dv):
            g = dv
            rows.append(
                {
                    "model": "DiffViT (one λ per layer)",
                    "head": "all",
                    "seeds": g["seed"].nunique(),
                    "mean": g["mean"].mean(),
                    "q0.01": g["mean"].min(),
                    "q0.5": g["mean"].median(),
                    "q0.99": g["mean"].max(),
                }
            )
        show.table(
            pd.DataFrame(rows),
            label="B3",
            caption="The learned λ. V2: λ_t(x) per head over the 1,000 images and all tokens, the quantiles averaged "
            "over seeds, and the share of values above 1/2; DiffViT: its one λ per layer, the mean, smallest, median "
            "and largest over seeds. " + caption_source(self.lam),
        )

    def lambda_figure(self) -> None:
        if self.lam is None or not (self.lam["model"] == "diffv2").any():
            return
        import json

        plt = plots._plt()
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        v2 = self.lam[self.lam["model"] == "diffv2"]
        for i, (h, g) in enumerate(v2.groupby("head")):
            curves = np.array([json.loads(s) for s in g["mean_by_token"]])
            ax.plot(np.arange(curves.shape[1]), curves.mean(0), label=f"V2 head {int(h)}", ls=plots.LINESTYLES[i % 6])
        dv = self.lam[self.lam["model"] == "diffvit"]
        if len(dv):
            ax.axhline(
                float(dv["mean"].mean()), color=plots.COLORS["diffvit"], lw=2, label="DiffViT λ (mean over seeds)"
            )
        ax.set_xlabel("token position (0: class token)")
        ax.set_ylabel("mean λ over images")
        ax.legend(fontsize=9)
        show.figure(
            fig,
            label="B2",
            caption="V2's λ_t(x) per token position, mean over the images and seeds, per head, against DiffViT's "
            "scalar λ. " + caption_source(self.lam),
        )

    # ------------------------------------------------------------------ the extended Lemma 1
    def lemma_table(self) -> None:
        if self.exact is None:
            show.md("No exact-Jacobian record of V2 yet.")
            return
        e = self.exact
        t = (
            e.groupby("row")
            .agg(
                rows=("f", "size"),
                cos_median=("cos", "median"),
                negative=("cos", lambda c: float((c < 0).mean())),
                eps_median=("eps", "median"),
                f1_median=("f1", "median"),
                f_median=("f", "median"),
                f_below_f1=("f", lambda f: float((f < e.loc[f.index, "f1"]).mean())),
                f_at_most_1=("f", lambda f: float((f <= 1).mean())),
                f_min_at_most_1=("f_min", lambda f: float((f <= 1).mean())),
            )
            .reset_index()
        )
        show.table(
            t,
            label="B4",
            caption="The extended Lemma 1 on the trained V2 layers, per query row (token position; 0 is the class "
            "token, whose λ does not depend on the image): over images, heads and seeds, the median branch cosine and "
            "share of negative alignment, the median size ε of V2's extra term, of Theorem 1's factor f1 and of the "
            "measured amplification f = ‖J_DA‖/‖J1‖; the share of rows where the V2 term lowers the amplification "
            "(f < f1), where there is none (f ≤ 1), and where some direction of ∇λ could remove it (f_min ≤ 1). "
            + caption_source(self.exact),
        )

    def lipschitz_table(self) -> None:
        if self.lip is None:
            return
        from .. import mechanism as mech

        rows = []
        for q in ("L_sampling_mean", "L_power"):
            c = mech.lipschitz_claim(self.lip, q, da=claims.V2, base=claims.VIT)
            for r in c.itertuples():
                rows.append(
                    {
                        "estimate": q,
                        "layer": r.layer + 1,
                        "L_V2": r.mean_da,
                        "L_ViT": r.mean_base,
                        "ratio": r.ratio,
                        "log ratio": r.effect,
                        "low": r.effect_low,
                        "high": r.effect_high,
                        "verdict": r.verdict,
                    }
                )
        show.table(
            pd.DataFrame(rows),
            label="B5",
            caption="Local Lipschitz estimates of V2's A_DA against ViT's A (paper Fig. 4's measure, 8/255 ball): "
            "means over seeds, images and heads, and the t 95 % interval over seeds of the per-seed log ratio.",
        )

    def reading(self) -> None:
        """The plain answer, from the verdicts."""
        if not len(self.claims):
            show.md("The answer waits for the V2 records.")
            return
        v = self.claims.set_index("id")["verdict"]
        keep = v.get("v2_fig2a_vs_vit", "not yet run")
        less = v.get("v2_fig2a_vs_diffvit", "not yet run")
        show.md(
            f"**The answer, from the verdicts.** Does V2 keep the fragility against ViT under PGD and AutoAttack? "
            f"*{keep}*. Is V2 less fragile than DiffViT? *{less}*. Its Lipschitz estimates against ViT: "
            f"*{v.get('v2_fig4_lipschitz', 'not yet run')}* (sampling), *{v.get('v2_fig4_lipschitz_worst', 'not yet run')}* "
            f"(worst case); negative alignment dominant: *{v.get('v2_fig5_alignment', 'not yet run')}*. "
            "These are models of the depth-1 chapter's recipe and quality (8 epochs), not of the paper's quality."
        )
