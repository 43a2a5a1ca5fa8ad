"""Places named as planners write them (国顺路近政立路), from the OSM street names of the walk network."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from conftest import YANGPU, lonlat, write_osm
from planner.naming import fallback_name, grid_unit_names, place_name, unique_names
from planner.network import WalkNetwork
from planner.units import regular_grid

HAN = re.compile(r"[\u4e00-\u9fff]")


# --------------------------------------------------------------------------- a hand-made crossing
@pytest.fixture(scope="module")
def crossing(tmp_path_factory) -> WalkNetwork:
    """国顺路 (1.2 km east-west, two ways) crosses 政立路 (800 m north-south) at (0, 0); an unnamed footway
    runs 700 m south from 国顺路's east end at (600, 0), then 700 m east."""
    path = tmp_path_factory.mktemp("naming") / "crossing.osm"
    xy = {
        1: (-600, 0),
        2: (-300, 0),
        3: (0, 0),
        4: (300, 0),
        5: (600, 0),
        6: (0, -400),
        7: (0, 400),
        8: (600, -700),
        9: (1300, -700),
    }
    ways = [
        (101, [1, 2, 3], {"highway": "residential", "name": "国顺路"}),
        (102, [3, 4, 5], {"highway": "residential", "name": "国顺路"}),
        (103, [6, 3, 7], {"highway": "residential", "name": "政立路"}),
        (104, [5, 8, 9], {"highway": "footway"}),
    ]
    write_osm(path, {k: lonlat(*v) for k, v in xy.items()}, ways)
    return WalkNetwork.from_osm_file(path)


@pytest.mark.parametrize(
    ("x", "y", "radius_m", "expected"),
    [
        (0, 0, 150, "国顺路近政立路"),  # at the crossing both are 0 m away: the longer street (1.2 km) names it
        (100, 10, 150, "国顺路近政立路"),  # 10 m from 国顺路, 100 m from 政立路
        (100, 10, 50, "国顺路"),  # 政立路 beyond the radius
        (-300, 0, 150, "国顺路"),  # the other way of 国顺路 is not a cross street; 政立路 is 300 m away
        (5, 200, 150, "政立路"),  # 5 m from 政立路, 200 m from 国顺路
        (5, 120, 150, "政立路近国顺路"),
        (600, -400, 150, "国顺路"),  # the unnamed footway is nearer; 国顺路 is 400 m off, within 500 m
    ],
)
def test_hand_worked_places(crossing, x, y, radius_m, expected):
    lon, lat = lonlat(x, y)
    assert place_name(crossing, [lon], [lat], radius_m=radius_m) == [expected]


def test_places_without_a_named_street_are_named_by_coordinates(crossing):
    lon, lat = lonlat(1300, -700)  # on the footway, about 1 km from 国顺路
    names = place_name(crossing, [lon, np.nan, lonlat(0, 0)[0]], [lat, np.nan, lonlat(0, 0)[1]])
    assert names == [f"无名道路（{lon:.4f}, {lat:.4f}）", "位置不详", "国顺路近政立路"]
    assert fallback_name(121.49314, 31.28291) == "无名道路（121.4931, 31.2829）"
    assert place_name(crossing, lon, lat) == names[:1]  # a scalar is one place


def test_grid_cells_named_by_their_streets(crossing):
    def cell(x0, y0, x1, y1):
        return shapely.box(*lonlat(x0, y0), *lonlat(x1, y1))

    units = gpd.GeoDataFrame(
        {"unit": ["A", "B", "C", "D", "E"]},
        geometry=[
            cell(-700, -100, -50, 100),  # 650 m of 国顺路 only
            cell(-50, -300, 350, 300),  # 600 m of 政立路, 400 m of 国顺路
            cell(350, -100, 700, 100),  # 250 m of 国顺路 and 100 m of the unnamed footway
            cell(1100, -800, 1400, -600),  # the footway only; 国顺路 about 1 km from its centre
            cell(650, -250, 900, -50),  # no street; 国顺路's end 230 m from its centre
        ],
        crs="EPSG:4326",
    )
    assert grid_unit_names(crossing, units) == [
        "国顺路一带甲",
        "政立路/国顺路一带",
        "国顺路一带乙",
        "网格D",
        "国顺路一带丙",
    ]


def test_unique_names():
    assert unique_names(["甲", "乙", "甲"]) == ["甲甲", "乙", "甲乙"]
    assert unique_names(["x"] * 12)[-3:] == ["x癸", "x11", "x12"]
    # a suffixed name that is already another place's name is skipped
    assert unique_names(["路", "路", "路甲"]) == ["路乙", "路丙", "路甲"]


