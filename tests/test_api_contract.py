"""The API's one rule for "inside the area", and the shape of its answers, checked against independent computations.

Inside = within 500 m of a street of the study area: checked against a brute-force distance from each point to
every street segment (shapely, in the network's metric CRS, not the planner's snapping), for /coverage,
/isochrones and /what-if alike. Minutes equal ``plan.query``; facility names equal the facility list; what-if
gains equal the planner's own ``what_if``; paging covers exactly the residents the layer says lack a tier.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from planner import columns as col
from planner.pipeline import RunOptions, run
from planner.plan import Plan
from planner.scenario import what_if

OUTSIDE = "more than 500 m from any street of the study area"


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def client(plan, area_toml):
    with TestClient(create_app(Settings(area=area_toml), plan=plan), raise_server_exceptions=False) as c:
        yield c


def street_distance_m(plan: Plan, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres from each point to the nearest street segment, by brute force over every segment."""
    net = plan.network
    x, y = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(lon, lat)
    a = np.stack([net.x[net.u], net.y[net.u]], axis=1)
    b = np.stack([net.x[net.v], net.y[net.v]], axis=1)
    segments = shapely.linestrings(np.stack([a, b], axis=1))
    return np.array([shapely.distance(shapely.Point(px, py), segments).min() for px, py in zip(x, y)])


@pytest.fixture(scope="module")
def ring(plan):
    """Points in and around the streets' extent (out to ~1.3 km beyond it), none within 1 m of the 500 m line."""
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = plan.network.bbox_wgs84()
    lon, lat = rng.uniform(x0 - 0.013, x1 + 0.013, 400), rng.uniform(y0 - 0.012, y1 + 0.012, 400)
    d = street_distance_m(plan, lon, lat)
    keep = np.abs(d - 500.0) > 1.0
    lon, lat, d = lon[keep], lat[keep], d[keep]
    assert 30 < (d > 500).sum() < len(d) - 30  # both kinds, plenty of each
    return lon, lat, d <= 500.0


def test_coverage_inside_is_a_street_within_500_m_and_minutes_equal_the_library(client, plan, ring):
    lon, lat, inside = ring
    names = dict(zip(plan.facilities["facility_id"], plan.facilities["name"]))
    for profile in ("adult", "elderly"):
        body = {"points": [{"lon": a, "lat": b} for a, b in zip(lon, lat)], "profile": profile}
        results = client.post("/coverage", json=body).json()["results"]
        expected = plan.query(lon, lat)
        assert [r["inside_area"] for r in results] == inside.tolist()
        for i, res in enumerate(results):
            if not inside[i]:
                assert res["reason"] == OUTSIDE and res["snap_distance_m"] is None
                assert set(res["minutes"].values()) == set(res["covered"].values()) == {None}
                assert set(res["nearest_facility"].values()) == {None}
                continue
            assert res["reason"] is None
            assert res["snap_distance_m"] == pytest.approx(expected["snap_distance_m"].iat[i], abs=0.05)
            for tier in ("center", "station", "point"):
                want = expected[col.minutes(tier, profile)].iat[i]
                got = res["minutes"][tier]
                assert (got is None and not np.isfinite(want)) or got == pytest.approx(want, abs=0.005)
                assert res["covered"][tier] is bool(expected[col.covered(tier, profile)].iat[i])
                fid = expected[col.nearest(tier)].iat[i]
                assert res["nearest_facility"][tier] == (None if got is None else {"id": fid, "name": names[fid]})


def test_isochrones_apply_the_same_rule_and_answer_outside_origins_without_geometry(client, plan, ring):
    lon, lat, inside = ring
    pick = np.concatenate([np.flatnonzero(inside)[:4], np.flatnonzero(~inside)[:4]])
    body = {"origins": [{"lon": lon[i], "lat": lat[i]} for i in pick], "bands": [15, 5]}
    fc = client.post("/isochrones", json=body).json()
    feats = fc["features"]
    assert [(f["properties"]["origin"], f["properties"]["band_min"]) for f in feats] == [
        (f"origin-{j}", band) for j in range(len(pick)) for band in (5.0, 15.0)
    ]
    for f in feats:
        j = int(f["properties"]["origin"].removeprefix("origin-"))
        assert f["properties"]["inside_area"] is bool(inside[pick[j]])
        if not inside[pick[j]]:
            assert f["geometry"] is None and f["properties"]["area_km2"] is None
            assert f["properties"]["reason"] == OUTSIDE
        elif f["properties"]["band_min"] == 15.0:  # 15 min walks over 1 km: it always reaches the street
            assert f["geometry"]["type"] in ("Polygon", "MultiPolygon") and f["properties"]["reason"] is None
            assert f["properties"]["area_km2"] > 0
        else:  # 5 min may fall short of a street 400 m away: then said so, not dropped
            assert (f["geometry"] is None) == (f["properties"]["reason"] is not None)


