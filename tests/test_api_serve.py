"""Serving: optional API keys, CORS closed by default, the /coverage fast lane, and the pre-forked workers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api import fast_lane, routes_access
from api.app import create_app
from api.settings import Settings
from planner.plan import Plan

KEYS = ["k-one", "k-two"]
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def points(plan) -> list[dict]:
    """Points near the streets (some a little off them), and one far outside the area."""
    net = plan.network
    rng = np.random.default_rng(7)
    nodes = rng.choice(net.n_nodes, 12, replace=False)
    pts = [
        {"lon": float(net.lon[n]) + 0.0003, "lat": float(net.lat[n]) - 0.0002, "id": f"p{i}"}
        for i, n in enumerate(nodes)
    ]
    return [*pts, {"lon": 100.0, "lat": 20.0, "id": "far"}]


def _client(plan, area_toml, **kw) -> TestClient:
    return TestClient(create_app(Settings(area=area_toml, **kw), plan=plan), raise_server_exceptions=False)


def _without_request_id(r: httpx.Response) -> object:
    body = r.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return body


# --- API keys -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(plan, area_toml):
    with _client(plan, area_toml, api_keys=KEYS) as c:
        yield c


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
def test_a_request_without_a_valid_key_is_a_401_problem(keyed, points, headers):
    r = keyed.post("/coverage", json={"points": points[:1]}, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert "x-api-key" in r.headers["www-authenticate"].lower()
    assert r.headers["x-request-id"]
    body = r.json()
    assert body["type"] == "about:blank"
    assert body["title"] == "Unauthorized"
    assert body["status"] == 401
    assert body["instance"] == "/coverage"
    assert body["request_id"] == r.headers["x-request-id"]
    assert [e["field"] for e in body["errors"]] == ["X-API-Key"]
    reason = body["errors"][0]["reason"]
    assert reason == ("header missing" if "X-API-Key" not in headers else "header not a valid key")
    assert reason in body["detail"]
    for key in KEYS:  # no key is echoed
        assert key not in r.text


def test_every_data_endpoint_asks_for_the_key(keyed):
    for method, path in [
        ("GET", "/areas"),
        ("GET", "/tiers"),
        ("GET", "/underserved"),
        ("GET", "/map"),
        ("GET", "/page/base"),
        ("POST", "/what-if"),
        ("POST", "/isochrones"),
        ("GET", "/no-such-path"),  # says nothing about what exists
    ]:
        assert keyed.request(method, path).status_code == 401, (method, path)


def test_any_listed_key_opens_every_endpoint(keyed, points, plan, area_toml):
    with _client(plan, area_toml) as open_client:
        expected = open_client.post("/coverage", json={"points": points})
    for key in KEYS:
        r = keyed.post("/coverage", json={"points": points}, headers={"X-API-Key": key})
        assert r.status_code == 200
        assert r.json() == expected.json()
        assert keyed.get("/areas", headers={"X-API-Key": key}).status_code == 200


def test_health_ready_docs_and_the_pages_assets_stay_open(keyed):
    for path in ["/health", "/ready", "/docs", "/redoc", "/openapi.json", "/", "/static/page.js", "/page/leaflet.js"]:
        r = keyed.get(path)
        assert r.status_code == 200, path
    schema = keyed.get("/openapi.json").json()
    scheme = schema["components"]["securitySchemes"]["APIKeyHeader"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    coverage = schema["paths"]["/coverage"]["post"]
    assert coverage["security"] == [{"APIKeyHeader": []}]
    assert "application/problem+json" in coverage["responses"]["401"]["content"]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_without_keys_nothing_asks_for_one(plan, area_toml, points, monkeypatch):
    monkeypatch.delenv("LIFECIRCLE_API_KEYS", raising=False)
    with _client(plan, area_toml) as c:
        assert c.post("/coverage", json={"points": points[:1]}).status_code == 200
        assert "securitySchemes" not in c.get("/openapi.json").json().get("components", {})


def test_keys_come_from_the_environment(monkeypatch, area_toml):
    monkeypatch.setenv("LIFECIRCLE_API_KEYS", " a1 , ,b2,")
    assert Settings(area=area_toml).api_keys == ["a1", "b2"]


# --- CORS ---------------------------------------------------------------------------------------------


def test_cors_is_closed_by_default(plan, area_toml, points, monkeypatch):
    monkeypatch.delenv("LIFECIRCLE_CORS_ORIGINS", raising=False)
    assert Settings(area=area_toml).cors_origins == []
    with _client(plan, area_toml) as c:
        origin = {"Origin": "https://elsewhere.example"}
        r = c.post("/coverage", json={"points": points[:1]}, headers=origin)
        assert r.status_code == 200
        assert not any(h.startswith("access-control-") for h in r.headers)
        pre = c.options("/coverage", headers={**origin, **PREFLIGHT})
        assert pre.status_code >= 400
        assert "access-control-allow-origin" not in pre.headers


def test_a_configured_origin_can_preflight_with_keys_on(plan, area_toml):
    origin = "https://planning.example"
    with _client(plan, area_toml, api_keys=KEYS, cors_origins=[origin]) as c:
        pre = c.options("/coverage", headers={"Origin": origin, **PREFLIGHT})
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == origin


# --- the /coverage fast lane --------------------------------------------------------------------------


def test_the_fast_lane_understands_the_coverage_endpoint():
    """If this fails, /coverage's signature changed: the lane now leaves it to FastAPI (correct, but slower)."""
    assert ("POST", "/coverage") in fast_lane.endpoints(routes_access.router.routes)


