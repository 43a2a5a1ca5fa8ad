"""Walking distances: hand-worked cases and an independent networkx reference on a real extract."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import YANGPU, reference_distances
from planner.access import nearest_facility, point_distances
from planner.network import WalkNetwork


def hand_network() -> WalkNetwork:
    """A(0,0) -400- B(400,0) -300- C(400,300); B -400- D(800,0); E(2000,0) -100- F(2100,0) apart."""
    x = np.array([0.0, 400.0, 400.0, 800.0, 2000.0, 2100.0])
    y = np.array([0.0, 0.0, 300.0, 0.0, 0.0, 0.0])
    u = np.array([0, 1, 1, 4], dtype=np.int32)
    v = np.array([1, 2, 3, 5], dtype=np.int32)
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    return WalkNetwork(x=x, y=y, lon=x, lat=y, osmid=np.arange(6), u=u, v=v, length=length, crs="EPSG:32651")


def test_hand_worked_node_distances():
    net = hand_network()
    fac = net.snap_xy(np.array([200.0]), np.array([0.0]))  # middle of A-B, on the street
    assert fac.edge[0] == 0 and fac.t[0] == pytest.approx(0.5) and fac.offset_m[0] == pytest.approx(0.0)
    near = nearest_facility(net, fac.edge, fac.t, fac.offset_m)
    # A 200, B 200, C 200+300, D 200+400, E and F unreachable (separate piece)
    np.testing.assert_allclose(near.distance_m, [200, 200, 500, 600, np.inf, np.inf])
    assert near.facility.tolist() == [0, 0, 0, 0, -1, -1]


def test_hand_worked_points_mid_edge_and_off_street():
    net = hand_network()
    fac = net.snap_xy(np.array([200.0]), np.array([-10.0]))  # 10 m off the street, beside the middle of A-B
    near = nearest_facility(net, fac.edge, fac.t, fac.offset_m)
    np.testing.assert_allclose(near.distance_m[:4], [210, 210, 510, 610])
    pts = net.snap_xy(
        np.array([300.0, 420.0, 600.0, 50.0, 2050.0, 5000.0]),
        np.array([20.0, 150.0, -30.0, 0.0, 0.0, 5000.0]),
        max_distance=1000,
    )
    dist, which = point_distances(net, near, pts)
    # (300, 20): same edge, 100 m along it + 20 m in + 10 m out = 130
    # (420, 150): 20 m off B-C, 150 m up from B: 210 + 150 + 20 = 380
    # (600, -30): 30 m off B-D, 200 m from B: 210 + 200 + 30 = 440
    # (50, 0): same edge, 150 m along + 10 = 160
    # (2050, 0): on the separate piece: unreachable; (5000, 5000): farther than max_distance from any street
    np.testing.assert_allclose(dist, [130, 380, 440, 160, np.inf, np.inf])
    assert which.tolist() == [0, 0, 0, 0, -1, -1]
    assert np.isnan(pts.offset_m[5])


def test_nearest_of_two_facilities_and_horizon():
    net = hand_network()
    fac = net.snap_xy(np.array([0.0, 400.0]), np.array([0.0, 300.0]))  # at A and at C
    near = nearest_facility(net, fac.edge, fac.t, fac.offset_m, horizon_m=350)
    # A: 0 (fac 0), B: 300 (fac 1 via C), C: 0 (fac 1), D: 700 > horizon -> inf
    np.testing.assert_allclose(near.distance_m[:4], [0, 300, 0, np.inf], atol=1e-6)
    assert near.facility[:4].tolist() == [0, 1, 1, -1]


def test_no_facilities_means_unreachable():
    net = hand_network()
    near = nearest_facility(net, np.array([], dtype=int), np.array([]), np.array([]))
    assert np.isinf(near.distance_m).all() and (near.facility == -1).all()


@pytest.fixture(scope="module")
def yangpu() -> WalkNetwork:
    return WalkNetwork.from_osm_file(YANGPU)


def test_node_distances_match_networkx_on_real_extract(yangpu):
    import networkx as nx

    rng = np.random.default_rng(7)
    k = 6
    edge = rng.integers(0, yangpu.n_edges, k)
    t = rng.random(k)
    off = rng.random(k) * 40
    near = nearest_facility(yangpu, edge, t, off, horizon_m=900)
    g = yangpu.to_networkx()
    for i in range(k):
        g.add_edge(("f", i), int(yangpu.u[edge[i]]), length=off[i] + t[i] * yangpu.length[edge[i]])
        g.add_edge(("f", i), int(yangpu.v[edge[i]]), length=off[i] + (1 - t[i]) * yangpu.length[edge[i]])
    ref = nx.multi_source_dijkstra_path_length(g, [("f", i) for i in range(k)], cutoff=900, weight="length")
    expected = np.array([ref.get(n, np.inf) for n in range(yangpu.n_nodes)])
    np.testing.assert_allclose(near.distance_m, expected, rtol=1e-9)
    assert np.isfinite(expected).sum() > 50  # the check covers a real part of the network


def test_point_distances_match_subdivided_networkx_reference(yangpu):
    rng = np.random.default_rng(11)
    x0, x1 = yangpu.x.min(), yangpu.x.max()
    y0, y1 = yangpu.y.min(), yangpu.y.max()
    fac = yangpu.snap_xy(rng.uniform(x0, x1, 5), rng.uniform(y0, y1, 5))
    pts = yangpu.snap_xy(rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300))
    # put some points on the facilities' own edges, to exercise the direct walk along an edge
    same = yangpu.snap_xy(*_on_edges(yangpu, fac.edge, rng))
    edge = np.concatenate([pts.edge, same.edge])
    t = np.concatenate([pts.t, same.t])
    off = np.concatenate([pts.offset_m, same.offset_m])
    from planner.network import Snap

    allpts = Snap(edge, t, off, np.zeros(len(edge)), np.zeros(len(edge)))
    near = nearest_facility(yangpu, fac.edge, fac.t, fac.offset_m)
    dist, _ = point_distances(yangpu, near, allpts)
    expected = reference_distances(yangpu, fac.edge, fac.t, fac.offset_m, edge, t, off)
    np.testing.assert_allclose(dist, expected, rtol=1e-9, atol=1e-6)
    assert np.isfinite(expected).all()


def _on_edges(net, edges, rng):
    t = rng.random(len(edges))
    x = net.x[net.u[edges]] + (net.x[net.v[edges]] - net.x[net.u[edges]]) * t
    y = net.y[net.u[edges]] + (net.y[net.v[edges]] - net.y[net.u[edges]]) * t
    return x + rng.normal(0, 3, len(edges)), y + rng.normal(0, 3, len(edges))


def test_coverage_sets_match_point_distances(yangpu):
    from planner.access import coverage_sets

    rng = np.random.default_rng(21)
    x0, x1 = yangpu.x.min(), yangpu.x.max()
    y0, y1 = yangpu.y.min(), yangpu.y.max()
    src = yangpu.snap_xy(rng.uniform(x0, x1, 9), rng.uniform(y0, y1, 9))
    pts = yangpu.snap_xy(rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400))
    same = yangpu.snap_xy(*_on_edges(yangpu, src.edge, rng))  # points sharing a source's edge
    from planner.network import Snap

    allpts = Snap(
        np.concatenate([pts.edge, same.edge]),
        np.concatenate([pts.t, same.t]),
        np.concatenate([pts.offset_m, same.offset_m]),
        np.zeros(409),
        np.zeros(409),
    )
    cover = coverage_sets(yangpu, src.edge, src.t, src.offset_m, allpts, 400.0, chunk=4).toarray()
    for j in range(9):  # each source alone, through the independent reference
        ref = reference_distances(
            yangpu,
            src.edge[j : j + 1],
            src.t[j : j + 1],
            src.offset_m[j : j + 1],
            allpts.edge,
            allpts.t,
            allpts.offset_m,
        )
        np.testing.assert_array_equal(cover[:, j], ref <= 400.0)
    assert cover.any()
