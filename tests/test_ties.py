"""Exact ties: a resident exactly at a tier's walking target counts as covered, in every code path.

Hand-worked on a street grid of 100 m blocks in metres (every sum below is exact in floating point), then
through the whole pipeline on a grid written as OSM (``write_osm``), where the target is set to the walk the
network's own segment lengths add up to.

A facility exactly on a node joins it by an arc of zero metres. ``planner.access._MIN_ARC_M`` floors that arc
at 1e-9 m so that the default plan keeps the golden run's minutes bit for bit (``tests/test_golden.py``); with
the floor, a resident reached through that node is 1e-9 m beyond an exact target. Those cases are marked as
expected failures (strict: they must fail while the floor is there, and the mark must go with it).
"""

from __future__ import annotations

from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import planar_network, write_osm
from planner import RunOptions, run
from planner.access import coverage_sets, nearest_facility, point_distances
from planner.area import StudyArea
from planner.coverage import resident_coverage
from planner.network import WalkNetwork
from planner.tiers import Rules, SpeedProfile, Tier

# 1.25 m/s = 75 m a minute: the 5-minute target is 375 m
RULES = Rules(tiers=(Tier("point", 5, "点", "Point"),), profiles=(SpeedProfile("adult", 1.25),), services=())


def grid(side: int = 6, block: float = 100.0) -> WalkNetwork:
    """side x side nodes at (block * i, block * j), streets between neighbours."""
    jj, ii = np.meshgrid(np.arange(side), np.arange(side))
    x, y = (ii.ravel() * block).astype(float), (jj.ravel() * block).astype(float)
    node = np.arange(side * side).reshape(side, side)  # node[i, j] at (block * i, block * j)
    u = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
    v = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
    return planar_network(x, y, u, v)


# Residents, each exactly 375 m from the facility at (100, 100) or from the one mid-block at (100, 150), and
# two just beyond. From (100, 100): east along y = 100 to (400, 100) is 300 m, then 75 m north; north along
# x = 100 to (100, 400) is 300 m, then 75 m east; 350 m east and 25 m off the street. Whichever street the
# facility on the node is snapped to, some of them are reached through its node.
ON_NODE = (100.0, 100.0)
AT_TARGET = [(400.0, 175.0), (175.0, 400.0), (450.0, 75.0)]
BEYOND = [(400.0, 176.0), (450.0, 74.0)]  # 376 m
# From (100, 150), mid-block on x = 100: 50 m to (100, 100), then 300 m east and 25 m north; 350 m north to
# (100, 500), then 25 m east.
MID_BLOCK = (100.0, 150.0)
AT_TARGET_MID = [(400.0, 125.0), (125.0, 500.0)]
BEYOND_MID = [(400.0, 125.5)]


def every_path(facility: tuple[float, float], at_target, beyond) -> None:
    net = grid()
    fac = net.snap_xy(np.array([facility[0]]), np.array([facility[1]]))
    pts = np.array(at_target + beyond)
    snap = net.snap_xy(pts[:, 0], pts[:, 1])
    hand = np.array([375.0] * len(at_target) + [None] * len(beyond), dtype=object)
    # 1. node search and the walk from the points' edges
    near = nearest_facility(net, fac.edge, fac.t, fac.offset_m, horizon_m=600.0)
    dist, _ = point_distances(net, near, snap)
    assert dist[: len(at_target)].tolist() == hand[: len(at_target)].tolist()
    assert (dist[len(at_target) :] > 375.0).all()
    # 2. residents' coverage (minutes and covered flags, as the pipeline computes them)
    residents = gpd.GeoDataFrame(
        {"population": 1.0, "elderly": 0.0, "edge": snap.edge, "t": snap.t, "offset_m": snap.offset_m},
        geometry=shapely.points(pts),
        crs="EPSG:32651",
    )
    cov = resident_coverage(net, residents, {"point": near}, RULES)
    assert cov["minutes_point_adult"].tolist()[: len(at_target)] == [5.0] * len(at_target)
    assert cov["covered_point_adult"].tolist() == [True] * len(at_target) + [False] * len(beyond)
    # 3. which sources cover which points within a distance (site proposals)
    cover = coverage_sets(net, fac.edge, fac.t, fac.offset_m, snap, 375.0).toarray()[:, 0]
    assert cover.tolist() == [True] * len(at_target) + [False] * len(beyond)


def test_the_grid_is_exact():
    net = grid()
    fac = net.snap_xy(np.array([ON_NODE[0], MID_BLOCK[0]]), np.array([ON_NODE[1], MID_BLOCK[1]]))
    assert fac.offset_m.tolist() == [0.0, 0.0] and fac.t[0] in (0.0, 1.0) and fac.t[1] == 0.5
    assert set(net.length.tolist()) == {100.0}


