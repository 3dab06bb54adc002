"""The depth-1 chapter: ViT against DiffViT on CIFAR-10 (paper Fig. 2a, Fig. 2c, Table 1), from the
records of ``notebooks/experiments/asr.md`` and ``train.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Every comparison pairs ViT and DiffViT (λ_init 0.8) by training seed and by image; the
verdicts are :func:`claims_of`'s, under the rules of :mod:`dalib.stats`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import paper, plots
from ..analysis import (  # noqa: F401
    cw_asr_curve,
    flags_of,
    l2_comparison,
    l2_for_full_asr,
    l2_values,
    paired_comparison,
    recipe_check,
    seed_difference,
    seed_summary,
    select,
)
from ..analysis import fmt_diff as diff
from ..analysis import fmt_rate as rate
from ..attacks.suite import budget_symbol, display_name
from ..claims.depth1 import LAMBDA_SWEEP, attack_rows, claims_of  # noqa: E402,F401  (the chapter draws them)
from ..paths import current_profile
from ..records import RecordNotFoundError, caption_source, load_rows
from . import _show as show
from .depth1_checks import PAIR, Checks, _cell, _py, _sentence  # noqa: F401


class Chapter(Checks, show.Facts):
    """The depth-1 chapter's records (loaded once) and its tables, figures and claims."""

    def __init__(self, profile: str | None = None):
        self.profile = profile or current_profile()
        self.planned = {stem: paper.paper_plans(show.plans(stem, self.profile)) for stem in ("train", "asr")}
        # this chapter's models: the train sweep's points that vary only model, seed and lambda_init (the
        # depth, adversarial-training and ladder points belong to other chapters)
        self.planned["train"] = [p for p in self.planned["train"] if set(p.sweep) <= {"model", "seed", "lambda_init"}]
        self.done = {stem: sum(p.done for p in plans) for stem, plans in self.planned.items()}
        try:
            self.raw = recipe_check(paper.paper_models(load_rows("asr", table="asr")))
            models = recipe_check(paper.paper_models(load_rows("asr", table="model")))
        except RecordNotFoundError:
            self.raw = models = None
        if self.raw is None:
            return
        self.stale = self.raw[~self.raw["recipe_current"]]
        self.df = df = self.raw[self.raw["recipe_current"] & (self.raw["depth"] == 1)].copy()
        df["lambda_init"] = df["lambda_init"].astype(str)
        self.models = models[models["recipe_current"] & (models["depth"] == 1)].copy()
        self.models["lambda_init"] = self.models["lambda_init"].astype(str)
        self.dfc = dfc = df[df["attack_labels"] == "clean_pred"]  # the chapter's attacks: on the clean prediction
        self.base = base = dfc[(dfc["model"] == "vit") | (dfc["lambda_init"] == "0.8")]
        self.paired_seeds = sorted(set(select(base, model="vit")["seed"]) & set(select(base, model="diffvit")["seed"]))
        self.summ = seed_summary(base, ["model", "attack_kind", "budget"])
        self.comp = paired_comparison(dfc[dfc["attack_kind"] != "cw_l2"], **PAIR)

    # ------------------------------------------------------------------ setup
    def status(self) -> None:
        """The campaign's status line (records present and pending) and the records' size."""
        planned, done, profile = self.planned, self.done, self.profile
        status = (
            f"Profile `{profile}`: {done['train']} of {len(planned['train'])} training runs and {done['asr']} of "
            f"{len(planned['asr'])} attack runs of this chapter have records."
        )
        if done["asr"] < len(planned["asr"]):
            pend = [p.params for p in planned["asr"] if not p.done]
            status += (
                " **The campaign is not complete:** the sections below show what the records hold, and name "
                f"what is missing. Pending attack runs: {len(pend)} ("
                + ", ".join(sorted({f"{q['model']} λ_init {q['lambda_init']}" for q in pend}))
                + "); run them "
                f"with `python -m dalib.run asr --profile {profile} --jobs 2`."
            )
        show.md(status)
        if self.raw is None:
            raise RuntimeError(status)  # nothing to show yet (the status line says what to run)
        if len(self.stale):
            show.md(
                f"**Note:** {len(self.stale)} record rows were made with a training recipe that differs from "
                "the current `train` notebook and are left out; rerun `python -m dalib.run asr`."
            )
        df = self.df
        show.md(
            f"{df['record'].nunique()} attack records, {len(df)} (model, attack, budget) rows; ViT and "
            f"DiffViT (λ_init 0.8) are paired on training seeds {self.paired_seeds}. "
            f"Records: {df['record'].nunique()} files under `results/{profile}/asr/` (listed on the "
            "[Runs](runs.md) page)."
        )

    @cached_property
    def accuracy(self):
        """Clean accuracy per (model, lambda_init): mean, CI and per-seed values."""
        return seed_summary(self.models, ["model", "lambda_init"], value="clean_accuracy")

    def models_table(self) -> None:
        """The trained models: clean accuracy and learned λ per seed."""
        models, acc = self.models, self.accuracy
        lam = seed_summary(models[models["model"] == "diffvit"], ["lambda_init"], value="lambda_learned")
        tbl = acc.merge(
            lam[["lambda_init", "mean", "per_seed"]].rename(
                columns={"mean": "lambda_learned", "per_seed": "lambda_per_seed"}
            ),
            on="lambda_init",
            how="left",
        )
        precisions = ", ".join(sorted(set(models["precision"].astype(str))))
        n_test = f"{int(self.recipe['n_test']):,}"
        show.table(
            pd.DataFrame(
                {
                    "model": tbl["model"],
                    "λ_init": np.where(tbl["model"] == "vit", "-", tbl["lambda_init"]),
                    "seeds": tbl["n_seeds"],
                    "clean accuracy, mean [95% CI]": [
                        rate(r["mean"], r["ci_low"], r["ci_high"]) for _, r in tbl.iterrows()
                    ],
                    "per seed": tbl["per_seed"],
                    "learned λ per seed": np.where(tbl["model"] == "vit", "-", tbl["lambda_per_seed"].fillna("")),
                }
            ),
            label="A1",
            caption="The trained models (weights from the model zoo). Clean accuracy is measured on the "
            f"training run's {n_test} test images, as a mean over training seeds with a Student-t 95 % CI. The "
            "learned λ is the layer's λ after training (its initial value is λ_init plus a small random term). "
            f"Training precision: {precisions}. {caption_source(models)}.",
        )

    # ------------------------------------------------------------------ attacks
    def has(self, kind) -> bool:
        return kind in set(self.comp["attack_kind"])

    def asr_plot(self, kind, xlabel, logx=True, caption=None, label=None) -> None:
        summ, base = self.summ, self.base
        series = {
            label: (
                summ[(summ["model"] == m) & (summ["attack_kind"] == kind)],
                base[(base["model"] == m) & (base["attack_kind"] == kind)],
            )
            for m, label in (("vit", "ViT"), ("diffvit", "DiffViT (λ_init 0.8)"))
        }
        pts = {"DiffViT (Table 3; acc. 0.87)": paper.TABLE3_DIFFVIT_ASR} if kind == "pgd_linf" else None
        show.figure(plots.asr_curves(series, xlabel, logx=logx, paper=pts), caption=caption, label=label)

    def comparison(self, kind):
        """The paired comparison rows of one attack kind, by budget."""
        return self.comp[self.comp["attack_kind"] == kind].sort_values("budget")

    def comparison_table(self, kind, unit=None, caption=None, label=None) -> None:
        """The paired comparison of one attack kind per budget; ``unit`` (the budget's symbol) and
        the caption's attack name default to the attack registry's (:mod:`dalib.attacks.suite`)."""
        c, summ = self.comparison(kind), self.summ
        unit = unit or budget_symbol(kind)
        if caption is None:
            caption = (
                f"{display_name(kind)}: ASR of each model, mean over seeds [95 % CI], and DiffViT − ViT paired "
                f"by seed and image. {caption_source(self.dfc)}."
            )
        out = pd.DataFrame(
            {
                unit: c["budget"].map(lambda v: f"{v:g}"),
                "ViT": [_cell(summ, "vit", kind, b) for b in c["budget"]],
                "DiffViT": [_cell(summ, "diffvit", kind, b) for b in c["budget"]],
                "DiffViT − ViT, two-level 95% CI": [diff(r.diff_mean, r.diff_low, r.diff_high) for r in c.itertuples()],
                "t over seeds": [diff(r.diff_mean, r.t_low, r.t_high) for r in c.itertuples()],
                "McNemar p per seed": c["p_per_seed"].map(show.p_list),
                "verdict": c["verdict"],
            }
        )
        if kind == "pgd_linf":
            out.insert(
                3,
                "paper DiffViT",
                [f"{paper.TABLE3_DIFFVIT_ASR[b]:.4f}" if b in paper.TABLE3_DIFFVIT_ASR else "" for b in c["budget"]],
            )
        show.table(out, label=label, caption=caption)
        show.md(
            "**Reasons:**\n" + "\n".join(f"- {unit} = {r.budget:g}: {r.verdict}: {r.reason}." for r in c.itertuples())
        )

    def fig2a(self) -> None:
        """Paper Fig. 2a: PGD ASR against ε, with the paired table and its verdicts."""
        if not self.has("pgd_linf"):
            return show.md("No paired PGD records yet.")
        self.asr_plot(
            "pgd_linf",
            "ε (units of 1/255)",
            label="A1",
            caption="PGD ASR against the ℓ∞ budget (paper Fig. 2a). Lines: mean over training seeds "
            "with Student-t 95 % intervals; dots: single seeds; triangles: the paper's DiffViT (paper Table 3; "
            f"a model with {paper.TABLE3_DIFFVIT_ACCURACY:.0%} clean accuracy). {caption_source(self.base)}.",
        )
        self.comparison_table(
            "pgd_linf",
            "ε (1/255)",
            "PGD ASR, mean [95 % CI] over seeds (clipped to [0, 1]); the paired difference "
            "with its two-level interval (seeds and images crossed), which decides, and the t "
            "interval over the seed means beside it; McNemar's exact test per seed (one seed's "
            "images); the verdict for 'DiffViT has the higher ASR'.",
            label="A2",
        )

    def fig2c(self) -> None:
        """Paper Fig. 2c: patch-PGD ASR against the patch side."""
        if not self.has("patch"):
            return show.md("No paired patch-PGD records yet.")
        self.asr_plot(
            "patch",
            "patch side w (pixels)",
            label="A2",
            caption="Patch-PGD ASR against the patch side (paper Fig. 2c), ε = 1 inside the patch. "
            f"Same conventions as [Figure A1](#fig-a1). {caption_source(self.base)}.",
        )
        self.comparison_table("patch", "w (px)", "Patch-PGD ASR; columns as in [Table A2](#tab-a2).", label="A3")

    # ------------------------------------------------------------------ claims
    def claims(self):
        """One row per claim ``{id, claim, verdict, detail}`` (what the scorecard uses)."""
        return claims_of(self.dfc)

    def verdicts(self) -> None:
        show.table(
            self.claims()[["claim", "verdict", "detail"]].rename(columns={"detail": "detail (difference of mean ASR)"}),
            label="A13",
            caption="One verdict per claim, computed from the tables above under the rules of the "
            "[Results](results.html) page: a claim that holds 'across all cases' is "
            "reproduced only if every budget that is not saturated is.",
        )

    def reading(self) -> None:
        """The chapter's reading, generated from the records."""
        comp = self.comp
        v_cw, why_cw = self.cw_claim
        show.md(
            f"This reading is generated from the records on every build (profile `{self.profile}`, seeds "
            f"{self.paired_seeds}).\n\n"
            f"- **PGD (Fig. 2a):** {_sentence(self.comparison('pgd_linf'), 'ε')}\n"
            f"- **Patch PGD (Fig. 2c):** {_sentence(self.comparison('patch'), 'w')}\n"
            f"- **AutoAttack:** {_sentence(comp[comp['attack_kind'] == 'autoattack'], 'ε')}\n"
            f"- **{display_name('pgd_restarts')}:** {_sentence(comp[comp['attack_kind'] == 'pgd_restarts'], 'ε')}\n"
            f"- **CW-L2:** {v_cw} ({why_cw}).\n\n"
            f"At this scale ({self.scale()}, JPEG-re-encoded CIFAR-10) the verdicts say what {len(self.paired_seeds)} "
            f"training seeds can establish; the paper's single runs at {paper.TABLE3_DIFFVIT_ACCURACY:.0%} accuracy may show "
            "larger effects, and the "
            "`paper` profile runs the same notebooks at the paper's scale."
        )

    def scale(self) -> str:
        """'0.63 clean accuracy after 8 epochs' of the main pair, from the records."""
        main = self.models[(self.models["model"] == "vit") | (self.models["lambda_init"] == "0.8")]
        acc = main["clean_accuracy"]
        epochs = sorted({int(e) for e in main["epochs"]}) if "epochs" in main else []
        return f"{acc.min():.0%} to {acc.max():.0%} clean accuracy" + (
            f" after {' or '.join(map(str, epochs))} epochs" if epochs else ""
        )

    @cached_property
    def attack_params(self) -> dict:
        """The ``asr`` parameters of the main pair's records (those of its first ViT row)."""
        r = self.base[self.base["model"] == "vit"].iloc[0]
        return {k.removeprefix("param."): _py(v) for k, v in r.items() if k.startswith("param.")}

    @cached_property
    def recipe(self) -> dict:
        """The training recipe of the main pair (``train.md`` under the records' ``train_profile``)."""
        from ..train import recipe_of

        return recipe_of(self.attack_params)

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`d1_...```): the main pair's attack
        parameters and training recipe, read from its records, the stand-in's fidelity and the
        paper's accuracy."""
        from ..data.sources import MEAN_ABS_DIFF_255

        p, recipe = self.attack_params, self.recipe
        n, n_aa, n_cw = int(p["n_eval"]), int(p["n_eval_aa"]), int(p["n_eval_cw"])
        n_classes = int(recipe["num_classes"])
        aa_rows = self.dfc[self.dfc["attack_kind"] == "autoattack"]
        aa_version = (
            str(aa_rows["pyautoattack_version"].dropna().iloc[0])
            if "pyautoattack_version" in aa_rows and aa_rows["pyautoattack_version"].notna().any()
            else "(not run)"
        )
        targets = min(9, n_classes - 1)
        if p["aa_version"] == "custom":
            names = " followed by ".join(a.upper() for a in p["aa_attacks"])
            aa_run = (
                f"The standard version (APGD-CE, APGD-T, FAB-T, Square) is too slow for a CPU: this profile runs "
                f"**{names}" + (f" ({targets} target classes)" if "apgd-t" in p["aa_attacks"] else "")
            )
        else:
            aa_run = (
                f"This profile runs **the standard version (APGD-CE, APGD-T, FAB-T, Square; {targets} target classes)"
            )
        aa_run += f", on the first {n_aa:,} of the {n:,} images**"
        eps = [float(e) for e in p["eps"]]
        return {
            "d1_paper_acc": f"{paper.TABLE1_LAMBDA_SWEEP['0.8']['accuracy']:.0%}".replace("%", " %"),
            "d1_jpeg_diff": f"{MEAN_ABS_DIFF_255['cifar10']:g}/255",
            "d1_eps_range": f"{min(eps):g} to {max(eps):g}/255" if eps else "none",
            "d1_recipe": show.markdown(f"the `{p['train_profile']}` profile: {show.recipe_text(recipe)}"),
            "d1_n_eval": f"{n:,}",
            "d1_pgd_eps": show.budgets(eps),
            "d1_steps": str(int(p["steps"])),
            "d1_patch_w": show.words([int(w) for w in p["patch_w"]]) or "none",
            "d1_n_restarts": str(int(p["n_restarts"])),
            "d1_restart_eps": show.budgets(p["restart_eps"]),
            "d1_aa_version": aa_version,
            "d1_aa_eps": show.budgets(p["aa_eps"]),
            "d1_aa_run": show.markdown(aa_run),
            "d1_cw_search": str(int(p["cw_search_steps"])),
            "d1_cw_steps": str(int(p["cw_max_steps"])),
            "d1_n_cw": f"{n_cw:,}",
            "d1_n_aa": f"{n_aa:,}",
            "d1_true_eps": show.budgets(p["true_label_eps"]),
            "d1_aa_per_class": f"{n_aa // n_classes:,}",
        }

    def setup_text(self) -> None:
        """The seeds and λ_init values that the chapter's records hold, for the Setup section."""
        seeds = self.paired_seeds
        lams = sorted({lam for lam in self.models["lambda_init"] if lam != "0.8"} - {"nan"}, key=float)
        sweep_seeds = sorted(set(self.models[self.models["lambda_init"].isin(lams)]["seed"]))
        show.md(
            f"The main pair (ViT and DiffViT with $\\lambda_{{\\mathrm{{init}}}} = 0.8$) has {len(seeds)} training "
            f"seeds ({', '.join(map(str, seeds))}); the $\\lambda_{{\\mathrm{{init}}}}$ sweep trains DiffViT at "
            f"{', '.join(lams)} on seeds {', '.join(map(str, sweep_seeds))}. The models reach {self.scale()}."
        )

    def compute(self) -> None:
        """The chapter's cost, from the train and asr records."""
        planned, df, dfc = self.planned, self.df, self.dfc
        tr = load_rows("train", table="results")
        tr = tr[tr["key"].isin({p.key for p in planned["train"]})]
        by_kind = dfc.groupby("attack_kind")["attack_time_s"].sum() / 3600
        lines = [
            f"- **Training:** {len(tr)} of {len(planned['train'])} models trained, "
            f"{tr['train_cpu_s'].sum() / 3600:.2f} h of CPU time in all (one thread each; ViT "
            f"{select(tr, model='vit')['train_cpu_s'].mean() / 60:.1f} min, DiffViT "
            f"{select(tr, model='diffvit')['train_cpu_s'].mean() / 60:.1f} min per model on average; precision "
            f"{', '.join(sorted(set(tr['precision'].astype(str))))})."
            if len(tr)
            else "- **Training:** no current records.",
            f"- **Attacks:** {df['record'].nunique()} runs, "
            f"{df.groupby('record')['wall_time_s'].first().sum() / 3600:.2f} h of "
            "wall-clock time on one thread each (kernel start and data loading included). By attack, summed over "
            "models: " + ", ".join(f"{display_name(k)} {v:.2f} h" for k, v in by_kind.items()) + ".",
        ]
        if len(tr):
            per_main = (
                df[df["lambda_init"].isin(["0.8"]) | (df["model"] == "vit")].groupby("record")["wall_time_s"].first()
            )
            lines.append(
                f"- **Per model:** a ViT/DiffViT run of every attack takes {per_main.mean() / 60:.1f} min on "
                f"average; the longest single run (training or attack) took "
                f"{max(tr['train_time_s'].max(), df['wall_time_s'].max()) / 60:.1f} min of wall-clock time."
            )
        full = [p for p in planned["asr"] if p.params.get("aa_eps")]
        lines.append(
            f"- **Planned work:** {len(planned['train'])} trainings and {len(planned['asr'])} attack runs "
            f"({len(full)} with every attack, {len(planned['asr']) - len(full)} with PGD only), "
            f"{tr['train_cpu_s'].sum() / 3600 + df.groupby('record')['wall_time_s'].first().sum() / 3600:.1f} "
            "core-hours in the records."
        )
        show.md("\n".join(lines) + f"\n\n*{caption_source(tr) if len(tr) else ''}*")
