"""Every notebook runs, offline, start to finish; and none is committed with outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_three_stories():
    assert [p.name for p in NOTEBOOKS] == ["01-quickstart.ipynb", "02-your-district.ipynb", "03-what-if.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def executed(notebook_runs):
    """The notebooks, started with the session (conftest's ``notebook_runs``: each in its own process and kernel,
    beside the other tests); each test waits for its own."""
    assert notebook_runs is not None  # started whenever a test_notebook_runs is selected
    return notebook_runs


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, executed):
    procs, chain = executed
    if path.name not in procs:
        chain.join()
    proc, out, err = procs[path.name]
    proc.wait(timeout=900)
    assert proc.returncode == 0, err.read_text(encoding="utf-8")  # CellExecutionError, cell and traceback, on error
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the map (or a table) was displayed
