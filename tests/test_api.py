"""The HTTP service through FastAPI's TestClient: every endpoint, answers checked against the library."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from planner.area import StudyArea
from planner.coords import wgs84_to_gcj02
from planner.pipeline import RunOptions, run
from planner.plan import Plan


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def client(plan, area_toml):
    app = create_app(Settings(area=area_toml, max_body_bytes=2_000_000), plan=plan)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_health_ready_areas_tiers(client, plan):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "area": "yangpu-test"}
    areas = client.get("/areas").json()
    assert areas[0]["facilities"] == {"center": 1, "station": 2, "point": 4} and areas[0]["population"] == 40_000
    tiers = client.get("/tiers").json()
    assert [t["key"] for t in tiers["tiers"]] == ["center", "station", "point"]
    assert {p["key"] for p in tiers["profiles"]} == {"adult", "elderly"}
    # the time windows /coverage takes, said not assessed where no list gives opening hours (this area's)
    assert [w["key"] for w in tiers["windows"]] == ["weekday_day", "weekday_evening", "weekend_day"]
    assert not any(w["assessed"] for w in tiers["windows"]) and tiers["windows_note"].startswith("未评估")


def test_ready_is_503_while_loading(area_toml):
    app = create_app(Settings(area=area_toml))  # not started: no lifespan, nothing built
    c = TestClient(app, raise_server_exceptions=False)
    assert c.get("/ready").status_code == 503
    r = c.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}]})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "service", "reason": "the study area is still loading; see /ready"}]
    assert r.headers["retry-after"] == "5"


def test_coverage_matches_the_library(client, plan):
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = plan.network.bbox_wgs84()
    lon, lat = rng.uniform(x0, x1, 200), rng.uniform(y0, y1, 200)
    for profile in ("adult", "elderly"):
        r = client.post(
            "/coverage",
            json={
                "points": [{"lon": a, "lat": b, "id": str(i)} for i, (a, b) in enumerate(zip(lon, lat))],
                "profile": profile,
            },
        )
        assert r.status_code == 200
        results = r.json()["results"]
        expected = plan.query(lon, lat)
        names = dict(zip(plan.facilities["facility_id"], plan.facilities["name"]))
        for i, res in enumerate(results):
            # inside the bounding box of the streets' nodes is within 500 m of a street on this extract
            assert res["id"] == str(i) and res["inside_area"] is True and res["reason"] is None
            for tier in ("center", "station", "point"):
                want = expected[f"minutes_{tier}_{profile}"].iat[i]
                got = res["minutes"][tier]
                assert (got is None and not np.isfinite(want)) or got == pytest.approx(want, abs=0.01)
                assert res["covered"][tier] == bool(expected[f"covered_{tier}_{profile}"].iat[i])
                fid = expected[f"nearest_{tier}"].iat[i]
                assert res["nearest_facility"][tier] == ({"id": fid, "name": names[fid]} if got is not None else None)


def test_coverage_hand_worked_at_a_facility_and_in_gcj02(client, plan):
    fac = plan.facilities[plan.facilities["tier"] == "station"].iloc[0]
    glon, glat = wgs84_to_gcj02(fac.geometry.x, fac.geometry.y)
    for body in (
        {"points": [{"lon": fac.geometry.x, "lat": fac.geometry.y}]},
        {"points": [{"lon": float(glon), "lat": float(glat)}], "crs": "gcj02"},
    ):
        res = client.post("/coverage", json=body).json()["results"][0]
        assert res["minutes"]["station"] == pytest.approx(0.0, abs=0.02)
        assert res["nearest_facility"]["station"] == {"id": fac["facility_id"], "name": fac["name"]}
        assert res["covered"]["station"] is True
        assert res["lon"] == pytest.approx(fac.geometry.x, abs=1e-6)


def test_points_outside_the_area_are_answered_per_point(client):
    r = client.post("/coverage", json={"points": [{"lon": 116.4, "lat": 39.9, "id": "beijing"}]})
    assert r.status_code == 200
    res = r.json()["results"][0]
    assert res["inside_area"] is False and res["minutes"] == {"center": None, "station": None, "point": None}
    # not assessable is not "not covered"
    assert res["covered"] == {"center": None, "station": None, "point": None}
    assert res["nearest_facility"] == {"center": None, "station": None, "point": None}
    assert res["reason"] == "more than 500 m from any street of the study area" and res["snap_distance_m"] is None
    assert (res["lon"], res["lat"]) == (116.4, 39.9)


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"points": [{"lon": 31.28, "lat": 121.5}]}, "points[0]", "look swapped"),
        ({"points": [{"lon": 200, "lat": 31}]}, "points[0].lon", "less than or equal to 180"),
        ({"points": []}, "points", "at least 1"),
        (
            {"points": [{"lon": 121.5, "lat": 31.28}], "profile": "child"},
            "profile",
            "'child' is not one of adult, elderly",
        ),
        ({"points": [{"lon": 121.5, "lat": 31.28}], "crs": "utm"}, "crs", "'wgs84', 'gcj02' or 'bd09'"),
        ({"points": [{"lon": 121.5, "lat": 31.28}] * 10_001}, "points", "at most 10000"),
        ({"points": [{"lon": 121.5, "lat": 31.28, "path": "/etc/passwd"}]}, "points[0].path", "Extra inputs"),
    ],
)
def test_bad_coverage_requests_name_the_field(client, body, field, reason):
    r = client.post("/coverage", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(d["field"] == field and reason in d["reason"] for d in errors), errors


def test_invalid_json_and_oversized_body(client, area_toml, plan):
    r = client.post("/coverage", content=b'{"points": [', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["errors"][0]["reason"]
    small = TestClient(create_app(Settings(area=area_toml, max_body_bytes=100), plan=plan))
    r = small.post("/coverage", json={"points": [{"lon": 121.5, "lat": 31.28}] * 10})
    assert r.status_code == 413 and r.json()["errors"] == [
        {"field": "body", "reason": "request body larger than 100 bytes"}
    ]
    assert "traceback" not in r.text.lower()


def test_request_ids_and_no_cors_by_default(client):
    r = client.get("/health", headers={"x-request-id": "abc123", "origin": "https://example.org"})
    assert r.headers["x-request-id"] == "abc123"
    assert "access-control-allow-origin" not in r.headers


def test_cors_when_configured(area_toml, plan):
    c = TestClient(create_app(Settings(area=area_toml, cors_origins=["https://hotline.example"]), plan=plan))
    r = c.get("/health", headers={"origin": "https://hotline.example"})
    assert r.headers["access-control-allow-origin"] == "https://hotline.example"


def test_isochrones(client, plan):
    fac = plan.facilities.iloc[0]
    r = client.post(
        "/isochrones",
        json={"origins": [{"lon": fac.geometry.x, "lat": fac.geometry.y}], "bands": [3, 6], "profile": "elderly"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert [f["properties"]["band_min"] for f in fc["features"]] == [3.0, 6.0]
    assert fc["features"][0]["properties"]["area_km2"] < fc["features"][1]["properties"]["area_km2"]
    # an origin outside the area is answered like /coverage answers the point: no geometry, and the reason
    far = client.post("/isochrones", json={"origins": [{"lon": 116.4, "lat": 39.9}], "bands": [5]})
    assert far.status_code == 200
    [feature] = far.json()["features"]
    assert feature["geometry"] is None and feature["properties"]["inside_area"] is False
    assert feature["properties"]["reason"] == "more than 500 m from any street of the study area"
    assert (
        client.post("/isochrones", json={"origins": [{"lon": 121.5, "lat": 31.28}], "bands": [90]}).status_code == 422
    )
    assert (
        client.post("/isochrones", json={"origins": [{"lon": 121.5, "lat": 31.28}], "bands": [5] * 13}).status_code
        == 422
    )


def test_layers(client, plan):
    sa = client.get("/service-areas", params={"tier": "station", "band": 10}).json()
    assert len(sa["features"]) == 1 and sa["features"][0]["properties"]["tier"] == "station"
    assert client.get("/service-areas", params={"tier": "kiosk"}).status_code == 422
    assert client.get("/service-areas", params={"band": 7}).status_code == 422
    under = client.get("/underserved", params={"tier": "point", "limit": 50}).json()
    assert 0 < len(under["features"]) == min(50, under["total"])
    pops = [f["properties"]["population"] for f in under["features"]]
    assert pops == sorted(pops, reverse=True)
    cands = client.get("/candidates", params={"tier": "station", "k": 2}).json()
    assert [f["properties"]["rank"] for f in cands["features"]] == [1, 2]
    assert client.get("/candidates", params={"tier": "station", "k": 0}).status_code == 422


def test_what_if_leaves_the_served_state_alone(client, plan):
    before = client.post("/coverage", json={"points": [{"lon": 121.497, "lat": 31.285}]}).json()
    center = plan.facilities.loc[plan.facilities["tier"] == "center", "facility_id"].iloc[0]
    r = client.post("/what-if", json={"close": [center]})
    assert r.status_code == 200
    change = r.json()["tiers"]["center"]["adult"]
    assert change["covered_share_after"] == 0.0 and change["loss_people"] > 0
    after = client.post("/coverage", json={"points": [{"lon": 121.497, "lat": 31.285}]}).json()
    assert after == before
    assert r.json()["closed"] == [{"id": center, "name": plan.facilities.set_index("facility_id").at[center, "name"]}]
    assert client.post("/what-if", json={"close": ["nope"]}).json()["errors"][0]["field"] == "close"
    r = client.post("/what-if", json={"open": [{"lon": 121.497, "lat": 31.285, "tier": "kiosk"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "open[0].tier"


def test_map_and_report_html(client):
    m = client.get("/map")
    assert m.status_code == 200 and "leaflet" in m.text.lower() and '<script src="http' not in m.text
    rep = client.get("/report")
    assert rep.status_code == 200 and "社区体检报告" in rep.text


def test_openapi_has_examples(client):
    spec = client.get("/openapi.json").json()
    assert "/coverage" in spec["paths"] and "/what-if" in spec["paths"]
    text = json.dumps(spec)
    assert "people-square" in text and "gcj02" in text


# -- coverage in a time window (issue 18) ----------------------------------------------------------------------

HOURS = {"X1": "Mo-Fr 09:00-17:00", "X3": "Mo-Su 18:00-21:30", "X4": "24/7"}  # X1 a station, X3 a point


def _area_copy(area_toml, root, drop=(), hours=True):
    """The test area in ``root``, its list giving opening hours, without the facilities ``drop``."""
    import shutil

    import pandas as pd

    for f in area_toml.parent.iterdir():
        shutil.copy(f, root / f.name)
    fac = pd.read_csv(root / "facilities.csv")
    if hours:
        fac["开放时间"] = fac["id"].map(HOURS).fillna("")
    fac[~fac["id"].isin(drop)].to_csv(root / "facilities.csv", index=False)
    return root / "area.toml"


@pytest.fixture(scope="module")
def hours_client(area_toml, tmp_path_factory):
    toml = _area_copy(area_toml, tmp_path_factory.mktemp("hours-api"))
    hours_plan = run(StudyArea.from_toml(toml), RunOptions(isochrones="none"))
    with TestClient(create_app(Settings(area=toml), plan=hours_plan), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("window", "closed"), [("weekday_evening", ["X1"]), ("weekend_day", ["X1", "X3"])])
def test_coverage_in_a_window_is_that_of_the_open_facilities(hours_client, plan, area_toml, tmp_path, window, closed):
    # the reference: the same area with the facilities closed in the window left out of its list
    reference = run(StudyArea.from_toml(_area_copy(area_toml, tmp_path, drop=closed)), RunOptions(isochrones="none"))
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = plan.network.bbox_wgs84()
    lon, lat = rng.uniform(x0, x1, 100), rng.uniform(y0, y1, 100)
    points = [{"lon": a, "lat": b} for a, b in zip(lon, lat)]
    for profile in ("adult", "elderly"):
        want = reference.query(lon, lat)
        for chunk in (points, points[:3]):  # a batch (in a thread) and a small request (on the event loop)
            r = hours_client.post("/coverage", json={"points": chunk, "profile": profile, "window": window})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["window"]["key"] == window and body["window"]["name_zh"]
            assert body["window"]["open_facilities"] == 7 - len(closed)
            assert body["window"]["without_hours"] == 7 - len(HOURS)
            for i, res in enumerate(body["results"]):
                for tier in ("center", "station", "point"):
                    m = want[f"minutes_{tier}_{profile}"].iat[i]
                    got = res["minutes"][tier]
                    assert (got is None and not np.isfinite(m)) or got == pytest.approx(m, abs=0.01)
                    assert res["covered"][tier] == bool(want[f"covered_{tier}_{profile}"].iat[i])
                    if got is not None:
                        assert res["nearest_facility"][tier]["id"] == want[f"nearest_{tier}"].iat[i]
    # without a window: every facility, as before; the closed station makes a difference somewhere
    every = hours_client.post("/coverage", json={"points": points}).json()
    assert every["window"] is None
    evening = hours_client.post("/coverage", json={"points": points, "window": window}).json()
    assert any(a["minutes"]["station"] != b["minutes"]["station"] for a, b in zip(every["results"], evening["results"]))


def test_a_window_the_area_cannot_assess_is_a_422(client, hours_client):
    point = {"points": [{"lon": 121.5, "lat": 31.28}]}
    r = hours_client.post("/coverage", json={**point, "window": "midnight"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    (error,) = r.json()["errors"]
    assert error["field"] == "window" and "weekday_evening" in error["reason"]
    # no list gives hours: the windows are not assessed, and the answer says why
    r = client.post("/coverage", json={**point, "window": "weekday_evening"})
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["field"] == "window" and "not assessed" in error["reason"] and "未评估" in error["reason"]
