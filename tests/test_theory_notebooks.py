"""Static checks of the theory notebooks (executed by the book build itself, not here)."""

import re
from pathlib import Path

import jupytext
import pytest

THEORY = Path(__file__).resolve().parents[1] / "notebooks" / "theory"
NOTEBOOKS = sorted(THEORY.glob("*.md"))


def test_theory_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"fragile_principle", "depth_crossover", "certified_radius"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_theory_notebook_contract(path):
    nb = jupytext.read(path)
    meta = nb.metadata
    assert meta["jupytext"]["text_representation"]["format_name"] == "myst"
    assert meta["kernelspec"]["name"] == "python3"
    assert "dalib" not in meta, "theory notebooks carry no dalib: kind/profiles block (the book executes them)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a theory notebook computes something"
    assert not any("parameters" in c.metadata.get("tags", []) for c in code), "no parameters cell"
    src = "\n".join(c.source for c in code)
    assert "dalib.theory" in src or "from dalib import theory" in src  # closed forms come from the package
    assert "write_rows" not in src  # no records


def test_labels_and_glue_names_unique_across_theory_chapter():
    labels, glued = [], []
    for path in NOTEBOOKS:
        text = path.read_text()
        labels += re.findall(r"^:(?:label|name): *(\S+)", text, flags=re.M)
        glued += re.findall(r'glue\("([^"]+)"', text)
    assert len(labels) == len(set(labels)), labels
    assert len(glued) == len(set(glued)), glued
