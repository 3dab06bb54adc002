"""The Models page's training kernels (``dalib.train.kernels``): whether the explicit kernels that CPU
training runs since the train-step benchmark learn what the fused ones learnt
(``notebooks/benchmarks/kernels.md``), and the paper-quality pair's training so far
(``notebooks/experiments/pair.md``: records and committed states).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import RecordNotFoundError, caption_source, load_rows
from ..stats import mean_ci
from . import _show as show

QUANTITIES = {"test_accuracy": "test accuracy", "train_loss": "training loss"}


def kernel_effects(curve: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, epoch, quantity) of the kernels benchmark's curves: the mean over seeds of
    each kernels' value, the paired effect explicit − fused (same seed) with its t 95 % interval, the
    seed-to-seed SD of the fused (unchanged) loop, and the reading: ``"within seed noise"`` when the
    interval lies inside ± that SD, ``"different"`` when it excludes 0, else ``"no detectable difference"``
    (the interval covers 0 but reaches beyond one seed SD: too few seeds to say more)."""
    rows = []
    for (model, epoch), d in curve.groupby(["model", "epoch"], sort=False):
        w = d.pivot_table(index="seed", columns="kernels", values=list(QUANTITIES))
        for q, name in QUANTITIES.items():
            f, e = w[(q, "fused")], w[(q, "explicit")]
            both = pd.concat([f, e], axis=1, join="inner").dropna()
            if len(both) < 2:
                continue
            diff = mean_ci(both.iloc[:, 1] - both.iloc[:, 0])
            sd = float(np.std(both.iloc[:, 0], ddof=1))
            if diff["low"] > 0 or diff["high"] < 0:
                reading = "different"
            elif -sd <= diff["low"] and diff["high"] <= sd:
                reading = "within seed noise"
            else:
                reading = "no detectable difference"
            rows.append(
                {
                    "model": model,
                    "epoch": int(epoch),
                    "quantity": name,
                    "seeds": len(both),
                    "fused": float(both.iloc[:, 0].mean()),
                    "explicit": float(both.iloc[:, 1].mean()),
                    "effect": diff["mean"],
                    "low": diff["low"],
                    "high": diff["high"],
                    "seed_sd": sd,
                    "reading": reading,
                }
            )
    return pd.DataFrame(rows)


class Kernels:
    """The kernels' equivalence (Table P8) and the pair's training status (a mixin of ``models.Chapter``)."""

    def kernels_curve(self):
        try:
            return load_rows("kernels", table="curve", profile=self.profile)
        except RecordNotFoundError:
            return None

    def kernels(self) -> None:
        """Table P8: the explicit against the fused kernels, seed by seed, and the reading."""
        c = self.kernels_curve()
        if c is None:
            return show.md(
                "The kernels benchmark (`notebooks/benchmarks/kernels.md`) has no record under this profile."
            )
        eff = kernel_effects(c)
        last = eff[eff["epoch"] == eff["epoch"].max()]
        speed = c.groupby(["model", "kernels"])["cpu_s"].mean().unstack()
        ratio = (speed["fused"] / speed["explicit"]).to_dict() if {"fused", "explicit"} <= set(speed) else {}
        r = c.iloc[0]
        out = eff.assign(
            effect=[
                f"{show.cell(m)} [{show.cell(lo)}, {show.cell(hi)}]"
                for m, lo, hi in zip(eff["effect"], eff["low"], eff["high"])
            ]
        ).drop(columns=["low", "high"])
        reads = "; ".join(
            f"{m}: {q} {rd} ({show.cell(e)} against a seed SD of {show.cell(sd)})"
            for m, q, rd, e, sd in zip(
                last["model"], last["quantity"], last["reading"], last["effect"], last["seed_sd"]
            )
        )
        show.table(
            out.rename(columns={"effect": "explicit − fused [95 %]", "seed_sd": "seed SD (fused)"}).round(4),
            label="P8",
            caption=(
                f"the explicit training kernels against the fused ones, {r['candidate']} ({int(r['n_params']):,} "
                f"parameters), {int(c['seed'].nunique())} seeds, each trained twice from the same initialisation, data "
                f"order and augmentation for {int(c['epoch'].max())} epochs on {int(r['param.n_train']):,} training images "
                f"(test accuracy on {int(r['eval_n']):,} test images after every epoch). Effect: the mean over seeds of the "
                "paired difference, with its t 95 % interval; seed SD: the standard deviation over seeds of the fused "
                "loop's value. Reading: within seed noise when the interval lies inside ± one seed SD, different when "
                "it excludes 0, else no detectable difference. At the last epoch: "
                + reads
                + ". CPU seconds per epoch, fused over explicit: "
                + ", ".join(f"{m} {v:.2f}×" for m, v in ratio.items())
                + f". {caption_source(c)}."
            ),
        )

    def pair_training(self) -> str:
        """The paper-quality pair's training so far: finished models from pair.md's records, runs in
        progress from the committed states (``zoo/campaign-states/``)."""
        from ..campaign import STATE_DIR
        from ..models.zoo import zoo_dir

        done = []
        try:
            res = load_rows("pair", table="results", profile=self.profile)
            for r in res.sort_values(["seed", "model"]).itertuples():
                done.append(
                    f"{r.model} seed {r.seed}: clean accuracy {r.clean_accuracy:.3f}, {r.train_cpu_s / 3600:.2f} core-hours"
                )
        except RecordNotFoundError:
            res = None
        states = sorted((zoo_dir() / STATE_DIR).glob("*.pt")) if (zoo_dir() / STATE_DIR).exists() else []
        going = []
        if states:
            import torch

            for p in states:
                ck = torch.load(p, map_location="cpu", weights_only=True)
                cfg = ck["config"]
                if cfg.get("stem") == "conv" and cfg.get("embed_dim") == 256:
                    going.append(f"{cfg['model']} seed {cfg['seed']} at epoch {ck['epoch']} of {cfg['epochs']}")
        text = []
        if done:
            text.append(f"Trained ({len(done)} models): " + "; ".join(done) + ".")
        if going:
            text.append("In progress (committed states, resumed on any machine): " + "; ".join(going) + ".")
        return " ".join(text) or "None of its models is trained yet, and no state is committed."
