"""Residents and coverage: a hand-worked network, population conservation, equity maths, bad inputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from conftest import YANGPU
from planner.access import nearest_facility
from planner.coverage import gini, headline, resident_coverage, weighted_quantile
from planner.network import WalkNetwork
from planner.population import PopulationError, read_population
from planner.residents import residents_from_points, residents_from_zones
from planner.tiers import Rules, SpeedProfile, Tier
from test_access import hand_network

RULES = Rules(
    tiers=(Tier("center", 15, "中心", "Center"), Tier("station", 5, "站", "Station"), Tier("point", 2, "点", "Point")),
    profiles=(SpeedProfile("adult", 1.0), SpeedProfile("elderly", 0.5)),
    services=(),
)


def test_hand_worked_coverage():
    """Speeds 60 and 30 m/min. Center at A(0,0), station at C(400,300), point at (200,0)."""
    net = hand_network()
    nearest = {}
    for key, (x, y) in {"center": (0, 0), "station": (400, 300), "point": (200, 0)}.items():
        s = net.snap_xy(np.array([float(x)]), np.array([float(y)]))
        nearest[key] = nearest_facility(net, s.edge, s.t, s.offset_m)
    xs = np.array([600.0, 350.0, 400.0, 250.0, 2050.0])
    ys = np.array([0.0, 0.0, 250.0, 0.0, 0.0])
    s = net.snap_xy(xs, ys)
    residents = gpd.GeoDataFrame(
        {
            "population": [100.0, 50, 30, 20, 10],
            "elderly": [20.0, 10, 30, 0, 5],
            "edge": s.edge,
            "t": s.t,
            "offset_m": s.offset_m,
        },
        geometry=shapely.points(xs, ys),
        crs="EPSG:32651",
    )
    cov = resident_coverage(net, residents, nearest, RULES)
    # distances worked by hand (metres): center 600, 350, 650, 250, inf; station 500, 350, 50, 450, inf;
    # point 400, 150, 450, 50, inf
    np.testing.assert_allclose(cov["minutes_center_adult"], [10, 350 / 60, 650 / 60, 250 / 60, np.nan])
    np.testing.assert_allclose(cov["minutes_station_adult"], [500 / 60, 350 / 60, 50 / 60, 7.5, np.nan])
    np.testing.assert_allclose(cov["minutes_point_elderly"], [400 / 30, 5, 15, 50 / 30, np.nan])
    assert cov["covered_center_adult"].tolist() == [True, True, True, True, False]
    assert cov["covered_station_adult"].tolist() == [False, False, True, False, False]
    assert cov["covered_point_adult"].tolist() == [False, False, False, True, False]
    assert cov["missing_tiers_adult"].tolist() == [
        "station,point",
        "station,point",
        "point",
        "station",
        "center,station,point",
    ]
    assert cov["underserved_adult"].all()
    # elderly speed: center 600/30 = 20 > 15 for R0, 350/30 = 11.7 ok for R1
    assert cov["covered_center_elderly"].tolist() == [False, True, False, True, False]
    head = headline(cov, RULES)
    assert head["population"] == 210 and head["elderly"] == 65
    assert head["tiers"]["center"]["adult"]["people_without"] == 10
    assert head["tiers"]["station"]["adult"]["people_without"] == 180
    assert head["tiers"]["station"]["adult"]["elderly_without"] == 35
    assert head["tiers"]["center"]["elderly"]["elderly_without"] == 20 + 30 + 5
    assert head["underserved"]["adult"]["people"] == 210
    # all three tiers within 15 minutes (adult): nobody, since the point minutes of R0 and R2 are <= 15 but
    # R0..R3 each have every tier within 15? R0: 10, 8.3, 6.7 yes; R1 yes; R2: 10.8, 0.8, 7.5 yes; R3 yes.
    assert head["within_15min_all_tiers_share"] == pytest.approx(200 / 210, abs=1e-4)


def test_weighted_statistics_by_hand():
    v = np.array([1.0, 2.0, 3.0, np.nan])
    w = np.array([1.0, 1.0, 2.0, 5.0])
    # each value sits at the middle of its weight: 0.5, 1.5, 3.0 of a total of 4; the median (2.0) lies a third
    # of the way from 1.5 (value 2) to 3.0 (value 3)
    assert weighted_quantile(v, w, 0.5) == pytest.approx(2 + 1 / 3)
    assert gini(np.array([5.0, 5.0, 5.0]), np.ones(3)) == pytest.approx(0.0)
    # two people, one walks 0 minutes and one 10: Gini = 0.5 for two equal groups
    assert gini(np.array([0.0, 10.0]), np.ones(2)) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def yangpu() -> WalkNetwork:
    return WalkNetwork.from_osm_file(YANGPU)


def _cells(net, pops, shifts=((0, 0), (1, 0), (0, 1), (5, 5)), size=None):
    """Square cells laid from the south-west corner of the network's bounds, in degrees."""
    x0, y0, x1, y1 = net.meta["bounds"]
    size = size or ((x1 - x0) / 2, (y1 - y0) / 2)
    geoms = [
        shapely.box(x0 + i * size[0], y0 + j * size[1], x0 + (i + 1) * size[0], y0 + (j + 1) * size[1])
        for i, j in shifts
    ]
    return gpd.GeoDataFrame({"population": pops}, geometry=geoms, crs="EPSG:4326")


