"""The Models page: the recorded training runs, the `cpu` profile's targets and the ViT/DiffViT
throughput benchmark, from the records of
``notebooks/experiments/train.md`` and ``notebooks/benchmarks/models.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import caption_source, load_rows
from . import _show as show
from .models_kernels import Kernels
from .models_pilot import Pilot

# the cpu profile's design targets: each depth-1 model of the profile reaches TARGET_ACCURACY clean accuracy
# within TARGET_MINUTES of one core (its runs take one thread each, two at a time on a 2-core machine)
TARGET_ACCURACY = 0.60
TARGET_MINUTES = 15


class Chapter(Pilot, Kernels, show.Facts):
    """The training and benchmark records (loaded once) and the Models page's tables."""

    def __init__(self, profile: str | None = None):
        self.profile = profile
        train = load_rows("train", table="results", profile=profile)
        self.hist = hist = load_rows("train", table="history", profile=profile)
        # CPU and evaluation time per run from its per-epoch history (same record)
        per_run = hist.groupby("record").agg(train_cpu_s=("cpu_s", "sum"), eval_time_s=("eval_time_s", "max"))
        train = train.drop(columns=["train_cpu_s", "eval_time_s"], errors="ignore").join(per_run, on="record")
        # a run's training configuration (the profile's, or a -p variant of it)
        train["config"] = [
            f"width {w}, {e} epochs, lr {lr:g}, {'crop+flip' if a else 'no aug.'}, {p} pool"
            for w, e, lr, a, p in zip(
                train["embed_dim"], train["epochs"], train["lr"], train["param.augment"], train["param.global_pool"]
            )
        ]
        train["lambda_init"] = np.where(train["model"] == "vit", "-", train["lambda_init"].astype(str))
        self.train = train.sort_values(["config", "depth", "model", "lambda_init", "seed"]).reset_index(drop=True)
        # the profile's own configuration (seed 0, lambda_init 0.8): the runs the profile was chosen on
        self.default = self.train[(self.train["seed"] == 0) & self.train["lambda_init"].isin(["-", "0.8"])]
        self.d1 = self.default[self.default.depth == 1]
        self.bench = load_rows("models", table="results", profile=profile)

    def used_models(self) -> pd.DataFrame:
        """One row per model configuration a results chapter uses (its seeds together): the chapter,
        model, depth, λ_init, recipe, seeds, clean accuracy and zoo entries, from the chapters' records."""
        from ..ladder import rung_of
        from ..records import RecordNotFoundError

        def load(stem):
            try:
                return load_rows(stem, table="model", profile=self.profile)
            except RecordNotFoundError:
                return None

        def suite_chapter(r):
            if rung_of(r["recipe"]) is not None:
                return "Model quality (ladder)"
            if r["dataset"] != "cifar10":
                return "Tables (paper Table 2)"
            if r["depth"] == 1 and r["patch_size"] == 4:
                return "Tables (paper Table 3)"
            return "Depth"

        parts = []
        for stem, chapter in (("asr", "Depth 1"), ("mechanism", "Mechanism")):
            d = load(stem)
            if d is not None:
                parts.append(d.assign(chapter=np.where(d["model"] == "diffv2", "Beyond the paper (V2)", chapter)))
        d = load("asr_suite")
        if d is not None:
            parts.append(d.assign(chapter=[suite_chapter(r) for _, r in d.iterrows()]))
        if not parts:
            return pd.DataFrame()
        d = pd.concat(parts, ignore_index=True)
        d["lambda_init"] = np.where(d["model"] == "vit", "-", d["lambda_init"].astype(str))
        d["recipe"] = [
            f"{ds}, width {w}, patch {p}, {e} epochs, lr {lr:g} {sch}" + (f", PGD training {a:g}/255" if a else "")
            for ds, w, p, e, lr, sch, a in zip(
                d["dataset"], d["embed_dim"], d["patch_size"], d["epochs"], d["lr"], d["lr_schedule"], d["adv_eps"]
            )
        ]
        keys = ["chapter", "model", "depth", "lambda_init", "recipe"]
        out = (
            d.drop_duplicates([*keys, "seed"])
            .groupby(keys, sort=False)
            .agg(
                seeds=("seed", lambda v: ", ".join(str(x) for x in sorted(v))),
                accuracy=("clean_accuracy", "mean"),
                accuracy_min=("clean_accuracy", "min"),
                accuracy_max=("clean_accuracy", "max"),
                zoo_entries=("zoo_file", lambda v: len({f for f in v if f})),
            )
            .reset_index()
        )
        return out.rename(columns={"lambda_init": "λ_init", "accuracy": "clean accuracy (mean)"})

    def used_table(self) -> None:
        t = self.used_models()
        if not len(t):
            return show.md("No results chapter has a record yet.")
        show.table(
            t,
            label="P1",
            caption="The models the results chapters use, one row per configuration with its training seeds; clean "
            "accuracy on the test split (mean, min, max over the seeds) and the number of model-zoo entries behind "
            "it. Read from the model tables of the chapters' records (`asr.md`, `mechanism.md`, `asr_suite.md`).",
        )

    def runs_table(self) -> None:
        """Every recorded run of `train.md` (folded): accuracy, wall and CPU time."""
        train = self.train
        cols = [
            "config",
            "model",
            "depth",
            "lambda_init",
            "seed",
            "n_params",
            "clean_accuracy",
            "train_time_s",
            "train_cpu_s",
            "eval_time_s",
            "images_per_s",
            "checkpoint",
        ]
        t = train[cols].copy()
        t["clean_accuracy"] = (100 * t["clean_accuracy"]).round(2)
        t["train_min"] = (t.pop("train_time_s") / 60).round(1)
        t["train_cpu_min"] = (t.pop("train_cpu_s") / 60).round(1)
        t["eval_s"] = t.pop("eval_time_s").round(1)
        t["images_per_s"] = t["images_per_s"].round(0)
        n_test = ", ".join(f"{int(v):,}" for v in sorted(set(train["param.n_test"])))
        show.folded(
            t.rename(columns={"clean_accuracy": "clean acc. (%)"}),
            f"Table P2: every recorded run of <code>train.md</code> ({len(t)} runs), accuracy and training time",
            label="P2",
            caption=f"Clean test accuracy ({n_test} test images) and training time of the recorded runs: every "
            "configuration (`config`), training seed and λ_init. Runs that trained while other jobs shared the "
            "machine have wall times above their CPU times: `train_min` is wall-clock time, `train_cpu_min` the "
            "process CPU time of the (single-threaded) run, i.e. about the wall time on an otherwise idle core. "
            f"{caption_source(train)}.",
        )

    def history(self) -> None:
        """Per-epoch loss, accuracy and time of the profile's own configuration."""
        hd = self.hist[self.hist["record"].isin(self.default["record"])]
        show.table(
            hd.pivot_table(index="epoch", columns="model", values=["loss", "accuracy", "time_s", "cpu_s"]).round(3),
            label="P3",
            caption="Per-epoch training loss and accuracy (on the training batches) and wall / CPU seconds per "
            f"epoch, of the profile's depth-1 configuration (seed 0, λ_init 0.8). {caption_source(hd)}.",
        )

    def facts(self) -> dict:
        """The numbers the page's prose states (``{glue:text}`mo_...```): the `paper` and `cpu`
        training recipes (the ``train`` notebook's profiles) and the cpu profile's targets."""
        from ..run import notebook_parameters

        return {
            "mo_paper_recipe": show.markdown(show.recipe_text(notebook_parameters("train", "paper"))),
            "mo_cpu_recipe": show.markdown(show.recipe_text(notebook_parameters("train", "cpu"))),
            "mo_target_acc": f"{TARGET_ACCURACY:.0%}".replace("%", " %"),
            "mo_target_min": str(TARGET_MINUTES),
            **self.pilot_facts(),
            "mo_pair_training": self.pair_training(),
        }

    def targets(self) -> None:
        """Whether the depth-1 models of the profile meet the targets, in what time, and how far their
        wall-clock time is from their CPU time (other jobs on the machine)."""
        lines = [
            f"- **{r.model}**, depth 1, {r.config}: {100 * r.clean_accuracy:.1f} % clean accuracy "
            f"({'meets' if r.clean_accuracy >= TARGET_ACCURACY else 'misses'} the {TARGET_ACCURACY:.0%} target) in "
            f"{r.train_time_s / 60:.1f} min wall-clock ({r.train_cpu_s / 60:.1f} min of CPU time, "
            f"{'within' if r.train_cpu_s / 60 <= TARGET_MINUTES else 'over'} {TARGET_MINUTES} min) plus "
            f"{r.eval_time_s:.0f} s of evaluation."
            for _, r in self.d1.iterrows()
        ]
        ratio = self.train["train_time_s"] / self.train["train_cpu_s"]
        d1 = self.d1["train_time_s"] / self.d1["train_cpu_s"]
        if len(d1):
            lines.append(
                f"- Wall-clock over CPU time: {d1.min():.2f} to {d1.max():.2f} for these runs, up to {ratio.max():.2f} "
                f"over all {len(ratio)} recorded runs (those that trained while other jobs shared the machine). The "
                "CPU time of a one-thread run is the better estimate of its time on an idle core."
            )
        show.md("\n".join(lines))

    def benchmark(self) -> None:
        """The ViT/DiffViT throughput benchmark, and the ratios per mode and precision."""
        bench = self.bench
        show.table(
            bench[
                [
                    "depth",
                    "mode",
                    "precision",
                    "batch_size",
                    "vit_img_per_s",
                    "diffvit_img_per_s",
                    "ratio_diffvit_vit",
                    "vit_img_per_cpu_s",
                    "diffvit_img_per_cpu_s",
                    "ratio_diffvit_vit_cpu",
                    "vit_params",
                    "diffvit_params",
                ]
            ].round(2),
            label="P5",
            caption="Images per second (wall clock and per second of process CPU time), median over "
            "interleaved repetitions, and the median paired ratio DiffViT / ViT (< 1: DiffViT is slower); "
            f"{int(bench['param.num_threads'].iloc[0])} thread(s), width {int(bench['param.embed_dim'].iloc[0])}, "
            f"{int(bench['param.num_heads'].iloc[0])} heads, patch {int(bench['param.patch_size'].iloc[0])}. "
            f"{caption_source(bench)}.",
        )

    def ratios(self) -> None:
        lines = []
        for (mode, precision), g in self.bench.groupby(["mode", "precision"], sort=False):
            rs = ", ".join(f"{r:.2f} at depth {d}" for d, r in zip(g.depth, g.ratio_diffvit_vit_cpu))
            lines.append(f"- {mode} ({precision}): DiffViT / ViT = {rs} (per CPU second)")
        show.md("\n".join(lines))

    def train_step(self) -> None:
        """One training step against the machine's matmul peak, and the variants that keep the recipe's
        mathematics (``notebooks/benchmarks/train_step.md``); the ladder adopts one only at 1.3x or more."""
        from ..records import RecordNotFoundError

        try:
            t = load_rows("train_step", table="results", profile=self.profile)
        except RecordNotFoundError:
            return show.md(
                "The training-step benchmark (`notebooks/benchmarks/train_step.md`) has no record under this profile."
            )
        t = t.assign(stem=t["stem"].fillna("patch") if "stem" in t else "patch")
        t = t.assign(
            configuration=[
                f"{'conv stem' if st == 'conv' else 'patch 4'}, width {int(w)}"
                for st, w in zip(t["stem"], t["embed_dim"])
            ]
        )
        cols = {
            "configuration": "configuration",
            "model": "model",
            "variant": "variant",
            "img_per_s": "images/s",
            "speedup_vs_eager_bf16": "× eager bf16",
            "pair_speedup_vs_eager_bf16": "× for both models",
            "gflop_per_s": "GFLOP/s",
            "fraction_of_fp32_peak": "of fp32 peak",
            "fraction_of_own_peak": "of own peak",
        }
        r = t.iloc[0]
        reads = []
        for conf, g in t.groupby("configuration", sort=False):
            # the campaign of each configuration: the ladder's (patch, width 128) adopts a variant at 1.3x,
            # the paper-quality pair's (the pilot's choice) at 1.2x
            bar, campaign = (1.2, "the paper-quality pair") if g["stem"].iloc[0] == "conv" else (1.3, "the ladder")
            best = g[g["variant"] != "eager bf16"].sort_values("pair_speedup_vs_eager_bf16").iloc[-1]
            gain = best["pair_speedup_vs_eager_bf16"]
            reads.append(
                f"at {conf} ({g['gflop_per_step'].iloc[0]:.2f} GFLOP per step by `torch.utils.flop_counter`) the "
                f"fastest alternative for both models together is {best['variant']} at {gain:.2f} times eager "
                f"bf16, "
                + (
                    f"below {bar:g}, so {campaign} keeps eager training"
                    if gain < bar
                    else f"at least {bar:g}: CPU training runs it since (`dalib.train.kernels`)"
                    + (", after the ladder's models were trained" if campaign == "the ladder" else "")
                    if best["variant"].startswith("explicit")
                    else f"at least {bar:g}, so {campaign} adopts it"
                )
            )
        show.table(
            t[list(cols)].rename(columns=cols).round(3),
            label="P4",
            caption=f"One Adam step of batch {int(r['batch_size'])}, depth 1, on one thread, median over interleaved "
            f"repetitions; the matmul peak of this thread is {r['peak_fp32_gflop_per_s']:.0f} GFLOP/s in float32 and "
            f"{r['peak_bf16_gflop_per_s']:.0f} in bf16. " + show.sentence_case("; ".join(reads)) + ". "
            f"{caption_source(t)}.",
        )
