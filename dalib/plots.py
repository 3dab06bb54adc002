"""Figures of the book, drawn from tidy record tables (``dalib.records.load_rows``, unpacked with
``dalib.mechanism.long_table``). Each function returns a matplotlib figure; pages add the caption
that names the producing notebook and records (``dalib.records.caption_source``).

Paper: *Understanding Sensitivity of Differential Attention through the Lens of Adversarial
Robustness* (Fig. 1, 4 and 5 have counterparts here).
"""

from __future__ import annotations

import numpy as np

from .stats import mean_ci

#: One colour per model family, used by every figure.
COLORS = {
    "vit": "tab:blue",
    "diffvit": "tab:red",
    "diffv2": "tab:purple",  # Differential Attention V2 (beyond the paper)
    "v2": "tab:purple",
    "A1": "tab:orange",
    "A2": "tab:green",
    "A_DA": "tab:red",
    "A": "tab:blue",
}


LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)))  # tell groups apart in grayscale too
MARKERS = ("o", "s", "^", "D", "v", "P")


def group_colors(labels) -> dict:
    """A colour per label: :data:`COLORS` by the label's first word where that tells the labels apart,
    else (several labels of one family, e.g. the lambda_init sweep's DiffViTs) a ramp of the viridis
    map, dark to light, so that groups differ in colour and in lightness (grayscale)."""
    import matplotlib

    labels = list(labels)
    base = [COLORS.get(str(label).split()[0]) for label in labels]
    if all(base) and len(set(base)) == len(base):
        return dict(zip(labels, base))
    ramp = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(labels), 2)))
    return {label: ramp[i] for i, label in enumerate(labels)}


def _plt():
    """pyplot, with whatever backend the caller runs under (inline in a notebook kernel, Agg when
    headless). Never switch it here: switching away from the inline backend would unregister the
    kernel's PNG formatter, and the book's figures would render as text."""
    import matplotlib.pyplot as plt

    return plt


def seed_points(ax, x, per_seed, color, label=None, width=0.6, bounds=None, marker="o"):
    """Per-seed values as dots and their mean with a Student-t 95% CI as an error bar at ``x``;
    ``bounds=(lo, hi)``: the range the quantity lives in (a frequency: (0, 1)), the interval is
    clipped to it."""
    per_seed = np.asarray(per_seed, dtype=float)
    s = dict(mean_ci(per_seed))
    if bounds is not None and np.isfinite(s["low"]):
        s["low"], s["high"] = max(s["low"], bounds[0]), min(s["high"], bounds[1])
    jitter = np.linspace(-0.12, 0.12, len(per_seed)) * width if len(per_seed) > 1 else np.zeros(1)
    ax.scatter(x + jitter, per_seed, s=12, color=color, alpha=0.5, zorder=3)
    err = None if not np.isfinite(s["low"]) else [[s["mean"] - s["low"]], [s["high"] - s["mean"]]]
    ax.errorbar([x], [s["mean"]], yerr=err, fmt=marker, color=color, capsize=4, ms=7, label=label, zorder=4)


def per_layer(groups, ylabel, title, hline=None, logy=False, bounds=None):
    """The paper's per-layer figures (Fig. 4, Fig. 5): for each layer, one column per group.
    ``groups``: ``{label: {layer: per-seed values}}`` (colour from :data:`COLORS` by the label's
    first word). Dots: seeds; marker and bar: mean and t 95% CI over seeds (clipped to ``bounds``)."""
    plt = _plt()
    layers = sorted({layer for g in groups.values() for layer in g})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 1.3 * len(layers) * len(groups) / 2), 3.4))
    n = len(groups)
    colors = group_colors(groups)
    for j, (label, by_layer) in enumerate(groups.items()):
        color = colors[label]
        for i, layer in enumerate(layers):
            if layer in by_layer:
                seed_points(
                    ax,
                    i + (j - (n - 1) / 2) * 0.8 / n,
                    by_layer[layer],
                    color,
                    label=label if i == 0 else None,
                    width=0.8 / n,
                    bounds=bounds,
                    marker=MARKERS[j % len(MARKERS)],
                )
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(layers)), [f"layer {layer + 1}" for layer in layers])
    ax.set(ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=9, loc="best")
    fig.tight_layout()
    return fig


