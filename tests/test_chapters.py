"""The chapter modules (dalib.chapters): pages call them, the scorecard composes their claims."""

import re
from pathlib import Path

import pytest

from dalib import chapters, scorecard

ROOT = Path(__file__).resolve().parents[1]
PAGE_CODE_MAX = 30  # lines of code per book page (the package computes, the page presents)
BOOK_CODE_MAX = 500  # lines of code in all book pages together


def page_code_lines(text: str) -> int:
    """Non-blank lines inside the code cells of a MyST page, cell options (``:tags:``) left out."""
    n, inside = 0, False
    for line in text.splitlines():
        if line.startswith("```{code-cell}"):
            inside = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside and line.strip() and not re.match(r"^:\w+:", line):
            n += 1
    return n


def test_book_pages_hold_little_code():
    counts = {p.name: page_code_lines(p.read_text()) for p in sorted((ROOT / "book").glob("*.md"))}
    over = {k: v for k, v in counts.items() if v > PAGE_CODE_MAX}
    assert not over, f"pages over {PAGE_CODE_MAX} lines of code (move it into dalib.chapters): {over}"
    assert sum(counts.values()) <= BOOK_CODE_MAX


def test_page_code_counter_counts_only_code():
    text = "prose\n```{code-cell} ipython3\n:tags: [remove-input]\n\nx = 1\n\ny = 2\n```\nmore prose\n"
    assert page_code_lines(text) == 2


def test_every_registered_chapter_has_a_chapter_class():
    import importlib

    for name, mod in chapters.CHAPTERS.items():
        assert hasattr(importlib.import_module(f"dalib.chapters.{mod}"), "Chapter"), name


def test_an_unknown_chapter_is_refused_by_name():
    with pytest.raises(KeyError, match="unknown chapter 'nope'; known: depth1"):
        chapters.chapter("nope")


def test_the_scorecard_composes_the_chapters_claims():
    import importlib

    got = scorecard.claims("cpu")
    for name in scorecard.CLAIM_CHAPTERS:
        part = importlib.import_module(f"dalib.chapters.{name}").claims("cpu")
        assert set(part) <= set(got)
    assert {"fig2a_pgd", "fig4_lipschitz", "table3_adv_training"} <= set(got)


def test_book_tables_print_numbers_for_readers():
    import pandas as pd

    from dalib.chapters._show import book_table, cell, header, p_list

    assert cell(0.00512) == "5.12e-03" and cell(0.0123) == "0.0123"  # never more than four decimals
    assert [cell(v) for v in (0.123456, 12.3456, 1234.5, 0.0001234, 3, 12345, 0.0, float("nan"))] == [
        "0.123",
        "12.3",
        "1,234",
        "1.23e-04",
        "3",
        "12,345",
        "0",
        "",
    ]
    assert cell(1e-189, p_value=True) == "1.0e-189" and cell(0.0342, p_value=True) == "0.034"
    assert p_list("0.0013, 0.69, 0.00032") == "0.0013, 0.69, 3.2e-04"
    assert header("p_pooled_holm") == "p pooled (Holm)" and header("train_time_s") == "train time (s)"
    t = pd.DataFrame({"alpha": [0.5, 0.25]}, index=pd.Index([1, 2], name="depth"))
    html = book_table(t).to_html()
    assert "depth" in html and "dalib-table" in html and ">0.25<" in html  # the index became a column
