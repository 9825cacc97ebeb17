"""docs/tutorial.ipynb runs: every code cell, in order, in one namespace, as Jupyter would.

The cells are executed in this process rather than through a Jupyter kernel (nbclient, nbmake),
so ``make test`` needs no Jupyter packages; the notebook uses no IPython magics, and the test
refuses one, which would need a kernel. Its results go to a temporary folder
(``LENDSIM_TUTORIAL_OUT``), never into ``results/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb"


def code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    # stored clean: outputs would go stale beside the code that made them
    assert all(not c.get("outputs") for c in notebook["cells"] if c["cell_type"] == "code")
    return cells


def test_every_cell_of_the_tutorial_runs(tmp_path, monkeypatch) -> None:
    matplotlib.use("Agg")  # no display; figures are drawn but not shown
    monkeypatch.setenv("LENDSIM_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.chdir(NOTEBOOK.parent)  # where Jupyter starts when the notebook is opened from docs/
    namespace: dict = {}
    for k, source in enumerate(code_cells(), start=1):
        assert not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()), f"cell {k}: magic"
        try:
            exec(compile(source, f"{NOTEBOOK.name}, code cell {k}", "exec"), namespace)
        except Exception as err:  # the cell that broke, with its source, rather than a bare traceback
            pytest.fail(f"code cell {k} of {NOTEBOOK.name} raised {err!r}:\n{source}")
    # it did what it says: a comparison folder with its summary, read back by analysis
    assert (tmp_path / "penalty_cap" / "summary.csv").is_file()
    assert set(namespace["res"].summary["policy"]) == {"penalty_compounding", "penalty_cap"}
