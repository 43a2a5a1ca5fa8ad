"""Snapping to the nearest street edge: the grid index against shapely's exact nearest, ties included.

``WalkNetwork.snap_xy`` answers large batches from a grid of candidate edges (built once per network) and small
ones, and points beyond the grid, with shapely's STRtree. Both must give an edge at the minimal distance (any
one of several at that distance), within 1e-9 m of shapely's distance, and keep ``max_distance``.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from conftest import YANGPU, planar_network
from planner.network import WalkNetwork
from test_access import hand_network


@pytest.fixture(scope="module")
def yangpu() -> WalkNetwork:
    return WalkNetwork.from_osm_file(YANGPU)


def fresh(net: WalkNetwork) -> WalkNetwork:
    """The same network without any index built."""
    return WalkNetwork(net.x, net.y, net.lon, net.lat, net.osmid, net.u, net.v, net.length, net.crs, dict(net.meta))


def with_grid(net: WalkNetwork) -> WalkNetwork:
    """The same network with its grid index built: every batch, however small, goes through it."""
    net = fresh(net)
    net._edge_grid  # noqa: B018
    return net


def reference(net: WalkNetwork, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """shapely's distance from each point to its nearest edge, and how many edges are at that distance."""
    tree = shapely.STRtree(net.edge_lines)
    (pt, _), dist = tree.query_nearest(shapely.points(x, y), all_matches=True, return_distance=True)
    best = np.full(len(x), np.inf)
    np.minimum.at(best, pt, dist)
    ties = np.bincount(pt, weights=(dist <= best[pt]), minlength=len(x))
    return best, ties


def assert_exact(net: WalkNetwork, x: np.ndarray, y: np.ndarray, max_distance: float | None = None) -> None:
    snap = net.snap_xy(x, y, max_distance=max_distance)
    best, _ = reference(net, x, y)
    got = snap.edge >= 0
    if max_distance is None:
        assert got[np.isfinite(x) & np.isfinite(y)].all()
    else:
        clear = np.abs(best - max_distance) > 1e-9  # points at the limit itself may go either way
        np.testing.assert_array_equal(got[clear], (best <= max_distance)[clear])
    dist = shapely.distance(shapely.points(x[got], y[got]), net.edge_lines[snap.edge[got]])
    np.testing.assert_allclose(dist, best[got], rtol=0, atol=1e-9)
    np.testing.assert_allclose(snap.offset_m[got], best[got], rtol=0, atol=1e-9)
    assert np.isnan(snap.t[~got]).all() and np.isnan(snap.offset_m[~got]).all()


def random_points(net: WalkNetwork, n: int, seed: int, margin: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(net.x.min() - margin, net.x.max() + margin, n),
        rng.uniform(net.y.min() - margin, net.y.max() + margin, n),
    )


@pytest.mark.parametrize("max_distance", [None, 40.0, 500.0])
def test_grid_is_exact_on_random_points(yangpu, max_distance):
    x, y = random_points(yangpu, 20_000, seed=3)  # some beyond the grid: answered by shapely
    assert_exact(with_grid(yangpu), x, y, max_distance)


def test_small_batches_use_shapely_and_large_ones_build_the_grid(yangpu):
    net = fresh(yangpu)
    x, y = random_points(net, 50, seed=4)
    assert_exact(net, x, y)
    assert "_edge_grid" not in net.__dict__
    x, y = random_points(net, 2 * net.n_edges, seed=5)
    assert_exact(net, x, y, 200.0)
    assert "_edge_grid" in net.__dict__


def test_ties_on_a_real_extract(yangpu):
    """Points on nodes (nearest to every edge there) and on the bisector of two streets meeting at a node."""
    net = with_grid(yangpu)
    degree = np.bincount(np.concatenate([net.u, net.v]), minlength=net.n_nodes)
    nodes = np.flatnonzero(degree >= 2)
    # two edges leaving each degree-2 node: the point 5 m out along their outer bisector is equidistant to both
    two = np.flatnonzero(degree == 2)
    ends = np.concatenate([net.u, net.v])
    other = np.concatenate([net.v, net.u])
    order = np.argsort(ends, kind="stable")
    first = np.searchsorted(ends[order], two)
    a, b = other[order][first], other[order][first + 1]
    ux, uy = net.x[a] - net.x[two], net.y[a] - net.y[two]
    vx, vy = net.x[b] - net.x[two], net.y[b] - net.y[two]
    bx = -(ux / np.hypot(ux, uy) + vx / np.hypot(vx, vy))
    by = -(uy / np.hypot(ux, uy) + vy / np.hypot(vx, vy))
    ok = np.hypot(bx, by) > 0.2  # not a straight street
    sx = net.x[two][ok] + 5 * bx[ok] / np.hypot(bx, by)[ok]
    sy = net.y[two][ok] + 5 * by[ok] / np.hypot(bx, by)[ok]
    x = np.concatenate([net.x[nodes], sx])
    y = np.concatenate([net.y[nodes], sy])
    _, ties = reference(net, x, y)
    assert (ties >= 2).mean() > 0.5  # most of these are ties indeed
    assert_exact(net, x, y)
    assert_exact(fresh(net), x, y)


