"""The OSMnx download path, run for real against a local server replaying Overpass and Nominatim answers."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from planner.fetch import fetch_osm
from planner.network import WalkNetwork
from replay_server import ReplayServer


@pytest.mark.slow
def test_fetch_by_place_builds_a_walk_network(tmp_path):
    with ReplayServer() as server:
        out = fetch_osm(
            tmp_path / "siping.osm",
            place="四平路街道, 上海",
            overpass_url=f"{server.url}/api",
            nominatim_url=f"{server.url}/nominatim",
        )
        methods = [(m, p) for m, p, _ in server.requests]
    assert ("GET", "/nominatim/search") in methods and ("POST", "/api/interpreter") in methods
    query = unquote_plus(next(b for m, p, b in server.requests if p == "/api/interpreter"))
    assert '["highway"]' in query and "poly:" in query  # OSMnx's walk filter, clipped to the place's polygon
    net = WalkNetwork.from_osm_file(out)
    reference = WalkNetwork.from_osm_file("data/fixtures/shanghai_yangpu_tongji_siping.osm.bz2")
    # the same streets as the file the answers were recorded from (the place polygon is its <bounds>),
    # with the walk rules still able to see foot/motorroad tags: the elevated expressway stays out
    assert net.total_km == pytest.approx(reference.total_km, rel=0.01)
    assert net.n_nodes == reference.n_nodes
    assert net.meta["ways_dropped"]["expressway"] > 0
    assert net.length.max() == pytest.approx(reference.length.max())  # no invented long segments


def test_fetch_by_bbox_and_the_cache(tmp_path):
    bbox = (121.4915, 31.2809, 121.5033, 31.2895)
    with ReplayServer() as server:
        fetch_osm(tmp_path / "a.osm", bbox=bbox, overpass_url=f"{server.url}/api")
        first = len(server.requests)
        fetch_osm(tmp_path / "b.osm", bbox=bbox, overpass_url=f"{server.url}/api")
        assert len(server.requests) == first  # the second fetch came from OSMnx's cache
    assert (tmp_path / "a.osm").read_bytes() == (tmp_path / "b.osm").read_bytes()


def test_fetch_errors(tmp_path):
    (tmp_path / "x.osm").write_text("keep")
    with pytest.raises(FileExistsError, match="already exists"):
        fetch_osm(tmp_path / "x.osm", bbox=(121.49, 31.28, 121.50, 31.29))
    with pytest.raises(ValueError, match="either a place name or a bbox"):
        fetch_osm(tmp_path / "y.osm")
    with pytest.raises(ValueError, match="west < east"):
        fetch_osm(tmp_path / "y.osm", bbox=(121.5, 31.28, 121.49, 31.29))
    with ReplayServer() as server, pytest.raises(ValueError, match="could not download streets"):
        fetch_osm(
            tmp_path / "z.osm",
            place="Nowhere at all",
            overpass_url=f"{server.url}/api",
            nominatim_url=f"{server.url}/nominatim",
        )
    assert (tmp_path / "x.osm").read_text() == "keep"
