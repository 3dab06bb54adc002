"""The Models page's accuracy pilot (notebooks/benchmarks/pilot.md): the candidates' curves and projections, the projection checked on the ladder, and the reading.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import pandas as pd

from ..records import caption_source, load_rows
from . import _show as show


class Pilot:
    """The pilot's facts, Tables P6 and P7 and their check."""

    def pilot_facts(self) -> dict:
        """The pilot's reading (``{glue:text}`mo_pilot_...```): the best candidate and its projection, the
        projection's error on the ladder's configuration, and the cost of 100 epochs of the best."""
        from .. import pilot as _pilot

        res, _ = self.pilot_rows()
        none = "(no pilot record yet)"
        if res is None:
            return {
                k: none for k in ("mo_pilot_best", "mo_pilot_best_acc", "mo_pilot_check", "mo_pilot_cost", "mo_pilot_n")
            }
        best = res.sort_values("projected_acc_100").iloc[-1]
        check = self.pilot_check()
        err = "not checkable (no ladder record)"
        if check is not None:
            e = check.set_index("epochs")["projected − measured"]
            err = f"{e.iloc[-1]:+.3f} at {int(e.index[-1])} epochs ({e.min():+.3f} to {e.max():+.3f} over the rungs)"
        acc = float(best["projected_acc_100"])
        if acc >= _pilot.TARGET:
            verdict = f"**{best['candidate']} is projected to reach the goal of {_pilot.TARGET:g}** at 100 epochs."
        elif acc >= _pilot.FLOOR:
            verdict = (
                f"**{best['candidate']} is projected above the floor of {_pilot.FLOOR:g} but below the goal of "
                f"{_pilot.TARGET:g}** at 100 epochs."
            )
        else:
            verdict = (
                f"**No candidate is projected to reach the goal of {_pilot.TARGET:g}, nor the floor of "
                f"{_pilot.FLOOR:g}, with the paper's optimiser at 100 epochs** (the best, corrected by the largest "
                "underestimate seen on the ladder, stays below the floor too)"
                if check is None or acc - float(check["projected − measured"].min()) < _pilot.FLOOR
                else f"**No candidate is projected to reach the goal of {_pilot.TARGET:g} or the floor of "
                f"{_pilot.FLOOR:g} at 100 epochs**, though the best one, corrected by the largest underestimate "
                "seen on the ladder, would reach the floor"
            ) + "."
        floor = res[res["projected_acc_100"] >= _pilot.FLOOR].sort_values("core_h_100_epochs")
        choice = (
            f"{floor.iloc[0]['candidate']}, the cheapest candidate projected at or above the floor "
            f"({floor.iloc[0]['core_h_100_epochs']:.1f} core-hours per model for 100 epochs at the pilot's speed)"
            if len(floor)
            else f"{best['candidate']}, the best candidate (none is projected at the floor)"
        )
        return {
            "mo_pilot_choice": choice,
            "mo_pilot_verdict": show.markdown(verdict),
            "mo_pilot_n": str(len(res)),
            "mo_pilot_best": f"{best['candidate']} ({best['n_params']:,} parameters)",
            "mo_pilot_best_acc": f"{best['projected_acc_100']:.3f}",
            "mo_pilot_check": err,
            "mo_pilot_cost": f"{best['core_h_100_epochs']:.1f}",
            "mo_pilot_target": f"{_pilot.TARGET:g}",
            "mo_pilot_floor": f"{_pilot.FLOOR:g}",
        }

    # ------------------------------------------------------------------ the accuracy pilot (issue: paper quality)
    def pilot_rows(self):
        """The pilot's records (``notebooks/benchmarks/pilot.md``): ``(results, curves)`` or ``(None, None)``."""
        from ..records import RecordNotFoundError

        try:
            return (
                load_rows("pilot", table="results", profile=self.profile),
                load_rows("pilot", table="curve", profile=self.profile),
            )
        except RecordNotFoundError:
            return None, None

    def pilot(self) -> None:
        """Table P6: every candidate's measured curve, cost and projection; Table P7: the projection
        checked against the ladder's measured accuracies (the one configuration trained to 100 epochs)."""
        from .. import pilot as _pilot

        res, curve = self.pilot_rows()
        if res is None:
            return show.md("The accuracy pilot (`notebooks/benchmarks/pilot.md`) has no record under this profile yet.")
        res = res.sort_values("projected_acc_100", ascending=False)
        curves = {
            c: ", ".join(f"{a:.3f}" for a in g.sort_values("epoch")["test_accuracy"])
            for c, g in curve.groupby("candidate")
        }
        t = pd.DataFrame(
            {
                "candidate": res["candidate"],
                "stem": res["stem"].fillna("patch") if "stem" in res else "patch",
                "width": res["embed_dim"],
                "heads": res["num_heads"],
                "parameters": res["n_params"],
                "core-s per epoch": res["core_s_per_epoch"],
                "test accuracy after each epoch": res["candidate"].map(curves),
                "fitted ceiling a": res["fit_a"],
                "projected at 100 epochs": res["projected_acc_100"],
                f"epochs to {_pilot.TARGET:g}": [
                    f"{v:,.0f}" if v <= 1000 else "> 1,000" for v in res["epochs_to_target"]
                ],
                "core-h for 100 epochs": res["core_h_100_epochs"],
            }
        )
        show.table(
            t,
            label="P6",
            caption=f"The accuracy pilot: each candidate (`dalib.pilot.CANDIDATES`, the standard-attention model of the "
            f"pair) trained {int(res['epochs'].max())} epochs of the paper's optimiser (Adam, lr 5e-4 constant, batch "
            f"128, crop and flip), its test accuracy on {int(curve['eval_n'].max()):,} images after every epoch, the "
            f"CPU seconds of one epoch on one thread (two runs shared the two cores), and the saturating fit "
            f"a − b t^(−c) projected to the paper's 100 epochs and to {_pilot.TARGET:g} (∞: the fitted ceiling lies "
            f"below it). {caption_source(res)}.",
        )
        check = self.pilot_check()
        if check is not None:
            show.table(
                check,
                label="P7",
                caption="The projection checked where it can be: the pilot's fit of the ladder's configuration "
                "(patch 4, width 128) from its first epochs, against the ladder's measured test accuracy of the "
                "same recipe (ViT, mean over its seeds) at each rung.",
            )
        if self.pilot_pair_check():
            show.md(self.pilot_pair_check())

    def pilot_pair_check(self) -> str:
        """The chosen candidate's projection against the paper-quality pair's measured 100-epoch accuracy
        (``pair.md``'s records, its configuration), or "" without them."""
        from .. import pilot as _pilot
        from ..claims.pair import PAIR_RECIPE
        from ..records import rows_or_none

        res, _ = self.pilot_rows()
        pair = rows_or_none("pair", "results", self.profile)
        if res is None or pair is None:
            return ""
        want = {
            "stem": PAIR_RECIPE["stem"],
            "embed_dim": PAIR_RECIPE["embed_dim"],
            "num_heads": PAIR_RECIPE["num_heads"],
        }
        cand = res[(res["stem"] == want["stem"]) & (res["embed_dim"] == want["embed_dim"])]
        if not len(cand):
            return ""
        r, epochs = cand.iloc[0], int(PAIR_RECIPE["epochs"])
        proj = float(_pilot.saturating(epochs, r["fit_a"], r["fit_b"], r["fit_c"]))
        parts = [
            f"{m}: {g['clean_accuracy'].mean():.3f} ({len(g)} seed{'s' * (len(g) != 1)})"
            for m, g in pair.groupby("model", sort=False)
        ]
        return (
            f"The chosen configuration ({r['candidate']}) was projected to {proj:.3f} at {epochs} epochs from the "
            f"pilot's ViT curve; the paper-quality pair measures " + "; ".join(parts) + f" ({caption_source(pair)})."
        )

    def pilot_check(self):
        """The ladder configuration's projection against the ladder's measured rungs, or None."""
        from .. import pilot as _pilot
        from ..records import RecordNotFoundError

        res, _ = self.pilot_rows()
        if res is None or not (res["candidate"] == "patch4-w128").any():
            return None
        try:
            rungs = load_rows("ladder", table="rungs", profile=self.profile)
        except RecordNotFoundError:
            return None
        r = res[res["candidate"] == "patch4-w128"].iloc[0]
        measured = rungs[rungs["model"] == "vit"].groupby("rung")["clean_accuracy"].mean()
        return pd.DataFrame(
            {
                "epochs": measured.index,
                "measured (ladder)": measured.to_numpy(),
                "projected (pilot)": _pilot.saturating(measured.index.to_numpy(), r["fit_a"], r["fit_b"], r["fit_c"]),
            }
        ).assign(**{"projected − measured": lambda d: d["projected (pilot)"] - d["measured (ladder)"]})
