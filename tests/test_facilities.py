"""Facility lists: reading, coordinate systems, and every bad input named by row and reason."""

from __future__ import annotations

import json
import re

import pytest

from conftest import YANGPU
from planner.coords import gcj02_to_bd09, wgs84_to_gcj02
from planner.facilities import FacilityError, load_facilities, snap_facilities
from planner.network import WalkNetwork

TIERS = ("center", "station", "point")


def _csv(tmp_path, text, name="fac.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_csv_with_services(tmp_path):
    path = _csv(
        tmp_path,
        "id,name,tier,lon,lat,services\n"
        "A,中心,center,121.497,31.285,elderly_care;health\n"
        "B,站,Station,121.499,31.284,meals、childcare\n",
    )
    fac = load_facilities(path, TIERS)
    assert fac["facility_id"].tolist() == ["A", "B"]
    assert fac["tier"].tolist() == ["center", "station"]
    assert fac["services"].tolist() == [["elderly_care", "health"], ["meals", "childcare"]]
    assert fac.crs == "EPSG:4326" and fac["source_row"].tolist() == [2, 3]


def test_gcj02_and_bd09_rows_are_converted(tmp_path):
    lon, lat = 121.497, 31.285
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = gcj02_to_bd09(glon, glat)
    path = _csv(
        tmp_path,
        f"tier,lng,latitude,crs\ncenter,{glon:.9f},{glat:.9f},GCJ-02\n"
        f"station,{blon:.9f},{blat:.9f},bd09\npoint,{lon},{lat},\n",
    )
    fac = load_facilities(path, TIERS)
    for geom in fac.geometry:
        assert geom.x == pytest.approx(lon, abs=1e-7) and geom.y == pytest.approx(lat, abs=1e-7)
    assert fac["source_crs"].tolist() == ["gcj02", "bd09", "wgs84"]


def test_whole_file_crs_option(tmp_path):
    glon, glat = wgs84_to_gcj02(121.497, 31.285)
    fac = load_facilities(_csv(tmp_path, f"tier,lon,lat\ncenter,{glon:.9f},{glat:.9f}\n"), TIERS, crs="gcj02")
    assert fac.geometry.iloc[0].x == pytest.approx(121.497, abs=1e-7)


def test_every_bad_row_is_reported(tmp_path):
    path = _csv(
        tmp_path,
        "id,tier,lon,lat,crs\n"
        "A,center,121.49,31.28,\n"  # row 2 fine
        "B,stationn,121.49,31.28,\n"  # row 3 unknown tier
        "C,point,,31.28,\n"  # row 4 missing lon
        "D,point,abc,31.28,\n"  # row 5 not a number
        "E,point,31.28,121.49,\n"  # row 6 swapped
        "F,point,200,31,\n"  # row 7 out of range
        "A,point,121.49,31.28,\n"  # row 8 duplicate id
        "H,point,121.49,31.28,utm\n"  # row 9 unknown crs
        "I,,121.49,31.28,\n",
    )  # row 10 missing tier
    with pytest.raises(FacilityError) as err:
        load_facilities(path, TIERS)
    text = str(err.value)
    assert "fac.csv" in text
    for needle in [
        "row 3, tier: 'stationn' is not a known tier",
        "row 4, lon: missing",
        "row 5, lon: 'abc' is not a number",
        "row 6, lon/lat: lat 121.49 is outside -90..90",
        "swapped",
        "row 7, lon/lat: (200, 31) is outside the valid range",
        "row 8, id: facility id 'A' is used more than once",
        "row 2, id: facility id 'A'",
        "row 9, crs: 'utm' is not a coordinate system",
        "row 10, tier: missing",
    ]:
        assert needle in text, needle
    assert {p.row for p in err.value.problems} == {2, 3, 4, 5, 6, 7, 8, 9, 10}


def test_skip_invalid_keeps_good_rows(tmp_path, caplog):
    path = _csv(tmp_path, "tier,lon,lat\ncenter,121.49,31.28\nbogus,121.49,31.28\n")
    fac = load_facilities(path, TIERS, skip_invalid=True)
    assert len(fac) == 1 and fac.attrs["skipped_rows"] == [3]
    assert "row 3, tier" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,lon,lat\nx,121,31\n", "no tier column"),
        ("tier,a,b\ncenter,121,31\n", "no longitude/latitude columns"),
        ("tier,lon,lat\n", "has no rows"),
    ],
)
def test_bad_files(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_facilities(_csv(tmp_path, text), TIERS)


def test_unsupported_and_missing(tmp_path):
    with pytest.raises(ValueError, match=re.escape("unsupported facility file type '.docx'")):
        load_facilities(_csv(tmp_path, "x", "fac.docx"), TIERS)
    with pytest.raises(FileNotFoundError, match="facility file not found"):
        load_facilities(tmp_path / "none.csv", TIERS)


def test_geojson_points_and_non_points(tmp_path):
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"tier": "center", "name": "a"},
                "geometry": {"type": "Point", "coordinates": [121.497, 31.285]},
            },
            {
                "type": "Feature",
                "properties": {"tier": "point", "name": "b"},
                "geometry": {"type": "LineString", "coordinates": [[121.49, 31.28], [121.5, 31.29]]},
            },
        ],
    }
    path = tmp_path / "fac.geojson"
    path.write_text(json.dumps(fc))
    with pytest.raises(FacilityError, match="row 3, geometry: LineString geometry; a facility must be a point"):
        load_facilities(path, TIERS)
    fac = load_facilities(path, TIERS, skip_invalid=True)
    assert len(fac) == 1 and fac.geometry.iloc[0].x == pytest.approx(121.497)


def test_far_from_streets_is_reported(tmp_path):
    net = WalkNetwork.from_osm_file(YANGPU)
    lon0, lat0, lon1, lat1 = net.bbox_wgs84()
    mid = ((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    # GCJ-02 numbers declared as WGS-84: ~500 m off, and a point in Beijing
    glon, glat = wgs84_to_gcj02(*mid)
    path = _csv(
        tmp_path, f"tier,lon,lat\ncenter,{mid[0]},{mid[1]}\nstation,{glon + 0.01:.6f},{glat:.6f}\npoint,116.40,39.90\n"
    )
    fac = load_facilities(path, TIERS)
    with pytest.raises(FacilityError) as err:
        snap_facilities(fac, net)
    text = str(err.value)
    assert "row 3, location" in text and "row 4, location" in text and "row 2" not in text
    assert "from the nearest walkable street (limit 300 m)" in text
    ok = snap_facilities(fac, net, skip_invalid=True)
    assert len(ok) == 1 and ok["snap_m"].iloc[0] < 300
