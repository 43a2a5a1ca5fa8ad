"""WGS-84 / GCJ-02 / BD-09 conversions against an independent implementation (eviltransform)."""

from __future__ import annotations

import eviltransform
import numpy as np
import pytest

from planner.coords import bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, normalise_crs_name, to_wgs84, wgs84_to_gcj02

# Reference pairs computed by eviltransform (an independent implementation), People's Square, Shanghai:
# WGS-84 (121.4737, 31.2304) -> GCJ-02 (121.47822313586518, 31.228457704689244)
PAIRS = [(121.4737, 31.2304, 121.47822313586518, 31.228457704689244)]


@pytest.mark.parametrize(("lon", "lat", "glon", "glat"), PAIRS)
def test_reference_pair(lon, lat, glon, glat):
    g = wgs84_to_gcj02(lon, lat)
    assert g[0] == pytest.approx(glon, abs=2e-7) and g[1] == pytest.approx(glat, abs=2e-7)  # ~2 cm
    w = gcj02_to_wgs84(glon, glat)
    assert w[0] == pytest.approx(lon, abs=2e-7) and w[1] == pytest.approx(lat, abs=2e-7)


def test_many_points_agree_with_eviltransform():
    rng = np.random.default_rng(3)
    lon = rng.uniform(75, 134, 200)
    lat = rng.uniform(18, 53, 200)
    glon, glat = wgs84_to_gcj02(lon, lat)
    for i in range(200):
        elat, elon = eviltransform.wgs2gcj(lat[i], lon[i])
        assert abs(glon[i] - elon) < 2e-7 and abs(glat[i] - elat) < 2e-7
        blat, blon = eviltransform.gcj2bd(glat[i], glon[i])
        b = gcj02_to_bd09(glon[i], glat[i])
        assert abs(b[0] - blon) < 1e-9 and abs(b[1] - blat) < 1e-9


def test_offset_in_shanghai_is_hundreds_of_metres_and_inverse_is_exact():
    lon, lat = 121.47, 31.23
    glon, glat = wgs84_to_gcj02(lon, lat)
    metres = np.hypot((glon - lon) * 95_300, (glat - lat) * 110_900)
    assert 300 < metres < 700
    back = gcj02_to_wgs84(glon, glat)
    assert np.hypot((back[0] - lon) * 95_300, (back[1] - lat) * 110_900) < 0.001  # below 1 mm


def test_outside_mainland_no_offset():
    for lon, lat in [(-0.1276, 51.5072), (139.69, 35.69)]:  # London, Tokyo
        assert wgs84_to_gcj02(lon, lat) == (pytest.approx(lon), pytest.approx(lat))


def test_bd09_round_trip_and_to_wgs84():
    lon, lat = 121.4737, 31.2304
    b = gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    elat, elon = eviltransform.wgs2bd(lat, lon)
    assert b[0] == pytest.approx(elon, abs=2e-7) and b[1] == pytest.approx(elat, abs=2e-7)
    w = to_wgs84(b[0], b[1], "bd09")
    assert w[0] == pytest.approx(lon, abs=1e-8) and w[1] == pytest.approx(lat, abs=1e-8)  # ~1 mm
    g = bd09_to_gcj02(*gcj02_to_bd09(121.5, 31.3))
    assert g[0] == pytest.approx(121.5, abs=1e-9) and g[1] == pytest.approx(31.3, abs=1e-9)


def test_crs_names():
    assert normalise_crs_name("WGS-84") == "wgs84"
    assert normalise_crs_name("GCJ02") == "gcj02"
    assert normalise_crs_name("Baidu") == "bd09"
    with pytest.raises(ValueError, match="unknown coordinate system 'utm'"):
        normalise_crs_name("utm")