def test_what_if_opens_only_sites_inside_and_says_which_it_did_not(client, plan, ring):
    lon, lat, inside = ring
    pick = np.concatenate([np.flatnonzero(inside)[:3], np.flatnonzero(~inside)[:3]])
    body = {"open": [{"lon": lon[i], "lat": lat[i], "tier": "point"} for i in pick]}
    r = client.post("/what-if", json=body).json()
    assert [s["opened"] for s in r["sites"]] == inside[pick].tolist()
    for j, s in enumerate(r["sites"]):
        assert s["id"] == f"NEW{j + 1}" and s["tier"] == "point"
        if not s["opened"]:
            assert s["reason"] == f"not opened: {OUTSIDE}" and s["snap_distance_m"] is None
            assert f"open[{j}] (NEW{j + 1}) not opened: {OUTSIDE}" in r["notes"]
            assert not s["adds_nobody"] and all(g == {"people": 0, "elderly": 0} for g in s["gain"].values())
    # the sites inside and only those were opened: the same change as the planner's what-if with just them
    ins = pick[inside[pick]]
    sites = gpd.GeoDataFrame(
        {"tier": "point", "facility_id": [f"NEW{j + 1}" for j in range(len(ins))]},
        geometry=gpd.points_from_xy(lon[ins], lat[ins]),
        crs="EPSG:4326",
    )
    change = what_if(plan, open_sites=sites).change
    for tier, per_profile in r["tiers"].items():
        for profile, c in per_profile.items():
            assert {k: c[k] for k in change[tier][profile]} == change[tier][profile]


def test_what_if_gain_per_site_and_a_site_that_adds_nobody(client, plan):
    best = plan.propose_sites("station", k=1, time_limit=20).sites.geometry.iloc[0]
    station = plan.facilities[plan.facilities["tier"] == "station"].iloc[0]
    body = {
        "open": [
            {"lon": best.x, "lat": best.y, "tier": "station", "id": "good", "name": "新站"},
            {"lon": station.geometry.x, "lat": station.geometry.y, "tier": "station", "id": "twin"},
        ]
    }
    r = client.post("/what-if", json=body).json()
    good, twin = r["sites"]
    alone = gpd.GeoDataFrame({"tier": ["station"]}, geometry=[best], crs="EPSG:4326")
    want = what_if(plan, open_sites=alone).change["station"]
    assert good["name"] == "新站" and good["opened"] and not good["adds_nobody"] and good["reason"] is None
    for profile in ("adult", "elderly"):
        assert good["gain"][profile] == {
            "people": want[profile]["gain_people"],
            "elderly": want[profile]["gain_elderly"],
        }
        assert good["gain"][profile]["people"] > 0
    # a second station on top of an existing one covers nobody new: opened, and said so
    assert twin["opened"] and twin["adds_nobody"] and twin["gain"]["adult"] == {"people": 0, "elderly": 0}
    assert twin["reason"].startswith("adds nobody")
    assert any(n.startswith("open[1] (twin) adds nobody") for n in r["notes"])
    # gains per site add up to the tier's gain
    for profile in ("adult", "elderly"):
        total = good["gain"][profile]["people"] + twin["gain"][profile]["people"]
        assert abs(total - r["tiers"]["station"][profile]["gain_people"]) <= 1


def test_a_what_if_that_changes_nothing_says_so(client, plan):
    station = plan.facilities[plan.facilities["tier"] == "station"].iloc[0]
    r = client.post(
        "/what-if", json={"open": [{"lon": station.geometry.x, "lat": station.geometry.y, "tier": "station"}]}
    ).json()
    assert "this scenario changes nobody's coverage of any tier" in r["notes"]
    assert r["sites"][0]["adds_nobody"]
    far = client.post("/what-if", json={"open": [{"lon": 116.4, "lat": 39.9, "tier": "point"}]}).json()
    assert far["sites"][0]["opened"] is False and len(far["notes"]) == 2


