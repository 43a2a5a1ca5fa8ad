"""Where each kind of work runs, and what of it is kept: the service's lanes and its bounded caches.

* per-request heavy work (``/isochrones``, ``/what-if``, ``/candidates``): :meth:`Work.compute`, in a forked
  worker process, stopped with its request;
* shared layers built once (``/map``, ``/report``, ``/service-areas``): :meth:`Work.layer`, also in a worker
  process, but a build outlives the request that started it (up to ``build_timeout_s``) and every request
  for the layer meanwhile waits for that one build;
* large ``/coverage`` batches: :meth:`Work.batch`, in threads;
* answers worth repeating (``/candidates``): :class:`ResultCache`, bounded in entries and bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from fastapi import HTTPException, Request

from .heavy import ForkLane, ThreadLane
from .settings import Settings
from .state import ServiceState

log = logging.getLogger("api")


class ResultCache:
    """Least-recently-used answers (bytes), at most ``entries`` of them and ``max_bytes`` in all."""

    def __init__(self, entries: int, max_bytes: int):
        self.entries = max(0, entries)
        self.max_bytes = max(0, max_bytes)
        self.bytes = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> bytes | None:
        """The kept answer for ``key`` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Keep ``value``, dropping the least recently used answers beyond the bounds (not kept if too big)."""
        if key in self._items:
            self.bytes -= len(self._items.pop(key))
        if len(value) > self.max_bytes or self.entries == 0:
            return
        self._items[key] = value
        self.bytes += len(value)
        while len(self._items) > self.entries or self.bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= len(old)


class Work:
    """The lanes and caches of one service (see the module docstring)."""

    def __init__(self, settings: Settings, state: ServiceState):
        self.state = state
        self.processes = ForkLane(
            "heavy",
            limit=settings.heavy_workers,
            queue=settings.heavy_queue,
            retry_after_s=settings.retry_after_s,
            on_fork=state.after_fork,
            nice=settings.heavy_nice,
        )
        self.threads = ThreadLane(
            "batch", limit=settings.batch_workers, queue=settings.batch_queue, retry_after_s=settings.retry_after_s
        )
        self.results = ResultCache(settings.result_cache_entries, settings.result_cache_bytes)
        self.build_timeout_s = settings.build_timeout_s
        self.retry_after_s = settings.retry_after_s
        self._builds: dict[Hashable, asyncio.Future[Any]] = {}

    async def compute(self, label: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker process (killed if the request ends first); its picklable result."""
        self.state.facility_names  # noqa: B018 - built here, so no worker process builds it again
        return await self.processes.run(label, fn, *args)

    async def batch(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker thread (bounded work only: a thread cannot be stopped)."""
        return await self.threads.run(fn, *args)

    async def layer(self, key: Hashable, label: str, fn: Callable[..., Any], *args: Any) -> Any:
        """A shared layer: kept if built, else built once in a worker process and kept.

        Concurrent requests wait for the same build; a request that times out leaves the build running
        (up to ``build_timeout_s``) for the next ones.
        """
        kept = self.state.kept(key)
        if kept is not None:
            return kept
        build = self._builds.get(key)
        if build is None:
            build = asyncio.ensure_future(self._build(key, label, fn, args))
            build.add_done_callback(_retrieve)
            self._builds[key] = build
        return await asyncio.shield(build)

    async def _build(self, key: Hashable, label: str, fn: Callable[..., Any], args: tuple) -> Any:
        try:
            value = await asyncio.wait_for(self.compute(label, fn, *args), self.build_timeout_s)
        except TimeoutError:
            reason = f"building {label} took longer than {self.build_timeout_s:g} s and was stopped"
            raise HTTPException(
                status_code=503,
                detail=[{"field": "service", "reason": reason}],
                headers={"Retry-After": str(self.retry_after_s)},
            ) from None
        finally:
            self._builds.pop(key, None)
        self.state.keep(key, value)
        return self.state.kept(key)

    def shutdown(self) -> None:
        """Stop every build and kill every worker process."""
        for build in list(self._builds.values()):
            build.cancel()
        self.processes.kill_all()


def _retrieve(build: asyncio.Future[Any]) -> None:
    """Mark a build's failure as seen (its requests may all have gone)."""
    if not build.cancelled():
        build.exception()


async def get_work(request: Request) -> Work:
    """The service's :class:`Work` (a FastAPI dependency; a coroutine, so it never waits for a thread)."""
    return request.app.state.work