def distributions(samples, xlabel, title, bins=40, vline=None):
    """Histograms (density) of several samples: ``{label: values}``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    all_v = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()])
    edges = np.histogram_bin_edges(all_v[np.isfinite(all_v)], bins=bins)
    colors = group_colors(samples)
    for j, (label, v) in enumerate(samples.items()):
        ax.hist(
            v,
            bins=edges,
            density=True,
            histtype="step",
            lw=1.5,
            label=label,
            color=colors[label],
            linestyle=LINESTYLES[j % len(LINESTYLES)],
        )
    if vline is not None:
        ax.axvline(vline, color="grey", lw=0.8, ls="--")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def _image(row):
    shape = tuple(int(v) for v in str(row["image_shape"]).split("x"))
    return np.frombuffer(bytes.fromhex(row["image_hex"]), dtype=np.uint8).reshape(shape).transpose(1, 2, 0)


def attention_maps(fig_rows, image_rows, columns, class_names=None, layer=0):
    """The paper's Fig. 1 on trained models: for each image (rows) and point (clean, PGD budgets),
    the image and the attention each key token receives (mean over queries and heads) under each
    map in ``columns`` (a list of ``(model label, map)``, e.g. ``[("vit", "A"), ("diffvit", "A1"),
    ...]``), on a token grid. ``fig_rows``/``image_rows``: the ``fig1`` and ``fig1_images`` tables
    of one seed (and one model per label)."""
    plt = _plt()
    from .sensitivity import unpack_values

    pts = sorted({(p, e) for p, e in zip(fig_rows["point"], fig_rows["point_eps"])}, key=lambda t: t[1])
    samples = sorted(set(fig_rows["sample"]))
    nrow, ncol = len(samples) * len(pts), 1 + len(columns)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.45 * ncol, 1.5 * nrow), squeeze=False)
    for r, (s, (p, e)) in enumerate([(s, pe) for s in samples for pe in pts]):
        imgs = image_rows[
            (image_rows["sample"] == s) & (image_rows["point_eps"] == e) & (image_rows["model"] == columns[0][0])
        ]
        ax = axes[r, 0]
        if len(imgs):
            row = imgs.iloc[0]
            ax.imshow(_image(row))
            name = lambda c: class_names[c] if class_names else str(c)
            ax.set_title(f"{'clean' if p == 'clean' else f'PGD {e:g}/255'}\ntrue {name(int(row['label']))}", fontsize=7)
        for c, (model, key) in enumerate(columns, start=1):
            sub = fig_rows[
                (fig_rows["sample"] == s)
                & (fig_rows["point_eps"] == e)
                & (fig_rows["model"] == model)
                & (fig_rows["map"] == key)
                & (fig_rows["layer"] == layer)
            ]
            ax = axes[r, c]
            if len(sub):
                v = unpack_values(sub.iloc[0]["key_attention"])
                side = int(round(np.sqrt(v.size)))
                if side * side != v.size:  # a class token first: show the patch tokens only
                    v, side = v[1:], int(round(np.sqrt(v.size - 1)))
                lim = float(np.abs(v).max()) or 1.0
                ax.imshow(
                    v.reshape(side, side),
                    cmap="RdBu_r" if v.min() < 0 else "viridis",
                    vmin=-lim if v.min() < 0 else None,
                    vmax=lim if v.min() < 0 else None,
                )
                pred = image_rows[
                    (image_rows["sample"] == s) & (image_rows["point_eps"] == e) & (image_rows["model"] == model)
                ]["pred"]
                pred_txt = (
                    ""
                    if not len(pred)
                    else f"\npred {class_names[int(pred.iloc[0])] if class_names else int(pred.iloc[0])}"
                )
                ax.set_title(f"{model} {key}{pred_txt}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def scatter_by_group(df, x, y, group, xlabel, ylabel, title):
    """Points ``(x, y)`` of a table, one colour per value of ``group``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 3.3))
    for j, (g, d) in enumerate(df.groupby(group)):
        ax.scatter(d[x], d[y], label=f"{group} {g}", color=f"C{j}", s=22)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def asr_curves(
    series, xlabel, logx=False, paper=None, ylabel="ASR (prediction changed)", title=None, bounds=(0.0, 1.0), ax=None
):
    """ASR against the attack budget (paper Fig. 2a/2c, Tables 2 and 3 drawn as curves), one line
    per model. ``series``: ``{label: (summary, per_seed)}`` with ``summary`` a table of ``budget,
    mean, ci_low, ci_high`` (:func:`dalib.analysis.seed_summary`) and ``per_seed`` one of ``budget,
    asr`` (or None). Lines: mean with t 95% CI over seeds (clipped to ``bounds``, the range of a
    rate; ``bounds=None`` for an unbounded quantity such as a Lipschitz estimate); dots: seeds.
    ``paper``: ``{label: {budget: ASR}}``, drawn as dashed lines with triangles. Colour from
    :data:`COLORS` by the label's first word, else the label's position. ``ax``: draw into this
    axes (a panel of :func:`small_multiples`) instead of a new figure."""
    plt = _plt()
    own = ax is None  # a figure of its own (else a panel of small multiples, laid out by its figure)
    fig, ax = plt.subplots(figsize=(6.4, 3.6)) if own else (ax.figure, ax)
    budgets = set()
    for i, (label, (summ, per)) in enumerate(series.items()):
        color = COLORS.get(label.split()[0].lower(), f"C{i}")
        s = summ.sort_values("budget")
        shift = 1.0 + (0.03 * (i - (len(series) - 1) / 2) if logx else 0.0)
        lo, hi = (s["ci_low"].clip(*bounds), s["ci_high"].clip(*bounds)) if bounds else (s["ci_low"], s["ci_high"])
        err = np.vstack([s["mean"] - lo, hi - s["mean"]])
        ax.errorbar(
            s["budget"] * shift,
            s["mean"],
            yerr=np.nan_to_num(err),
            marker="o",
            capsize=3,
            color=color,
            label=f"{label}, mean ± 95% CI",
        )
        if per is not None and len(per):
            ax.scatter(per["budget"] * shift, per["asr"], color=color, s=10, alpha=0.5)
        budgets |= set(s["budget"])
    for j, (label, pts) in enumerate((paper or {}).items()):
        b, a = zip(*sorted(pts.items()))
        ax.plot(b, a, "^--", color=("k", "0.45", "0.7")[j % 3], ms=6, lw=1, label=f"paper, {label}")
        budgets |= set(b)
    if logx:
        ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(budgets))
    ax.get_xaxis().set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if bounds:
        ax.set_ylim(bounds[0], bounds[1] + 0.02 * (bounds[1] - bounds[0]))
    else:
        ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9 if own else 8, loc="best")
    if own:
        fig.tight_layout()
    return fig


