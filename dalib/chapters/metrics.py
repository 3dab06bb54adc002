"""The Metrics page: the sensitivity estimators validated against exact values on a small untrained
model, from the records of ``notebooks/benchmarks/metrics.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import numpy as np

from .. import plots
from ..records import caption_source, load_rows
from . import _show as show


class Chapter:
    """The estimator benchmark's records (loaded once) and its tables and figures."""

    def __init__(self, profile: str | None = None):
        self.probe = load_rows("metrics", table="probe", profile=profile)
        self.jac = load_rows("metrics", table="jacobian", profile=profile)
        self.lip = load_rows("metrics", table="lipschitz", profile=profile)

    def setting(self) -> None:
        probe = self.probe
        p = {
            k: probe[f"param.{k}"].iloc[0]
            for k in ("depth", "img_size", "patch_size", "embed_dim", "num_heads", "n_images", "n_repeats", "wrt")
        }
        show.md(
            f"Setting of the current record: a randomly initialised DiffViT (and its ViT twin) of depth {p['depth']}, "
            f"{p['img_size']}x{p['img_size']} CIFAR-10 test images ({p['n_images']}), patch {p['patch_size']}, "
            f"width {p['embed_dim']}, {p['num_heads']} standard heads ({p['num_heads'] // 2} differential heads), "
            f"Jacobians w.r.t. the {p['wrt']}; device {probe['device'].iloc[0]}; {p['n_repeats']} probe seeds per "
            "probe count. Wall times come from one run on a shared CPU and are comparable only within a table."
        )

    def probes(self) -> None:
        """Figure V1 and Table V2: JVP-probe estimates against the exact Frobenius quantities."""
        probe = self.probe
        agg = (
            probe.assign(sq=probe["error"] ** 2)
            .groupby(["quantity", "n_probes"])
            .agg(
                rms_error=("sq", lambda s: float(np.sqrt(s.mean()))),
                max_abs_error=("error", lambda s: float(s.abs().max())),
                time_probe_s=("time_probe_s", "mean"),
                time_exact_s=("time_exact_s", "mean"),
            )
            .reset_index()
        )
        show.figure(
            plots.probe_error_and_cost(agg),
            label="V1",
            caption="(estimator validation, untrained toy model). Error of the JVP-probe estimates of "
            "$\\lVert J_1\\rVert_F$, $\\lVert J_2\\rVert_F$, "
            "$\\lVert J_{DA}\\rVert_F$ (relative) and $\\cos\\theta$ (absolute) against the exact values, root mean "
            "square over images, layers, heads and probe seeds (left), and wall time of one estimate of all layers "
            "and heads vs one exact computation (right). " + caption_source(probe) + ".",
        )
        t = agg.groupby("n_probes")[["time_probe_s", "time_exact_s"]].mean()
        table = agg.pivot(index="n_probes", columns="quantity", values="rms_error")
        table["time probe [s]"] = t["time_probe_s"]
        table["time exact [s]"] = t["time_exact_s"]
        show.table(
            table.round(4),
            label="V2",
            caption=(
                "(estimator validation). RMS error per probe count (columns per quantity) and mean wall "
                "times. " + caption_source(probe) + "."
            ),
        )

    def jacobians(self) -> None:
        """Table V3: vectorised against per-output exact Jacobians."""
        cols = [
            "method",
            "n_outputs",
            "n_inputs",
            "n_images",
            "repeats",
            "time_median_s",
            "time_min_s",
            "speedup_vs_loop",
            "max_abs_diff",
            "max_abs_entry",
        ]
        show.table(
            self.jac[cols].set_index("method"),
            label="V3",
            caption=(
                "(estimator validation). Per-sample Jacobians of $(A_1, A_2, A_{DA})$ of every layer (outputs "
                "per image x input dimensions) by `torch.func.vmap(jacrev)` and by one backward pass per output "
                "coordinate, timed alternately in the same run; the speed-up is the ratio of median times; `max_abs_diff` "
                "is the largest entrywise difference between the two Jacobians. " + caption_source(self.jac) + "."
            ),
        )

    def lipschitz(self) -> None:
        """Tables V4, V5 and Figure V2: the sampling estimator against ascent and power iteration."""
        lip, keys, wide = self.lip, ["model", "sample", "layer", "map", "head"], None
        for est, cols in (
            ("sampling", ["L_sampling_max", "L_sampling_mean"]),
            ("ascent", ["L_ascent"]),
            ("power", ["L_power"]),
        ):
            part = lip[lip["estimator"] == est][keys + cols]
            wide = part if wide is None else wide.merge(part, on=keys)
        for c in ("L_sampling_max", "L_sampling_mean", "L_ascent"):
            wide[c.replace("L_", "") + " / power"] = wide[c] / wide["L_power"]
        show.table(
            wide.groupby(["model", "map"])[
                ["L_power", "sampling_max / power", "sampling_mean / power", "ascent / power"]
            ]
            .mean()
            .round(4),
            label="V4",
            caption=(
                "(estimator validation). Local Lipschitz estimates of the attention maps (per head, mean over "
                "images, layers and heads): power iteration $\\lVert J(x)\\rVert_2$, and the paper's sampling estimate (max "
                "and mean over draws in the $\\ell_\\infty$ ball of radius 8/255) and gradient ascent in the same ball as "
                "fractions of it. " + caption_source(lip) + "."
            ),
        )
        show.figure(
            plots.ratio_points(
                {f"{m}\n{k}": g for (m, k), g in wide.groupby(["model", "map"])},
                {"sampling_max / power": "sampling max", "ascent / power": "ascent"},
                ylabel="estimate / power iteration",
            ),
            label="V2",
            caption=(
                "(estimator validation, untrained toy model). Each dot is one (image, layer, head): the "
                "sampling and ascent estimates divided by the power-iteration value at $x$. "
                + caption_source(lip)
                + "."
            ),
        )
        show.table(
            lip.groupby(["model", "estimator"])["time_s"].first().unstack().round(2),
            label="V5",
            caption=(
                "(estimator validation). Wall time [s] of each estimator for all layers, maps and heads of "
                "the model (one call). " + caption_source(lip) + "."
            ),
        )

    def sampling_vs_rms(self) -> None:
        """Table V6: the sampling estimate against ‖J‖_F/√D."""
        probe, lip = self.probe, self.lip
        D = int(self.jac["n_inputs"].iloc[0])
        first = probe[(probe["n_probes"] == probe["n_probes"].min()) & (probe["repeat"] == 0)]
        names = {"norm_J1": "A1", "norm_J2": "A2", "norm_JDA": "A_DA"}
        fro = first[first["quantity"].isin(list(names))].assign(map=lambda d: d["quantity"].map(names))[
            ["image", "layer", "head", "map", "exact"]
        ]
        samp = lip[(lip["model"] == "diffvit") & (lip["estimator"] == "sampling")].rename(columns={"sample": "image"})[
            ["image", "layer", "head", "map", "L_sampling_mean", "L_sampling_max"]
        ]
        both = fro.merge(samp, on=["image", "layer", "head", "map"])
        both["rms singular value"] = both["exact"] / np.sqrt(D)
        both["sampling mean / rms"] = both["L_sampling_mean"] / both["rms singular value"]
        both["sampling max / rms"] = both["L_sampling_max"] / both["rms singular value"]
        show.table(
            both.groupby("map")[["rms singular value", "L_sampling_mean", "sampling mean / rms", "sampling max / rms"]]
            .mean()
            .round(4),
            label="V6",
            caption=(
                f"(estimator validation). The paper's sampling estimate (mean and max over draws) against "
                f"$\\lVert J\\rVert_F/\\sqrt D$ ($D = {D}$ input dimensions; exact Frobenius norms from the probe table), "
                "per DA map, mean over images, layers and heads. " + caption_source(probe) + "."
            ),
        )
