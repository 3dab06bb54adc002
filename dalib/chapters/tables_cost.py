"""The appendix-tables chapter's compute table: training and attack cost per table, from the records.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import pandas as pd

from ..records import RecordNotFoundError, caption_source, load_rows
from . import _show as show


class Cost:
    """Table T4 of the chapter (needs ``models``, ``df``, ``t3_models`` and ``t2_models``)."""

    def compute(self) -> None:
        """Training and attack cost per table, from the records, with the fp32/bf16 factor."""
        models, df = self.models, self.df
        if not len(models):
            return
        att = df.groupby("record")["attack_time_s"].sum()
        rows = []
        for name, m in (("Table 3", self.t3_models), ("Table 2", self.t2_models)):
            if not len(m):
                continue
            rows.append(
                {
                    "table": name,
                    "models": len(m),
                    "training, CPU-hours": round(m["train_cpu_s"].sum() / 3600, 2),
                    "training wall per model, min": f"{m['train_time_s'].min() / 60:.0f}–{m['train_time_s'].max() / 60:.0f}",
                    "attacks, hours (1 thread)": round(att[att.index.isin(m["record"])].sum() / 3600, 2),
                    "precision": ", ".join(sorted(set(m["precision"]))),
                }
            )
        try:  # fp32 against bf16 training throughput, measured side by side by the models benchmark
            bench = load_rows("models", table="results")
            tr = bench[bench["mode"] == "train"].pivot_table(
                index="depth", columns="precision", values="diffvit_img_per_s"
            )
            ratio = "; ".join(
                f"depth {d}: {tr.loc[d, 'bf16'] / tr.loc[d, 'fp32']:.2f}"
                for d in tr.index
                if {"bf16", "fp32"} <= set(tr.columns)
            )
            fp32_note = (
                " On a CPU without native bf16, training runs in fp32; on this machine the models benchmark "
                f"measured bf16 training at {ratio} times the fp32 throughput ({caption_source(bench)}), so "
                "multiply the bf16 training hours by that factor for an fp32 machine."
            )
        except RecordNotFoundError:
            fp32_note = ""
        show.table(
            pd.DataFrame(rows),
            label="T4",
            caption="The compute of this chapter, from the records: the training CPU time of each model "
            "(the vanilla DiffViTs were trained for the depth-1 chapter and are loaded from the zoo here) "
            f"and the wall time of its attacks (one thread per run).{fp32_note} {caption_source(models)}.",
        )