def cw_curves(groups, grid, ax=None, title=None):
    """CW-L2 ASR against the L2 budget (paper Fig. 3c at one depth): for each ``{label: rows}``
    (CW record rows of one model, one per seed), the ASR curve of every seed (thin) and their mean
    (thick), from the per-image minimal norms (:func:`dalib.analysis.cw_asr_curve`)."""
    from .analysis import cw_asr_curve

    plt = _plt()
    own = ax is None
    fig, ax = plt.subplots(figsize=(6.4, 3.4)) if own else (ax.figure, ax)
    for i, (label, g) in enumerate(groups.items()):
        color = COLORS.get(label.split()[0].lower(), f"C{i}")
        curves = cw_asr_curve(g, grid)
        for cu in curves:
            ax.plot(grid, cu, color=color, alpha=0.3, lw=0.8)
        ax.plot(grid, curves.mean(0), color=color, lw=2, label=f"{label}, mean over {len(g)} seeds")
    ax.set(xlabel="L2 budget", ylabel="ASR (prediction changed)", ylim=(0, 1.02))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9 if own else 8, loc="lower right")
    if own:
        fig.tight_layout()
    return fig


def small_multiples(n, ncols=3, panel=(4.0, 3.0)):
    """A figure of ``n`` panels on a grid of ``ncols`` columns sharing the y axis (instead of ``n``
    near-identical figures), and its axes in reading order; unused cells are hidden."""
    plt = _plt()
    nrows = -(-n // ncols)
    cols = min(n, ncols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(panel[0] * cols, panel[1] * nrows), sharey=True, squeeze=False, constrained_layout=True
    )
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def paired_differences(comp, per_seed, panels, ylabel, alpha=0.05):
    """Per-seed paired differences with their mean and t 95% CI over seeds, one panel per attack.
    ``comp``: :func:`dalib.analysis.paired_comparison` rows (``attack_kind, budget, diff_mean,
    diff_low, diff_high``); ``per_seed``: ``attack_kind, budget, seed, diff, p`` (filled dots: the
    seed's own test gives p < ``alpha``); ``panels``: ``[(attack_kind, title, x label), ...]``."""
    plt = _plt()
    widths = [max(1, len(comp[comp["attack_kind"] == k])) for k, _, _ in panels]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(7.2, 3.2), sharey=True, squeeze=False, gridspec_kw={"width_ratios": widths}
    )
    axes = axes[0]
    seeds = sorted(set(per_seed["seed"]))
    for ax, (kind, title, unit) in zip(axes, panels):
        c = comp[comp["attack_kind"] == kind].sort_values("budget").reset_index(drop=True)
        pos = {b: i for i, b in enumerate(c["budget"])}
        ax.axhline(0, color="grey", lw=0.8)
        ax.errorbar(
            c.index,
            c["diff_mean"],
            yerr=np.nan_to_num(np.vstack([c["diff_mean"] - c["diff_low"], c["diff_high"] - c["diff_mean"]])),
            fmt="_",
            color="k",
            capsize=4,
            ms=14,
            label="mean over seeds, 95% CI",
        )
        ps = per_seed[per_seed["attack_kind"] == kind]
        for s_, g in ps.groupby("seed"):
            j = seeds.index(s_)
            xs = g["budget"].map(pos) + (j - (len(seeds) - 1) / 2) * 0.12
            sig = g["p"] < alpha
            ax.scatter(xs[sig], g["diff"][sig], color=f"C{j}", s=22, label=f"seed {s_}")
            ax.scatter(xs[~sig], g["diff"][~sig], facecolors="none", edgecolors=f"C{j}", s=22)
        ax.set_xticks(range(len(c)), [f"{b:g}" for b in c["budget"]])
        ax.set_xlabel(unit)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def throughput_points(times, batch_size, impls, models, ylabel="PGD images / CPU second"):
    """Images per CPU second of every timed repetition, implementations side by side per model.
    ``times``: rows ``impl, model, cpu_s`` (one per repetition of one batch of ``batch_size``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3))
    for j, impl in enumerate(impls):
        sub = times[times["impl"] == impl]
        for i, m in enumerate(models):
            v = batch_size / sub[sub["model"] == m]["cpu_s"]
            off = (j - (len(impls) - 1) / 2) * 0.2
            ax.scatter([i + off] * len(v), v, color=f"C{j}", label=impl if i == 0 else None, s=18)
    ax.set_xticks(range(len(models)), list(models))
    ax.set(ylabel=ylabel, ylim=(0, None))
    ax.legend()
    fig.tight_layout()
    return fig


def probe_error_and_cost(agg):
    """Estimator validation of the JVP-probe Frobenius norms and cosines: rms error against the
    probe count k with a 1/sqrt(k) guide (left) and the wall time of one estimate against the exact
    Jacobian (right). ``agg``: rows ``quantity, n_probes, rms_error, time_probe_s, time_exact_s``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for q, g in agg.groupby("quantity"):
        axes[0].plot(g["n_probes"], g["rms_error"], "o-", label=q)
    k = np.array(sorted(agg["n_probes"].unique()), dtype=float)
    ref = agg[agg["n_probes"] == k[0]]["rms_error"].mean()
    axes[0].plot(k, ref * np.sqrt(k[0] / k), "k--", lw=1, label=r"$\propto 1/\sqrt{k}$")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="probes k",
        ylabel="rms error",
        title="error (norms: relative; cos: absolute)",
    )
    axes[0].set_xticks(k, [str(int(v)) for v in k])
    axes[0].legend(fontsize=9)
    t = agg.groupby("n_probes")[["time_probe_s", "time_exact_s"]].mean()
    axes[1].plot(t.index, t["time_probe_s"], "o-", label="probe estimate")
    axes[1].axhline(t["time_exact_s"].iloc[0], color="k", ls="--", label="exact (vmap jacrev)")
    axes[1].set(xscale="log", xlabel="probes k", ylabel="wall time per call [s]", title="cost")
    axes[1].set_xticks(k, [str(int(v)) for v in k])
    axes[1].legend(fontsize=9)
    fig.tight_layout()
    return fig


