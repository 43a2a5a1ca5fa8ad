"""Isochrones: hand-worked reach lengths, and consistency with independent distances on a real extract."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import planner.area_cache as area_cache
from conftest import YANGPU, reference_distances
from planner import isochrones
from planner.access import nearest_facility
from planner.area_cache import cached_service_areas, service_areas_beside
from planner.facilities import load_facilities, snap_facilities
from planner.isochrones import facility_isochrones, reach_lines, service_areas
from planner.network import WalkNetwork
from planner.tiers import SpeedProfile
from test_access import hand_network


def _reach(net, fac_x, fac_y, budget):
    fac = net.snap_xy(np.array([fac_x]), np.array([fac_y]))
    near = nearest_facility(net, fac.edge, fac.t, fac.offset_m)
    _rows, lines = reach_lines(
        net,
        near.distance_m[None, :],
        budget,
        np.zeros(1, int),
        fac.edge,
        fac.t,
        fac.offset_m,
        np.array([[fac_x, fac_y]]),
    )
    return shapely.union_all(lines)


@pytest.mark.parametrize(
    ("fx", "fy", "budget", "expected"),
    [
        (0.0, 0.0, 300.0, 300.0),  # from A along A-B only
        (0.0, 0.0, 500.0, 600.0),  # A-B 400, then 100 up B-C and 100 along B-D
        (200.0, 0.0, 100.0, 200.0),  # mid-edge: 100 m each way along its own edge
        (200.0, 0.0, 250.0, 500.0),  # all of A-B (200 m each way), then 50 m up B-C and 50 m along B-D
        (200.0, -30.0, 130.0, 230.0),  # 30 m onto the street, then 100 m each way
    ],
)
def test_reach_length_hand_worked(fx, fy, budget, expected):
    net = hand_network()
    assert _reach(net, fx, fy, budget).length == pytest.approx(expected, abs=1e-6)


def test_polygon_area_of_a_straight_reach():
    net = hand_network()
    from planner.isochrones import _polygons

    lines = shapely.get_parts(_reach(net, 0.0, 0.0, 300.0))
    poly = _polygons(np.zeros(len(lines), int), lines, 1, method="edges", corridor_m=10.0)[0]
    # a 300 m x 20 m corridor plus two half discs of radius 10 (drawn as octagon halves)
    assert 300 * 20 + 2 * np.sqrt(2) * 100 - 1 <= poly.area <= 300 * 20 + np.pi * 100


@pytest.fixture(scope="module")
def yangpu_case(tmp_path_factory):
    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(5)
    nodes = rng.choice(net.n_nodes, 6, replace=False)
    path = tmp_path_factory.mktemp("fac") / "fac.csv"
    rows = ["id,tier,lon,lat"] + [
        f"F{i},{'station' if i % 2 else 'point'},{net.lon[n] + 0.0002},{net.lat[n]}" for i, n in enumerate(nodes)
    ]
    path.write_text("\n".join(rows))
    fac = snap_facilities(load_facilities(path, ("station", "point")), net)
    return net, fac


PROFILES = (SpeedProfile("adult", 1.25), SpeedProfile("elderly", 0.76))


def _nearest_by_tier(net, fac):
    """Node distances to the nearest station and point of the test facilities."""
    out = {}
    for tier in ("station", "point"):
        sel = (fac.tier == tier).to_numpy()
        out[tier] = nearest_facility(
            net, fac.edge.to_numpy()[sel], fac.t.to_numpy()[sel], fac.snap_m.to_numpy()[sel], horizon_m=2000
        )
    return out


def test_facility_isochrones_contain_reachable_points(yangpu_case):
    net, fac = yangpu_case
    iso = facility_isochrones(net, fac, PROFILES, (5, 10), corridor_m=20, progress=False)
    assert len(iso) == len(fac) * 2 * 2
    assert set(iso.columns) >= {"facility_id", "tier", "profile", "band_min", "area_km2", "geometry"}
    iso_m = iso.to_crs(net.crs)
    rng = np.random.default_rng(9)
    pts = net.snap_xy(rng.uniform(net.x.min(), net.x.max(), 400), rng.uniform(net.y.min(), net.y.max(), 400))
    on_x = net.x[net.u[pts.edge]] + (net.x[net.v[pts.edge]] - net.x[net.u[pts.edge]]) * pts.t
    on_y = net.y[net.u[pts.edge]] + (net.y[net.v[pts.edge]] - net.y[net.u[pts.edge]]) * pts.t
    zero = np.zeros(len(pts))
    for i in range(len(fac)):
        # independent distances from this one facility to points lying on the streets
        ref = reference_distances(
            net,
            fac["edge"].to_numpy()[i : i + 1],
            fac["t"].to_numpy()[i : i + 1],
            fac["snap_m"].to_numpy()[i : i + 1],
            pts.edge,
            pts.t,
            zero,
        )
        for prof in PROFILES:
            for band in (5, 10):
                poly = iso_m[
                    (iso_m.facility_id == fac.facility_id.iat[i])
                    & (iso_m.profile == prof.key)
                    & (iso_m.band_min == band)
                ].geometry.iloc[0]
                inside = ref <= band * prof.metres_per_minute - 0.01
                assert shapely.contains_xy(shapely.buffer(poly, 0.01), on_x[inside], on_y[inside]).all()
    # bands nest and the adult reach covers the elderly one
    for _fid, group in iso_m.groupby("facility_id"):
        a5, a10 = (group[(group.profile == "adult") & (group.band_min == b)].geometry.iloc[0] for b in (5, 10))
        e10 = group[(group.profile == "elderly") & (group.band_min == 10)].geometry.iloc[0]
        assert a5.area < a10.area and a10.buffer(0.5).contains(a5) and a10.buffer(0.5).contains(e10)


def test_service_area_is_the_union_of_facility_isochrones(yangpu_case):
    net, fac = yangpu_case
    nearest = _nearest_by_tier(net, fac)
    sa = service_areas(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20).to_crs(net.crs)
    iso = facility_isochrones(net, fac, PROFILES[:1], (5, 10), corridor_m=20, progress=False).to_crs(net.crs)
    assert len(sa) == 4
    for _, row in sa.iterrows():
        union = shapely.union_all(iso[(iso.tier == row.tier) & (iso.band_min == row.band_min)].geometry.to_numpy())
        assert shapely.symmetric_difference(union, row.geometry).area < 1e-3 * row.geometry.area


def test_dissolving_isochrones_gives_the_service_areas(yangpu_case):
    from planner.isochrones import dissolve_isochrones

    net, fac = yangpu_case
    nearest = _nearest_by_tier(net, fac)
    iso = facility_isochrones(net, fac, PROFILES, (5, 10), corridor_m=20, progress=False)
    direct = service_areas(net, fac, nearest, PROFILES, (5, 10), corridor_m=20).to_crs(net.crs)
    dissolved = dissolve_isochrones(iso, net.crs).to_crs(net.crs)
    assert len(dissolved) == len(direct) == 2 * 2 * 2
    key = ["tier", "profile", "band_min"]
    for (_, a), (_, b) in zip(direct.sort_values(key).iterrows(), dissolved.sort_values(key).iterrows()):
        assert (a.tier, a.profile, a.band_min, a.facilities) == (b.tier, b.profile, b.band_min, b.facilities)
        assert shapely.symmetric_difference(a.geometry, b.geometry).area < 1e-3 * a.geometry.area


def test_hull_covers_edges_method(yangpu_case):
    net, fac = yangpu_case
    edges = facility_isochrones(net, fac, PROFILES[:1], (10,), corridor_m=20, progress=False)
    hull = facility_isochrones(net, fac, PROFILES[:1], (10,), method="hull", corridor_m=20, progress=False)
    for a, b in zip(edges.to_crs(net.crs).geometry, hull.to_crs(net.crs).geometry):
        assert a.difference(b).area < 1e-3 * a.area and b.area >= a.area  # polygonal arcs differ slightly


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "circles"}, "isochrone method 'circles'"),
        ({"bands": (0, 5)}, "bands must be positive"),
        ({"corridor_m": -1}, "corridor must be >= 0"),
    ],
)
def test_bad_options(yangpu_case, kwargs, message):
    net, fac = yangpu_case
    kwargs = {"bands": (5,), **kwargs}
    with pytest.raises(ValueError, match=message):
        facility_isochrones(net, fac, PROFILES, progress=False, **kwargs)


def test_cached_service_areas_hit_bit_for_bit_and_miss_on_any_changed_input(yangpu_case, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path))
    net, fac = yangpu_case
    nearest = _nearest_by_tier(net, fac)
    fresh = service_areas(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20)
    first = cached_service_areas(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20)
    assert len(list(tmp_path.glob("areas-*.npz"))) == 1
    calls = []
    monkeypatch.setattr(isochrones, "service_areas", lambda *a, **k: calls.append(a) or fresh)
    again = cached_service_areas(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20)
    assert not calls  # read, not drawn
    for got in (first, again):
        assert list(got.columns) == list(fresh.columns) and got.crs == fresh.crs
        assert got.drop(columns="geometry").equals(fresh.drop(columns="geometry"))
        assert all(a.equals_exact(b, 0) for a, b in zip(got.geometry, fresh.geometry))
    # a moved facility, another corridor, another band, another speed: each is drawn anew
    moved = fac.copy()
    moved.loc[moved.index[0], "t"] = (moved["t"].iloc[0] + 0.37) % 1.0
    for args, kwargs in (
        ((moved, nearest, PROFILES[:1], (5, 10)), {"corridor_m": 20}),
        ((fac, nearest, PROFILES[:1], (5, 10)), {"corridor_m": 25}),
        ((fac, nearest, PROFILES[:1], (5, 12)), {"corridor_m": 20}),
        ((fac, nearest, PROFILES[1:], (5, 10)), {"corridor_m": 20}),
    ):
        cached_service_areas(net, *args, **kwargs)
    assert len(calls) == 4


def test_service_areas_beside_draw_in_a_child_on_a_miss_and_read_a_hit_here(yangpu_case, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path))
    net, fac = yangpu_case
    nearest = _nearest_by_tier(net, fac)
    fresh = service_areas(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20)
    children = []
    real_beside = area_cache.beside
    monkeypatch.setattr(area_cache, "beside", lambda *a, **k: children.append(1) or real_beside(*a, **k))
    uncached = service_areas_beside(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20, use_cache=False).result()
    assert not list(tmp_path.glob("areas-*.npz")) and len(children) == 1
    drawn = service_areas_beside(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20).result()  # a miss: drawn
    assert len(list(tmp_path.glob("areas-*.npz"))) == 1 and len(children) == 2
    read = service_areas_beside(net, fac, nearest, PROFILES[:1], (5, 10), corridor_m=20).result()  # a hit: here
    assert len(children) == 2
    for got in (uncached, drawn, read):  # the child's areas come back whole: the same geometries bit for bit
        assert got.drop(columns="geometry").equals(fresh.drop(columns="geometry")) and got.crs == fresh.crs
        assert all(a.equals_exact(b, 0) for a, b in zip(got.geometry, fresh.geometry))
