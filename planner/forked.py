"""Work run beside the caller in a forked process, so a run's outputs use both cores of a small machine.

Writing a plan's outputs is mostly pure Python (folium's templates, JSON, WeasyPrint's layout), which threads cannot
run at once. A forked child starts with the finished plan already in its memory (copy-on-write, nothing pickled),
writes its files and reports back through a pipe. Where ``fork`` is not available (Windows, or a platform whose
default is ``spawn``), the work simply runs in the caller.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from typing import Any

from .errors import LifecircleError, OutputError

__all__ = ["Beside", "Claim", "Ready", "beside", "done", "ready"]

log = logging.getLogger(__name__)


class Beside:
    """A call running in a forked child (or already done here); :meth:`result` waits for it."""

    _what = "writing outputs"  # what the child does, for a failure's message

    def __init__(self, fn: Callable[..., Any], *args: Any, what: str | None = None) -> None:
        if what is not None:
            self._what = what
        self._value: Any = None
        self._error: BaseException | None = None
        self._proc: Any = None
        if not _can_fork():
            self._run_here(fn, args)
            return
        self._start(_child, fn, args)

    def _start(self, target: Callable[..., None], *extra: Any) -> None:
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=target, args=(send, *extra, os.getpid()), daemon=True)
        self._proc.start()
        send.close()

    def _run_here(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def cancel(self) -> None:
        """Stop the child if it still runs (the caller failed and its output will not be used)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.join()
            self._proc = None

    def result(self) -> Any:
        """The call's return value; its error is raised here (a :class:`LifecircleError` as an ``OutputError``)."""
        if self._proc is not None:
            try:
                message = self._recv.recv()
            except EOFError:  # the child died without a word (killed, out of memory)
                message = ("died", f"exit code {self._proc.exitcode}", "")
            self._proc.join()
            self._proc = None
            kind, value, detail = message
            if kind == "ok":
                self._value = value
            elif kind == "input":
                self._error = OutputError(value)
            else:
                log.error("%s failed in its child process:\n%s", self._what, detail)
                self._error = RuntimeError(f"{self._what} failed in a child process: {value}")
        if self._error is not None:
            raise self._error
        return self._value


class Ready(Beside):
    """A forked child that gets ready now (``prepare()``: slow imports, say) and runs ``fn`` on the arguments
    :meth:`give` sends it later, so that the preparation overlaps the caller's own work. Where forking is
    unavailable, :meth:`give` runs ``fn`` here."""

    def __init__(self, prepare: Callable[[], Any], fn: Callable[..., Any]) -> None:
        self._value, self._error, self._proc, self._fn = None, None, None, fn
        if _can_fork():
            ctx = multiprocessing.get_context("fork")
            args_in, self._args_out = ctx.Pipe(duplex=False)
            self._start(_child_when_given, prepare, fn, args_in)
            args_in.close()

    def give(self, *args: Any) -> None:
        """The arguments of ``fn``: sent to the child, or ``fn`` run here; :meth:`result` then waits for it."""
        if self._proc is None:
            self._run_here(self._fn, args)
            return
        self._args_out.send(args)
        self._args_out.close()


class Claim:
    """A piece of work that the caller and a child forked after this was made may each do: the first to
    :meth:`take` it does it, the other skips it (whichever of the two is free first)."""

    def __init__(self) -> None:
        self._flag: Any = multiprocessing.get_context("fork").Value("b", 0) if _can_fork() else None
        self._here = False

    def take(self) -> bool:
        """True for the first process to ask, False for every later one."""
        if self._flag is None:
            taken, self._here = self._here, True
            return not taken
        with self._flag.get_lock():
            taken, self._flag.value = bool(self._flag.value), 1
        return not taken


def ready(prepare: Callable[[], Any], fn: Callable[..., Any]) -> Ready:
    """Fork a child that runs ``prepare()`` now and ``fn(*args)`` once :meth:`Ready.give` sends ``args``."""
    return Ready(prepare, fn)


def done(value: Any) -> Beside:
    """A :class:`Beside` already done: its :meth:`~Beside.result` is ``value`` (no child)."""
    job = Beside.__new__(Beside)
    job._value, job._error, job._proc = value, None, None
    return job


def beside(fn: Callable[..., Any], *args: Any, what: str = "writing outputs") -> Beside:
    """Start ``fn(*args)`` in a forked child (or run it now where forking is unavailable); ``what`` names the
    work in a failure's message."""
    return Beside(fn, *args, what=what)


def _can_fork() -> bool:
    return not (
        "fork" not in multiprocessing.get_all_start_methods()
        or multiprocessing.current_process().daemon  # a daemonic process (a Dask worker) may not have children
        or os.environ.get("LIFECIRCLE_NO_FORK")
    )


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent dies (Linux ``PR_SET_PDEATHSIG``): a killed run must not
    leave a writer behind in the folder the next run will use. Elsewhere, the parent's ``cancel`` is all."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: nothing to set
        return
    if os.getppid() != parent:  # the parent died before the line above: go now
        os._exit(1)


def _child_when_given(send: Any, prepare: Callable[[], Any], fn: Callable[..., Any], args_in: Any, parent: int) -> None:
    _die_with(parent)
    with contextlib.suppress(Exception):  # a failed preparation shows again, and is reported, when fn runs
        prepare()
    try:
        args = args_in.recv()
    except EOFError:  # the caller cancelled before giving anything: nothing to do
        send.close()
        return
    _child(send, fn, args, parent, watched=True)


def _child(send: Any, fn: Callable[..., Any], args: tuple[Any, ...], parent: int, *, watched: bool = False) -> None:
    if not watched:
        _die_with(parent)
    try:
        send.send(("ok", fn(*args), ""))
    except LifecircleError as exc:
        send.send(("input", str(exc), ""))
    except OSError as exc:  # the environment (a full disk, permissions), said as the parent would say it
        where = f"{exc.filename}: " if exc.filename else ""
        send.send(("input", f"cannot write {where}{exc.strerror or exc}", ""))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        send.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        send.close()
