"""Work beside the caller in a forked child: its answer and errors come back, and it dies with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from planner.errors import InputError, OutputError
from planner.forked import beside


def _double(x: int) -> int:
    return 2 * x


def _bad_input() -> None:
    raise InputError("facilities.csv, row 3, lon: not a number")


def _bug() -> None:
    raise ZeroDivisionError("a bug")


def test_the_answer_and_the_errors_come_back():
    assert beside(_double, 21).result() == 42
    with pytest.raises(OutputError, match="row 3, lon"):  # an input's message, kept
        beside(_bad_input).result()
    with pytest.raises(RuntimeError, match="ZeroDivisionError: a bug"):  # a bug, said as one
        beside(_bug).result()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_parent_leaves_no_writer_behind(tmp_path):
    late = tmp_path / "late.txt"
    script = (
        "import os, signal, time\n"
        "from pathlib import Path\n"
        "from planner.forked import beside\n"
        "def write(p):\n"
        "    time.sleep(1.5)\n"
        "    Path(p).write_text('written after the parent died')\n"
        f"beside(write, {str(late)!r})\n"
        "time.sleep(0.3)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, env=dict(os.environ))
    assert proc.returncode == -9
    time.sleep(2.5)
    assert not late.exists()
