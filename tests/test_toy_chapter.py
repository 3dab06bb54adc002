"""A chapter added the way CONTRIBUTING.md says ("Add a chapter"), from this test file alone: a
chapter module, its row in ``CHAPTERS``, its page, its ``_toc.yml`` entry and its line on the
Results page. Every test that reads the book's pages then finds it (nothing else to edit), and the
files it touched are exactly the ones CONTRIBUTING lists, at most five."""

import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from book_pages import check_glued_page, glued_pages, result_pages

from dalib import chapters, paper
from dalib.chapters import _show as show
from dalib.chapters import results

ROOT = Path(__file__).resolve().parents[1]

# 1. dalib/chapters/toy.py: a Chapter that loads its records once, one method per table, and facts
TOY_MODULE = '''
"""A toy chapter: the mean clean accuracy of each model of the train records."""
from dalib.chapters import _show as show
from dalib.paths import current_profile
from dalib.records import caption_source, load_rows


class Chapter(show.Facts):
    def __init__(self, profile=None):
        self.profile = profile or current_profile()
        self.models = load_rows("train", profile=self.profile)

    def facts(self):
        return {"toy_n_models": str(len(self.models))}

    def accuracy(self):
        acc = self.models.groupby("model")["clean_accuracy"].mean().reset_index()
        show.table(acc, label="Y1", caption=f"Mean clean accuracy per model. {caption_source(self.models)}.")
'''

# 2. book/toy.md: prose and a few calls; the number it states is glued from the chapter's facts
TOY_PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A toy chapter

```{code-cell} ipython3
:tags: [remove-input]

from dalib.chapters import toy

ch = toy.Chapter()
ch.glue()
```

The train records hold {glue:text}`toy_n_models` models.

```{code-cell} ipython3
:tags: [remove-input]

ch.accuracy()
```
"""


def _contributing_files() -> set:
    """The files CONTRIBUTING's "Add a chapter" section names, with ``<chapter>`` as ``toy``."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = re.search(r"^## Add a chapter \(at most (\d+) files\)\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "CONTRIBUTING.md has no '## Add a chapter (at most N files)' section"
    named = set(re.findall(r"`((?:dalib|book)/[^`\s]+\.(?:py|md)|_toc\.yml)`", section.group(2)))
    return {n.replace("<chapter>", "toy").replace("<page>", "toy") for n in named}, int(section.group(1))


@pytest.fixture
def toy_chapter(tmp_path, monkeypatch):
    touched = set()
    # 1. the module and its CHAPTERS row
    spec = importlib.util.spec_from_loader("dalib.chapters.toy", loader=None)
    mod = importlib.util.module_from_spec(spec)
    exec(compile(TOY_MODULE, "dalib/chapters/toy.py", "exec"), mod.__dict__)
    monkeypatch.setitem(sys.modules, "dalib.chapters.toy", mod)
    monkeypatch.setitem(chapters.CHAPTERS, "toy", "toy")
    touched |= {"dalib/chapters/toy.py", "dalib/chapters/__init__.py"}
    # 2. the page and its entry in the table of contents (a copy of the book's, one line added)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "toy.md").write_text(TOY_PAGE)
    for page in (ROOT / "book").glob("*.md"):
        (tmp_path / "book" / page.name).write_text(page.read_text())
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    results_entry = next(c for c in toc["chapters"] if c["file"] == "book/results")
    results_entry["sections"].append({"file": "book/toy"})
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    touched |= {"book/toy.md", "_toc.yml"}
    # 3. its line on the Results page
    monkeypatch.setattr(
        results, "CHAPTER_LINES", (*results.CHAPTER_LINES, ("[A toy chapter](toy.md) covers a toy artifact.", ["Toy"]))
    )
    touched.add("dalib/chapters/results.py")
    return tmp_path, touched


def test_a_chapter_added_as_contributing_says_is_found_by_every_page_check(toy_chapter, monkeypatch):
    root, touched = toy_chapter
    named, at_most = _contributing_files()
    assert touched == named, f"the test touched {sorted(touched)}, CONTRIBUTING names {sorted(named)}"
    assert len(touched) <= at_most <= 5

    # the chapter by name, its table, and the number its page glues
    ch = chapters.chapter("toy", "cpu")
    shown = []
    monkeypatch.setattr(show, "table", lambda df, caption=None, label=None: shown.append((label, df, caption)))
    ch.accuracy()
    (label, df, caption), *_ = shown
    assert label == "Y1" and set(df["model"]) >= {"vit", "diffvit"} and "train" in caption
    check_glued_page(root / "book" / "toy.md", "toy")
    # the tests' page lists find it from the pages and the table of contents alone
    assert glued_pages(chapters.CHAPTERS, root)["toy"] == "toy"
    assert "book/toy.html" in result_pages(root)

    # the Results page gives its line with the verdict of its artifact (a scorecard of one row)
    arts = [a["id"] for a in paper.ARTIFACTS]
    card = pd.DataFrame({"artifact": [*arts, "Toy"], "status": ["not yet run"] * len(arts) + ["inconclusive"]})
    card["scope"] = "paper"
    monkeypatch.setattr("dalib.scorecard.scorecard", lambda profile=None: card)
    lines = []
    monkeypatch.setattr(show, "md", lines.append)
    results.Chapter("cpu").chapters()
    assert "\n- [A toy chapter](toy.md) covers a toy artifact. Verdicts: Toy: **inconclusive**.\n" in lines[0]