def test_exactly_at_the_target_from_a_facility_mid_block():
    every_path(MID_BLOCK, AT_TARGET_MID, BEYOND_MID)


def test_exactly_at_the_target_from_a_facility_on_a_node():
    every_path(ON_NODE, AT_TARGET, BEYOND)


# ----------------------------------------------------------------- the whole pipeline on an OSM grid
STEP = 0.001  # degrees between streets: short decimals, read back as the same floats by every reader


def _deg(lon0: float, k: int) -> float:
    return round(lon0 + k * STEP, 6)


@pytest.fixture(scope="module")
def osm_grid_area(tmp_path_factory):
    """A 7 x 7 street grid; a point and a station on the corner node (2, 2); residents 3 blocks east and 3 north.

    Targets: the point's is the walk east, the station's the walk north, each added up from the network's own
    segment lengths (minutes = metres / 75, the adult speed). Whichever street the facilities are snapped to,
    one of the two walks starts through the corner node.
    """
    root = tmp_path_factory.mktemp("tie-grid")
    lon0, lat0 = 121.45, 31.2
    nid = {(i, j): 1 + i * 7 + j for i in range(7) for j in range(7)}
    nodes = {nid[i, j]: (_deg(lon0, i), _deg(lat0, j)) for i in range(7) for j in range(7)}
    ways = [(100 + j, [nid[i, j] for i in range(7)], {"highway": "residential"}) for j in range(7)]
    ways += [(200 + i, [nid[i, j] for j in range(7)], {"highway": "residential"}) for i in range(7)]
    write_osm(root / "grid.osm", nodes, ways)
    net = WalkNetwork.from_osm_file(root / "grid.osm")
    index = {int(o): k for k, o in enumerate(net.osmid)}
    segment = {frozenset((int(a), int(b))): float(w) for a, b, w in zip(net.u, net.v, net.length)}

    def walk(cells) -> float:
        total = 0.0  # summed from the facility outward, as the search does
        for a, b in pairwise(cells):
            total += segment[frozenset((index[nid[a]], index[nid[b]]))]
        return total

    east, north = walk([(2, 2), (3, 2), (4, 2), (5, 2)]), walk([(2, 2), (2, 3), (2, 4), (2, 5)])
    corner = nodes[nid[2, 2]]
    (root / "fac.csv").write_text(
        f"id,name,tier,lon,lat\nP,点,point,{corner[0]},{corner[1]}\nS,站,station,{corner[0]},{corner[1]}\n",
        encoding="utf-8",
    )
    east_pt, north_pt = nodes[nid[5, 2]], nodes[nid[2, 5]]
    (root / "pop.csv").write_text(
        f"lon,lat,population\n{east_pt[0]},{east_pt[1]},100\n{north_pt[0]},{north_pt[1]},100\n", encoding="utf-8"
    )
    (root / "area.toml").write_text(
        'name = "tie-grid"\n[network]\nosm = "grid.osm"\n[facilities]\nfile = "fac.csv"\nillustrative = true\n'
        '[population]\npoints = "pop.csv"\n[profiles.adult]\nspeed_mps = 1.25\n'
        f"[tiers.point]\nminutes = {east / 75.0!r}\n[tiers.station]\nminutes = {north / 75.0!r}\n",
        encoding="utf-8",
    )
    return root / "area.toml", (east_pt, north_pt)


@pytest.fixture(scope="module")
def tie_plan(osm_grid_area):
    return run(StudyArea.from_toml(osm_grid_area[0]), RunOptions(isochrones="none", use_cache=False))


def test_pipeline_grid_puts_facilities_and_residents_exactly_on_nodes(tie_plan):
    assert (tie_plan.facilities["snap_m"] == 0).all() and tie_plan.facilities["t"].isin([0.0, 1.0]).all()
    assert (tie_plan.residents["offset_m"] == 0).all() and tie_plan.residents["t"].isin([0.0, 1.0]).all()


def test_pipeline_residents_exactly_at_the_target_are_covered(tie_plan, osm_grid_area):
    res = tie_plan.residents
    assert res["covered_point_adult"].iloc[0] and res["covered_station_adult"].iloc[1]
    lon, lat = np.array(osm_grid_area[1]).T
    query = pd.DataFrame(tie_plan.query(lon, lat))
    assert query["covered_point_adult"].iloc[0] and query["covered_station_adult"].iloc[1]