def test_the_fast_lane_answers_exactly_as_the_ordinary_path(plan, area_toml, points):
    many = [{"lon": p["lon"] + 1e-4 * i, "lat": p["lat"]} for i in range(8) for p in points]
    bodies: list[object] = [
        {"points": points[:1]},
        {"points": points},
        {"points": many},  # more than the inline limit: the batch lane
        {"points": points, "profile": "elderly"},
        {"points": points[:2], "crs": "gcj02"},
        {"points": points[:1], "profile": "nobody"},  # 422 from the endpoint
        {"points": [{"lon": 121.5, "lat": "north"}]},  # 422 from validation
        {"points": []},
        {"points": points[:1], "extra": 1},
        "not json",
    ]
    with _client(plan, area_toml, fast_lane=True) as fast, _client(plan, area_toml, fast_lane=False) as slow:
        for body in bodies:
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            for headers in ({"content-type": "application/json"}, {"content-type": "text/plain"}, {}):
                a = fast.post("/coverage", content=raw, headers=headers)
                b = slow.post("/coverage", content=raw, headers=headers)
                assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])
                assert _without_request_id(a) == _without_request_id(b), (body, headers)


def test_the_fast_lane_waits_for_the_area_like_the_ordinary_path(area_toml, points):
    app = create_app(Settings(area=area_toml))  # not started: still loading
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/coverage", json={"points": points[:1]})
        assert r.status_code in (200, 503)
        if r.status_code == 503:
            assert r.headers["content-type"] == "application/problem+json"


# --- several workers ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/task").exists(), reason="Linux pre-fork")
def test_two_workers_share_one_build_and_answer_as_the_plan(plan, area_toml, points):
    port = _free_port()
    exe = Path(sys.executable).parent / "lifecircle"
    proc = subprocess.Popen(
        [str(exe), "-q", "serve", "--area", str(area_toml), "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "not ready in 90 s"
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        workers = _children(proc.pid)
        assert len(workers) == 2
        with _client(plan, area_toml) as c:
            expected = c.post("/coverage", json={"points": points}).json()
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(8):  # connections land on either worker
                with httpx.Client(base_url=base, timeout=10) as fresh:
                    assert fresh.post("/coverage", json={"points": points}).json() == expected
            # a worker that dies is replaced, from the same build
            os.kill(workers[0], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while len(now := _children(proc.pid)) < 2 or workers[0] in now:
                assert time.monotonic() < deadline, "the worker was not replaced"
                time.sleep(0.1)
            assert client.post("/coverage", json={"points": points}).json() == expected
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert all(not Path(f"/proc/{w}").exists() or _zombie(w) for w in now)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
