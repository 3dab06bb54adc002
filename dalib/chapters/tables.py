"""The chapter of the paper's appendix tables: adversarial training (Table 3) and Tiny ImageNet at
depth 4 (Table 2), from the records of ``notebooks/experiments/asr_suite.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The comparisons and claims are :mod:`dalib.scorecard`'s (``table2_*``, ``table3_*``).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import paper, plots
from ..analysis import fmt_diff as diff
from ..analysis import fmt_rate as rate
from ..analysis import recipe_check, seed_summary
from ..paths import current_profile
from ..records import RecordNotFoundError, caption_source, load_rows
from ..stats import mean_ci
from . import _show as show
from .tables_cost import Cost
from .tables_table2 import Table2

T3 = paper.TABLE3_ADV_TRAINING
T2 = paper.TABLE2_TINY_IMAGENET
EMPTY_ASR = [
    "model",
    "depth",
    "dataset",
    "adv_eps",
    "attack_kind",
    "budget",
    "seed",
    "asr",
    "recipe_current",
    "attack_labels",
    "lambda_init",
    "record",
    "notebook",
    "n",
]
EMPTY_MODELS = [
    "model",
    "depth",
    "dataset",
    "adv_eps",
    "seed",
    "clean_accuracy",
    "recipe_current",
    "record",
    "notebook",
    "train_time_s",
    "train_cpu_s",
]


def _in_chapter(p) -> bool:
    """A planned ``asr_suite`` run of this chapter: Tiny ImageNet (Table 2) or the depth-1 CIFAR-10
    DiffViTs of Table 3; the notebook's other points belong to other chapters."""
    q = p.params
    return str(q["dataset"]).startswith("tiny-imagenet") or (
        q["dataset"] == "cifar10"
        and q["depth"] == 1
        and q["model"] == "diffvit"
        and not q["patch_w"]
        and q["recipe"].get("patch_size") is None
    )


def _recipe_line(m) -> str:
    r = m.iloc[0]
    return (
        f"width {int(r['embed_dim'])}, {int(r['num_heads'])} heads, patch {int(r['patch_size'])}, "
        f"{int(r['epochs'])} epochs on {int(r['n_train']):,} training images, batch {int(r['batch_size'])}, "
        f"Adam at lr {r['lr']:g} ({r['lr_schedule']}), training precision {', '.join(sorted(set(m['precision'])))}"
    )


from ..claims.tables import (  # noqa: E402,F401  (the chapter draws them)
    TABLE2_PGD_CLAIM_MAX,
    TABLE3_TRAIN_EPS,
    suite_rows,
    table2_claims,
    table2_comparison,
    table3_accuracy_claims,
    table3_claims,
    table3_comparison,
    table3_rows,
)


