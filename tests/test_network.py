"""Walk network building: walkability rules, clipping, missing nodes, fragments, cache."""

from __future__ import annotations

import logging
import re
import shutil
from itertools import pairwise

import numpy as np
import pytest

from conftest import WANGJING, YANGPU, lonlat, write_osm
from planner import osm
from planner.network import WalkNetwork, load_network
from planner.osm import walk_exclusion_reason


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"highway": "residential"}, None),
        ({"highway": "primary", "foot": "no"}, "foot=no"),
        ({"highway": "motorway"}, "highway=motorway"),
        ({"highway": "trunk", "motorroad": "yes"}, "expressway"),
        ({"highway": "secondary", "tunnel": "yes"}, "road tunnel"),
        ({"highway": "footway", "tunnel": "yes"}, None),  # a pedestrian underpass
        ({"highway": "primary", "tunnel": "yes", "foot": "yes"}, None),
        ({"highway": "residential", "access": "private"}, "access=private"),
        ({"highway": "residential", "access": "no", "foot": "yes"}, None),
        ({"highway": "cycleway"}, "cycleway without foot access"),
        ({"building": "yes"}, "not a highway"),
    ],
)
def test_walk_rules(tags, reason):
    assert walk_exclusion_reason(tags) == reason


def _grid_osm(tmp_path, extra_ways=(), extra_nodes=None, bounds=None, name="grid.osm"):
    """A 3x3 street grid of 100 m blocks plus optional extra ways."""
    nodes = {}
    for i in range(3):
        for j in range(3):
            nodes[1 + i * 3 + j] = lonlat(j * 100.0, i * 100.0)
    nodes.update(extra_nodes or {})
    ways = [(100 + i, [1 + i * 3, 2 + i * 3, 3 + i * 3], {"highway": "residential"}) for i in range(3)]
    ways += [(200 + j, [1 + j, 4 + j, 7 + j], {"highway": "residential"}) for j in range(3)]
    ways += list(extra_ways)
    return write_osm(tmp_path / name, nodes, ways, bounds)


def test_small_grid_builds_exactly(tmp_path):
    net = WalkNetwork.from_osm_file(_grid_osm(tmp_path))
    assert net.n_nodes == 9 and net.n_edges == 12
    assert net.total_km == pytest.approx(1.2, rel=0.01)  # 12 blocks of ~100 m
    assert net.crs == "EPSG:32651"


def test_tunnel_is_not_a_shortcut(tmp_path):
    # a 1.5 km road tunnel joining two far nodes must be left out, and logged
    far = {50: lonlat(0, 1500), 51: lonlat(100, 1500), 52: lonlat(200, 1500), 53: lonlat(300, 1500)}
    tunnel = (300, [1, 50], {"highway": "secondary", "tunnel": "yes"})
    street = (301, [50, 51, 52, 53], {"highway": "residential"})
    net = WalkNetwork.from_osm_file(_grid_osm(tmp_path, [tunnel, street], far))
    assert net.meta["ways_dropped"] == {"road tunnel": 1}
    # the far street (0.3 km) is a separate fragment below 2 km and is dropped with a count
    assert net.meta["components"]["fragments"] == 1
    assert net.meta["components"]["fragment_nodes"] == 4
    assert net.n_nodes == 9


def test_missing_nodes_are_dropped_with_a_logged_count(tmp_path, caplog):
    broken = (300, [3, 999, 998], {"highway": "residential"})  # nodes 999, 998 are not in the file
    with caplog.at_level(logging.WARNING):
        net = WalkNetwork.from_osm_file(_grid_osm(tmp_path, [broken]))
    assert net.meta["ways_with_missing_nodes"] == 1
    assert "1 ways refer to 2 nodes absent from the file" in caplog.text
    assert net.n_edges == 12


def test_fragments_kept_on_request(tmp_path, caplog):
    far = {50: lonlat(0, 1500), 51: lonlat(100, 1500)}
    osm = _grid_osm(tmp_path, [(301, [50, 51], {"highway": "residential"})], far)
    with caplog.at_level(logging.WARNING):
        kept = WalkNetwork.from_osm_file(osm, keep_fragments=True)
    assert kept.n_nodes == 11 and "kept 1 small street fragments" in caplog.text
    assert WalkNetwork.from_osm_file(osm).n_nodes == 9


def test_real_fixtures_clip_to_bounds():
    for path in (YANGPU, WANGJING):
        net = WalkNetwork.from_osm_file(path)
        assert net.meta["segments_clipped"] > 0
        bounds = net.bbox_wgs84()
        assert net.n_nodes > 300 and net.total_km > 10
        # nothing outside the file's <bounds>
        import bz2

        with bz2.open(path, "rt") as fh:
            head = fh.read(5000)
        b = dict(re.findall(r'(min\w+|max\w+)="([\d.]+)"', head))
        assert bounds[0] >= float(b["minlon"]) and bounds[2] <= float(b["maxlon"])
        assert bounds[1] >= float(b["minlat"]) and bounds[3] <= float(b["maxlat"])


