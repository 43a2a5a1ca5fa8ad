"""Run the service (``lifecircle serve``): one process, or several sharing one prebuilt study area.

* ``workers=1``: uvicorn in this process; the area is built in the background, so ``/health`` answers at once
  and ``/ready`` says when queries can be served.
* ``workers=N > 1``: pre-fork. This process builds the plan once, warms the caches a request would build
  lazily (:meth:`api.state.ServiceState.warm`), creates the app, binds the listening socket, freezes its
  objects out of the garbage collector (:func:`gc.freeze`) and only then forks the N workers. Each worker
  serves the same socket with its own event loop; the plan's arrays (network, distances per tier,
  residents) are the parent's pages, shared copy-on-write and never written, so memory does not grow with
  the workers (``make bench-api`` prints the PSS of each). A worker that dies is forked again from the
  parent, which still holds the built plan: it serves within milliseconds. ``SIGTERM``/``SIGINT`` to the
  parent stops the workers gracefully (then kills them after 10 s). uvicorn's own ``workers=N`` would
  *spawn* fresh interpreters, each building (and holding) its own copy of the area.

Both use httptools and uvloop when installed (uvicorn's ``auto``): the HTTP parser in C takes ~20% of a
small request's CPU off the pure-Python h11.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from .app import create_app
from .settings import Settings
from .state import ServiceState

log = logging.getLogger("api")

#: Seconds a stopped worker gets to finish its requests before it is killed.
GRACE_S = 10.0


def serve(area: Path, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, log_level: str = "info") -> int:
    """Serve the study area ``area`` on ``host:port`` with ``workers`` processes; the exit code."""
    import uvicorn

    logging.getLogger("api").setLevel(log_level.upper())
    if workers <= 1:
        uvicorn.run(create_app(Settings(area=Path(area))), host=host, port=port, log_level=log_level, access_log=False)
        return 0
    return prefork(Path(area), host, port, workers=workers, log_level=log_level)


def prefork(area: Path, host: str, port: int, *, workers: int, log_level: str = "info") -> int:
    """Build once, fork ``workers`` uvicorn servers on one socket, keep them running (see the module docstring)."""
    import uvicorn

    _log_to_stderr(log_level)
    t0 = time.perf_counter()
    state = ServiceState(area)
    if not state.build_now():
        log.error("study area not served: %s", state.error)
        return 2
    state.warm()
    log.info("study area built and warmed in %.1f s; starting %d workers", time.perf_counter() - t0, workers)
    app = create_app(Settings(area=area), plan=state.plan)
    sock = _listen(host, port)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    gc.collect()
    gc.freeze()  # the plan's objects are never collected in the workers: their pages stay shared

    children: dict[int, float] = {}  # pid -> start time
    deaths: list[float] = []

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:
            _worker(config, sock, state)  # never returns
        children[pid] = time.monotonic()

    stopping = {"signal": 0}

    def stop(signum, _frame) -> None:
        stopping["signal"] = signum
        raise _Stop

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(workers):
            spawn()
        log.info("serving on http://%s:%d with %d workers (pids %s)", host, port, workers, sorted(children))
        while True:
            pid, status = os.wait()
            started = children.pop(pid, None)
            if started is None:
                continue
            now = time.monotonic()
            deaths[:] = [t for t in deaths if now - t < 60] + [now]
            log.error("worker %d ended (%s) after %.0f s", pid, _why(status), now - started)
            if len(deaths) > 5 * workers:
                log.error("workers keep ending (%d in a minute): stopping", len(deaths))
                return 1
            spawn()
    except _Stop:
        log.info("stopping %d workers (signal %d)", len(children), stopping["signal"])
        return 0
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _stop_all(children)
        sock.close()


class _Stop(Exception):
    pass


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker(config, sock: socket.socket, state: ServiceState) -> None:
    """A forked worker: serve until told to stop, then exit (never returns into the parent's code)."""
    code = 0
    try:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_DFL)  # uvicorn installs its own graceful handlers
        _die_with_parent()
        state.after_fork()
        import uvicorn

        uvicorn.Server(config).run(sockets=[sock])
    except BaseException:  # whatever happens, never return into the parent's loop
        code = 1
        with contextlib.suppress(BaseException):
            log.exception("worker %d failed", os.getpid())
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _stop_all(children: dict[int, float]) -> None:
    """SIGTERM every worker, wait up to :data:`GRACE_S`, SIGKILL those left, reap them all."""
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while children and time.monotonic() < deadline:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
            children.pop(pid, None)
        time.sleep(0.05)
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        children.pop(pid, None)


def _why(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def _die_with_parent() -> None:
    """Ask Linux to stop this worker if the parent dies (prctl PR_SET_PDEATHSIG); no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return


def _log_to_stderr(level: str) -> None:
    """The parent's own messages (its workers log through uvicorn's configuration)."""
    api = logging.getLogger("api")
    if not api.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        api.addHandler(handler)
    api.setLevel(level.upper())