def test_what_if_site_ids_must_be_new(client, plan):
    existing = plan.facilities["facility_id"].iloc[0]
    site = {"lon": 121.5, "lat": 31.28, "tier": "point"}
    r = client.post("/what-if", json={"open": [{**site, "id": existing}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "open[0].id"
    r = client.post("/what-if", json={"open": [{**site, "id": "A"}, {**site, "id": "A"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "open[1].id"


@pytest.mark.parametrize(("tier", "profile"), [("point", "adult"), (None, "elderly")])
def test_underserved_pages_with_a_total_and_a_cursor(client, plan, tier, profile):
    res = plan.residents
    lacking = ~res[col.covered(tier, profile)] if tier else res[col.underserved(profile)]
    want = res[lacking]
    assert len(want) > 20
    params = {"profile": profile, "limit": 7, **({"tier": tier} if tier else {})}
    seen: list[int] = []
    pops: list[float] = []
    cursor = None
    for _ in range(1000):
        page = client.get("/underserved", params={**params, **({"cursor": cursor} if cursor else {})}).json()
        assert page["type"] == "FeatureCollection" and page["total"] == len(want)
        assert len(page["features"]) <= 7
        for f in page["features"]:
            p = f["properties"]
            row = res.loc[res["resident_id"] == p["resident_id"]].iloc[0]
            assert p[col.missing_tiers(profile)] == [k for k in row[col.missing_tiers(profile)].split(",") if k]
            seen.append(p["resident_id"])
            pops.append(p["population"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(want["resident_id"]) and len(set(seen)) == len(seen)
    assert pops == sorted(pops, reverse=True)


def test_underserved_cursor_errors(client):
    first = client.get("/underserved", params={"tier": "point", "limit": 1}).json()
    r = client.get("/underserved", params={"tier": "station", "cursor": first["next_cursor"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    assert "tier=point" in r.json()["errors"][0]["reason"]
    for junk in ("nonsense", "W10", "Wy0xLCJwb2ludCIsImFkdWx0Il0"):  # not base64 JSON; [1]; [-1, "point", "adult"]
        r = client.get("/underserved", params={"tier": "point", "cursor": junk})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", junk


def _coordinates(obj):
    """Every number inside GeoJSON ``coordinates`` members."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v) if k == "coordinates" else _coordinates(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _coordinates(v)


def _numbers(obj):
    if isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    else:
        yield obj


def test_every_coordinate_is_rounded_to_6_decimals(client, plan):
    fac = plan.facilities.iloc[0]
    point = {"lon": fac.geometry.x + 1.23456789e-7, "lat": fac.geometry.y - 9.87654321e-8}
    numbers: list[float] = []
    res = client.post("/coverage", json={"points": [point]}).json()["results"][0]
    numbers += [res["lon"], res["lat"]]
    for method in ("edges", "hull"):
        fc = client.post("/isochrones", json={"origins": [point], "bands": [5], "method": method}).json()
        numbers += list(_coordinates(fc))
    for path, params in [
        ("/service-areas", {"tier": "station"}),
        ("/underserved", {"limit": 50}),
        ("/candidates", {"tier": "point", "k": 2}),
    ]:
        numbers += list(_coordinates(client.get(path, params=params).json()))
    site = client.post("/what-if", json={"open": [{**point, "tier": "point"}]}).json()["sites"][0]
    numbers += [site["lon"], site["lat"], *client.get("/areas").json()[0]["bbox_wgs84"]]
    assert len(numbers) > 1000
    assert all(round(v, 6) == v for v in numbers)
    assert (res["lon"], res["lat"]) == (round(point["lon"], 6), round(point["lat"], 6))


@pytest.mark.slow
def test_xujiahui_is_inside_the_default_area():
    plan = run(options=RunOptions(isochrones="none"))
    xujiahui = (121.4365, 31.1920)
    assert not plan.network.boundary_wgs84().contains(shapely.Point(*xujiahui))  # the old rule said outside
    assert street_distance_m(plan, np.array([xujiahui[0]]), np.array([xujiahui[1]]))[0] < 500
    c = TestClient(create_app(Settings(), plan=plan))
    res = c.post("/coverage", json={"points": [{"lon": xujiahui[0], "lat": xujiahui[1]}]}).json()["results"][0]
    assert res["inside_area"] is True and res["reason"] is None
    expected = plan.query([xujiahui[0]], [xujiahui[1]])
    assert res["minutes"]["station"] == pytest.approx(expected[col.minutes("station", "adult")].iat[0], abs=0.005)
    names = dict(zip(plan.facilities["facility_id"], plan.facilities["name"]))
    near = res["nearest_facility"]["center"]
    assert near == {"id": expected[col.nearest("center")].iat[0], "name": names[near["id"]]} and near["name"]
    iso = c.post("/isochrones", json={"origins": [{"lon": xujiahui[0], "lat": xujiahui[1]}], "bands": [15]}).json()
    assert iso["features"][0]["geometry"] is not None