def test_cache_hit_and_content_key(tmp_path):
    osm = _grid_osm(tmp_path)
    first = load_network(osm)
    second = load_network(osm)
    assert first.meta["cache"] == "miss" and second.meta["cache"] == "hit"
    np.testing.assert_array_equal(first.length, second.length)
    # same name, different content: rebuilt
    far = {50: lonlat(0, 300), 51: lonlat(100, 300)}
    _grid_osm(tmp_path, [(301, [7, 50, 51], {"highway": "residential"})], far)
    third = load_network(osm)
    assert third.meta["cache"] == "miss" and third.n_nodes == 11


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("this is not xml", "not readable as OSM XML"),
        ('<?xml version="1.0"?><gpx></gpx>', "not OSM XML"),
        ('<?xml version="1.0"?><osm><node id="1" lon="121" lat="31"/></osm>', "no walkable highway ways"),
    ],
)
def test_bad_osm_files(tmp_path, content, message):
    path = tmp_path / "bad.osm"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        WalkNetwork.from_osm_file(path)
    assert "bad.osm" in str(err.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match=re.escape("OSM file not found: nowhere.osm")):
        load_network("nowhere.osm")


def test_snap_to_nearest_edge_not_node(tmp_path):
    net = WalkNetwork.from_osm_file(_grid_osm(tmp_path))
    lon, lat = lonlat(50, 8)  # 8 m north of the middle of the first block's south side
    snap = net.snap([lon], [lat])
    assert snap.offset_m[0] == pytest.approx(8, abs=0.5)
    assert snap.t[0] == pytest.approx(0.5, abs=0.01)


def test_copy_of_fixture_gives_same_network(tmp_path):
    copy = tmp_path / "copy.osm.bz2"
    shutil.copy(YANGPU, copy)
    a, b = WalkNetwork.from_osm_file(YANGPU), WalkNetwork.from_osm_file(copy)
    assert a.n_edges == b.n_edges and a.meta["sha256"] == b.meta["sha256"]


def test_a_network_built_from_a_file_caches_its_buildings_from_the_same_reading(tmp_path, monkeypatch):
    """A cold plan reads the OSM file once: the network's build writes the buildings' cache entry too."""
    fresh = osm.buildings_frame(YANGPU, use_cache=False)
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path))
    readings = []
    real = osm.read_osm
    monkeypatch.setattr(osm, "read_osm", lambda p: readings.append(p) or real(p))
    monkeypatch.setattr("planner.network.read_osm", osm.read_osm)
    assert load_network(YANGPU).meta["cache"] == "miss" and len(readings) == 1
    kept = osm.buildings_frame(YANGPU)  # from the entry the network's build wrote
    assert len(readings) == 1 and len(kept) == len(fresh) > 200
    assert kept.geometry.equals(fresh.geometry) and kept["levels"].equals(fresh["levels"])


def test_buildings_are_read_and_cached():
    from planner.osm import buildings_frame

    first = buildings_frame(YANGPU)
    again = buildings_frame(YANGPU)  # from the cache
    fresh = buildings_frame(YANGPU, use_cache=False)
    assert len(first) == len(again) == len(fresh) > 200
    assert first.geometry.equals(fresh.geometry) and again.geometry.equals(fresh.geometry)
    assert (fresh["levels"] >= 1).all() and fresh["levels"].max() == 21  # a tagged tower
    assert fresh.is_valid.all()


def test_segments_and_footprints_worked_out_by_hand(tmp_path):
    """The flat-array build against a hand-worked file: a way through a node the file lacks, a node repeated in a
    row, one segment drawn by two ways (once each way round: the first way's id is kept), footprints with and
    without all their nodes."""
    d = 0.001
    nodes = {i: (121.45 + d * (i % 10), 31.2 + d * (i // 10)) for i in (1, 2, 3, 4, 11, 12, 13, 14, 20, 21, 22)}
    ways = [
        (100, [1, 2, 2, 3, 99, 4], {"highway": "residential"}),  # 2-2 is no segment; 99 is not in the file
        (101, [3, 2], {"highway": "footway"}),  # 2-3 again, drawn the other way
        (102, [11, 12, 13, 14, 4], {"highway": "path"}),
        (103, [1, 11], {"highway": "motorway"}),  # not walkable
        (200, [20, 21, 22, 20], {"building": "yes", "building:levels": "6"}),
        (201, [20, 21, 98, 20], {"building": "yes"}),  # a node missing: left out
    ]
    path = write_osm(tmp_path / "hand.osm", nodes, ways)
    ex = osm.read_osm(path)
    assert ex.way_ids.tolist() == [100, 101, 102]
    assert [ex.way_refs[a:b].tolist() for a, b in pairwise(ex.way_start)] == [
        [1, 2, 2, 3, 99, 4],
        [3, 2],
        [11, 12, 13, 14, 4],
    ]
    net = WalkNetwork.from_extract(ex, min_component_km=0.0)
    got = sorted(
        (int(min(a, b)), int(max(a, b)), int(w))
        for a, b, w in zip(net.osmid[net.u], net.osmid[net.v], net.meta["edge_way_id"], strict=True)
    )
    assert got == [(1, 2, 100), (2, 3, 100), (4, 14, 102), (11, 12, 102), (12, 13, 102), (13, 14, 102)]
    assert net.meta["ways_with_missing_nodes"] == 1
    coords, ring, levels, ids = osm._building_arrays(ex)
    assert ids.tolist() == [200] and levels.tolist() == [6.0] and ring.tolist() == [0, 0, 0, 0]
    assert coords.tolist() == [list(nodes[i]) for i in (20, 21, 22, 20)]
