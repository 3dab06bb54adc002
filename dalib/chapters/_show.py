"""What every chapter writes into its page: Markdown, tables without their index, figures, and the
plan of a notebook's runs (which records exist)."""

from __future__ import annotations


def md(text: str) -> None:
    """Display ``text`` as Markdown in the calling notebook."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def table(df) -> None:
    """Display a data-frame without its index."""
    from IPython.display import display

    display(df.style.hide(axis="index"))


def raw(obj) -> None:
    """Display an object as it is (a data-frame with its index, a Markdown object)."""
    from IPython.display import display

    display(obj)


def figure(fig) -> None:
    """Display a matplotlib figure once and close it."""
    from .. import plots

    plots.show(fig)


def plans(stem: str, profile: str):
    """The planned runs of notebook ``stem`` in ``profile`` (each with ``.done``, ``.params``, ``.key``)."""
    from ..paths import project_root
    from ..run import load_notebook, profile_plans, resolve_notebook

    root = project_root()
    return profile_plans(load_notebook(resolve_notebook(stem, root), root), profile, root)