def test_population_is_conserved_on_streets(yangpu):
    cells = _cells(yangpu, [1000.0, 2000.0, 3000.0, 4000.0])  # the last cell is far outside
    res = residents_from_zones(yangpu, cells, spacing_m=50)
    assert res["population"].sum() == pytest.approx(6000.0, rel=1e-9)
    assert res["elderly"].sum() == pytest.approx(6000 * 0.234, rel=1e-9)
    assert (res["placement"] == "street").all() and (res["offset_m"] == 0).all()
    # every cell's people stay in that cell
    inside = shapely.contains_xy(cells.geometry.iloc[0], res.geometry.x, res.geometry.y)
    assert res["population"][inside].sum() == pytest.approx(1000.0, rel=1e-6)
    # ~50 m of street per point
    assert len(res) >= yangpu.total_km * 1000 / 50 * 0.9


def test_partial_cells_count_their_inside_share(yangpu):
    x0, y0, x1, y1 = yangpu.meta["bounds"]
    half_out = shapely.box(x0 - (x1 - x0) / 4, y0, x0 + (x1 - x0) / 4, y1)  # half of it west of the bounds
    zones = gpd.GeoDataFrame({"population": [800.0]}, geometry=[half_out], crs="EPSG:4326")
    res = residents_from_zones(yangpu, zones)
    assert res["population"].sum() == pytest.approx(400.0, rel=2e-3)


def test_polygon_without_street_is_one_point(yangpu):
    # a small compound polygon between streets: find a spot far from every edge
    rng = np.random.default_rng(2)
    x0, y0, x1, y1 = yangpu.meta["bounds"]
    dx, dy = (x1 - x0) / 5, (y1 - y0) / 5
    lon, lat = rng.uniform(x0 + dx, x1 - dx, 2000), rng.uniform(y0 + dy, y1 - dy, 2000)
    snap = yangpu.snap(lon, lat)
    i = int(np.argmax(snap.offset_m))
    tiny = shapely.Point(lon[i], lat[i]).buffer(0.0002)
    zones = gpd.GeoDataFrame(
        {"population": [250.0, 1000.0]}, geometry=[tiny, shapely.box(x0, y0, x1, y1)], crs="EPSG:4326"
    )
    res = residents_from_zones(yangpu, zones)
    assert res["population"].sum() == pytest.approx(1250.0, rel=1e-9)
    point = res[res.placement == "zone_point"]
    assert len(point) == 1 and point["population"].iloc[0] == pytest.approx(250.0)
    assert point["offset_m"].iloc[0] > 10


def test_points_with_population(yangpu):
    x0, y0, x1, y1 = yangpu.meta["bounds"]
    pts = gpd.GeoDataFrame(
        {"population": [10.0, 20.0, 30.0], "elderly_share": [0.5, 0.1, 0.0]},
        geometry=shapely.points([x0 + 0.003, x1 - 0.003, x1 + 1], [y0 + 0.003, y1 - 0.003, y1]),
        crs="EPSG:4326",
    )
    res = residents_from_points(yangpu, pts, elderly_col="elderly_share")
    assert res["population"].sum() == 30.0 and res["elderly"].tolist() == [5.0, 2.0]


