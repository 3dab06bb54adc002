"""Interactive editing (``make lab``): the MyST notebooks open as notebooks through jupytext's
contents manager, with the ``parameters`` cell that ``python -m dalib.run -p`` overrides."""

import pytest

from dalib.paths import project_root
from dalib.run import load_notebook, runnable_notebooks

pytest.importorskip("jupyter_server", reason="make install-lab installs JupyterLab (CI does)")


def test_every_runnable_notebook_opens_as_a_notebook_with_its_parameters_cell():
    import jupytext

    root = project_root()
    cm = jupytext.TextFileContentsManager(root_dir=str(root))
    for path in runnable_notebooks(root):
        rel = path.relative_to(root).as_posix()
        model = cm.get(rel)
        assert model["type"] == "notebook", rel
        cells = model["content"]["cells"]
        tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, rel
        # the cell Lab shows is the cell the runner reads: the same names, which -p overrides
        nb = load_notebook(path, root)
        names = {
            line.split("=")[0].strip()
            for line in tagged[0]["source"].splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        }
        assert names == set(nb.params), rel
