"""What every chapter writes into its page: Markdown, tables without their index, figures, and the
plan of a notebook's runs (which records exist)."""

from __future__ import annotations


def md(text: str) -> None:
    """Display ``text`` as Markdown in the calling notebook."""
    from IPython.display import Markdown, display

    display(Markdown(text))


# header words written out for readers (snake_case names from the records)
HEADER_WORDS = {
    "p_pooled_holm": "p pooled (Holm)",
    "p_seed_holm": "p seed (Holm)",
    "p_pooled": "p pooled",
    "p_two_level": "p (two-level)",
    "p_holm": "p (Holm)",
    "n_cells": "cells",
    "n_seeds": "seeds",
    "n_images": "images",
    "img_per_s": "images/s",
    "img_per_cpu_s": "images/CPU-s",
    "ratio_diffvit_vit": "DiffViT / ViT",
    "ratio_diffvit_vit_cpu": "DiffViT / ViT (CPU)",
    "point_eps": "ε (1/255)",
    "change_kind": "change",
    "L_power_mean": "‖J‖₂ (mean)",
    "peak_rss_gib": "peak memory (GiB)",
}
UNITS = (("_gib", " (GiB)"), ("_min", " (min)"), ("_s", " (s)"))


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper case and the rest as written (``str.capitalize`` would
    lower ``GFLOP``)."""
    return text[:1].upper() + text[1:]


def glue(facts: dict) -> None:
    """Name the values that a page's prose states (counts, widths, budgets, from the records or
    the recipe): the Markdown pastes each as ``{glue:text}`name``` (plain text) or, for a value made
    by :func:`markdown`, as ``{glue:md}`name```, so no sentence of a page hard-codes a number that a run decides. Nothing is shown."""
    from myst_nb import glue as _glue

    for name, value in facts.items():
        _glue(name, value, display=False)


class Facts:
    """A chapter whose page pastes numbers into its prose: it defines ``facts()`` (name -> value,
    from its records or recipe), and the page calls ``ch.glue()`` once to paste them (:func:`glue`)."""

    def facts(self) -> dict:
        raise NotImplementedError

    def glue(self) -> None:
        """Paste :meth:`facts` into the page's prose."""
        glue(self.facts())


def markdown(text: str):
    """A value for ``{glue:md}`` (Markdown: emphasis, code, links), as :func:`glue` takes it."""
    from IPython.display import Markdown

    return Markdown(text)


