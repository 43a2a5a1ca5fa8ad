"""Work beside the caller in a forked child: its answer and errors come back, and it dies with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from planner.errors import InputError, OutputError
from planner.forked import Claim, beside, ready


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


_READY: list[int] = []


def _get_ready() -> None:
    _READY.append(os.getpid())


def _where(x: int) -> tuple[int, int, list[int]]:
    return x, os.getpid(), list(_READY)


def test_ready_prepares_in_the_child_then_runs_on_what_it_is_given(monkeypatch):
    job = ready(_get_ready, _where)
    time.sleep(0.1)  # the caller's own work
    job.give(7)
    x, pid, prepared = job.result()
    assert x == 7 and pid != os.getpid() and prepared == [pid]  # prepared in that child, not here
    assert not _READY
    cancelled = ready(_get_ready, _where)
    cancelled.cancel()  # never given: the child is stopped, nothing waits
    failing = ready(_get_ready, _bad_input)
    failing.give()
    with pytest.raises(OutputError, match="row 3"):
        failing.result()
    monkeypatch.setenv("LIFECIRCLE_NO_FORK", "1")
    here = ready(_get_ready, _where)
    here.give(8)
    assert here.result() == (8, os.getpid(), [])  # no fork: run here, when given; no preparation needed


@pytest.mark.parametrize("child_first", [True, False])
def test_a_claim_goes_to_exactly_one_of_the_caller_and_its_child(child_first):
    claim = Claim()

    def child_takes() -> bool:
        if not child_first:
            time.sleep(0.5)  # the caller asks first
        return claim.take()

    job = beside(child_takes)
    if child_first:
        time.sleep(0.5)
    mine = claim.take()
    theirs = job.result()
    assert (mine, theirs) == ((False, True) if child_first else (True, False))
    assert claim.take() is False


def test_without_fork_the_first_to_ask_takes_the_claim(monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_NO_FORK", "1")
    claim = Claim()
    assert beside(claim.take).result() is True  # run here, first
    assert claim.take() is False
