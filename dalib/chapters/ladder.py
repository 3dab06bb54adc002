"""The model-quality ladder: do the depth-1 verdicts depend on how well the models are trained?
From ``notebooks/experiments/ladder.md`` (the rungs: the depth-1 pair trained with the paper's
optimiser recipe, weights kept after 8, 16, 32, 64 and 100 epochs) and the rung points of
``asr_suite.md`` (PGD and patch PGD) and ``mechanism_suite.md`` (sampling Lipschitz, probe alignment).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. Its depth-1 models reach 0.87 clean accuracy (Table 1), ours 0.56-0.72 along the
ladder. Each quantity is placed against clean accuracy; its trend is the slope common to the training
seeds (:func:`dalib.stats.trend`), and the depth-1 and mechanism chapters' own claim code, run on
the top rung, gives the scorecard's top-rung lines.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .. import paper
from ..analysis import paired_comparison
from ..ladder import RUNGS, rung_of, rung_recipe
from ..paths import current_profile
from ..records import caption_source
from . import _show as show
from .ladder_figures import KIND_NAMES, PAPER_ACCURACY, PER, Figures, _around  # noqa: F401
from .ladder_pair import PAIR_LABEL, PairPoint, mech_seeds_of, seed_gaps_of

PAIR = dict(a={"model": "vit"}, b={"model": "diffvit", "lambda_init": "0.8"})


def _n(df, col) -> str:
    """The image count(s) of column ``col`` as text ("1,000", or "64-1,000" where they differ)."""
    if df is None or col not in df.columns or not len(df):
        return "?"
    lo, hi = int(df[col].min()), int(df[col].max())
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


from ..claims.ladder import (  # noqa: E402,F401  (the chapter draws them)
    TOP_CLAIMS,
    _load,
    _paired_epochs,
    _seeds,
    _span,
    _top,
    attack_rows,
    claims_of,
    mechanism_rows,
    rung_rows,
)


class Chapter(Figures, PairPoint, show.Facts):
    """The ladder's records (loaded once) and its tables, figures, trends and reading."""

    def __init__(self, profile: str | None = None):
        self.profile = profile = profile or current_profile()
        self.asr = attack_rows(profile)
        self.lip, self.jac = mechanism_rows(profile)
        self.rungs = _load("ladder", "rungs", profile)
        self.history = _load("ladder", "history", profile)
        self._load_pair(profile)  # the paper-quality pair: the top point (dalib.chapters.ladder_pair)
        self.plans = {
            s: [p for p in show.plans(s, profile) if s == "ladder" or rung_of(p.params.get("recipe")) is not None]
            for s in ("ladder", "asr_suite", "mechanism_suite")
        }

    # ------------------------------------------------------------ data
    @cached_property
    def mech_models(self):
        """The rung points' ``mechanism_suite`` model rows (``None`` when there are none)."""
        return rung_rows("mechanism_suite", "model", self.profile)

    @cached_property
    def accuracy(self) -> pd.DataFrame:
        """Clean accuracy of every measured rung model: ``model, seed, epochs, clean_accuracy``."""
        parts = []
        if self.asr is not None:
            parts.append(self.asr.rename(columns={"train_clean_accuracy": "clean_accuracy"}))
        m = self.mech_models
        if m is not None:
            parts.append(m)
        if not parts:
            return pd.DataFrame(columns=["model", "seed", "epochs", "clean_accuracy"])
        cols = ["model", "seed", "epochs", "clean_accuracy"]
        return pd.concat([p[cols] for p in parts]).drop_duplicates(["model", "seed", "epochs"]).reset_index(drop=True)

    @cached_property
    def _n_mech(self) -> str:
        return _n(self.mech_models, "n_images")

    def _acc(self, model, seed, epochs):
        a = self.accuracy
        r = a[(a["model"] == model) & (a["seed"] == seed) & (a["epochs"] == epochs)]
        return float(r["clean_accuracy"].iloc[0]) if len(r) else np.nan

    @cached_property
    def seed_gaps(self) -> pd.DataFrame:
        """One row per (rung, seed, attack, budget): both models' ASR, the gap DiffViT − ViT and the
        pair's mean clean accuracy."""
        return seed_gaps_of(self.asr)

    @cached_property
    def comparisons(self) -> pd.DataFrame:
        """The depth-1 chapter's paired comparison (two-level interval, verdict) at every rung."""
        if self.asr is None:
            return pd.DataFrame()
        out = []
        for k, g in self.asr.groupby("epochs"):
            c = paired_comparison(g, **PAIR)
            c.insert(0, "epochs", int(k))
            out.append(c)
        return pd.concat(out, ignore_index=True)

    @cached_property
    def mech_seeds(self) -> pd.DataFrame:
        """One row per (rung, seed): L_DA / L_base, freq(cos < 0) and the clean accuracies
        (:func:`dalib.chapters.ladder_pair.mech_seeds_of`)."""
        return mech_seeds_of(self.lip, self.jac, self._acc)

    # ------------------------------------------------------------ page
    def status(self) -> None:
        done = {s: sum(p.done for p in ps) for s, ps in self.plans.items()}
        text = (
            f"Profile `{self.profile}`: "
            + "; ".join(f"`{s}` {done[s]} of {len(ps)} runs have records" for s, ps in self.plans.items())
            + "."
        )
        if any(done[s] < len(ps) for s, ps in self.plans.items()):
            text += (
                " **The campaign is not complete**; the figures show the rungs that have records. Train the rungs "
                f"with `python -m dalib.run ladder --profile {self.profile} --jobs 2` first (a rung point of the other "
                "notebooks would otherwise train its model from scratch), then run `python -m dalib.run asr_suite` and "
                "`python -m dalib.run mechanism_suite` with the same profile, e.g. "
                f'`--where seed=0 --where "recipe={rung_recipe(8)}"` for one rung.'
            )
        show.md(text)

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`l_...```): the rungs from the ladder's
        records, the paper's accuracies from :mod:`dalib.paper`."""
        accs = [v["accuracy"] for v in paper.TABLE1_LAMBDA_SWEEP.values()]
        rungs = sorted(int(k) for k in self.rungs["rung"].unique()) if self.rungs is not None else []
        return {
            "l_paper_range": f"{min(accs):.2f}–{max(accs):.2f}",
            "l_paper_acc": f"{PAPER_ACCURACY:.2f}",
            "l_rungs": show.words(rungs) or "(no rung recorded yet)",
        }

    def setup(self) -> None:
        """The recipe of the rungs, from the ladder's records."""
        r = self.rungs
        if r is None or not len(r):
            return show.md("No ladder record yet.")
        x = r.iloc[0]
        show.md(
            f"Both models are the depth-1 chapter's architecture (width {int(x['embed_dim'])}, {int(x['num_heads'])} "
            f"heads, patch {int(x['patch_size'])}, DiffViT with λ_init = 0.8), trained with the paper's optimiser: Adam "
            f"at a constant learning rate {x['lr']:g}, batch {int(x['batch_size'])}, random crop and flip, on "
            f"{int(x['n_train']):,} CIFAR-10 images, training precision {x['precision']}. The weights after epochs "
            f"{', '.join(str(k) for k in sorted(r['rung'].unique()))} of one run are the rungs: with a constant rate "
            "and per-epoch random streams, they are exactly the models a run of that many epochs gives (tested bit for "
            f"bit). Every rung is a zoo entry. {self._measured()} {caption_source(r)}."
        )

    def _measured(self) -> str:
        """What the rung points measure, from their records."""
        text = []
        a = self.asr
        if a is not None:
            b = {
                k: ", ".join(f"{v:g}" for v in sorted(a.loc[a["attack_kind"] == k, "budget"].unique()))
                for k in KIND_NAMES
            }
            text.append(
                f"The attacks run on {_n(a, 'n')} fixed test images, as in the depth-1 chapter: PGD at ε = {b['pgd_linf']} "
                f"(1/255) and patch PGD at w = {b['patch'] or 'none'} pixels, {_n(a, 'steps')} steps, on the clean "
                "prediction."
            )
        m = self.mech_models
        if m is not None:
            text.append(
                f"The mechanism is measured on {_n(m, 'n_images')} of them: the paper's sampling estimator of the local "
                f"Lipschitz constant ({_n(m, 'param.n_samples')} draws at radius {_n(m, 'param.lip_eps')}/255) and "
                f"{_n(m, 'param.n_probes')} JVP probes per image for the branch alignment, at the clean images."
            )
        return " ".join(text)

    def rung_table(self) -> None:
        """The rung table: per seed and rung, accuracies, ASR at 1/255, gap, L_DA / L_base, freq."""
        g = self.seed_gaps
        if not len(g):
            return show.md("No attack record of a rung yet.")
        t = g[(g["attack_kind"] == "pgd_linf") & (g["budget"] == 1.0)][
            [
                "seed",
                "epochs",
                "train_clean_accuracy_vit",
                "train_clean_accuracy_diffvit",
                "asr_vit",
                "asr_diffvit",
                "gap",
            ]
        ]
        m = self.mech_seeds
        if len(m):
            t = t.merge(m[["seed", "epochs", "ratio", "freq_cos_neg"]], on=["seed", "epochs"], how="left")
        t = t.sort_values(["seed", "epochs"], ignore_index=True).assign(models="ladder")
        p = self.pair_rows()
        if len(p):  # the paper-quality pair, the top point (another architecture: its own rows, last)
            t = pd.concat([t, p[[c for c in t.columns if c in p]]], ignore_index=True)
        t = t[["models", *[c for c in t.columns if c != "models"]]].rename(
            columns={
                "train_clean_accuracy_vit": "accuracy ViT",
                "train_clean_accuracy_diffvit": "accuracy DiffViT",
                "asr_vit": "ASR ViT (1/255)",
                "asr_diffvit": "ASR DiffViT (1/255)",
                "gap": "gap (DiffViT − ViT)",
                "ratio": "L_DA / L_base",
                "freq_cos_neg": "freq(cos < 0)",
            }
        )
        show.table(
            t,
            label="L1",
            caption=(
                f"every rung, seed by seed, and the {PAIR_LABEL}'s seeds last: clean accuracy on the test split, PGD ASR at ε = 1/255 on "
                f"{_n(self.asr, 'n')} test images and their difference, the ratio of the sampling Lipschitz estimates of "
                f"DiffViT's A_DA and ViT's A, and the frequency of cos(∇A1, ∇A2) < 0 ({self._n_mech} images, all heads). "
                f"{caption_source(self.asr)}"
                + (f"; and {_lower_first(caption_source(self.mech_models))}" if len(m) else "")
                + "."
            ),
        )

    def reading(self) -> None:
        """The plain reading, from the trends and the top rung's verdicts."""
        t = self.trends
        if not len(t):
            return show.md("No rung records yet.")
        parts = []
        for fam, what in (("pgd_linf", "PGD gap"), ("patch", "patch-PGD gap")):
            f = t[t["family"] == fam]
            if not len(f):
                continue
            words = f["reading"].value_counts()
            parts.append(
                f"The {what}: {', '.join(f'{w} at {n} of {len(f)} budgets' for w, n in words.items())}, as clean "
                f"accuracy rises from {f['accuracy_min'].min():.2f} to {f['accuracy_max'].max():.2f}"
                + "; "
                + "; ".join(
                    f"{r.quantity.split(', ', 1)[1]}: {r.slope:+.3f} per 0.1 accuracy [{r.low:+.3f}, {r.high:+.3f}], "
                    f"fitted {r.at_paper:+.3f} [{r.at_paper_low:+.3f}, {r.at_paper_high:+.3f}] at "
                    f"{PAPER_ACCURACY:.2f}"
                    for r in f.itertuples()
                    if r.budget in (0.25, 1.0, 4.0, 8.0)
                )
                + "."
            )
        for fam, what in (("lipschitz", "The Lipschitz ratio L_DA / L_base"), ("alignment", "freq(cos < 0)")):
            r = t[t["family"] == fam]
            if len(r):
                r = r.iloc[0]
                fit = np.exp(r["at_paper"]) if fam == "lipschitz" else r["at_paper"]
                lo = np.exp(r["at_paper_low"]) if fam == "lipschitz" else r["at_paper_low"]
                hi = np.exp(r["at_paper_high"]) if fam == "lipschitz" else r["at_paper_high"]
                parts.append(
                    f"{what}: {r['reading']} (slope {r['slope']:+.3f} per 0.1 accuracy [{r['low']:+.3f}, "
                    f"{r['high']:+.3f}]{' on the log scale' * (fam == 'lipschitz')}); fitted {fit:.3f} "
                    f"[{lo:.3f}, {hi:.3f}] at {PAPER_ACCURACY:.2f}."
                )
        implied = self.implications()
        if implied:
            parts.append(
                f"**What the trends imply at the paper's accuracy ({PAPER_ACCURACY:.2f}),** extrapolating each straight "
                "line beyond the measured range (an extrapolation, not a measurement): " + "; ".join(implied) + "."
            )
        parts.append(self.pair_reading())
        top = claims_of(self.asr, self.lip, self.jac)
        if top:
            parts.append(
                "At the top rung the chapters' own tests give: "
                + "; ".join(f"{TOP_CLAIMS[k[4:]]}: **{r['verdict']}** ({r['short']})" for k, r in top.items())
                + ". The scorecard lists these under the depth-1 verdicts."
            )
        show.md("\n\n".join(parts))

    #: the paper's claim each headline quantity tests: (family, budget, what, value of no effect, log scale)
    HEADLINES = (
        ("pgd_linf", 1.0, "paper Fig. 2a's PGD gap at ε = 1/255", 0.0, False),
        ("patch", 8.0, "paper Fig. 2c's patch gap at w = 8", 0.0, False),
        ("lipschitz", None, "paper Fig. 4's ratio L_DA / L_base", 1.0, True),
        ("alignment", None, "paper Fig. 5's freq(cos < 0)", 0.5, False),
    )

    def implications(self) -> list[str]:
        """One sentence per headline quantity: its fitted value at the paper's accuracy, and whether
        that interval lies on the paper's side of no effect, on the other, or covers it."""
        t = self.trends
        out = []
        for fam, budget, what, null, log in self.HEADLINES:
            r = t[(t["family"] == fam) & ((t["budget"] == budget) if budget is not None else True)] if len(t) else t
            if not len(r) or not np.isfinite(r["at_paper"].iloc[0]):
                continue
            r = r.iloc[0]
            f, lo, hi = (np.exp(r[c]) if log else r[c] for c in ("at_paper", "at_paper_low", "at_paper_high"))
            side = (
                "on the paper's side"
                if lo > null
                else "against the paper"
                if hi < null
                else f"undecided (it covers {null:g})"
            )
            fmt = "{:.2f}" if log else "{:.3f}" if null else "{:+.3f}"
            out.append(f"{what} would be {fmt.format(f)} [{fmt.format(lo)}, {fmt.format(hi)}], {side}")
        return out

    def c4_note(self) -> None:
        """For the mechanism page: how L_DA / L_base moves along the ladder (C4 at higher accuracy)."""
        m = self.mech_seeds
        if not len(m):
            return
        first, top = (m[m["epochs"] == k] for k in (m["epochs"].min(), m["epochs"].max()))
        show.md(
            f"Along the [model-quality ladder](results_ladder.md) (the same pair trained with the paper's optimiser), "
            f"L_DA / L_base goes from {first['ratio'].mean():.2f} at {int(first['epochs'].iloc[0])} epochs to "
            f"{top['ratio'].mean():.2f} at {int(top['epochs'].iloc[0])} epochs (clean accuracy "
            f"{top['accuracy'].mean():.2f}, {_seeds(len(top))}); that chapter fits the trend and says what it implies "
            f"for C4 at the paper's accuracy."
        )

    def compute(self) -> None:
        """What the ladder cost, from the records."""
        r = self.rungs
        if r is None or not len(r):
            return show.md("No ladder record yet.")
        tops = r.sort_values("rung").groupby(["model", "seed"]).tail(1)
        lines = [
            f"Training: {len(tops)} ladder runs to {int(r['rung'].max())} epochs, "
            f"{tops['wall_time_s'].sum() / 3600:.1f} h of wall time in all (one thread each, two runs sharing two "
            "cores)."
        ]
        if self.asr is not None:
            t = self.asr.drop_duplicates("record")["wall_time_s"].sum()
            lines.append(f"Attacks: {self.asr['record'].nunique()} records, {t / 3600:.2f} h.")
        m = self.mech_models
        if m is not None:
            lines.append(
                f"Mechanism: {m['record'].nunique()} records, {m.drop_duplicates('record')['wall_time_s'].sum() / 3600:.2f} h."
            )
        show.md(" ".join(lines) + f" Rungs: {', '.join(str(k) for k in RUNGS)} epochs. " + self.pair_compute())