def ratio_points(groups, columns, reference=1.0, ylabel="estimate / reference"):
    """Ratios of estimates to a reference, one column of dots per group and one colour per ratio.
    ``groups``: ``{tick label: rows}``; ``columns``: ``{column of rows: legend label}``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    n = len(columns)
    for i, (name, g) in enumerate(groups.items()):
        for j, (col, label) in enumerate(columns.items()):
            ax.scatter(
                np.full(len(g), i) + (j - (n - 1) / 2) * 0.2,
                g[col],
                s=12,
                color=f"C{j}",
                label=label if i == 0 else None,
            )
    ax.set_xticks(range(len(groups)), list(groups))
    ax.axhline(reference, color="k", lw=0.8)
    ax.set(ylabel=ylabel, ylim=(0, None))
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def show(fig) -> None:
    """Display ``fig`` once in a notebook (as PNG) and close it, so the inline backend does not
    draw it a second time at the end of the cell."""
    from IPython.display import display

    display(fig)
    _plt().close(fig)


def curve_panels(panels, xlabel, ylabel, logy=False, ylim=None, hline=None, figsize=(11, 3.4)):
    """Side-by-side panels of curves sharing the y axis (the theory chapter's bound figures).
    ``panels``: ``[{"title": str, "curves": [{"x", "y", "label", "fmt", "color"}, ...],
    "vline": (x, text) or None}, ...]``; the legend is drawn in the first panel."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True, constrained_layout=True, squeeze=False)
    axes = axes[0]
    for ax, p in zip(axes, panels):
        for c in p["curves"]:
            ax.plot(c["x"], c["y"], c.get("fmt", "-"), color=c.get("color"), label=c.get("label"))
        if hline is not None:
            ax.axhline(hline, color="0.6", lw=0.8)
        if p.get("vline") is not None:
            x, text = p["vline"]
            ax.axvline(x, color="k", ls=":", lw=1)
            ax.annotate(text, (x, 0.9), xycoords=("data", "axes fraction"), xytext=(5, 0), textcoords="offset points")
        if logy:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize=9)
    return fig


