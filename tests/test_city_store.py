"""A city's store written a few zones at a time (``city_store``) equals the store cut from the whole run's
network, facilities and residents (``tile_store.write_tile_store``), partition by partition."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from conftest import lonlat, write_osm
from planner.area import StudyArea
from planner.city_store import write_city_store
from planner.pipeline import RunOptions, load_inputs
from planner.tile_store import TABLES, read_index, write_tile_store


@pytest.fixture(scope="module")
def fine_grid_area(area_toml, tmp_path_factory):
    """The Tongji/Siping test area with its 221 footprints and a 6 x 6 population grid: zones that tiles cut."""
    root = tmp_path_factory.mktemp("fine")
    for name in ("streets.osm.bz2", "facilities.csv"):
        shutil.copy(area_toml.parent / name, root / name)
    text = area_toml.read_text(encoding="utf-8").replace('grid = "pop.csv"', 'grid = "pop6.csv"\nspacing_m = 40')
    (root / "area.toml").write_text(text, encoding="utf-8")
    from planner.network import WalkNetwork

    x0, y0, x1, y1 = WalkNetwork.from_osm_file(root / "streets.osm.bz2").meta["bounds"]
    k = 6
    rows = ["cell_id,minlon,minlat,maxlon,maxlat,population"]
    for i in range(k):
        for j in range(k):
            a, b = x0 + (x1 - x0) * j / k, y0 + (y1 - y0) * i / k
            rows.append(f"{100 + i * k + j},{a},{b},{a + (x1 - x0) / k},{b + (y1 - y0) / k},{(i * k + j) * 97 + 40}")
    (root / "pop6.csv").write_text("\n".join(rows), encoding="utf-8")
    return StudyArea.from_toml(root / "area.toml")


def _assert_same_store(mine, theirs):
    a, b = read_index(mine), read_index(theirs)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    for table in TABLES:
        names = sorted(p.name for p in (theirs / table).glob("*.parquet"))
        assert sorted(p.name for p in (mine / table).glob("*.parquet")) == names
        for name in names:
            if table == "residents":
                x, y = gpd.read_parquet(mine / table / name), gpd.read_parquet(theirs / table / name)
                assert x.geometry.geom_equals_exact(y.geometry, 0).all()
                x, y = pd.DataFrame(x.drop(columns="geometry")), pd.DataFrame(y.drop(columns="geometry"))
            else:
                x, y = pd.read_parquet(mine / table / name), pd.read_parquet(theirs / table / name)
            pd.testing.assert_frame_equal(x, y, check_exact=True)
    for name in ("facilities.parquet", "sets.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(mine / name), pd.read_parquet(theirs / name), check_exact=True)


def _whole_run_store(area, folder, tiles):
    inputs = load_inputs(area, RunOptions())
    write_tile_store(
        inputs.network,
        inputs.facilities,
        inputs.placed,
        area.rules,
        area.settings.access.horizon_min,
        folder,
        tiles=tiles,
    )
    return inputs.placed


@pytest.mark.parametrize(("tiles", "reach_m"), [((2, 2), 1000.0), ((3, 3), 1000.0), ((3, 2), 5.0)])
def test_footprints_and_a_fine_grid_placed_by_tiles_equal_the_whole_run(fine_grid_area, tmp_path, tiles, reach_m):
    """With 5 m of streets around each tile's zones nearly every footprint's street lies outside the piece and is
    found again on a wider one: still the whole run's."""
    placed = _whole_run_store(fine_grid_area, tmp_path / "theirs", tiles)
    assert (placed["placement"] == "building").sum() > 150 and placed["zone_id"].nunique() > 20
    index, _ = write_city_store(fine_grid_area, tmp_path / "mine", tiles=tiles, reach_m=reach_m)
    assert index["n_residents"] == len(placed)
    assert not (tmp_path / "mine" / "_placing").exists()
    _assert_same_store(tmp_path / "mine", tmp_path / "theirs")


def test_the_default_area_placed_by_tiles_equals_the_whole_run(tmp_path):
    """Streets only, and twelve zones with no street inside, each placed at one point."""
    area = StudyArea.default()
    placed = _whole_run_store(area, tmp_path / "theirs", (3, 3))
    assert (placed["placement"] == "zone_point").sum() == 12
    write_city_store(area, tmp_path / "mine", tiles=(3, 3))
    _assert_same_store(tmp_path / "mine", tmp_path / "theirs")


def test_a_finished_store_is_not_written_over(fine_grid_area, tmp_path):
    write_city_store(fine_grid_area, tmp_path / "s", tiles=(1, 1))
    before = sorted(p.name for p in (tmp_path / "s").rglob("*"))
    with pytest.raises(FileExistsError, match="already holds a tile store"):
        write_city_store(fine_grid_area, tmp_path / "s", tiles=(2, 2))
    assert sorted(p.name for p in (tmp_path / "s").rglob("*")) == before
    assert np.isfinite(read_index(tmp_path / "s")["horizon_m"])