# ----------------------------------------------------------------------------- the real extract
@pytest.fixture(scope="module")
def yangpu() -> WalkNetwork:
    return WalkNetwork.from_osm_file(YANGPU)


def _node(net: WalkNetwork, osm_id: int) -> int:
    return int(np.flatnonzero(net.osmid == osm_id)[0])


def _streets_at(net: WalkNetwork, node: int) -> set[str]:
    names = net.meta["way_names"]
    ways = net.meta["edge_way_id"][(net.u == node) | (net.v == node)]
    return {names[str(w)] for w in ways if str(w) in names}


@pytest.mark.parametrize(
    ("osm_node", "longer", "shorter"),
    [(266073692, "四平路", "国康路"), (265969439, "密云路", "赤峰路"), (265972458, "赤峰路", "爱校路(樱花大道)")],
)
def test_real_crossings(yangpu, osm_node, longer, shorter):
    node = _node(yangpu, osm_node)
    assert _streets_at(yangpu, node) == {longer, shorter}  # the node joins ways of these two streets only
    lengths = {n: yangpu.length[yangpu.edges_named(n)].sum() for n in (longer, shorter)}
    assert lengths[longer] > lengths[shorter]  # at a crossing the longer street names the place
    assert place_name(yangpu, [yangpu.lon[node]], [yangpu.lat[node]]) == [f"{longer}近{shorter}"]


def test_random_points_agree_with_a_brute_force_search(yangpu):
    """Every named edge measured from every point (no tree), where the answer is unambiguous."""
    names = yangpu.meta["way_names"]
    edge_name = np.array([names.get(str(w), "") for w in yangpu.meta["edge_way_id"]], dtype=object)
    named = np.flatnonzero(edge_name != "")
    lines = yangpu.edge_lines[named]
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = yangpu.meta["bounds"]
    lon = rng.uniform(x0, x1, 300)
    lat = rng.uniform(y0, y1, 300)
    got = place_name(yangpu, lon, lat)
    px, py = yangpu.project(lon, lat)
    checked = 0
    for i in range(len(lon)):
        d = pd.Series(shapely.distance(shapely.Point(px[i], py[i]), lines)).groupby(edge_name[named]).min()
        d = d.sort_values()
        if d.iloc[0] > 500:
            assert got[i] == fallback_name(lon[i], lat[i])
            checked += 1
            continue
        if d.iloc[1] - d.iloc[0] <= 1.0 or (len(d) > 2 and d.iloc[2] - d.iloc[1] <= 1e-6):
            continue  # a tie, settled by street length: not what this test checks
        expected = d.index[0] if d.iloc[1] > 150 else f"{d.index[0]}近{d.index[1]}"
        assert got[i] == expected, (i, d.head(3))
        checked += 1
    assert checked > 250
    streets = set(names.values())
    for name in got:
        assert name.startswith("无名道路") or set(name.split("近")) <= streets


def test_the_extract_grid_gets_unique_chinese_names(yangpu):
    grid = regular_grid(yangpu.boundary_wgs84(), yangpu.crs, 0.5).to_crs("EPSG:4326")
    assert all(re.fullmatch(r"R\d\dC\d\d", u) for u in grid["unit"])  # what the cells are called today
    names = grid_unit_names(yangpu, grid)
    assert len(names) == len(grid) == len(set(names))
    streets = set(yangpu.meta["way_names"].values())
    for name in names:
        assert HAN.search(name) and not re.search(r"R\d\dC\d\d", name)
        if name.startswith("网格"):
            continue
        assert name.endswith(("一带", "一带甲", "一带乙", "一带丙"))
        assert set(name.split("一带")[0].split("/")) <= streets
    # the first street of each cell is the one with the most length inside it (clipped by geopandas)
    names_of = yangpu.meta["way_names"]
    edges = gpd.GeoDataFrame(
        {"street": [names_of.get(str(w)) for w in yangpu.meta["edge_way_id"]]},
        geometry=yangpu.edge_lines,
        crs=yangpu.crs,
    ).dropna(subset=["street"])
    cells = grid.to_crs(yangpu.crs)
    for i, cell in enumerate(cells.geometry):
        inside = gpd.clip(edges, cell)
        metres = inside.geometry.length.groupby(inside["street"]).sum().sort_values(ascending=False)
        metres = metres[metres > 0]
        if len(metres) > 1 and metres.iloc[0] - metres.iloc[1] < 1e-6:
            continue
        if len(metres):
            assert names[i].split("/")[0].split("一带")[0] == metres.index[0], (i, metres.head(3))