def test_grid_in_another_crs_gives_the_same_residents(yangpu, tmp_path):
    cells = _cells(yangpu, [1000.0, 2000.0, 3000.0, 0.0])
    cells.to_crs("EPSG:3857").to_file(tmp_path / "grid3857.geojson")
    cells.to_file(tmp_path / "grid4326.geojson")
    a = residents_from_zones(yangpu, read_population(tmp_path / "grid4326.geojson"))
    b = residents_from_zones(yangpu, read_population(tmp_path / "grid3857.geojson"))
    assert len(a) == len(b)
    np.testing.assert_allclose(a["population"].sum(), b["population"].sum(), rtol=1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("minlon,minlat,maxlon,maxlat,people\n121.49,31.28,121.50,31.29,100\n", "no population column 'population'"),
        (
            "minlon,minlat,maxlon,maxlat,population\n121.49,31.28,121.50,31.29,-5\n",
            "must hold finite non-negative numbers; bad value(s) in row(s) 2",
        ),
        ("minlon,minlat,maxlon,maxlat,population\n121.49,31.28,121.50,31.29,many\n", "row(s) 2"),
        (
            "minlon,minlat,maxlon,maxlat,population\n13524000,3668000,13525000,3669000,100\n",
            "are not longitude/latitude degrees",
        ),
        ("x,y,population\n1,2,3\n", "needs cell columns minlon, minlat, maxlon, maxlat or point columns lon, lat"),
    ],
)
def test_bad_population_files(tmp_path, text, message):
    path = tmp_path / "pop.csv"
    path.write_text(text)
    with pytest.raises(PopulationError) as err:
        read_population(path)
    assert message in str(err.value) and "pop.csv" in str(err.value)


def test_population_in_another_city_is_refused(yangpu):
    from conftest import ROOT

    songjiang = read_population(ROOT / "tests" / "data" / "songjiang_newcity_pop_grid_1km.geojson")
    with pytest.raises(PopulationError, match=r"no residents inside the study area.*do not overlap the street data"):
        residents_from_zones(yangpu, songjiang)


def test_empty_tier_is_named(area_toml, tmp_path, caplog):
    import shutil

    from planner.area import StudyArea
    from planner.pipeline import RunOptions, run

    root = tmp_path / "area"
    shutil.copytree(area_toml.parent, root)
    fac = (root / "facilities.csv").read_text(encoding="utf-8").splitlines()
    (root / "facilities.csv").write_text("\n".join(row for row in fac if ",center," not in row), encoding="utf-8")
    plan = run(StudyArea.from_toml(root / "area.toml"), RunOptions(isochrones="none"))
    assert "no facilities of tier 'center' (Community service center): every resident lacks it" in caplog.text
    assert not plan.residents["covered_center_adult"].any()
    assert plan.summary()["residents"]["tiers"]["center"]["adult"]["people_without"] == 40_000


def test_people_follow_building_floor_area(yangpu):
    from planner.osm import buildings_frame

    buildings = buildings_frame(YANGPU)
    cells = _cells(yangpu, [1000.0, 2000.0, 3000.0, 4000.0])
    res = residents_from_zones(yangpu, cells, buildings=buildings)
    assert res["population"].sum() == pytest.approx(6000.0, rel=1e-9)  # still conserved
    in_buildings = res[res.placement == "building"]
    assert len(in_buildings) > 50 and (in_buildings["offset_m"] >= 0).all()
    # hand check in one cell: each building's share is its floor area over the cell's total
    bm = buildings.to_crs(yangpu.crs)
    floor = bm.area.to_numpy() * bm["levels"].to_numpy()
    spots = shapely.point_on_surface(buildings.geometry.values)
    cell = cells.geometry.iloc[0]
    mine = shapely.contains(cell, spots)
    got = res[(res.placement == "building") & shapely.contains_xy(cell, res.geometry.x, res.geometry.y)]
    if mine.sum():
        assert got["population"].max() == pytest.approx(1000.0 * floor[mine].max() / floor[mine].sum(), rel=1e-6)
