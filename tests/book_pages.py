"""Which book pages glue numbers and which show results, read from `_toc.yml` and the pages
themselves, so that a new chapter's page is found without a list in the tests to edit."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# a page that draws from a chapter imports it (`from dalib.chapters import <module>`); the chapter
# whose facts it glues is the one it names `ch` (`ch = <module>.Chapter()`)
_IMPORT = re.compile(r"^from dalib\.chapters import (\w+)", re.M)
_CH = re.compile(r"^ch = (\w+)\.Chapter\(", re.M)
# pages of the book that are not results pages: the first page, the results overview (its
# scorecard lines) and the Runs page (shot whole, on its own)
NOT_RESULTS = ("book/intro", "book/results", "book/runs")


def toc_files(root: Path = ROOT) -> list[str]:
    """Every file of `_toc.yml`, in reading order (``book/intro``, ``book/theory``, ...)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out = [toc["root"]]

    def walk(entries):
        for e in entries or ():
            out.append(e["file"])
            walk(e.get("sections"))

    walk(toc.get("chapters"))
    return out


def chapter_of_page(path: Path, chapters: dict) -> str | None:
    """The chapter (a key of ``chapters``, i.e. ``dalib.chapters.CHAPTERS``) a page imports, if any."""
    m = _CH.search(path.read_text(encoding="utf-8"))
    if not m:
        return None
    names = [k for k, mod in chapters.items() if mod == m.group(1)]
    return names[0] if names else m.group(1)


def glued_pages(chapters: dict, root: Path = ROOT) -> dict:
    """``{page stem: chapter}`` for each book page that pastes numbers (``{glue:...}``)."""
    out = {}
    for p in sorted((root / "book").glob("*.md")):
        if "{glue:" in p.read_text(encoding="utf-8"):
            out[p.stem] = chapter_of_page(p, chapters)
    return out


def result_pages(root: Path = ROOT) -> list[str]:
    """The built results pages (``book/<page>.html``) in reading order: every page of the table of
    contents under ``book/`` that draws from a chapter, but the intro, the overview and Runs."""
    return [
        f"{f}.html"
        for f in toc_files(root)
        if f.startswith("book/")
        and f not in NOT_RESULTS
        and (root / f"{f}.md").exists()
        and _IMPORT.search((root / f"{f}.md").read_text(encoding="utf-8"))
    ]


def check_glued_page(path, name, profile="cpu"):
    """Every ``{glue:text}`key``` / ``{glue:md}`key``` of the page at ``path`` is a fact of chapter
    ``name`` (Markdown facts for ``glue:md``), and the page calls ``ch.glue()``."""
    from IPython.display import Markdown

    from dalib import chapters

    text = path.read_text()
    used = re.findall(r"\{glue:(text|md)\}`(\w+)`", text)
    assert used and "ch.glue()" in text
    facts = chapters.chapter(name, profile).facts()
    for role, key in used:
        assert key in facts, f"{path.stem}: {key} is pasted but {name}.facts() lacks it"
        assert isinstance(facts[key], Markdown) == (role == "md"), (
            f"{path.stem}: {key} is {role}, facts give {facts[key]!r}"
        )
