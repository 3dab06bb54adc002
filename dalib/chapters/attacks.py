"""The Attacks page: the attacks' defaults (their ``repr``) and the PGD throughput benchmark against
torchattacks, from the records of ``notebooks/benchmarks/bench_attacks.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

from .. import plots
from ..records import caption_source, load_rows
from . import _show as show


class Chapter:
    """The attack benchmark's records (loaded once) and its tables and figure."""

    def __init__(self, profile: str | None = None):
        self.profile = profile

    def defaults(self) -> None:
        defaults = load_rows("bench_attacks", table="defaults", profile=self.profile)
        show.md("\n".join(f"- `{r.name}`: `{r.repr}`" for r in defaults.itertuples()))
        show.md(
            f"*The attacks' defaults, as their `repr` writes them into every record (exact values, "
            f"budgets as fractions of 1). {caption_source(defaults)}.*"
        )

    def throughput(self) -> None:
        """PGD throughput, ours against torchattacks, with the per-repetition figure."""
        res = load_rows("bench_attacks", table="results", profile=self.profile)
        tim = load_rows("bench_attacks", table="timings", profile=self.profile)
        t = res[
            [
                "model",
                "ours_images_per_cpu_s",
                "torchattacks_images_per_cpu_s",
                "ratio_cpu",
                "ours_images_per_s",
                "torchattacks_images_per_s",
                "ratio_wall",
                "ratio_wall_min",
                "ratio_wall_max",
                "max_abs_diff",
                "batch_size",
                "steps",
                "n_reps",
                "num_threads",
                "device",
            ]
        ]
        show.table(  # one column per model: fifteen quantities do not fit side by side
            t.set_index("model")
            .rename(
                columns={
                    "ours_images_per_cpu_s": "ours, images/CPU-s",
                    "torchattacks_images_per_cpu_s": "torchattacks, images/CPU-s",
                    "ratio_cpu": "ratio (CPU)",
                    "ours_images_per_s": "ours, images/s",
                    "torchattacks_images_per_s": "torchattacks, images/s",
                    "ratio_wall": "ratio (wall)",
                    "ratio_wall_min": "ratio (wall) min",
                    "ratio_wall_max": "ratio (wall) max",
                    "max_abs_diff": "max |x_ours − x_ta|",
                    "n_reps": "repetitions",
                    "num_threads": "threads",
                    "batch_size": "batch size",
                }
            )
            .T.rename_axis("quantity"),
            label="K3",
            caption="PGD throughput, ours vs torchattacks, median over repetitions: images per "
            "process-CPU second and per wall-clock second, and the paired ratio "
            "t_torchattacks / t_ours (CPU time; wall clock with its min and max over repetitions). "
            f"Attack: `{res['attack'].iloc[0]}`. {caption_source(res)}.",
        )
        ratios = ", ".join(f"{r.model}: {r.ratio_cpu:.2f}" for r in res.itertuples())
        show.md(
            f"**Ratio (CPU time, > 1 means ours is faster): {ratios}.** The two implementations do "
            f"the same work per step (one forward and one backward pass of the whole batch), so a "
            f"ratio near 1 is what to expect. Wall-clock ratios vary more when other jobs share "
            f"the machine (see their min and max)."
        )
        show.figure(
            plots.throughput_points(tim, int(res["batch_size"].iloc[0]), ["dalib", "torchattacks"], list(res["model"])),
            label="K1",
            caption="Images per process-CPU second of every timed repetition, ours and torchattacks side by side. "
            f"{caption_source(tim)}.",
        )