def test_exact_ties_between_parallel_streets_and_at_corners():
    """Streets y = 0 and y = 100 (x 0..1000) and x = 1000 joining them: midway points tie exactly."""
    x = np.array([0.0, 500.0, 1000.0, 0.0, 500.0, 1000.0])
    y = np.array([0.0, 0.0, 0.0, 100.0, 100.0, 100.0])
    u = np.array([0, 1, 3, 4, 2], dtype=np.int32)
    v = np.array([1, 2, 4, 5, 5], dtype=np.int32)
    net = planar_network(x, y, u, v)
    px = np.array([10.0, 250.0, 500.0, 750.0, 950.0, 975.0, -30.0, 1030.0])
    py = np.array([50.0, 50.0, 50.0, 50.0, 50.0, 25.0, 50.0, 50.0])
    _, ties = reference(net, px, py)
    assert (ties[:5] >= 2).all()  # 50 m from both streets; (975, 25) is 25 m from y = 0 and from x = 1000
    for n in (fresh(net), with_grid(net)):
        assert_exact(n, px, py)
        snap = n.snap_xy(px, py)
        np.testing.assert_array_equal(snap.offset_m, [50, 50, 50, 50, 50, 25, np.hypot(30, 50), 30])


def test_non_finite_far_and_degenerate_points():
    net = hand_network()
    x = np.array([np.nan, 200.0, 1e6, 200.0, np.inf])
    y = np.array([0.0, np.nan, 1e6, 10.0, 0.0])
    for n in (fresh(net), with_grid(net)):
        snap = n.snap_xy(x, y, max_distance=100.0)
        assert snap.edge.tolist() == [-1, -1, -1, 0, -1]
        snap = n.snap_xy(x, y)  # no limit: the far point too (beyond the grid: shapely's nearest)
        assert snap.edge[[0, 1, 4]].tolist() == [-1, -1, -1] and (snap.edge[[2, 3]] >= 0).all()
        assert_exact(n, x[2:4], y[2:4])


def test_zero_length_segment():
    x = np.array([0.0, 100.0, 100.0, 200.0])
    y = np.array([0.0, 0.0, 0.0, 0.0])
    u = np.array([0, 1, 2], dtype=np.int32)
    v = np.array([1, 2, 3], dtype=np.int32)
    net = planar_network(x, y, u, v)
    px, py = np.array([100.0, 100.0, 50.0, 150.0]), np.array([7.0, -3.0, 1.0, 2.0])
    for n in (fresh(net), with_grid(net)):
        assert_exact(n, px, py)


@pytest.mark.parametrize("batch", [1, 50])
def test_a_point_between_two_edges_at_the_same_distance_takes_the_first(batch):
    """Ties go to the lower edge index on both paths (shapely for a small batch, the grid for a large one), so a
    point's edge depends on neither the batch nor the rest of the network (a tile holds a piece of it)."""
    # two parallel streets 10 m apart, listed in either order; points on the line midway between them
    x, y = np.array([0.0, 100.0, 0.0, 100.0]), np.array([10.0, 10.0, 0.0, 0.0])
    px, py = np.linspace(20.0, 80.0, batch), np.full(batch, 5.0)
    for u, v in (([0, 2], [1, 3]), ([2, 0], [3, 1])):
        net = planar_network(x, y, np.array(u), np.array(v))
        snap = net.snap_xy(px, py)
        assert (snap.edge == 0).all()
        assert np.allclose(snap.offset_m, 5.0)


def test_exact_ties_that_are_not_mirror_images_snap_alike_on_every_path():
    """A point as far from a horizontal street as from an oblique one along a Pythagorean direction, in UTM-sized
    coordinates: GEOS rounds the two distances apart, so shapely's tree alone once chose the higher edge while the
    grid and the index chose the lower (found in review). Every path now ranks by the same formula."""
    trip = [(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29), (12, 35, 37), (9, 40, 41)]
    rng = np.random.default_rng(1)
    for k in range(300):
        a, b, c = trip[k % len(trip)]
        dd = int(rng.integers(1, 40)) * c
        m, half = int(rng.integers(1, 6)), int(rng.integers(1, 50))
        px = 350000.0 + int(rng.integers(0, 5000)) + rng.choice([0, 0.5, 0.25])
        py = 3450000.0 + int(rng.integers(0, 5000))
        fx, fy = px - dd * b / c, py + dd * a / c  # foot of the perpendicular on the oblique street, exact
        x = np.array([px - half, px + half + 3, fx - m * a, fx + 2 * m * a])
        y = np.array([py - dd, py - dd, fy - m * b, fy + 2 * m * b])
        tree = planar_network(x, y, np.array([0, 2]), np.array([1, 3])).snap_xy(np.array([px]), np.array([py]))
        grid_net = planar_network(x, y, np.array([0, 2]), np.array([1, 3]))
        grid_net._edge_grid  # noqa: B018  (built: the grid answers)
        grid = grid_net.snap_xy(np.array([px]), np.array([py]))
        index = planar_network(x, y, np.array([0, 2]), np.array([1, 3])).edge_index.nearest([px], [py])
        assert tree.edge[0] == grid.edge[0] == index[0] == 0
