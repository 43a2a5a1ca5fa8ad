"""No request can sink the service: heavy work is bounded, killed at its time limit, and never delays /health.

The app is driven in-process (httpx over ASGI, one event loop), as uvicorn would drive it; heavy requests run
in real forked worker processes. The slow jobs are the real endpoints' job functions made slow (they burn CPU
in the worker, as a large isochrone request does), so each test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import anyio.to_thread
import httpx
import pytest

import api.routes_access
from api.app import create_app
from api.settings import Settings
from api.work import ResultCache
from planner.plan import Plan

ORIGIN = {"lon": 121.5, "lat": 31.28}


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


def _app(plan: Plan, area_toml: Path, **limits):
    return create_app(Settings(area=area_toml, **limits), plan=plan)


async def _client(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60)


def _burn(seconds: float) -> None:
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        sum(range(10_000))


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie computes nothing


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_health_answers_at_once_during_a_burst_and_the_excess_gets_503(plan, area_toml, monkeypatch):
    real = api.routes_access._isochrones

    def slow(*args):
        _burn(1.5)
        return real(*args)

    monkeypatch.setattr(api.routes_access, "_isochrones", slow)
    app = _app(plan, area_toml, heavy_workers=2, heavy_queue=2, retry_after_s=7)

    async def main():
        async with await _client(app) as c:
            heavy = [
                asyncio.create_task(c.post("/isochrones", json={"origins": [ORIGIN], "bands": [5, 10]}))
                for _ in range(10)
            ]
            waits = []
            while not all(t.done() for t in heavy):
                t0 = time.perf_counter()
                r = await c.get("/health")
                waits.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json() == {"status": "ok"}
                await asyncio.sleep(0.05)
            return [t.result() for t in heavy], waits

    answers, waits = asyncio.run(main())
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 4 + [503] * 6  # 2 running and 2 waiting; the rest refused at once
    assert len(waits) > 20 and max(waits) < 1.0, max(waits)
    for r in answers:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "7"
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["status"] == 503 and body["errors"][0]["field"] == "service"
            assert "busy" in body["errors"][0]["reason"]
    assert app.state.work.processes.admission.running == 0


def test_health_and_a_single_point_never_wait_for_the_thread_pool(plan, area_toml):
    app = _app(plan, area_toml)

    async def main():
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = 1
        blocker = asyncio.create_task(anyio.to_thread.run_sync(time.sleep, 2))  # the only worker thread: busy
        await asyncio.sleep(0.1)
        async with await _client(app) as c:
            t0 = time.perf_counter()
            health, ready = await c.get("/health"), await c.get("/ready")
            point = await c.post("/coverage", json={"points": [ORIGIN]})  # a single point: on the loop too
            waited = time.perf_counter() - t0
        await blocker
        return health, ready, point, waited

    health, ready, point, waited = asyncio.run(main())
    assert health.status_code == 200 and ready.status_code == 200 and point.status_code == 200
    assert waited < 1.0


def test_a_timed_out_computation_is_stopped(plan, area_toml, monkeypatch, tmp_path):
    counter = tmp_path / "counter"

    def endless(*args):
        n = 0
        while True:
            n += 1
            (tmp_path / "next").write_text(f"{os.getpid()} {n}")
            os.replace(tmp_path / "next", counter)  # never seen half written
            time.sleep(0.02)

    monkeypatch.setattr(api.routes_access, "_isochrones", endless)
    app = _app(plan, area_toml, request_timeout_s=1.0, retry_after_s=3)

    async def main():
        async with await _client(app) as c:
            return await c.post("/isochrones", json={"origins": [ORIGIN]})

    t0 = time.perf_counter()
    r = asyncio.run(main())
    assert time.perf_counter() - t0 < 5
    assert r.status_code == 503 and r.headers["retry-after"] == "3"
    assert r.json()["errors"] == [{"field": "request", "reason": "took longer than 1 s"}]
    pid = int(counter.read_text().split()[0])
    deadline = time.time() + 5
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    seen = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == seen  # nothing counts any more
    assert app.state.work.processes.killed == 1
    deadline = time.time() + 5
    while app.state.work.processes.children() and time.time() < deadline:
        time.sleep(0.05)
    assert app.state.work.processes.children() == []  # reaped, no zombie left


def test_memory_of_heavy_work_goes_with_its_worker(plan, area_toml, monkeypatch):
    import numpy as np

    real = api.routes_access._isochrones

    def hungry(*args):
        block = np.ones(300 * 2**20 // 8)  # 300 MB, touched
        assert block.sum() > 0
        return real(*args)

    monkeypatch.setattr(api.routes_access, "_isochrones", hungry)
    app = _app(plan, area_toml, heavy_workers=2, heavy_queue=4)

    async def main():
        async with await _client(app) as c:
            await c.get("/health")
            before = _rss_mb()
            rs = await asyncio.gather(*(c.post("/isochrones", json={"origins": [ORIGIN]}) for _ in range(6)))
            return before, rs

    before, rs = asyncio.run(main())
    assert [r.status_code for r in rs] == [200] * 6
    assert _rss_mb() - before < 100  # 6 x 300 MB were allocated, none of it here


def test_a_failing_worker_is_a_500_without_details(plan, area_toml, monkeypatch):
    def boom(*args):
        raise RuntimeError("cannot open /work/secret/area.bin")

    monkeypatch.setattr(api.routes_access, "_isochrones", boom)
    app = _app(plan, area_toml)

    async def main():
        async with await _client(app) as c:
            return await c.post("/isochrones", json={"origins": [ORIGIN]})

    r = asyncio.run(main())
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert "secret" not in r.text and "RuntimeError" not in r.text


def test_answers_from_workers_equal_and_candidates_are_kept(plan, area_toml):
    app = _app(plan, area_toml)

    async def main():
        async with await _client(app) as c:
            iso = await c.post("/isochrones", json={"origins": [ORIGIN], "bands": [5]})
            first = await c.get("/candidates", params={"tier": "station", "k": 2})
            again = await c.get("/candidates", params={"tier": "station", "k": 2})
            bad_close = await c.post("/what-if", json={"close": ["nope"]})
            return iso, first, again, bad_close

    iso, first, again, bad_close = asyncio.run(main())
    assert iso.status_code == 200 and iso.headers["content-type"] == "application/geo+json"
    assert iso.json()["features"][0]["properties"]["band_min"] == 5
    assert first.status_code == 200 and again.content == first.content
    assert len(app.state.work.results) == 1
    assert bad_close.status_code == 422 and bad_close.json()["errors"][0]["field"] == "close"


def test_result_cache_is_bounded():
    cache = ResultCache(entries=2, max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # now a is the most recent
    cache.put("c", b"1234")
    assert cache.get("b") is None and len(cache) == 2
    cache.put("d", b"12345678")  # 16 bytes in all: the oldest go
    assert cache.bytes <= 10 and cache.get("d") == b"12345678"
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/coverage", {"points": [{"lon": 121.5, "lat": False}]}, "points[0].lat"),
        ("/isochrones", {"origins": [{"lon": True, "lat": 31.28}]}, "origins[0].lon"),
        ("/what-if", {"open": [{"lon": 121.5, "lat": False, "tier": "point"}]}, "open[0].lat"),
    ],
)
def test_a_boolean_is_not_a_coordinate(plan, area_toml, path, body, field):
    app = _app(plan, area_toml)

    async def main():
        async with await _client(app) as c:
            return await c.post(path, json=body)

    r = asyncio.run(main())
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == field


def test_a_shared_layer_is_built_once_and_outlives_a_timed_out_request(plan, area_toml, monkeypatch, tmp_path):
    import api.routes_meta

    builds = tmp_path / "builds"

    def slow_report(plan):
        with builds.open("a") as f:
            f.write("x")
        _burn(1.5)
        return b"<html>report</html>"

    monkeypatch.setattr(api.routes_meta, "_report_html", slow_report)
    app = _app(plan, area_toml, request_timeout_s=1.0)

    async def main():
        async with await _client(app) as c:
            first = await asyncio.gather(c.get("/report"), c.get("/report"))  # both wait for one build
            await asyncio.sleep(1.5)
            return first, await c.get("/report")

    first, later = asyncio.run(main())
    assert [r.status_code for r in first] == [503, 503]
    assert later.status_code == 200 and later.text == "<html>report</html>"
    assert builds.read_text() == "x"


def test_admission_hands_places_on_in_order_and_forgets_cancelled_waiters():
    from fastapi import HTTPException

    from api.heavy import _Admission

    async def main():
        gate = _Admission("heavy", limit=1, queue=1, retry_after_s=5)
        await gate.acquire()  # A runs
        b = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        assert gate.waiting == 1
        with pytest.raises(HTTPException) as refused:
            await gate.acquire()  # C: no place, no room to wait
        assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "5"}
        b.cancel()
        await asyncio.sleep(0)
        assert gate.waiting == 0
        d = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        gate.release()  # A done: D's turn
        await d
        assert gate.running == 1 and gate.waiting == 0
        gate.release()
        assert gate.running == 0

    asyncio.run(main())


def test_an_isochrone_request_beyond_the_work_budget_is_refused_before_any_work(plan, area_toml, monkeypatch):
    """Issue 14: per-request work bounded (origins x minutes), refused at once instead of at the time limit."""
    called = []
    monkeypatch.setattr(api.routes_access, "_isochrones", lambda *a: called.append(a))
    app = _app(plan, area_toml, isochrone_budget=300)

    async def go():
        async with await _client(app) as c:
            t0 = time.perf_counter()
            r = await c.post("/isochrones", json={"origins": [ORIGIN] * 21, "bands": [5, 15]})
            return r, time.perf_counter() - t0

    r, seconds = asyncio.run(go())
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["errors"][0]["field"] == "origins" and "315 origin-minutes" in problem["errors"][0]["reason"]
    assert not called and seconds < 1.0  # no worker started
