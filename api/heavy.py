"""Heavy work kept apart from the event loop: admission limits, and forked worker processes that can be killed.

Two kinds of lane, each with a limit on requests running at once and on requests waiting for a turn; a
request beyond both is answered at once with 503 and ``Retry-After`` (never queued without bound):

* :class:`ForkLane` runs each job in a child process forked from the server. The child inherits the built
  :class:`planner.plan.Plan` by copy-on-write (nothing is pickled on the way in), sends its pickled result
  back through a pipe and exits, so everything it allocated is returned to the system at once. A job whose
  request is cancelled (the request timeout of :class:`api.app.GuardMiddleware`, or a shutdown) has its
  child killed with ``SIGKILL``: no computation continues after the 503.
* :class:`ThreadLane` runs short, bounded work (large ``/coverage`` batches) in the thread pool, where a
  fork would cost more than the work.

The event loop itself never waits for either: ``/health`` and ``/ready`` answer while both lanes are full.

Forking a server that has threads (POSIX only; Windows falls back to a thread): the child holds only the
forking thread, so a lock another thread held at that instant stays held in the child. The locks the jobs
take are renewed in the child (:meth:`api.state.ServiceState.after_fork`; Python's logging and the C
libraries' allocators do so themselves), and any other such stall ends at the request time limit, when the
child is killed like any overrun. A child also dies with the server (``PR_SET_PDEATHSIG``), closes the
server's sockets and runs at a higher niceness.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import signal
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NoReturn

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool

log = logging.getLogger("api")

_CHUNK = 1 << 20


class _Admission:
    """At most ``limit`` holders at once and ``queue`` waiting; a request beyond both is refused at once.

    Waiters are futures of the running loop, woken in arrival order (no lock: everything happens on the
    event loop thread).
    """

    def __init__(self, name: str, limit: int, queue: int, retry_after_s: int):
        self.name = name
        self.limit = max(1, limit)
        self.queue = max(0, queue)
        self.retry_after_s = retry_after_s
        self.running = 0
        self.refused = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a turn."""
        return len(self._waiters)

    def busy(self) -> HTTPException:
        """The 503 answered when both the running and the waiting places are taken."""
        self.refused += 1
        reason = (
            f"the server is busy with {self.running} {self.name} request(s) and {self.waiting} waiting; "
            f"try again in {self.retry_after_s} s"
        )
        return HTTPException(
            status_code=503,
            detail=[{"field": "service", "reason": reason}],
            headers={"Retry-After": str(self.retry_after_s)},
        )

    async def acquire(self) -> None:
        """Take a place, waiting for one if the queue has room; else raise the 503 of :meth:`busy`."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        if len(self._waiters) >= self.queue:
            raise self.busy()
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._release_one()  # handed a place just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(turn)
            raise

    def release(self) -> None:
        """Give the place back (to the first waiter, if any)."""
        self._release_one()

    def _release_one(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if turn.done():
                continue
            try:
                turn.set_result(None)  # the place passes on: running stays the same
            except RuntimeError:  # its event loop is gone (a test client's), so is its request
                continue
            return
        self.running -= 1


class ThreadLane:
    """Bounded work in the thread pool, under an admission limit (see the module docstring)."""

    def __init__(self, name: str, *, limit: int, queue: int, retry_after_s: int):
        self.admission = _Admission(name, limit, queue, retry_after_s)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread, once admitted."""
        await self.admission.acquire()
        try:
            return await run_in_threadpool(fn, *args)
        finally:
            self.admission.release()


