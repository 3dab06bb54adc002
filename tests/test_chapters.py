"""The chapter modules (dalib.chapters): pages call them, the scorecard composes their claims."""

import re
from pathlib import Path

import pytest
from book_pages import check_glued_page, glued_pages

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


def test_the_scorecard_composes_the_registered_claims():
    from dalib.claims import CLAIMS, GROUPS, group_module

    got = scorecard.claims("cpu")
    for name in GROUPS:
        part = group_module(name).claims("cpu")
        assert set(part) <= set(got) and set(part) <= set(CLAIMS), name
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


def test_named_tables_figures_and_recipes_read_as_text():
    import pandas as pd

    from dalib.chapters._show import breakable, caption_html, md_table, recipe_text, table_html
    from dalib.run import notebook_parameters

    html = table_html(pd.DataFrame({"a": [1]}), "every rung, seed by seed; $\\lambda$ and `code`.", "L1")
    assert html.startswith('<div class="dalib-table-box" id="tab-l1">')
    assert "<strong>Table L1.</strong> Every rung" in html and "<code>code</code>" in html
    assert '<span class="math notranslate nohighlight">\\(\\lambda\\)</span>' in html
    assert caption_html("ε = 1/255: ...") == "ε = 1/255: ..."  # only an ascii lower-case letter is raised
    block = md_table("| a |\n|---|\n| 1 |", "U3", "The records of `x.md`.")
    assert block.splitlines()[:2] == [":::{table} **Table U3.** The records of `x.md`.", ":name: tab-u3"]
    # long paths and keys may break after / _ . , : -, ordinary words never, and tags stay whole
    assert breakable("reproduced, smaller") == "reproduced, smaller"
    assert (
        breakable("zoo/cpu/diffvit_d1_s0.safetensors") == "zoo/<wbr>cpu/<wbr>diffvit_<wbr>d1_<wbr>s0.<wbr>safetensors"
    )
    assert breakable('<a href="x/y_z_long_name.html">a_b</a>') == '<a href="x/y_z_long_name.html">a_b</a>'
    cpu = recipe_text(notebook_parameters("train", "cpu"))
    assert "width 128" in cpu and "8 epochs on 50,000 training images" in cpu and "no augmentation" in cpu
    adv = recipe_text(notebook_parameters("train", "paper", {"adv_eps": 0.5, "adv_steps": 2}))
    assert "random crop and flip" in adv and "PGD adversarial training at 0.5/255 (2 steps)" in adv


# each book page that pastes numbers into its prose, and the chapter whose facts() gives them (found
# from the pages: a page that glues imports its chapter)
GLUED_PAGES = glued_pages(chapters.CHAPTERS)


def test_the_glued_pages_are_found_from_the_pages():
    assert {"intro", "results", "results_depth1", "results_v2", "models"} <= set(GLUED_PAGES)
    assert all(ch in chapters.CHAPTERS for ch in GLUED_PAGES.values()), GLUED_PAGES


@pytest.mark.parametrize("page", sorted(GLUED_PAGES))
def test_every_number_a_page_pastes_comes_from_its_chapter(page):
    """Every number a page pastes is a fact its chapter computes from the committed cpu records; no
    page outside the glued pages pastes any."""
    check_glued_page(ROOT / "book" / f"{page}.md", GLUED_PAGES[page])
    others = [p.stem for p in (ROOT / "book").glob("*.md") if p.stem not in GLUED_PAGES]
    assert not [p for p in others if "{glue:" in (ROOT / "book" / f"{p}.md").read_text()]


def test_claims_are_computed_once_per_state_of_the_records(monkeypatch):
    """The scorecard, the intro and the results page each ask for the claims: computed once while
    the records and notebooks stay as they are, again when they change, and each caller gets its
    own copy."""
    import types

    from dalib.claims import registry

    calls = []
    fake = types.SimpleNamespace(claims=lambda profile: calls.append(profile) or {"x": {"verdict": "inconclusive"}})
    monkeypatch.setattr(registry, "group_module", lambda group: fake)
    monkeypatch.setattr(registry, "_MEMO", {})
    state = ["a"]
    monkeypatch.setattr(registry, "_records_state", lambda profile: (profile, state[0]))
    first = registry.claims("cpu")
    first["x"]["verdict"] = "changed by a caller"
    assert registry.claims("cpu") == {"x": {"verdict": "inconclusive"}}
    n_groups = len({c.group for c in registry.CLAIMS.values()})
    assert len(calls) == n_groups
    state[0] = "b"  # a record was written
    registry.claims("cpu")
    assert len(calls) == 2 * n_groups


def test_the_records_state_sees_a_new_or_changed_record(tmp_path, monkeypatch):
    from dalib.claims.registry import _records_state

    monkeypatch.setenv("DALIB_ROOT", str(tmp_path))
    (tmp_path / "results" / "cpu" / "asr").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    before = _records_state("cpu")
    rec = tmp_path / "results" / "cpu" / "asr" / "k.json"
    rec.write_text("{}")
    after = _records_state("cpu")
    assert after != before and _records_state("cpu") == after
    rec.write_text('{"a": 1}')
    assert _records_state("cpu") != after


def test_the_intro_says_which_verdicts_move_with_model_quality(monkeypatch):
    """Each artifact with a line at another model quality (the ladder's top rung) is named once in
    the intro's paragraph, as holding at every quality or as differing, with the words of its lines."""
    from dalib.chapters import _show as show
    from dalib.chapters import intro

    said = []
    monkeypatch.setattr(show, "md", said.append)
    ch = intro.Chapter("cpu")
    ch.quality()
    text = said[0]
    lines = ch.card[ch.card["scope"] == "top rung"]
    assert len(lines), "the committed cpu records have top-rung lines"
    for art, g in lines.groupby(lines["artifact"].str.split(",").str[0]):
        assert text.count(f"{art} (") + text.count(f"{art}: ") == 1, art
        head = ch.card.loc[(ch.card["artifact"] == art) & (ch.card["scope"] == "paper"), "status"].iloc[0]
        if {head, *g["status"]} == {head}:
            assert f"{art} ({head})" in text
        else:
            assert all(f"{s} at the top rung" in text for s in g["status"])