def _area(root, nodes, ways, bounds, cells, toml=""):
    """An area folder: streets (and footprints) from ``write_osm``, three facilities, a population grid."""
    root.mkdir(parents=True)
    write_osm(root / "streets.osm", nodes, ways, bounds)
    rows = ["id,name,tier,lon,lat,services"] + [
        f"X{i},设施{i},{t},{nodes[n][0]:.7f},{nodes[n][1]:.7f},elderly_care"
        for i, (t, n) in enumerate(zip(("center", "station", "point"), list(nodes)[:3], strict=True))
    ]
    (root / "facilities.csv").write_text("\n".join(rows), encoding="utf-8")
    grid = ["cell_id,minlon,minlat,maxlon,maxlat,population"] + [",".join(map(str, c)) for c in cells]
    (root / "pop.csv").write_text("\n".join(grid), encoding="utf-8")
    (root / "area.toml").write_text(
        'name = "t"\n[network]\nosm = "streets.osm"\nmin_component_km = 0\n'
        f'[facilities]\nfile = "facilities.csv"\nillustrative = true\n[population]\ngrid = "pop.csv"\n{toml}',
        encoding="utf-8",
    )
    return StudyArea.from_toml(root / "area.toml")


def test_a_zone_with_no_street_near_it_is_placed_at_its_point_as_in_the_whole_run(tmp_path):
    """Two streets 3 km apart; a populated cell between them, 1.5 km from each: its tile's piece of the network
    holds no street at all, and its one point is snapped on a wider piece (found in review: it crashed)."""
    nodes = {k + 1: lonlat(k * 200, 0) for k in range(6)} | {k + 11: lonlat(k * 200, 3000) for k in range(6)}
    ways = [(1, list(range(1, 7)), {"highway": "residential"}), (2, list(range(11, 17)), {"highway": "residential"})]
    cells = [(1, *lonlat(-100, -100), *lonlat(1100, 100), 1000), (2, *lonlat(400, 1500), *lonlat(600, 1700), 300)]
    area = _area(tmp_path / "a", nodes, ways, (*lonlat(-200, -200), *lonlat(1300, 3200)), cells, 'weights = "streets"')
    placed = _whole_run_store(area, tmp_path / "theirs", (1, 3))
    assert (placed["placement"] == "zone_point").sum() == 1
    write_city_store(area, tmp_path / "mine", tiles=(1, 3))
    _assert_same_store(tmp_path / "mine", tmp_path / "theirs")


def test_a_footprint_in_a_wide_zone_beyond_its_lon_lat_bounds_is_found(tmp_path):
    """A zone 19 km wide at 31.2 N: in the network's projection its northern edge is a straight chord that bulges
    metres north of the parallel it was drawn on, and a footprint 2 m north of that parallel lies in the zone (found
    in review: footprints were chosen by lon/lat bounds, and this one was lost)."""
    lon0, lon1, lat0, lat1 = 121.3, 121.5, 31.2, 31.22
    nodes, ways, nid = {}, [], 1
    lons = np.linspace(lon0 + 0.002, lon1 - 0.002, 20)
    rows = []
    for la in np.linspace(lat0 + 0.002, lat1 - 0.002, 4):
        rows.append(list(range(nid, nid + len(lons))))
        nodes |= {nid + i: (round(float(lo), 7), round(float(la), 7)) for i, lo in enumerate(lons)}
        nid += len(lons)
    ways = [(w + 1, r, {"highway": "residential"}) for w, r in enumerate(rows)]
    ways += [(100 + c, [r[c] for r in rows], {"highway": "residential"}) for c in range(len(lons))]
    mid = (lon0 + lon1) / 2
    for k, cy in enumerate((lat1 - 3e-5, lat1 + 1.8e-5)):  # one inside the parallel, one just north of it
        ids = list(range(nid, nid + 4))
        nodes |= {
            i: (mid + dx, cy + dy)
            for i, (dx, dy) in zip(ids, ((-6e-6, -3e-6), (6e-6, -3e-6), (6e-6, 3e-6), (-6e-6, 3e-6)), strict=True)
        }
        ways.append((200 + k, [*ids, ids[0]], {"building": "yes"}))
        nid += 4
    area = _area(tmp_path / "a", nodes, ways, (121.2, 31.1, 121.6, 31.3), [(1, lon0, lat0, lon1, lat1, 1000)])
    placed = _whole_run_store(area, tmp_path / "theirs", (1, 1))
    assert (placed["placement"] == "building").sum() == 2
    write_city_store(area, tmp_path / "mine", tiles=(1, 1))
    _assert_same_store(tmp_path / "mine", tmp_path / "theirs")