def words(items, last: str = "and") -> str:
    """``["a", "b", "c"]`` as ``"a, b and c"``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def budgets(values, unit: str = "/255") -> str:
    """A list of budgets as ``"0.25, 0.5 and 1/255"`` (as the records store them, in units of 1/255)."""
    return words([f"{float(v):g}" for v in values]) + unit if len(values) else "none"


POOL_WORDS = {"avg": "mean-pooled patch tokens", "token": "the class token"}


def recipe_text(r: dict) -> str:
    """A training recipe (the resolved parameters of ``notebooks/experiments/train.md``) in words,
    for the prose of a page: width, heads, patch, pooling, epochs, images, optimiser, augmentation,
    precision and, where set, PGD adversarial training."""
    heads = int(r["num_heads"])
    parts = [
        f"width {int(r['embed_dim'])}",
        f"{heads} heads (DiffViT: {heads // 2} differential heads)",
        f"patch {int(r['patch_size'])}",
        f"{POOL_WORDS.get(r['global_pool'], r['global_pool'])} as the classifier input",
        f"{int(r['epochs'])} epoch{'s' * (int(r['epochs']) != 1)} on {int(r['n_train']):,} training images",
        f"batch {int(r['batch_size'])}",
        f"Adam at lr {float(r['lr']):g}"
        + (" decayed to 0 by a cosine over all steps" if r["lr_schedule"] == "cosine" else " (constant)"),
        "random crop and flip" if r["augment"] else "no augmentation",
        f'training precision `"{r["precision"]}"`',
    ]
    if float(r.get("adv_eps") or 0) > 0:
        parts.append(f"PGD adversarial training at {float(r['adv_eps']):g}/255 ({int(r['adv_steps'])} steps)")
    return ", ".join(parts)


def header(name) -> str:
    """A column name from the records as a reader's header: known names written out, units from
    the suffix (``_s`` seconds, ``_min``, ``_gib``), the other underscores as spaces."""
    if isinstance(name, tuple):  # flattened multi-level columns
        return " · ".join(header(n) for n in name if str(n) != "")
    name = str(name)
    if name in HEADER_WORDS:
        return HEADER_WORDS[name]
    for suffix, unit in UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].replace("_", " ") + unit
    return name.replace("_", " ") if "_" in name and " " not in name else name


def is_p_value(name) -> bool:
    n = str(name).lower()
    return n == "p" or n.startswith(("p ", "p_", "p ("))


def cell(value, p_value: bool = False, digits: int = 3) -> str:
    """One cell: three significant digits (at most four decimals), p-values below 0.001 and other
    numbers below 0.01 or from a million up in scientific notation, integers and text as they are,
    missing values empty."""
    import math
    import numbers

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if p_value:
        return f"{v:.1e}" if 0 < v < 1e-3 else f"{v:.2g}"
    if v == 0:
        return "0"
    if abs(v) < 1e-2 or abs(v) >= 1e6:  # three significant digits of 0.00512 would need five decimals
        return f"{v:.{digits - 1}e}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def p_list(text) -> str:
    """A comma-separated list of p-values (one per seed) written as :func:`cell` writes a p-value."""
    try:
        return ", ".join(cell(float(v), p_value=True) for v in str(text).split(","))
    except ValueError:
        return str(text)


def book_table(df, digits: int = 3):
    """A data-frame as the book prints it: its index turned into columns (none printed), headers
    for readers (:func:`header`), every number as :func:`cell` writes it, and the book's table class
    (cells wrap, so a table fits the page's width)."""
    import pandas as pd

    d = df.copy()
    if not isinstance(d.index, pd.RangeIndex) or d.index.name is not None:
        d = d.reset_index()
    if isinstance(d.columns, pd.MultiIndex):
        d.columns = [tuple(str(c) for c in col) for col in d.columns]
    out = pd.DataFrame({header(c): [breakable(cell(v, is_p_value(c), digits)) for v in d[c]] for c in d.columns})
    return out.style.hide(axis="index").set_table_attributes('class="dalib-table"')


def breakable(text: str, longest: int = 16) -> str:
    """``text`` with a line-break opportunity (``<wbr>``) after each ``/ _ . , : -`` inside a word
    longer than ``longest`` characters (paths, record keys, parameter lists), so that a table column
    can be narrower than such a word without breaking the ordinary words of the other cells; HTML
    tags in the cell are left as they are."""
    import re

    def split(word: str) -> str:
        return re.sub(r"([/_.,:-])(?=.)", r"\1<wbr>", word) if len(word) > longest else word

    parts = re.split(r"(<[^>]*>)", str(text))  # tags at odd positions
    return "".join(p if i % 2 else re.sub(r"\S+", lambda m: split(m.group(0)), p) for i, p in enumerate(parts))


def table_html(df, caption: str | None = None, label: str | None = None) -> str:
    """The HTML of :func:`table`: a book table, with a ``caption`` its numbered ``<caption>`` and,
    with a ``label``, the wrapper ``<div id="tab-x">`` that text links to."""
    t = book_table(df)
    if caption is None:
        return t.to_html()
    name = f"Table {label}." if label else "Table."
    html = t.set_caption(f"<strong>{name}</strong> {caption_html(caption)}").to_html()
    # the anchor on a wrapper: pandas gives the <table> its own id
    return f'<div class="dalib-table-box" id="tab-{label.lower()}">{html}</div>' if label else html


def table(df, caption: str | None = None, label: str | None = None) -> None:
    """Display a data-frame as a book table (:func:`book_table`). With a ``caption`` (Markdown, as
    :func:`figure`'s) and a ``label`` (the chapter's table name, e.g. ``"M2"``), the table carries
    its numbered ``<caption>`` and the anchor ``#tab-m2``."""
    from IPython.display import HTML, display

    if caption is None:
        return display(book_table(df))
    display(HTML(table_html(df, caption, label)))


def md_table(markdown: str, label: str, caption: str) -> str:
    """A Markdown table as a MyST ``{table}`` block with its numbered caption and the anchor
    ``#tab-x``, for pages that write Markdown (the Runs page); display it with :func:`md`."""
    return f":::{{table}} **Table {label}.** {caption}\n:name: tab-{label.lower()}\n\n{markdown.strip()}\n:::"


def raw(obj) -> None:
    """Display a data-frame as a book table, anything else (a Markdown object) as it is."""
    import pandas as pd
    from IPython.display import display

    display(book_table(obj) if isinstance(obj, pd.DataFrame) else obj)


def figure(fig, caption: str | None = None, label: str | None = None) -> None:
    """Display a matplotlib figure once and close it. With a ``caption`` (Markdown: ``*emphasis*``,
    backquoted code, ``$math$``) and a ``label`` (the chapter's figure name, e.g. ``"L1"``), it is
    one ``<figure id="fig-l1">`` element: the image and its numbered ``<figcaption>``, which text
    links to as ``#fig-l1``."""
    from .. import plots

    if caption is None:
        return plots.show(fig)
    import base64
    import io

    from IPython.display import HTML, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    plots._plt().close(fig)
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    name = f"Figure {label}." if label else "Figure."
    anchor = f' id="fig-{label.lower()}"' if label else ""
    display(
        HTML(
            f'<figure class="dalib-figure"{anchor}><img src="data:image/png;base64,{png}" alt="{name}">'
            f"<figcaption><strong>{name}</strong> {caption_html(caption)}</figcaption></figure>"
        )
    )


def caption_html(text: str) -> str:
    """Inline Markdown of a caption as HTML: emphasis and code by markdown-it, ``$...$`` as the
    inline math the book's MathJax typesets (Sphinx's own markup for it). A caption is a sentence:
    its first letter is set upper-case."""
    import html
    import re

    from markdown_it import MarkdownIt

    text = text.strip()
    if text[:1].isascii() and text[:1].islower():
        text = text[0].upper() + text[1:]
    maths = []

    def keep(m):
        maths.append(m.group(1))
        return f"DALIBMATH{len(maths) - 1}X"

    text = re.sub(r"(?<!\\)\$(.+?)(?<!\\)\$", keep, text.strip())
    out = MarkdownIt("commonmark").renderInline(text)
    return re.sub(
        r"DALIBMATH(\d+)X",
        lambda m: f'<span class="math notranslate nohighlight">\\({html.escape(maths[int(m.group(1))])}\\)</span>',
        out,
    )


def plans(stem: str, profile: str):
    """The planned runs of notebook ``stem`` in ``profile`` (each with ``.done``, ``.params``, ``.key``)."""
    from ..paths import project_root
    from ..run import load_notebook, profile_plans, resolve_notebook

    root = project_root()
    return profile_plans(load_notebook(resolve_notebook(stem, root), root), profile, root)


def folded(df, summary: str, caption: str | None = None, label: str | None = None) -> None:
    """Display a data-frame as a book table folded under ``summary`` (a ``<details>`` element), for
    long tables a reader opens on demand; ``caption`` and ``label`` as :func:`table`'s."""
    from IPython.display import HTML, display

    display(HTML(f"<details><summary>{summary}</summary>\n{table_html(df, caption, label)}\n</details>"))