class Chapter(Cost, Table2, show.Facts):
    """The records of Tables 2 and 3 (loaded once) and their tables, figures and claims."""

    def __init__(self, profile: str | None = None):
        self.profile = profile or current_profile()
        self.plans = [p for p in show.plans("asr_suite", self.profile) if _in_chapter(p)]
        self.pending = [p.params for p in self.plans if not p.done]
        try:
            raw = recipe_check(load_rows("asr_suite", table="asr"))
            models = recipe_check(load_rows("asr_suite", table="model"))
        except RecordNotFoundError:
            raw = models = None
        self.empty = raw is None
        if raw is None:
            raw, models = pd.DataFrame(columns=EMPTY_ASR), pd.DataFrame(columns=EMPTY_MODELS)
        self.stale = raw[~raw["recipe_current"].astype(bool)]
        self.df = df = raw[raw["recipe_current"].astype(bool) & (raw["attack_labels"] == "clean_pred")].copy()
        df["lambda_init"] = df["lambda_init"].astype(str)
        self.models = models = models[models["recipe_current"].astype(bool)].copy()
        self.t3, self.t3_models = table3_rows(df), table3_rows(models)  # other recipes (the depth chapter's) left out
        self.t2 = df[df["dataset"].astype(str).str.startswith("tiny-imagenet") & (df["depth"] == 4)]
        self.t2_models = models[models["dataset"].astype(str).str.startswith("tiny-imagenet") & (models["depth"] == 4)]

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`t_...```): the attack steps of this
        chapter's records, and the paper's Table 3 budgets and accuracies (:mod:`dalib.paper`)."""
        t3 = paper.TABLE3_ADV_TRAINING
        steps = sorted({int(v) for v in self.df["param.steps"]}) if "param.steps" in self.df else []
        return {
            "t_paper_train_eps": show.budgets([e for e in t3 if e > 0]),
            "t_paper_acc": f"{t3[0.0]['accuracy']:.2f}",
            "t_paper_acc_025": f"{t3[0.25]['accuracy']:.2f}",
            "t_steps": " or ".join(map(str, steps)) or "(no record yet)",
        }

    def status(self) -> None:
        plans, pending, profile = self.plans, self.pending, self.profile
        status = f"Profile `{profile}`: {len(plans) - len(pending)} of {len(plans)} runs of this chapter have records."
        if pending:
            status += (
                " **The campaign is not complete.** Pending: "
                + "; ".join(
                    sorted(
                        {
                            f"{q['model']} depth {q['depth']} on {q['dataset']}"
                            + (f", recipe {q['recipe']}" if q["recipe"] else "")
                            for q in pending
                        }
                    )
                )
                + f". Run them with `python -m dalib.run asr_suite --profile {profile} --where "
                "dataset=cifar10 --where "
                f'"eps=[0.25, 0.5, 1]" --jobs 2` (Table 3) and `python -m dalib.run asr_suite --profile {profile} '
                f"--where dataset={'tiny-imagenet' if profile == 'paper' else 'tiny-imagenet-valsplit'} --jobs 2` "
                "(Table 2)."
            )
        show.md(status)
        if len(self.stale):
            show.md(
                f"**Note:** {len(self.stale)} record rows were made with a training recipe that differs from "
                "the current `train` notebook and are left out; rerun `python -m dalib.run asr_suite`."
            )

    def setup(self) -> None:
        """The models' recipes, from the records, and the Tiny ImageNet stand-in's fidelity."""
        from ..data import get_spec

        t3, t3_models, t2, t2_models = self.t3, self.t3_models, self.t2, self.t2_models
        lines = []
        if len(t3_models):
            steps = sorted(set(int(s) for s in t3_models["adv_steps"] if s))
            lines.append(
                f"**Table 3 models** (CIFAR-10, depth 1, DiffViT λ_init 0.8): {_recipe_line(t3_models)}. "
                f"Adversarial training replaces every training batch by its PGD examples at ε_train, with "
                f"{' or '.join(map(str, steps)) or '(none yet)'} PGD steps of 2.5 ε_train / steps from a random "
                "start (the paper does not state its training attack; the step count was chosen to fit the CPU "
                "budget, see Compute). "
                f"Attacked on the {int(t3['n'].max()) if len(t3) else 0:,} fixed class-balanced test images of "
                "the depth-1 chapter; CIFAR-10 is the offline JPEG re-encode (mean difference 5.7/255 per "
                "channel from the original pixels)."
            )
        if len(t2_models):
            spec = get_spec(t2_models["dataset"].iloc[0])
            lines.append(
                f"**Table 2 models** (`{spec.name}`, depth 4): {_recipe_line(t2_models)}, random-crop and "
                f"flip augmentation. Attacked on {int(t2['n'].max()) if len(t2) else 0:,} fixed class-balanced "
                f"images of its `{spec.eval_split}` split."
            )
        show.md("\n\n".join(lines) if lines else "No models yet.")
        note = get_spec("tiny-imagenet-valsplit").note
        show.md(
            f"**Tiny ImageNet here is a stand-in.** {note[0].upper() + note[1:]}. "
            "Only the val split is available offline (`tiny-imagenet-200-val.tar.gz`), so the `cpu` profile "
            "trains on 40 val images per class and attacks the other 10; the `paper` profile uses the canonical "
            "`tiny-imagenet` train and val splits. The two are separate dataset names, so a model trained on "
            "the stand-in can never be taken for a canonical one. With 8,000 training images for 200 classes, "
            "expect weak classifiers; the accuracy they reach is given with Table 2."
        )

    # ------------------------------------------------------------------ Table 3
    @cached_property
    def n_test(self) -> int:
        from ..train import recipe_of

        return recipe_of(
            dict(
                train_profile=self.t3_models["param.train_profile"].iloc[0],
                model="diffvit",
                depth=1,
                seed=0,
                dataset="cifar10",
            )
        )["n_test"]

    def table3(self) -> None:
        """Table T3a and Figure T3: clean accuracy and PGD ASR per training budget."""
        t3 = self.t3
        if not len(t3):
            return show.md("No Table 3 records yet.")
        acc = seed_summary(self.t3_models, ["adv_eps"], value="clean_accuracy").set_index("adv_eps")
        summ = seed_summary(t3[t3["attack_kind"] == "pgd_linf"], ["adv_eps", "budget"])
        rows = []
        for e in sorted(acc.index):
            r = {
                "ε_train (1/255)": "vanilla" if e == 0 else f"{e:g}",
                "seeds": int(acc.loc[e, "n_seeds"]),
                "clean accuracy [95% CI]": rate(acc.loc[e, "mean"], acc.loc[e, "ci_low"], acc.loc[e, "ci_high"]),
                "paper acc.": f"{T3[e]['accuracy']:.3f}" if e in T3 else "",
            }
            for b in sorted(set(summ["budget"])):
                s = summ[(summ["adv_eps"] == e) & (summ["budget"] == b)]
                r[f"ASR ε={b:g}"] = rate(s["mean"].iloc[0], s["ci_low"].iloc[0], s["ci_high"].iloc[0]) if len(s) else ""
                r[f"paper ε={b:g}"] = f"{T3[e]['asr'][b]:.3f}" if e in T3 and b in T3[e]["asr"] else ""
            rows.append(r)
        show.table(
            pd.DataFrame(rows),
            label="T3a",
            caption=(
                f"clean accuracy (on the training run's {self.n_test:,} test images) and PGD ASR at the "
                "attack budget ε (1/255), mean [95 % CI] over training seeds, beside the paper's Table 3 (one run "
                f"per model, 87 % clean accuracy for the vanilla model). {caption_source(t3)}."
            ),
        )
        series = {
            ("vanilla DiffViT" if e == 0 else f"DiffViT, ε_train {e:g}/255"): (
                summ[summ["adv_eps"] == e],
                t3[(t3["adv_eps"] == e) & (t3["attack_kind"] == "pgd_linf")],
            )
            for e in sorted(set(summ["adv_eps"]))
        }
        pts = {("vanilla" if e == 0 else f"ε_train {e:g}"): T3[e]["asr"] for e in (0.0, 1.0)}
        show.figure(
            plots.asr_curves(series, "attack ε (units of 1/255)", logx=True, paper=pts),
            label="T3",
            caption=(
                "PGD ASR against the attack budget, per training budget (the paper's Table 3 drawn "
                "as curves). Lines: mean and 95 % CI over seeds; dots: seeds; dashed: the paper's vanilla and "
                f"ε_train = 1/255 rows. {caption_source(t3)}."
            ),
        )

    @cached_property
    def c3(self):
        return table3_comparison(self.t3) if len(self.t3) else pd.DataFrame()

    @cached_property
    def accuracy_change(self):
        """Per ε_train: (table row, mean_ci of trained − vanilla clean accuracy, paired by seed)."""
        out = []
        van = self.t3_models[self.t3_models["adv_eps"] == 0].set_index("seed")["clean_accuracy"]
        for e in sorted(set(self.t3_models["adv_eps"]) - {0.0}):
            tr = self.t3_models[self.t3_models["adv_eps"] == e].set_index("seed")["clean_accuracy"]
            seeds = sorted(set(van.index) & set(tr.index))
            s = mean_ci([tr[k] - van[k] for k in seeds])
            out.append(
                (
                    {
                        "ε_train": f"{e:g}",
                        "seeds": len(seeds),
                        "Δ clean accuracy, trained − vanilla [95% CI]": diff(s["mean"], s["low"], s["high"]),
                        "paper": f"{T3[e]['accuracy'] - T3[0.0]['accuracy']:+.3f}" if e in T3 else "",
                    },
                    s,
                )
            )
        return out

    def table3_effects(self) -> None:
        """Tables T3b (ASR, vanilla − trained) and T3c (clean accuracy, trained − vanilla)."""
        c3 = self.c3
        if not len(c3):
            return
        show.table(
            pd.DataFrame(
                {
                    "ε_train": c3["adv_eps"].map(lambda v: f"{v:g}"),
                    "attack ε": c3["budget"].map(lambda v: f"{v:g}"),
                    "vanilla ASR": c3["b_mean"].round(3),
                    "trained ASR": c3["a_mean"].round(3),
                    "vanilla − trained [95% CI]": [diff(r.diff_mean, r.diff_low, r.diff_high) for r in c3.itertuples()],
                    "paper": [
                        f"{T3[0.0]['asr'][r.budget] - T3[r.adv_eps]['asr'][r.budget]:+.3f}"
                        if r.adv_eps in T3 and r.budget in T3[r.adv_eps]["asr"]
                        else ""
                        for r in c3.itertuples()
                    ],
                    "p (two-level)": c3["p_two_level"],
                    "verdict": c3["verdict"],
                }
            ),
            label="T3b",
            caption=(
                "does adversarial training lower the ASR? The vanilla DiffViT against the one "
                "trained at ε_train, paired by seed and image (two-level interval and p), per attack budget "
                "(the three budgets of one ε_train form one family). Positive: the trained model is attacked "
                "less successfully. "
                f"{caption_source(self.t3)}."
            ),
        )
        show.table(
            pd.DataFrame([row for row, _ in self.accuracy_change]),
            label="T3c",
            caption=(
                "what adversarial training costs in clean accuracy, paired by training seed "
                f"({self.n_test:,} test images per model). {caption_source(self.t3_models)}."
            ),
        )

    def claims(self):
        return pd.concat([table3_claims(self.t3), table2_claims(self.t2)], ignore_index=True)

    def verdicts(self) -> None:
        show.table(
            self.claims()[["claim", "verdict", "detail"]],
            label="T5",
            caption="One verdict per claim, by the same code as the scorecard on the first page.",
        )

    def reading(self) -> None:
        """The chapter's reading, generated from the records."""
        c3, c2, text = self.c3, self.c2, []
        if len(c3):
            dg = c3[c3["budget"] == c3["adv_eps"]].sort_values("adv_eps")
            text.append(
                "**Adversarial training.** At the budget each model was trained for, the ASR goes from "
                + ", ".join(
                    f"{r.b_mean:.2f} to {r.a_mean:.2f} (ε_train {r.adv_eps:g}/255, {r.verdict})"
                    for r in dg.itertuples()
                )
                + "."
            )
            for r, a in self.accuracy_change:
                e = float(r["ε_train"])
                if np.isfinite(a["low"]):
                    kind = (
                        "a gain"
                        if a["low"] > 0
                        else "a loss"
                        if a["high"] < 0
                        else "no change of practical size (the interval lies within ±0.02)"
                        if -0.02 < a["low"] and a["high"] < 0.02
                        else "no clear change (the interval contains 0)"
                    )
                else:
                    kind = "one seed only, no interval"
                text.append(
                    f"Training at {e:g}/255 changes the clean accuracy by "
                    f"{r['Δ clean accuracy, trained − vanilla [95% CI]']} ({kind}); the paper reports "
                    f"{T3[0.0]['accuracy']:.2f} → {T3[e]['accuracy']:.2f} ({r['paper']})."
                )
            for r, a in self.accuracy_change:
                if r["ε_train"] == "0.25" and 0.25 in T3:
                    gain = T3[0.25]["accuracy"] - T3[0.0]["accuracy"]
                    text.append(
                        f"The paper's accuracy *gain* from training at 0.25/255 ({gain:+.3f}) "
                        + (
                            "is ruled out here: our interval ends at " + f"{a['high']:+.3f}."
                            if a["high"] < gain
                            else "has a counterpart here."
                            if a["low"] > 0
                            else "is neither seen nor ruled out here."
                        )
                    )
        if len(c2):
            pg = c2[c2["attack_kind"] == "pgd_linf"]
            h = pg[pg["budget"] == 1.0]
            text.append(
                "**Tiny ImageNet.** DiffViT's mean ASR is higher than ViT's at "
                f"{int((pg['diff_mean'] > 0).sum())} of {len(pg)} PGD budgets (per budget: "
                + ", ".join(f"{n} {k}" for k, n in pg["verdict"].value_counts().items())
                + ")"
                + (
                    f"; at 1/255 the difference is {h['diff_mean'].iloc[0]:+.3f} [{h['diff_low'].iloc[0]:+.3f}, "
                    f"{h['diff_high'].iloc[0]:+.3f}] over {int(h['n_seeds'].iloc[0])} seeds, against the paper's "
                    f"{T2['diffvit'][('pgd_linf', 1.0)] - T2['vit'][('pgd_linf', 1.0)]:+.3f}"
                    if len(h)
                    else ""
                )
                + ". These stand-in models reach a clean accuracy of "
                + ", ".join(f"{m} {g['clean_accuracy'].mean():.3f}" for m, g in self.t2_models.groupby("model"))
                + " on 200 classes, so the comparison is between weak classifiers; the paper's models are "
                "trained on the 100,000-image train split."
            )
        show.md("\n\n".join(text) if text else "No records yet.")
