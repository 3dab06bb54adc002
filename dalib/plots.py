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
COLORS = {"vit": "tab:blue", "diffvit": "tab:red", "A1": "tab:orange", "A2": "tab:green", "A_DA": "tab:red",
          "A": "tab:blue"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def seed_points(ax, x, per_seed, color, label=None, width=0.6):
    """Per-seed values as dots and their mean with a Student-t 95% CI as an error bar at ``x``."""
    per_seed = np.asarray(per_seed, dtype=float)
    s = mean_ci(per_seed)
    jitter = np.linspace(-0.12, 0.12, len(per_seed)) * width if len(per_seed) > 1 else np.zeros(1)
    ax.scatter(x + jitter, per_seed, s=12, color=color, alpha=0.5, zorder=3)
    err = None if not np.isfinite(s["low"]) else [[s["mean"] - s["low"]], [s["high"] - s["mean"]]]
    ax.errorbar([x], [s["mean"]], yerr=err, fmt="o", color=color, capsize=4, ms=7, label=label, zorder=4)


def per_layer(groups, ylabel, title, hline=None, logy=False):
    """The paper's per-layer figures (Fig. 4, Fig. 5): for each layer, one column per group.
    ``groups``: ``{label: {layer: per-seed values}}`` (colour from :data:`COLORS` by the label's
    first word). Dots: seeds; marker and bar: mean and t 95% CI over seeds."""
    plt = _plt()
    layers = sorted({layer for g in groups.values() for layer in g})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 1.3 * len(layers) * len(groups) / 2), 3.4))
    n = len(groups)
    for j, (label, by_layer) in enumerate(groups.items()):
        color = COLORS.get(label.split()[0], f"C{j}")
        for i, layer in enumerate(layers):
            if layer in by_layer:
                seed_points(ax, i + (j - (n - 1) / 2) * 0.8 / n, by_layer[layer], color,
                            label=label if i == 0 else None, width=0.8 / n)
    if hline is not None:
        ax.axhline(hline, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(layers)), [f"layer {layer + 1}" for layer in layers])
    ax.set(ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def distributions(samples, xlabel, title, bins=40, vline=None):
    """Histograms (density) of several samples: ``{label: values}``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    all_v = np.concatenate([np.asarray(v, dtype=float) for v in samples.values()])
    edges = np.histogram_bin_edges(all_v[np.isfinite(all_v)], bins=bins)
    for j, (label, v) in enumerate(samples.items()):
        ax.hist(v, bins=edges, density=True, histtype="step", lw=1.5, label=label,
                color=COLORS.get(label.split()[0], f"C{j}"))
    if vline is not None:
        ax.axvline(vline, color="grey", lw=0.8, ls="--")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8)
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
        imgs = image_rows[(image_rows["sample"] == s) & (image_rows["point_eps"] == e)
                          & (image_rows["model"] == columns[0][0])]
        ax = axes[r, 0]
        if len(imgs):
            row = imgs.iloc[0]
            ax.imshow(_image(row))
            name = (lambda c: class_names[c] if class_names else str(c))
            ax.set_title(f"{'clean' if p == 'clean' else f'PGD {e:g}/255'}\ntrue {name(int(row['label']))}",
                         fontsize=7)
        for c, (model, key) in enumerate(columns, start=1):
            sub = fig_rows[(fig_rows["sample"] == s) & (fig_rows["point_eps"] == e) & (fig_rows["model"] == model)
                           & (fig_rows["map"] == key) & (fig_rows["layer"] == layer)]
            ax = axes[r, c]
            if len(sub):
                v = unpack_values(sub.iloc[0]["key_attention"])
                side = int(round(np.sqrt(v.size)))
                if side * side != v.size:  # a class token first: show the patch tokens only
                    v, side = v[1:], int(round(np.sqrt(v.size - 1)))
                lim = float(np.abs(v).max()) or 1.0
                ax.imshow(v.reshape(side, side), cmap="RdBu_r" if v.min() < 0 else "viridis",
                          vmin=-lim if v.min() < 0 else None, vmax=lim if v.min() < 0 else None)
                pred = image_rows[(image_rows["sample"] == s) & (image_rows["point_eps"] == e)
                                  & (image_rows["model"] == model)]["pred"]
                pred_txt = "" if not len(pred) else f"\npred {class_names[int(pred.iloc[0])] if class_names else int(pred.iloc[0])}"
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
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def asr_curves(series, xlabel, logx=False, paper=None, ylabel="ASR (prediction changed)", title=None):
    """ASR against the attack budget (paper Fig. 2a/2c, Tables 2 and 3 drawn as curves), one line
    per model. ``series``: ``{label: (summary, per_seed)}`` with ``summary`` a table of ``budget,
    mean, ci_low, ci_high`` (:func:`dalib.analysis.seed_summary`) and ``per_seed`` one of ``budget,
    asr`` (or None). Lines: mean with t 95% CI over seeds (clipped to [0, 1]); dots: seeds.
    ``paper``: ``{label: {budget: ASR}}``, drawn as dashed lines with triangles. Colour from
    :data:`COLORS` by the label's first word, else the label's position."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    budgets = set()
    for i, (label, (summ, per)) in enumerate(series.items()):
        color = COLORS.get(label.split()[0].lower(), f"C{i}")
        s = summ.sort_values("budget")
        shift = 1.0 + (0.03 * (i - (len(series) - 1) / 2) if logx else 0.0)
        err = np.vstack([s["mean"] - s["ci_low"].clip(0, 1), s["ci_high"].clip(0, 1) - s["mean"]])
        ax.errorbar(s["budget"] * shift, s["mean"], yerr=np.nan_to_num(err), marker="o", capsize=3, color=color,
                    label=f"{label}, mean ± 95% CI")
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
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
