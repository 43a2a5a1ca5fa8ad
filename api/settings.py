"""Service settings: limits and switches, from arguments or ``LIFECIRCLE_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planner.resources import DEFAULT_AREA


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def _cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


@dataclass(frozen=True)
class Settings:
    """How the service runs.

    Every limit below can be set by its environment variable, read when this module is imported. The
    limits on workers and queues hold per server process (``lifecircle serve --workers N`` has N of each).

    Attributes
    ----------
    area : pathlib.Path
        Study-area TOML file, fixed at start-up (clients never name files).
    max_body_bytes : int
        Largest request body accepted (413 above it). ``LIFECIRCLE_MAX_BODY_BYTES``, default 2,000,000.
    request_timeout_s : float
        Longest a request may take, waiting included (503 with ``Retry-After`` after it); heavy work still
        running then is stopped (its worker process is killed). ``LIFECIRCLE_REQUEST_TIMEOUT_S``, default 30.
    max_points : int
        Points per ``/coverage`` request.
    max_origins : int
        Origins per ``/isochrones`` request.
    isochrone_budget : float
        The most work one ``/isochrones`` request may ask, in origin-minutes: origins x the longest band
        (the streets searched grow with both). Beyond it the request is refused at once (422 naming
        ``origins``) instead of running into the time limit. ``LIFECIRCLE_ISOCHRONE_BUDGET``, default 1,500
        (100 origins to 15 minutes, or 25 to 60).
    cors_origins : list of str
        Origins allowed by CORS; empty = CORS off (the default: no cross-origin page may call the service).
        ``LIFECIRCLE_CORS_ORIGINS``, comma-separated.
    api_keys : list of str
        Keys a client must send in the ``X-API-Key`` header; empty = no keys asked (the default). With keys,
        every endpoint but ``/health``, ``/ready``, ``/docs``, ``/redoc``, ``/openapi.json``, the what-if
        page's shell and static assets answers 401 (problem details) without a valid key.
        ``LIFECIRCLE_API_KEYS``, comma-separated.
    fast_lane : bool
        Answer ``POST /coverage`` by calling its endpoint straight from the outer middleware once the body
        validates, skipping the framework's routing and dependency injection (the same endpoint, the same
        answer; anything unusual takes the ordinary path). ``LIFECIRCLE_FAST_LANE=0`` turns it off.
    heavy_workers : int
        Heavy requests (``/isochrones``, ``/what-if``, ``/candidates``, and the first build of ``/map``,
        ``/report`` and ``/service-areas``) computing at once, each in its own worker process.
        ``LIFECIRCLE_HEAVY_WORKERS``, default the number of cores.
    heavy_queue : int
        Heavy requests allowed to wait for a worker; one more is answered 503 at once with ``Retry-After``.
        ``LIFECIRCLE_HEAVY_QUEUE``, default the number of cores.
    heavy_nice : int
        Niceness added to those worker processes, so that ``/health`` and the cheap endpoints go first on
        a busy machine. ``LIFECIRCLE_HEAVY_NICE``, default 5.
    batch_workers : int
        ``/coverage`` requests of more than 64 points computing at once (in threads: each is bounded by
        ``max_points`` to well under a second). ``LIFECIRCLE_BATCH_WORKERS``, default the number of cores.
    batch_queue : int
        Such batches allowed to wait; one more is answered 503 at once. ``LIFECIRCLE_BATCH_QUEUE``,
        default 4 per core.
    retry_after_s : int
        ``Retry-After`` (seconds) of a 503 for a busy server or a request that took too long.
        ``LIFECIRCLE_RETRY_AFTER_S``, default 5.
    build_timeout_s : float
        Longest the first build of a shared layer (map, report, service areas) may take; it is not stopped
        with the request that started it, so a slow first build still serves later requests.
        ``LIFECIRCLE_BUILD_TIMEOUT_S``, default 300.
    result_cache_entries : int
        ``/candidates`` answers kept for repeated requests (least recently used dropped first).
        ``LIFECIRCLE_RESULT_CACHE_ENTRIES``, default 32.
    result_cache_bytes : int
        Bytes of those answers kept at most. ``LIFECIRCLE_RESULT_CACHE_BYTES``, default 64 MiB.
    """

    area: Path = DEFAULT_AREA
    max_body_bytes: int = _env_int("LIFECIRCLE_MAX_BODY_BYTES", 2_000_000)
    request_timeout_s: float = float(os.environ.get("LIFECIRCLE_REQUEST_TIMEOUT_S", "30"))
    max_points: int = 10_000
    max_origins: int = 100
    isochrone_budget: float = float(os.environ.get("LIFECIRCLE_ISOCHRONE_BUDGET", "1500"))
    cors_origins: list[str] = field(default_factory=lambda: _env_list("LIFECIRCLE_CORS_ORIGINS"))
    api_keys: list[str] = field(default_factory=lambda: _env_list("LIFECIRCLE_API_KEYS"))
    fast_lane: bool = os.environ.get("LIFECIRCLE_FAST_LANE", "1").strip().lower() not in ("0", "false", "no", "off")
    heavy_workers: int = _env_int("LIFECIRCLE_HEAVY_WORKERS", _cores())
    heavy_queue: int = _env_int("LIFECIRCLE_HEAVY_QUEUE", _cores())
    heavy_nice: int = _env_int("LIFECIRCLE_HEAVY_NICE", 5)
    batch_workers: int = _env_int("LIFECIRCLE_BATCH_WORKERS", _cores())
    batch_queue: int = _env_int("LIFECIRCLE_BATCH_QUEUE", 4 * _cores())
    retry_after_s: int = _env_int("LIFECIRCLE_RETRY_AFTER_S", 5)
    build_timeout_s: float = float(os.environ.get("LIFECIRCLE_BUILD_TIMEOUT_S", "300"))
    result_cache_entries: int = _env_int("LIFECIRCLE_RESULT_CACHE_ENTRIES", 32)
    result_cache_bytes: int = _env_int("LIFECIRCLE_RESULT_CACHE_BYTES", 64 * 2**20)
