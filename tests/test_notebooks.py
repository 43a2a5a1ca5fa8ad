"""Every notebook runs, offline, start to finish; and none is committed with outputs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


# Runs one notebook in a fresh kernel and writes it back executed; any cell's error exits non-zero with the cell and
# its traceback on standard error (nbclient's CellExecutionError).
_EXECUTE = """
import sys
import nbclient, nbformat
src, dst = sys.argv[1:3]
nb = nbformat.read(src, as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, dst)
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebooks run beside each other, each in its own process and kernel (they are independent; on two cores
    they take less than their sum), each test waiting for its own: 01 and 02 at once, and 03 when 02 is done, so that
    03's ``run()`` mostly finds the service areas 01 drew in the disk cache instead of drawing them a second time."""
    folder = tmp_path_factory.mktemp("notebooks")
    # the kernel must be this environment's Python, whatever PATH the test runner was started with
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    def start(path):
        args = [sys.executable, "-c", _EXECUTE, str(path), str(folder / path.name), str(path.parent)]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return proc, folder / path.name

    first, second, *rest = NOTEBOOKS
    procs = {p.name: start(p) for p in (first, second)}

    def then():
        procs[second.name][0].wait()
        procs.update({p.name: start(p) for p in rest})

    chain = threading.Thread(target=then, daemon=True)
    chain.start()
    yield procs, chain
    chain.join()
    for proc, _ in procs.values():  # a test stopped early leaves no kernel behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, executed):
    procs, chain = executed
    if path.name not in procs:
        chain.join()
    proc, out = procs[path.name]
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err  # CellExecutionError, with the cell and traceback, on any error
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the map (or a table) was displayed
