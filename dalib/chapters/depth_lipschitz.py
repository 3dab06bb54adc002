"""The depth chapter's Lipschitz and propagation part: paper Fig. 3d (the attention maps' Lipschitz estimates against depth) and the propagation ratio table.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from functools import cached_property

from .. import plots
from ..analysis import seed_summary
from ..depth import propagation_summary
from ..records import caption_source
from ..sensitivity import unpack_rows
from . import _show as show

LABEL = {"vit": "ViT", "diffvit": "DiffViT"}


def _present(df) -> bool:
    return df is not None and len(df) > 0


class Lipschitz:
    """Fig. 3d and the propagation table (needs ``plip`` and ``prop``)."""

    @cached_property
    def lipschitz(self):
        """The attention maps' Lipschitz estimates (A and A_DA), one row per (layer, head, image) value."""
        if not _present(self.plip):
            return None
        plip = self.plip
        lipl = unpack_rows(
            plip[plip["quantity"].isin(["L_sampling_mean", "L_power"])],
            keep=["model", "depth", "seed", "layer", "map", "head", "quantity"],
        )
        return lipl[lipl["map"].isin(["A", "A_DA"])]

    @cached_property
    def propagation(self):
        """The propagation records, one row per value."""
        if not _present(self.prop):
            return None
        return unpack_rows(self.prop, keep=["model", "depth", "seed", "perturbation", "eps", "layer", "quantity"])

    def fig3d(self) -> None:
        """Paper Fig. 3d (Lipschitz estimate against depth) and Table D4 (the propagation ratio)."""
        if _present(self.plip):
            per_seed = self.lipschitz.groupby(["model", "depth", "seed", "quantity"])["value"].mean().reset_index()
            for q, title in (
                ("L_sampling_mean", "sampling estimator (the paper's)"),
                ("L_power", "worst case (power iteration)"),
            ):
                pq = per_seed[per_seed["quantity"] == q]
                if not len(pq):
                    continue
                series = {
                    LABEL[m]: (
                        seed_summary(g.rename(columns={"value": "asr"}), ["depth"]).rename(columns={"depth": "budget"}),
                        g.rename(columns={"depth": "budget", "value": "asr"})[["budget", "asr"]],
                    )
                    for m, g in pq.groupby("model")
                }
                show.figure(
                    plots.asr_curves(
                        series, "depth D", logx=True, ylabel="mean local Lipschitz estimate", title=title, bounds=None
                    ),
                    label=self._label(),
                    caption=f"Paper Fig. 3d ({q}): mean over layers, heads and images of the attention map's local "
                    f"Lipschitz estimate (radius 8/255); dots: seeds. {caption_source(self.plip)}.",
                )
        if not _present(self.prop):
            return show.md("No propagation records of the depth chapter yet.")
        long = self.propagation
        n_d4 = 0
        for kind in sorted(set(long["perturbation"])):
            first = None  # the kind's table at its smallest radius, and its label
            for e in sorted(set(long[long["perturbation"] == kind]["eps"].astype(float))):
                n_d4 += 1
                label = f"D4{'abcdefgh'[n_d4 - 1]}"
                t = propagation_summary(long, kind, e).groupby(["model", "depth"])[["alpha", "gain", "L_block"]].mean()
                why = ""
                if first is None:
                    first = (t, label)
                elif kind == "random":  # one direction per image, scaled to each radius
                    rel = float(
                        ((t[["alpha", "gain"]] - first[0][["alpha", "gain"]]).abs() / first[0][["alpha", "gain"]].abs())
                        .max()
                        .max()
                    )
                    why = (
                        f" Random perturbations use one direction per image, scaled to each radius, so to first order "
                        f"the ratios do not depend on the radius: α and the gain differ from [Table {first[1]}]"
                        f"(#tab-{first[1].lower()}) by at most {rel:.2%} (relative)."
                    )
                show.table(
                    t.unstack("model").round(3),
                    label=label,
                    caption=(
                        f"({kind}, ε = {e:g}/255). Mean over seeds of: α, the propagation ratio of "
                        "blocks after the first (mean over images); the gain ‖Δ⁽ᵈ⁾‖/‖Δ⁽ᵈ⁻¹⁾‖; L_block, the block's "
                        f"spectral norm at the clean input.{why} {caption_source(self.prop)}."
                    ),
                )
