"""The segments that meet a box, from the network's arrays, equal shapely's STRtree answer: on real streets with
random boxes of every size, a box beyond the streets, a box on one node, and hand-made segments that only touch."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from conftest import YANGPU, planar_network
from planner.edge_index import EdgeIndex
from planner.network import WalkNetwork


@pytest.fixture(scope="module")
def yangpu():
    return WalkNetwork.from_osm_file(YANGPU)


@pytest.mark.parametrize("cell_m", [50.0, 500.0, 5000.0])
def test_equal_to_strtree_on_real_streets(yangpu, cell_m):
    net = yangpu
    index, tree = EdgeIndex(net, cell_m), shapely.STRtree(net.edge_lines)
    rng = np.random.default_rng(19)
    x0, x1, y0, y1 = net.x.min(), net.x.max(), net.y.min(), net.y.max()
    boxes = [(x0 - 900, y0 - 900, x0 - 800, y0 - 800), (net.x[0], net.y[0], net.x[0], net.y[0])]  # outside; a node
    for size in (5.0, 80.0, 600.0, 3000.0):
        for _ in range(20):
            cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            boxes.append((cx - size * rng.random(), cy - size * rng.random(), cx + size, cy + size))
    for box in boxes:
        ours = index.query(*box)
        theirs = np.sort(tree.query(shapely.box(*box), predicate="intersects"))
        np.testing.assert_array_equal(ours, theirs, err_msg=str(box))


def test_touching_and_parallel_segments():
    x = np.array([0.0, 10.0, 10.0, 10.0, 20.0, 20.0, -5.0, -5.0])
    y = np.array([0.0, 0.0, 10.0, -10.0, 5.0, 15.0, -5.0, 20.0])
    u = np.array([0, 1, 2, 4, 6], dtype=np.int32)
    v = np.array([1, 2, 3, 5, 7], dtype=np.int32)
    net = planar_network(x, y, u, v)
    index = EdgeIndex(net, cell_m=7.0)
    # box [10, 20] x [-1, 1]: edge 0 touches at (10, 0), edges 1 and 2 run along its left side, 3 and 4 stay out
    np.testing.assert_array_equal(index.query(10.0, -1.0, 20.0, 1.0), [0, 1, 2])
    # a box between the vertical edges, touching none
    np.testing.assert_array_equal(index.query(11.0, 6.0, 19.0, 14.0), [])


def test_nearest_segment_equals_shapely_and_takes_the_lowest_of_ties():
    """EdgeIndex.nearest (a few points on a city's network) against shapely's nearest on random points, some far
    outside the streets, some on a line midway between two parallel streets, and with a distance limit."""
    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(7)
    x = rng.uniform(net.x.min() - 3000, net.x.max() + 3000, 400)
    y = rng.uniform(net.y.min() - 3000, net.y.max() + 3000, 400)
    index = EdgeIndex(net, cell_m=250.0)
    lines = shapely.linestrings(
        np.stack([np.stack([net.x[net.u], net.y[net.u]], 1), np.stack([net.x[net.v], net.y[net.v]], 1)], 1)
    )
    pts = shapely.points(x, y)
    for limit in (None, 300.0):
        got = index.nearest(x, y, limit)
        d = shapely.distance(pts[:, None], lines[None, :])
        best = d.min(axis=1)
        expect = np.where(best <= (np.inf if limit is None else limit), d.argmin(axis=1), -1)
        hit = expect >= 0
        assert np.array_equal(got >= 0, hit)
        np.testing.assert_allclose(d[np.flatnonzero(hit), got[hit]], best[hit], rtol=0, atol=1e-9)
    # two parallel streets 10 m apart, in either order: points midway take index 0
    xs, ys = np.array([0.0, 100.0, 0.0, 100.0]), np.array([10.0, 10.0, 0.0, 0.0])
    for u, v in (([0, 2], [1, 3]), ([2, 0], [3, 1])):
        two = planar_network(xs, ys, np.array(u), np.array(v))
        assert EdgeIndex(two).nearest(np.linspace(20, 80, 7), np.full(7, 5.0)).tolist() == [0] * 7


def test_snap_on_a_large_network_goes_through_the_index_and_agrees(monkeypatch):
    import planner.network as network

    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(3)
    x = rng.uniform(net.x.min(), net.x.max(), 50)
    y = rng.uniform(net.y.min(), net.y.max(), 50)
    small = net.snap_xy(x, y, max_distance=200.0)  # shapely's tree
    monkeypatch.setattr(network, "LARGE_NETWORK_EDGES", 10)
    fresh = WalkNetwork.from_osm_file(YANGPU)
    big = fresh.snap_xy(x, y, max_distance=200.0)
    assert "edge_index" in fresh.__dict__ and "_edge_tree" not in fresh.__dict__
    assert np.array_equal(small.edge, big.edge)
    np.testing.assert_array_equal(small.t, big.t)
