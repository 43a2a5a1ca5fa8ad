"""The served study area: built once at start-up (in the background), then shared read-only."""

from __future__ import annotations

import gc
import logging
import threading

import numpy as np

from planner.area import StudyArea
from planner.pipeline import RunOptions, run
from planner.plan import Plan

log = logging.getLogger("api")

#: Why an area assessed without streets is not served (its answers would all be straight-line estimates).
NO_STREETS = (
    "the study area has no street network (a straight-line estimate); the service answers only on streets: "
    "use lifecircle plan for its report and map"
)


class ServiceState:
    """Holds the plan of one study area and the layers derived from it.

    The expensive build runs in a background thread so ``/health`` answers at
    once and ``/ready`` says when queries can be served.
    """

    def __init__(self, area_path, plan: Plan | None = None):
        self.area_path = area_path
        self._plan = plan
        self.error: str | None = None
        self._lock = threading.RLock()  # a cached builder may use another cached layer
        self._cache: dict = {}
        self._names: dict[str, str | None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Build the plan in the background (no-op when already built)."""
        if self._plan is not None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._build, name="plan-build", daemon=True)
        self._thread.start()

    def build_now(self) -> bool:
        """Build the plan in this thread (the pre-forking server builds once, before its workers start)."""
        if self._plan is None and self.error is None:
            self._build()
        return self.ready

    def warm(self) -> None:
        """Build what the first requests would build lazily (the facility names, the network's snapping
        indexes), so that the first requests do not wait for it and worker processes forked after this
        share them instead of each building its own; then freeze what exists out of the garbage collector."""
        if not self.ready:
            return
        self.facility_names  # noqa: B018 - cached on first use
        net = self.plan.network
        if net is None:
            return
        rng = np.random.default_rng(0)
        lon0, lon1 = float(np.nanmin(net.lon)), float(np.nanmax(net.lon))
        lat0, lat1 = float(np.nanmin(net.lat)), float(np.nanmax(net.lat))
        for n in (1, 64, 2 * net.n_edges + 1):  # one point, a small batch, a batch large enough for the grid
            self.plan.query_arrays(rng.uniform(lon0, lon1, n), rng.uniform(lat0, lat1, n), max_snap_m=500.0)
        # the plan's ~10^5-10^6 objects out of the collector's reach: a full collection over them took ~0.2 s,
        # a pause in every request's answer (and, in forked workers, pages written that could stay shared)
        gc.collect()
        gc.freeze()

    def _build(self) -> None:
        try:
            plan = run(StudyArea.from_toml(self.area_path), RunOptions(isochrones="none"))
            if plan.network is None:  # every answer would be a straight-line estimate: not served
                log.error("study area %s has no street network ([network] mode = none): not served", plan.area.name)
                self.error = NO_STREETS
                return
            self._plan = plan
            if threading.current_thread() is self._thread:  # served already: warm before the first requests
                self.warm()
            log.info("study area %s ready", plan.area.name)
        except Exception as exc:  # reported by /ready; the service stays up to say so
            log.exception("could not build the study area")
            self.error = f"{type(exc).__name__}: {exc}"  # for the log and the operator, never for an answer

    @property
    def public_error(self) -> str | None:
        """Why queries cannot be answered, in words fit for an answer (no paths or exception names)."""
        if self.ready:
            return None
        if self.error == NO_STREETS:
            return NO_STREETS
        if self.error is not None:
            return "the study area could not be loaded; the server log says why"
        return "the study area is still loading; see /ready"

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the build is over (for tests and the load benchmark)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ready

    @property
    def ready(self) -> bool:
        """Whether queries can be answered."""
        return self._plan is not None

    @property
    def plan(self) -> Plan:
        """The built plan (callers check :attr:`ready` first)."""
        if self._plan is None:
            msg = "the study area is still loading"
            raise RuntimeError(msg)
        return self._plan

    def cached(self, key, build):
        """Compute a derived layer once (thread-safe) and keep it."""
        if key not in self._cache:
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = build()
        return self._cache[key]

    def kept(self, key):
        """A layer kept by :meth:`cached` or :meth:`keep`, or None."""
        return self._cache.get(key)

    def keep(self, key, value) -> None:
        """Keep a layer built elsewhere (in a worker process); the first one kept stays."""
        with self._lock:
            self._cache.setdefault(key, value)

    def after_fork(self) -> None:
        """In a worker process forked from the server: new locks (a server thread may have held the old)."""
        self._lock = threading.RLock()

    @property
    def facility_names(self) -> dict[str, str | None]:
        """Facility id to name, for answers that name facilities."""
        if self._names is None:
            fac = self.plan.facilities
            names = fac["name"] if "name" in fac.columns else [None] * len(fac)
            self._names = {
                str(i): (str(n) if isinstance(n, str) and n.strip() else None)
                for i, n in zip(fac["facility_id"], names)
            }
        return self._names

    def facility(self, facility_id: str | None) -> dict[str, str | None] | None:
        """``{"id", "name"}`` of a facility of the plan (None for None)."""
        if facility_id is None:
            return None
        return {"id": facility_id, "name": self.facility_names.get(facility_id)}