def ratio_maps(x, y, cells, xlabel, ylabel, colorbar_label, vmax=4.0, figsize=(10, 5.6)):
    """A grid of maps of a ratio over ``(x, y)`` coloured red above 1 and blue below, with its
    level-1 contour (black) and a threshold curve (dashed gold), e.g. Theorem 3's amplification
    region. ``cells``: rows of ``{"title", "ratio" (len(y), len(x)), "threshold" (len(x),)}``."""
    from matplotlib.colors import TwoSlopeNorm

    plt = _plt()
    XX, YY = np.meshgrid(x, y)
    fig, axes = plt.subplots(
        len(cells), len(cells[0]), figsize=figsize, sharex=True, sharey=True, constrained_layout=True, squeeze=False
    )
    norm = TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=vmax)
    im = None
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            ax = axes[i, j]
            im = ax.pcolormesh(XX, YY, c["ratio"], norm=norm, cmap="RdBu_r", shading="auto", rasterized=True)
            ax.contour(XX, YY, c["ratio"], levels=[1.0], colors="k", linewidths=1.0)
            t = np.asarray(c["threshold"], dtype=float)
            ax.plot(x, np.where(np.isfinite(t), t, np.nan), "--", color="gold", lw=1.5)
            ax.set_ylim(float(np.min(y)), float(np.max(y)))
            ax.set_title(c["title"], fontsize=10)
            if i == len(cells) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
    fig.colorbar(im, ax=axes, label=colorbar_label, shrink=0.8)
    return fig


# rules-v2 verdicts: a colour and a marker each, so that the forest plot reads in grayscale too
VERDICT_STYLE = {
    "reproduced": ("#1a7f37", "o"),
    "reproduced, smaller": ("#7fbf3f", "D"),
    "contradicted": ("#c62828", "v"),
    "not reproduced": ("#ef6c00", "s"),
    "inconclusive": ("#6e7781", "^"),
    "saturated": ("#8250df", "P"),
    "not testable at this scale": ("#4a4a4a", "h"),
}


