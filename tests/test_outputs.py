"""The GeoPackage writer: lists joined, and the same layers, fields and types with or without Arrow."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from planner.outputs import write_geopackage


def _layers() -> dict[str, gpd.GeoDataFrame]:
    points = gpd.GeoDataFrame(
        {
            "id": pd.Series(["a", "b", None], dtype="str"),
            "services": [["health", "meals"], (), "meals"],  # lists and tuples become ;-joined text
            "minutes": [1.5, np.nan, 3.0],
            "people": np.array([10, 20, 30], dtype=np.int64),
            "covered": [True, False, True],
        },
        geometry=shapely.points([[121.4, 31.2], [121.5, 31.3], [121.6, 31.1]]),
        crs="EPSG:4326",
    )
    areas = gpd.GeoDataFrame(
        {"band_min": [5.0, 10.0], "tier": ["station", "point"]},
        geometry=[shapely.box(121.4, 31.2, 121.5, 31.3).buffer(0.01), shapely.box(121.5, 31.2, 121.6, 31.3)],
        crs="EPSG:4326",
    )
    return {"facilities": points, "service_areas": areas}


def test_lists_become_text_and_arrow_changes_nothing(tmp_path):
    pytest.importorskip("pyarrow")
    descriptions = {"facilities": "illustrative", "service_areas": "computed"}
    paths = {arrow: tmp_path / f"arrow_{arrow}.gpkg" for arrow in (False, True)}
    for arrow, path in paths.items():
        write_geopackage(path, _layers(), descriptions, use_arrow=arrow)
    rows, arrow_rows = (pyogrio.list_layers(paths[a]).tolist() for a in (False, True))
    assert (
        rows
        == arrow_rows
        == [
            ["facilities", "Point"],
            ["service_areas", "Polygon"],
            ["layer_sources", None],
        ]
    )
    for layer, _ in rows:
        info, arrow_info = (pyogrio.read_info(paths[a], layer=layer) for a in (False, True))
        for key in ("fields", "dtypes", "ogr_types", "ogr_subtypes", "geometry_type", "features", "crs"):
            assert np.array_equal(info[key], arrow_info[key]), (layer, key)
        assert info["layer_metadata"] == arrow_info["layer_metadata"]
        pd.testing.assert_frame_equal(
            pyogrio.read_dataframe(paths[False], layer=layer), pyogrio.read_dataframe(paths[True], layer=layer)
        )
    facilities = pyogrio.read_dataframe(paths[True], layer="facilities")
    assert facilities["services"].tolist() == ["health;meals", "", "meals"]
    assert facilities["covered"].tolist() == [True, False, True] and facilities["people"].dtype == np.int64
    assert pyogrio.read_dataframe(paths[True], layer="layer_sources")["source"].tolist() == [
        "illustrative",
        "computed",
    ]


def test_written_without_pyarrow_by_default(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else find_spec(name, *a)
    )
    calls = []
    write = pyogrio.write_dataframe
    monkeypatch.setattr(pyogrio, "write_dataframe", lambda *a, **k: calls.append(k) or write(*a, **k))
    write_geopackage(tmp_path / "plan.gpkg", _layers())
    assert len(calls) == 2 and not any("use_arrow" in k for k in calls)
    assert pyogrio.read_info(tmp_path / "plan.gpkg", layer="facilities")["features"] == 3
