"""A city's store written a few zones at a time (``city_store``) equals the store cut from the whole run's
network, facilities and residents (``tile_store.write_tile_store``), partition by partition."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

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