class ForkLane:
    """Jobs in forked child processes, under an admission limit; a cancelled job's child is killed.

    Parameters
    ----------
    name : str
        What the lane runs, for messages.
    limit : int
        Children running at once.
    queue : int
        Requests allowed to wait for a child; more are answered 503 at once.
    retry_after_s : int
        ``Retry-After`` of that 503.
    on_fork : callable, optional
        Called in each child first (e.g. to replace locks another thread of the server may hold).
    nice : int
        Added to each child's niceness, so the server's event loop (and its cheap answers) go first.
    """

    def __init__(
        self,
        name: str,
        *,
        limit: int,
        queue: int,
        retry_after_s: int,
        on_fork: Callable[[], None] | None = None,
        nice: int = 0,
    ):
        self.admission = _Admission(name, limit, queue, retry_after_s)
        self.on_fork = on_fork
        self.nice = nice
        self.killed = 0
        self._children: dict[int, str] = {}  # pid -> label, until reaped
        self._guard = threading.Lock()

    def children(self) -> list[int]:
        """Process ids of the children not yet reaped (running, or killed and being reaped)."""
        with self._guard:
            return list(self._children)

    async def run(self, label: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a child process, once admitted; its return value (pickled back) or its exception.

        ``fn`` and ``args`` are not pickled: the child sees them, and the whole server state, as they were at
        the fork. An :class:`~fastapi.HTTPException` raised in the child is raised here as it was; any other
        exception becomes a ``RuntimeError`` with its text (answered 500, detail only in the log).
        """
        await self.admission.acquire()
        try:
            if not hasattr(os, "fork"):  # pragma: no cover - Windows: a thread, which cannot be stopped
                return await run_in_threadpool(fn, *args)
            return await self._forked(label, fn, args)
        finally:
            self.admission.release()

    async def _forked(self, label: str, fn: Callable[..., Any], args: tuple) -> Any:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        t0 = time.perf_counter()
        try:
            pid = os.fork()
        except OSError as exc:  # out of memory or processes: the machine is busy, not the request wrong
            os.close(r)
            os.close(w)
            log.error("could not start a worker process for %s: %s", label, exc)
            raise self.admission.busy() from None
        if pid == 0:  # the child never returns from here
            _child(fn, args, w, r, self.on_fork, self.nice)
        os.close(w)  # before any await, so no later child inherits this job's write end
        with self._guard:
            self._children[pid] = label
        finished = False
        try:
            data = await _read_to_end(loop, r)
            finished = True
        finally:
            os.close(r)
            if not finished:
                self.killed += 1
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                log.warning("stopped %s (pid %d) after %.1f s: its request ended", label, pid, time.perf_counter() - t0)
            threading.Thread(target=self._reap, args=(pid,), name=f"reap-{pid}", daemon=True).start()
        if not data:
            msg = f"{label}: the worker process ended without an answer"
            raise RuntimeError(msg)
        ok, value = pickle.loads(data)  # our own child's answer
        log.debug("%s took %.2f s in pid %d (%d bytes back)", label, time.perf_counter() - t0, pid, len(data))
        if ok:
            return value
        if value[0] == "http":
            raise HTTPException(status_code=value[1], detail=value[2], headers=value[3])
        raise RuntimeError(f"{label}: {value[1]}")

    def _reap(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        with self._guard:
            self._children.pop(pid, None)

    def kill_all(self) -> None:
        """Kill every child (at shutdown)."""
        for pid in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def _read_to_end(loop: asyncio.AbstractEventLoop, fd: int) -> bytes:
    """Everything written to the pipe ``fd`` until its writer closes it, read without blocking the loop."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            while True:
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    if not done.done():
                        done.set_result(None)
                    return
                chunks.append(chunk)
        except BlockingIOError:
            return
        except OSError as exc:
            if not done.done():
                done.set_exception(exc)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    return b"".join(chunks)


def _child(
    fn: Callable[..., Any], args: tuple, w: int, r: int, on_fork: Callable[[], None] | None, nice: int
) -> NoReturn:
    """Run in the forked child: compute, write the pickled answer to ``w``, exit (never return)."""
    code = 0
    try:
        os.close(r)
        _detach(w)
        if nice:
            os.nice(nice)
        if on_fork is not None:
            on_fork()
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except HTTPException as exc:
            answer = (False, ("http", exc.status_code, exc.detail, exc.headers))
        except Exception as exc:
            log.exception("worker process failed")
            answer = (False, ("error", f"{type(exc).__name__}: {exc}"))
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]
    except BaseException:  # whatever happens, the child must not return into the server
        code = 1
        with contextlib.suppress(BaseException):
            log.exception("worker process could not answer")
    finally:
        os._exit(code)


def _detach(keep: int) -> None:
    """Make a fresh child independent of the server it was forked from."""
    gc.freeze()  # the server's objects stay out of this child's collections: fewer pages copied on write
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(ValueError):  # only the main thread may; a child of another thread has none set
        signal.set_wakeup_fd(-1)
    _die_with_parent()
    # the server's sockets (listening and clients') stay the server's: a connection it closes is really closed
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd == keep:
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.close(fd)


def _die_with_parent() -> None:
    """Ask Linux to kill this child if the server dies first (prctl PR_SET_PDEATHSIG); no-op elsewhere."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the server died before prctl took effect
        os._exit(1)
