"""Every 4xx and 5xx is RFC 9457 problem details naming the offending field, declared in the OpenAPI schema, and no
answer shows a server path or an exception class; coordinates and bands are strict JSON numbers."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from planner.plan import Plan

STATUSES = {"404", "405", "413", "422", "500", "503"}


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def client(plan, area_toml):
    with TestClient(create_app(Settings(area=area_toml), plan=plan), raise_server_exceptions=False) as c:
        yield c


def problem(r, status: int) -> dict:
    """The problem-details body of ``r``, checked for the RFC 9457 members and our ``errors`` list."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "about:blank" and body["status"] == status
    assert isinstance(body["title"], str) and body["title"] and isinstance(body["detail"], str) and body["detail"]
    assert body["errors"] and all(set(e) == {"field", "reason"} and e["field"] for e in body["errors"])
    assert body["request_id"] == r.headers["x-request-id"]
    text = r.text.lower()
    assert "traceback" not in text and "/tmp" not in text and "/work" not in text and "error:" not in text
    return body


def test_404_405_413_422(client, area_toml, plan):
    body = problem(client.get("/no/such/page"), 404)
    assert body["title"] == "Not Found" and body["errors"][0]["field"] == "path"
    assert body["instance"] == "/no/such/page"
    r = client.get("/coverage")
    body = problem(r, 405)
    assert body["errors"] == [{"field": "method", "reason": "GET is not allowed here; use POST"}]
    assert r.headers["allow"] == "POST"
    small = TestClient(create_app(Settings(area=area_toml, max_body_bytes=100), plan=plan))
    body = problem(small.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}] * 10}), 413)
    assert body["title"] == "Content Too Large" and body["errors"][0]["field"] == "body"
    body = problem(client.post("/coverage", json={"points": [{"lon": 121.5, "lat": 91}, {"lon": 200, "lat": 0}]}), 422)
    assert body["title"] == "Unprocessable Content"
    assert [e["field"] for e in body["errors"]] == ["points[0].lat", "points[1].lon"]
    assert body["detail"].startswith("points[0].lat: ")
    body = problem(client.get("/candidates", params={"tier": "station", "k": 0}), 422)
    assert body["errors"][0]["field"] == "query.k"
    body = problem(client.get("/service-areas", params={"tier": "kiosk"}), 422)
    assert body["errors"] == [{"field": "tier", "reason": "'kiosk' is not one of center, station, point"}]
    problem(client.post("/what-if", content=b"[", headers={"content-type": "application/json"}), 422)


def test_500_names_no_exception_or_path(client, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("cannot open /work/secret/area.bin")

    monkeypatch.setattr(Plan, "query_arrays", boom)
    body = problem(client.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}]}), 500)
    assert body["errors"] == [{"field": "server", "reason": "internal error; the server log has the details"}]
    assert "RuntimeError" not in str(body) and "secret" not in str(body)


def test_503_while_loading_and_after_a_failed_load_shows_no_path_or_exception(tmp_path):
    loading = TestClient(create_app(Settings(area=tmp_path / "area.toml")), raise_server_exceptions=False)
    body = problem(loading.get("/ready"), 503)
    assert body["ready"] is False and "still loading" in body["errors"][0]["reason"]
    (tmp_path / "area.toml").write_text('name = "broken"\n[network]\nosm = "missing.osm.bz2"\n', encoding="utf-8")
    app = create_app(Settings(area=tmp_path / "area.toml"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.lifecircle.wait(60) is False
        assert app.state.lifecircle.error  # the full reason stays for the log
        for r in (c.get("/ready"), c.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}]})):
            body = problem(r, 503)
            assert body["errors"] == [
                {"field": "service", "reason": "the study area could not be loaded; the server log says why"}
            ]
            assert str(tmp_path) not in r.text and "missing.osm" not in r.text
            assert "InputFileNotFound" not in r.text and "Error" not in r.text
            assert "retry-after" not in r.headers  # waiting will not help


def test_503_after_the_time_limit(area_toml, plan, monkeypatch):
    slow_query = Plan.query_arrays

    def slow(self, *args, **kwargs):
        time.sleep(0.5)
        return slow_query(self, *args, **kwargs)

    monkeypatch.setattr(Plan, "query_arrays", slow)
    c = TestClient(create_app(Settings(area=area_toml, request_timeout_s=0.1), plan=plan))
    body = problem(c.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}] * 100}), 503)
    assert body["errors"] == [{"field": "request", "reason": "took longer than 0.1 s"}]
    time.sleep(0.5)  # let the worker thread finish before the patch is undone


def test_every_operation_declares_its_errors_as_problem_details(client):
    spec = client.get("/openapi.json").json()
    ops = [(p, m, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 12
    for path, method, op in ops:
        declared = {s for s in op["responses"] if s[0] in "45"}
        assert declared == STATUSES, (path, method, declared)
        for status in declared:
            assert op["responses"][status]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (path, method, status)
    schemas = spec["components"]["schemas"]
    assert {"type", "title", "status", "detail", "errors"} <= set(schemas["Problem"]["required"])
    assert schemas["ProblemField"]["required"] == ["field", "reason"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"lon": 121.5, "lat": False}, "points[0].lat"),
        ({"lon": True, "lat": 31.28}, "points[0].lon"),
        ({"lon": "121.5", "lat": 31.28}, "points[0].lon"),
        ({"lon": 121.5, "lat": None}, "points[0].lat"),
        ({"lon": 121.5, "lat": [31.28]}, "points[0].lat"),
    ],
)
def test_coordinates_are_strict_numbers(client, point, field):
    body = problem(client.post("/coverage", json={"points": [point]}), 422)
    assert body["errors"][0]["field"] == field
    assert "valid number" in body["errors"][0]["reason"]


def test_integers_are_coordinates_and_nan_is_not(client, plan):
    r = client.post("/coverage", json={"points": [{"lon": 121, "lat": 31}]})
    assert r.status_code == 200 and (r.json()["results"][0]["lon"], r.json()["results"][0]["lat"]) == (121, 31)
    for raw in (b'{"points": [{"lon": NaN, "lat": 31.28}]}', b'{"points": [{"lon": 121.5, "lat": Infinity}]}'):
        body = problem(client.post("/coverage", content=raw, headers={"content-type": "application/json"}), 422)
        assert body["errors"][0]["field"].startswith("points[0].")
    fac = plan.facilities.iloc[0]
    origin = {"lon": fac.geometry.x, "lat": fac.geometry.y}
    body = problem(client.post("/isochrones", json={"origins": [origin], "bands": [True]}), 422)
    assert body["errors"][0]["field"] == "bands[0]"
    assert client.post("/isochrones", json={"origins": [origin], "bands": [5]}).status_code == 200
    body = problem(client.post("/what-if", json={"open": [{"lon": 121.5, "lat": False, "tier": "point"}]}), 422)
    assert body["errors"][0]["field"] == "open[0].lat"