def forest(card, title="Our effect per artifact, with its 95 % interval"):
    """The scorecard at a glance (:func:`dalib.scorecard.scorecard` rows with an ``effect``): one
    row per artifact, our headline effect in the paper's direction with its interval, the paper's
    value as a black cross where it prints one, colour and marker by verdict; a vertical line at 0.
    Each label names the effect's unit (an ASR difference, or a log ratio)."""
    plt = _plt()
    rows = card[card["effect"].notna()].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(rows), 1) + 1.4))
    for i, r in rows.iloc[::-1].reset_index(drop=True).iterrows():
        color, marker = VERDICT_STYLE.get(r["status"], ("black", "o"))
        lo, hi = float(r["low"]), float(r["high"])
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [i, i], color=color, lw=2.2)
        ax.plot(float(r["effect"]), i, marker=marker, color=color, ms=8, ls="none")
        if r.get("paper_value") is not None and np.isfinite(float(r["paper_value"])):
            ax.plot(float(r["paper_value"]), i, marker="x", color="black", ms=9, mew=2, ls="none")
    labels = [f"{r['artifact']} ({r.get('unit') or 'Δ'})" for _, r in rows.iloc[::-1].iterrows()]
    ax.set_yticks(range(len(rows)), labels, fontsize=10)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("effect in the paper's direction (ours: marker and 95 % interval; paper: ×)", fontsize=10)
    ax.set_title(title, fontsize=11)
    handles = [
        plt.Line2D([], [], color=c, marker=m, ls="none", ms=8, label=v)
        for v, (c, m) in VERDICT_STYLE.items()
        if v in set(rows["status"])
    ]
    handles.append(plt.Line2D([], [], color="black", marker="x", ls="none", ms=9, mew=2, label="paper"))
    ax.legend(handles=handles, fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def trend_panels(panels, xlabel, figsize=(11, 3.6), ncols=None):
    """Side-by-side panels of series against one x (the ladder's clean accuracy). ``panels``:
    ``[{"title", "ylabel", "series": [{"label", "x", "y", "low", "high", "points": (x, y) or None, "color"}],
    "refs": [{"x", "y", "label", "marker"}], "vline": (x, text) or None, "hline": y or None,
    "ylim": (lo, hi) or None}]``. A series is its mean line with an interval bar at each x and, if
    given, its single points (seeds) as small dots; colours follow :func:`group_colors` and each
    series has its own line style and marker (legible in grayscale). ``ncols``: panels per row."""
    plt = _plt()
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, constrained_layout=True, squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    for ax, p in zip(axes.ravel(), panels):
        colors = group_colors([s["label"] for s in p["series"]])
        for i, s in enumerate(p["series"]):
            x, y = np.asarray(s["x"], float), np.asarray(s["y"], float)
            c = s.get("color") or colors[s["label"]]
            ax.plot(
                x,
                y,
                ls=LINESTYLES[i % len(LINESTYLES)],
                marker=MARKERS[i % len(MARKERS)],
                ms=5,
                color=c,
                label=s["label"],
            )
            if s.get("low") is not None:
                lo, hi = np.asarray(s["low"], float), np.asarray(s["high"], float)
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="none", ecolor=c, capsize=3, lw=1)
            if s.get("points") is not None:
                px, py = s["points"]
                ax.scatter(px, py, s=10, color=c, alpha=0.45, zorder=3)
        for r in p.get("refs", ()):
            ax.scatter([r["x"]], [r["y"]], marker=r.get("marker", "*"), s=90, color="k", zorder=5, label=r["label"])
        if p.get("hline") is not None:
            ax.axhline(p["hline"], color="0.6", lw=0.8)
        if p.get("vline") is not None:
            vx, text = p["vline"]
            ax.axvline(vx, color="k", ls=":", lw=1)
            ax.annotate(
                text,
                (vx, 0.04),
                xycoords=("data", "axes fraction"),
                xytext=(-4, 0),
                textcoords="offset points",
                ha="right",
                fontsize=8,
            )
        if p.get("ylim") is not None:
            ax.set_ylim(*p["ylim"])
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(p["ylabel"])
        ax.legend(fontsize=8)
    return fig
