"""The appendix-tables chapter's Table 2 (depth-4 ViT and DiffViT on the Tiny ImageNet stand-in): the ASR beside the paper's and the paired comparison.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from functools import cached_property

import pandas as pd

from .. import paper
from ..analysis import fmt_diff as diff
from ..analysis import fmt_rate as rate
from ..analysis import seed_summary
from ..claims.tables import table2_comparison
from ..records import caption_source
from . import _show as show

T2 = paper.TABLE2_TINY_IMAGENET


class Table2:
    """Table 2 of the chapter (needs ``t2``, ``t2_models``, ``pending`` and ``profile``)."""

    # ------------------------------------------------------------------ Table 2
    @cached_property
    def c2(self):
        return table2_comparison(self.t2) if len(self.t2) else pd.DataFrame()

    def table2(self) -> None:
        """Tables T2a (ASR beside the paper's) and T2b (DiffViT − ViT, paired)."""
        t2, c2 = self.t2, self.c2
        if not len(t2):
            todo = [q for q in self.pending if str(q["dataset"]).startswith("tiny-imagenet")]
            what = ", ".join(sorted({f"{q['model']} depth {q['depth']} seed {q['seed']}" for q in todo}))
            return show.md(
                f"**Not yet run.** No depth-4 Tiny ImageNet records under profile `{self.profile}`; "
                f"{len(todo)} runs are pending{': ' + what if what else ''}. Each trains its model "
                "(resumably, one checkpoint per epoch) and attacks it. The paper's Table 2 is in "
                "`dalib.paper.TABLE2_TINY_IMAGENET`."
            )
        acc2 = seed_summary(self.t2_models, ["model"], value="clean_accuracy").set_index("model")
        summ2 = seed_summary(t2, ["model", "attack_kind", "budget"])
        rows = []
        for m in ("vit", "diffvit"):
            if m not in acc2.index:
                continue
            r = {
                "model": {"vit": "ViT", "diffvit": "DiffViT"}[m],
                "seeds": int(acc2.loc[m, "n_seeds"]),
                "clean acc. [95% CI]": rate(acc2.loc[m, "mean"], acc2.loc[m, "ci_low"], acc2.loc[m, "ci_high"]),
            }
            for kind, b in sorted(T2[m], key=lambda k: (k[0] != "patch", -k[1])):
                s = summ2[(summ2["model"] == m) & (summ2["attack_kind"] == kind) & (summ2["budget"] == b)]
                col = f"patch={b:g}" if kind == "patch" else f"ε={b:g}"
                r[col] = (
                    f"{s['mean'].iloc[0]:.3f} ({T2[m][(kind, b)]:.3f})" if len(s) else f"– ({T2[m][(kind, b)]:.3f})"
                )
            rows.append(r)
        show.table(
            pd.DataFrame(rows),
            label="T2a",
            caption=(
                "ASR on Tiny ImageNet, ours as the mean over training seeds with the paper's "
                "Table 2 value in parentheses; clean accuracy on the evaluation split, mean [95 % CI]. "
                f"{caption_source(t2)}."
            ),
        )
        show.table(
            pd.DataFrame(
                {
                    "attack": c2["attack_kind"].map({"pgd_linf": "PGD ε (1/255)", "patch": "patch w (px)"}),
                    "budget": c2["budget"].map(lambda v: f"{v:g}"),
                    "ViT": c2["a_mean"].round(3),
                    "DiffViT": c2["b_mean"].round(3),
                    "DiffViT − ViT [95% CI]": [diff(r.diff_mean, r.diff_low, r.diff_high) for r in c2.itertuples()],
                    "paper": [
                        f"{T2['diffvit'][(r.attack_kind, r.budget)] - T2['vit'][(r.attack_kind, r.budget)]:+.3f}"
                        if (r.attack_kind, r.budget) in T2["diffvit"]
                        else ""
                        for r in c2.itertuples()
                    ],
                    "p (two-level)": c2["p_two_level"],
                    "verdict": c2["verdict"],
                }
            ),
            label="T2b",
            caption=(
                "DiffViT against ViT on the same images, paired by training seed and image "
                f"(two-level interval and p); one family per attack. {caption_source(t2)}."
            ),
        )

    # ------------------------------------------------------------------ compute, claims, reading
