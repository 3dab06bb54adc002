"""The CLIP chapter: pretrained CLIP against DiffCLIP, zero-shot (paper Fig. 2b, 2d and the CLIP
rows of Fig. 4 and 5), from the records of ``notebooks/experiments/clip.md``.

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness*. The released models' records are those of the ``paper`` profile, wherever they were
made; without them the chapter shows its own profile's run on random weights and says that those
numbers mean nothing.
"""

from __future__ import annotations

import itertools

from .. import plots
from ..analysis import fmt_diff, fmt_rate, image_paired_comparison
from ..paths import current_profile
from ..records import RecordNotFoundError, caption_source, load_rows
from ..sensitivity import unpack_rows
from . import _show as show

TABLES = ("model", "asr", "lipschitz", "jacobian")


def _records(profile):
    try:
        return {t: load_rows("clip", table=t, profile=profile) for t in TABLES}
    except RecordNotFoundError:
        return None


def _name(model: str) -> str:
    return model.replace("diffclip", "DiffCLIP").replace("clip", "CLIP")


from ..claims.clip import CLIP_CLAIMS, asr_rows, clip_claims, clip_comparison  # noqa: E402,F401


class Chapter(show.Facts):
    """The CLIP records (released weights first, else this profile's) and their tables and figures."""

    def __init__(self, profile: str | None = None):
        from ..paths import project_root
        from ..run import load_notebook, resolve_notebook

        self._n_fig = self._n_tab = 0  # figures and tables are numbered C1, C2, ... in page order
        self.profile = profile = profile or current_profile()
        root = project_root()
        self.notebook = load_notebook(resolve_notebook("clip", root), root)
        # released weights first (records of the paper profile, wherever they were made), else this profile's own
        self.real, self.source_profile = _records("paper"), "paper"
        if self.real is None and profile != "paper":
            self.real, self.source_profile = _records(profile), profile
        self.meaningless = self.real is not None and (self.real["model"]["weights"].astype(str) == "random").any()
        # the paper sweep's runs (not planned here: planning checks that the weights exist)
        self.paper_runs = [
            dict(zip(g, combo)) for g in self.notebook.sweeps["paper"] for combo in itertools.product(*g.values())
        ]

    def facts(self) -> dict:
        """The numbers the protocol states (``{glue:text}`c_...```): the attack steps of the records
        shown, else of the notebook's ``paper`` profile (the runs the released weights need)."""
        from ..run import notebook_parameters

        if self.real is not None and "param.steps" in self.real["asr"]:
            steps = sorted({int(v) for v in self.real["asr"]["param.steps"]})
        else:
            steps = [int(notebook_parameters("clip", "paper")["steps"])]
        return {"c_steps": " or ".join(map(str, steps))}

    def status(self) -> None:
        """Which release checkpoints the paper runs need, and where; or the random-weights warning."""
        from ..models.clip_weights import COLLECTION, RELEASES, WEIGHTS_ENV, expected_path

        paper_runs = self.paper_runs
        if self.real is None or self.meaningless:
            lines = [
                f"**No records of the released models yet** (profile `paper`, {len(paper_runs)} runs: "
                + "; ".join(f"{r['model']} on {r['dataset']}" for r in paper_runs)
                + "). They need these checkpoints, which cannot be downloaded on the machines that build this "
                "book:"
            ]
            for name in sorted({r["weights"] for r in paper_runs}):
                rel = RELEASES[name]
                where = expected_path(name) or f"${WEIGHTS_ENV}/{rel.dirname}/checkpoint_best.pt"
                present = expected_path(name) is not None and expected_path(name).is_file()
                hub = (
                    f"Hugging Face `{rel.repo_id}`"
                    if rel.repo_id
                    else f"the authors' [Hugging Face collection]({COLLECTION}) (repository name not recorded here)"
                )
                lines.append(
                    f"- `{name}` ({rel.note}): `{where}` — {'present' if present else 'missing'}; source: {hub}."
                )
            lines.append(
                f"With the files in place, `python -m dalib.run clip --profile paper --jobs 1` makes the "
                f"{len(paper_runs)} records (or `-p checkpoint=<path>` for one run, `-p online=True` to "
                "download the DiffCLIP releases from the Hub), and this page then shows them."
            )
            show.md("\n".join(lines))
        if self.meaningless:
            show.md(
                f"**Below: the `{self.source_profile}` profile's run of the whole pipeline on small random-weight "
                "models** (saved and re-loaded in the release checkpoint format). **Its numbers mean nothing** "
                "about CLIP or DiffCLIP; they show that every step runs."
            )

    def fidelity(self) -> None:
        """Our choices against the release's (:func:`dalib.zeroshot.fidelity_table`) and the checkpoint reader's cost."""
        from ..zeroshot import fidelity_table

        show.table(
            fidelity_table(),
            label=self._tab(),
            caption="Where our CLIP and DiffCLIP could compute something other than the release: the LayerNorm eps "
            "of each tower and the image transform, ours beside the release's (`dalib.zeroshot.fidelity_table`).",
        )
        try:
            load = load_rows("clip_checkpoint", table="load")
        except RecordNotFoundError:
            return show.md(
                "The checkpoint benchmark (`notebooks/benchmarks/clip_checkpoint.md`) has no record under this profile."
            )
        dl = load.set_index("way")
        show.table(
            load[["arch", "way", "file_gib", "weights_gib", "peak_extra_gib", "peak_over_weights", "load_s"]].round(3),
            label=self._tab(),
            caption=f"Reading a release-style {dl['arch'].iloc[0]} file of {dl['file_gib'].iloc[0]:.2f} GiB "
            f"({dl['weights_gib'].iloc[0]:.2f} GiB of weights) into a built model: peak memory above the model's "
            f"(GiB) and time. `dalib` is our reader; `whole` is `torch.load(weights_only=False)` without memory "
            f"mapping, which runs any code the pickle names. {caption_source(load)}.",
        )

    def asr_table(self) -> None:
        """The first results table: ASR per dataset, attack and budget, with the zero-shot accuracy."""
        real = self.real
        if real is None:
            return
        asr = real["asr"]
        shown = asr[
            ["dataset", "model", "attack_kind", "budget", "n", "clean_acc_top1", "asr", "asr_ci_low", "asr_ci_high"]
        ].copy()
        shown["ASR [95% CI]"] = [fmt_rate(r.asr, r.asr_ci_low, r.asr_ci_high) for r in shown.itertuples()]
        table = shown.pivot_table(
            index=["dataset", "attack_kind", "budget"], columns="model", values="ASR [95% CI]", aggfunc="first"
        )
        acc = real["model"].set_index(["dataset", "model"])["clean_acc_top1"].round(3)
        show.md(
            "**Zero-shot top-1 on the attacked images** (accuracy; for COCO, top-1 among the image's "
            "categories): " + ", ".join(f"{m} on {d}: {v:.3f}" for (d, m), v in acc.items())
        )
        show.table(
            table,
            label=self._tab(),
            caption=(f"* ASR per dataset, attack and budget (ε in 1/255, w in pixels). {caption_source(asr)}."),
        )

    def claims(self):
        return clip_claims(self.real["asr"])

    def fig2bd(self) -> None:
        """Paper Fig. 2b and 2d: the paired tables (by image), the ASR curves, and the verdicts."""
        if self.real is None:
            return
        asr, meaningless = self.real["asr"], self.meaningless
        comp = image_paired_comparison(asr, a={"model": "clip"}, b={"model": "diffclip"})
        if len(comp):
            out = comp[["dataset", "attack_kind", "budget", "a_mean", "b_mean"]].copy()
            out["DiffCLIP − CLIP [95% CI]"] = [
                fmt_diff(r.diff_mean, r.diff_low, r.diff_high) for r in comp.itertuples()
            ]
            out["p (McNemar, Holm)"] = comp["p_holm"]
            out["verdict"] = "none: random weights" if meaningless else comp["verdict"]  # no verdict on smoke models
            show.table(
                out.rename(columns={"a_mean": "CLIP", "b_mean": "DiffCLIP"}).round(3),
                label=self._tab(),
                caption=(
                    "Paired by image. Verdicts under the rules above"
                    + (" — **on random-weight models, so they mean nothing**." if meaningless else ".")
                ),
            )
        for kind, xlabel, fig_id in (("pgd_linf", "ε (1/255)", "2b"), ("patch", "patch side w (pixels)", "2d")):
            for ds in sorted(set(asr["dataset"])):
                sub = asr[(asr["attack_kind"] == kind) & (asr["dataset"] == ds)]
                if not len(sub):
                    continue
                series = {
                    _name(m): (
                        g.rename(columns={"asr": "mean", "asr_ci_low": "ci_low", "asr_ci_high": "ci_high"}),
                        None,
                    )
                    for m, g in sub.groupby("model")
                }
                show.figure(
                    plots.asr_curves(
                        series, xlabel, logx=kind == "pgd_linf", ylabel="ASR (top-1 changed)", title=f"{ds}"
                    ),
                    label=self._label(),
                    caption=f"Paper Fig. {fig_id}, {ds}: ASR with its bootstrap 95 % interval over images"
                    + (" (random-weight models: meaningless)" if meaningless else "")
                    + f". {caption_source(sub)}.",
                )
        if not meaningless:
            v = self.claims().set_index("id")
            show.md(
                "\n".join(f"- **{v.loc[i, 'claim']}**: {v.loc[i, 'verdict']}. {v.loc[i, 'detail']}" for i in v.index)
            )

    def _label(self) -> str:
        self._n_fig += 1
        return f"C{self._n_fig}"

    def _tab(self) -> str:
        self._n_tab += 1
        return f"C{self._n_tab}"

    def sensitivity(self) -> None:
        """The CLIP rows of paper Fig. 4 (Lipschitz per layer) and Fig. 5 (branch alignment per layer)."""
        real, note = self.real, (" (random weights: meaningless)" if self.meaningless else "")
        if real is None:
            return
        if not len(real["lipschitz"]):
            return show.md("The records hold no sensitivity rows (`n_metric = 0`).")
        lip = unpack_rows(
            real["lipschitz"][real["lipschitz"]["quantity"] == "L_sampling_mean"],
            keep=["model", "dataset", "layer", "map", "head"],
        )
        for ds in sorted(set(lip["dataset"])):
            groups = {}
            for (m, mp), g in lip[(lip["dataset"] == ds) & lip["map"].isin(["A", "A_DA"])].groupby(["model", "map"]):
                per_image = g.groupby(["layer", "sample"])["value"].mean()  # mean over heads, per image
                groups[f"{'DiffCLIP' if m == 'diffclip' else 'CLIP'} {mp}"] = {
                    int(layer): s.to_numpy() for layer, s in per_image.groupby(level=0)
                }
            show.figure(
                plots.per_layer(groups, "local Lipschitz estimate (sampling, mean)", f"{ds}", logy=True),
                label=self._label(),
                caption=f"Paper Fig. 4, CLIP rows, {ds}: the paper's sampling estimate of each attention map's local "
                "Lipschitz constant (ℓ∞ ball of radius 8/255), mean over heads; dots: images; bars: t 95 % "
                "interval over images" + note + f". {caption_source(real['lipschitz'])}.",
            )
        jac = real["jacobian"]
        cos = (
            unpack_rows(jac[jac["quantity"] == "cos"], keep=["model", "dataset", "layer", "head"]) if len(jac) else None
        )
        if cos is None or not len(cos):
            return
        for ds in sorted(set(cos["dataset"])):
            per_image = cos[cos["dataset"] == ds].groupby(["layer", "sample"])["value"].mean()
            groups = {"DiffCLIP cos(J1, J2)": {int(layer): s.to_numpy() for layer, s in per_image.groupby(level=0)}}
            share = (cos[cos["dataset"] == ds]["value"] < 0).mean()
            show.figure(
                plots.per_layer(groups, "cos(J1, J2)", f"{ds}", hline=0.0),
                label=self._label(),
                caption=f"Paper Fig. 5, DiffCLIP row, {ds}: Frobenius cosine of the two branches' input Jacobians "
                f"(JVP probe estimate), mean over heads; {share:.0%} of (image, layer, head) values are "
                "negative" + note + f". {caption_source(jac)}.",
            )

    def compute(self) -> None:
        """The time per run and the memory benchmark."""
        real = self.real
        if real is not None:
            m = real["model"]
            rows = m[["dataset", "model", "params_m", "load_s", "metric_s", "n_metric", "wall_time_s", "device"]].copy()
            rows["attack_s"] = [
                real["asr"][(real["asr"]["model"] == r.model) & (real["asr"]["dataset"] == r.dataset)][
                    "attack_time_s"
                ].sum()
                for r in rows.itertuples()
            ]
            show.table(
                rows.round(2),
                label=self._tab(),
                caption=(
                    f"Time per run (s) and its parts, from the records (profile `{self.source_profile}`); "
                    f"total {m['wall_time_s'].sum() / 60:.1f} min."
                ),
            )
        try:
            mem = load_rows("clip_memory", table="memory")
            fit = load_rows("clip_memory", table="fit")
        except RecordNotFoundError:
            return show.md(
                "The memory benchmark (`notebooks/benchmarks/clip_memory.md`) has no record under this profile."
            )
        bs = self.notebook.params["batch_size"].default
        show.table(
            mem[["model", "batch_size", "peak_rss_gib", "step_s", "images_per_s", "device"]].round(3),
            label=self._tab(),
            caption="Peak resident memory and time of one PGD step (forward + backward) of the "
            f"image encoder, each in a fresh process. {caption_source(mem)}. Extrapolated linearly, "
            + ", ".join(
                f"{r.model} fits batches up to {r.batch_size_fits} in {r.memory_gib:g} GiB" for r in fit.itertuples()
            )
            + f" (80 % of it); the CLIP notebook attacks in batches of {bs}, well inside, because larger "
            "batches do not raise the CPU throughput (images per second in this table).",
        )
