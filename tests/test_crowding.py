"""Supply and demand: 2SFCA and E2SFCA equal PySAL ``access`` on the same inputs and cost matrix, on a hand-worked
case, a random one and the default area; the catchment matrix equals the access step's own distances."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from conftest import YANGPU, reference_distances
from planner.access import coverage_sets, nearest_facility, point_distances
from planner.crowding import (
    DEFAULT_DECAY,
    catchment_minutes,
    crowding_table,
    decay_weights,
    facility_capacity,
    floating_catchment,
)
from planner.network import Snap, WalkNetwork
from planner.tiers import Rules

access = pytest.importorskip("access")  # the dev extra; the reference implementation
from access import fca, weights  # noqa: E402

TOL = 1e-9


def _frames(cost: sparse.spmatrix, demand: np.ndarray, supply: np.ndarray):
    """The same inputs as PySAL access takes them: demand and supply frames and a long cost table."""
    coo = sparse.coo_matrix(cost)
    demand_df = pd.DataFrame({"pop": demand}, index=pd.Index(np.arange(len(demand)), name="geoid"))
    supply_df = pd.DataFrame({"supply": supply}, index=pd.Index(np.arange(len(supply)), name="geoid"))
    cost_df = pd.DataFrame({"origin": coo.row, "dest": coo.col, "cost": coo.data})
    return demand_df, supply_df, cost_df


def _pysal(cost, demand, supply, max_cost, bands):
    """A_i and D_j from PySAL access (``access`` leaves out points that reach nothing: 0 here)."""
    demand_df, supply_df, cost_df = _frames(cost, demand, supply)
    model = access.Access(
        demand_df=demand_df,
        demand_value="pop",
        supply_df=supply_df,
        supply_value="supply",
        cost_df=cost_df,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    fn = None if bands is None else weights.step_fn(dict(bands))
    if bands is None:
        a = model.two_stage_fca(name="fca", max_cost=max_cost)["fca_supply"]
    else:
        a = model.enhanced_two_stage_fca(name="fca", max_cost=max_cost, weight_fn=fn)["fca_supply"]
    d = fca.weighted_catchment(
        demand_df,
        cost_df,
        max_cost,
        cost_source="origin",
        cost_dest="dest",
        cost_cost="cost",
        loc_index="geoid",
        loc_value="pop",
        weight_fn=fn,
    )
    a_i = a.reindex(np.arange(len(demand))).fillna(0.0).to_numpy()
    d_j = d.reindex(np.arange(len(supply))).fillna(0.0).to_numpy()
    return a_i, d_j


def _agree(cost, demand, supply, max_cost, bands):
    ours = floating_catchment(cost, demand, supply, max_minutes=max_cost, bands=bands)
    a_i, d_j = _pysal(cost, demand, supply, max_cost, bands)
    np.testing.assert_allclose(ours.access, a_i, rtol=TOL, atol=TOL * 1e-3)
    np.testing.assert_allclose(ours.demand, d_j, rtol=TOL, atol=0)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(ours.ratio, np.where(d_j > 0, supply / d_j, np.nan), rtol=TOL, equal_nan=True)
    return ours


# --------------------------------------------------------------------------------------------- hand-worked case
HAND_COST = np.array([[2.0, np.inf], [6.0, 4.0], [np.inf, 12.0]])  # minutes: 3 points x 2 facilities
HAND_DEMAND = np.array([100.0, 200.0, 300.0])
HAND_SUPPLY = np.array([10.0, 20.0])


def test_two_step_by_hand():
    out = floating_catchment(HAND_COST, HAND_DEMAND, HAND_SUPPLY, max_minutes=15)
    np.testing.assert_allclose(out.people, [300, 500])
    np.testing.assert_allclose(out.ratio, [10 / 300, 20 / 500])
    np.testing.assert_allclose(out.access, [10 / 300, 10 / 300 + 20 / 500, 20 / 500])
    # a 10-minute catchment drops the 12-minute pair
    short = floating_catchment(HAND_COST, HAND_DEMAND, HAND_SUPPLY, max_minutes=10)
    np.testing.assert_allclose(short.people, [300, 200])
    np.testing.assert_allclose(short.access, [10 / 300, 10 / 300 + 20 / 200, 0])


def test_enhanced_two_step_by_hand():
    out = floating_catchment(HAND_COST, HAND_DEMAND, HAND_SUPPLY, max_minutes=15, bands=DEFAULT_DECAY)
    d0, d1 = 100 + 0.68 * 200, 200 + 0.22 * 300  # weights 1 (2 min), 0.68 (6 min); 1 (4 min), 0.22 (12 min)
    np.testing.assert_allclose(out.demand, [d0, d1])
    np.testing.assert_allclose(out.people, [300, 500])  # people are counted unweighted
    np.testing.assert_allclose(out.access, [10 / d0, 0.68 * 10 / d0 + 20 / d1, 0.22 * 20 / d1])


@pytest.mark.parametrize("bands", [None, DEFAULT_DECAY])
def test_hand_case_equals_pysal_access(bands):
    cost = sparse.csr_matrix(np.where(np.isfinite(HAND_COST), HAND_COST, 0.0))
    _agree(cost, HAND_DEMAND, HAND_SUPPLY, 15.0, bands)


def test_band_edges_are_inclusive_like_access_step_fn():
    fn = weights.step_fn(dict(DEFAULT_DECAY))
    minutes = np.array([0.0, 5.0, 5.000001, 10.0, 14.9, 15.0, 15.1])
    np.testing.assert_array_equal(decay_weights(minutes, DEFAULT_DECAY), [fn(x) for x in minutes])


def test_sparse_zero_minutes_and_dense_agree():
    dense = np.array([[0.0, np.inf], [3.0, 0.0]])
    cost = sparse.csr_matrix((np.array([0.0, 3.0, 0.0]), (np.array([0, 1, 1]), np.array([0, 0, 1]))), shape=(2, 2))
    a = floating_catchment(dense, np.array([5.0, 7.0]), np.array([1.0, 2.0]), bands=DEFAULT_DECAY)
    b = floating_catchment(cost, np.array([5.0, 7.0]), np.array([1.0, 2.0]), bands=DEFAULT_DECAY)
    np.testing.assert_array_equal(a.access, b.access)
    np.testing.assert_allclose(a.people, [12, 7])


def test_nobody_in_a_catchment_is_nan_and_adds_nothing():
    cost = np.array([[1.0, 2.0], [np.inf, np.inf]])
    out = floating_catchment(cost, np.array([0.0, 10.0]), np.array([5.0, 5.0]))
    assert np.isnan(out.ratio).all() and (out.access == 0).all()


@pytest.mark.parametrize("bands", [None, DEFAULT_DECAY, ((3.0, 1.0), (8.0, 0.5))])
def test_random_case_equals_pysal_access(bands):
    rng = np.random.default_rng(18)
    m, f = 400, 25
    dense = rng.uniform(0, 20, (m, f))
    dense[rng.random((m, f)) < 0.7] = np.inf
    rows, cols = np.nonzero(np.isfinite(dense))
    cost = sparse.csr_matrix((dense[rows, cols], (rows, cols)), shape=(m, f))
    _agree(cost, rng.integers(0, 2000, m).astype(float), rng.uniform(1e3, 3e4, f), 15.0, bands)


# ------------------------------------------------------------------------------------------------- capacity
def test_capacity_from_the_list_the_area_or_the_band(caplog):
    fac = pd.DataFrame(
        {
            "tier": ["station", "station", "center", "point", "", "station"],
            "容量": [30000, None, "", None, None, "many"],
            "建筑面积": [None, 500, None, None, None, None],
            "source_row": [2, 3, 4, 5, 6, 7],
        }
    )
    with caplog.at_level(logging.WARNING, logger="planner.crowding"):
        cap = facility_capacity(fac, Rules())
    assert cap["capacity_basis"].tolist() == ["capacity", "area", "band", "band", "none", "band"]
    np.testing.assert_allclose(cap["capacity_people"], [30000, 25000 * 500 / 1000, 100000, 12000, np.nan, 25000])
    assert "row(s) 7" in caplog.text  # "many" is named, not silently read as nothing


# --------------------------------------------------------------------------------- the walk network's minutes
@pytest.fixture(scope="module")
def yangpu():
    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(5)
    fac = net.snap_xy(*_jitter(net, rng, 6))
    near = net.snap_xy(*_jitter(net, rng, 300))
    # and 60 on the facilities' own edges, some before and some beyond each facility, one unsnapped
    edge = np.concatenate([near.edge, np.repeat(fac.edge, 10), [-1]])
    t = np.concatenate([near.t, rng.random(60), [0.0]])
    off = np.concatenate([near.offset_m, rng.random(60) * 40, [0.0]])
    return net, fac, Snap(edge, t, off, np.zeros(len(edge)), np.zeros(len(edge)))


def _jitter(net, rng, k):
    nodes = rng.choice(net.n_nodes, k, replace=False)
    return net.x[nodes] + rng.normal(0, 30, k), net.y[nodes] + rng.normal(0, 30, k)


def test_catchment_minutes_equal_an_independent_networkx_reference(yangpu):
    net, fac, pts = yangpu
    mpm, limit = 75.0, 10.0
    cost = catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, limit, mpm).tocsc()
    for j in range(len(fac)):
        one = slice(j, j + 1)
        ref = reference_distances(net, fac.edge[one], fac.t[one], fac.offset_m[one], pts.edge, pts.t, pts.offset_m)
        inside = (ref <= limit * mpm) & (pts.edge >= 0)  # the unsnapped point is in no catchment
        rows = cost.indices[cost.indptr[j] : cost.indptr[j + 1]]
        assert inside.any() and sorted(rows) == np.flatnonzero(inside).tolist()
        got = np.full(len(ref), np.nan)
        got[rows] = cost.data[cost.indptr[j] : cost.indptr[j + 1]]
        np.testing.assert_allclose(got[inside], ref[inside] / mpm, rtol=1e-9, atol=1e-9)


def test_catchment_pattern_equals_coverage_sets_and_rows_the_nearest_facility(yangpu):
    net, fac, pts = yangpu
    mpm, limit = 60.0, 12.0
    cost = catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, limit, mpm, chunk=4)
    pattern = sparse.csr_matrix((np.ones(cost.nnz, bool), cost.indices, cost.indptr), shape=cost.shape)
    assert (pattern != coverage_sets(net, fac.edge, fac.t, fac.offset_m, pts, limit * mpm)).nnz == 0
    near, _ = point_distances(net, nearest_facility(net, fac.edge, fac.t, fac.offset_m, horizon_m=limit * mpm), pts)
    row_min = np.full(cost.shape[0], np.inf)
    has = np.diff(cost.indptr) > 0
    row_min[has] = np.minimum.reduceat(cost.data, cost.indptr[:-1][has])
    np.testing.assert_allclose(row_min * mpm, near, rtol=1e-12, atol=1e-9)


def test_empty_inputs():
    net = WalkNetwork.from_osm_file(YANGPU)
    pts = Snap(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    assert catchment_minutes(net, [0], [0.5], [0.0], pts, 10, 75).shape == (0, 1)


# ------------------------------------------------------------------------------------------ the default area
@pytest.fixture(scope="module")
def plan(default_plan):
    return default_plan  # one per session (conftest)


@pytest.mark.slow
@pytest.mark.parametrize("bands", [None, DEFAULT_DECAY])
def test_default_area_equals_pysal_access(plan, bands):
    """Stations for the elderly (10 minutes at 0.76 m/s): the same cost matrix into both."""
    rules, res = plan.rules, plan.residents
    fac = plan.facilities[plan.facilities["tier"] == "station"]
    elderly = rules.profile("elderly")
    snap = Snap(res["edge"].to_numpy(), res["t"].to_numpy(), res["offset_m"].to_numpy(), np.empty(0), np.empty(0))
    cost = catchment_minutes(plan.network, fac["edge"], fac["t"], fac["snap_m"], snap, 10.0, elderly.metres_per_minute)
    assert cost.nnz > 1000
    supply = facility_capacity(fac, rules)["capacity_people"].to_numpy()
    _agree(cost, res["elderly"].to_numpy(float), supply, 10.0, bands)


@pytest.mark.slow
def test_default_area_crowding_table(plan):
    rules, res = plan.rules, plan.residents
    fac = plan.facilities[plan.facilities["tier"] == "station"]
    adult = rules.profile("adult")
    cap = facility_capacity(fac, rules)
    table, a_i = crowding_table(plan.network, fac, res, cap, limit_min=10.0, metres_per_minute=adult.metres_per_minute)
    assert (table.index == fac.index).all() and len(a_i) == len(res)
    assert (table["capacity_basis"] == "band").all() and (table["capacity_people"] == 25000).all()
    np.testing.assert_array_equal(table["crowded"].to_numpy(bool), table["catchment_people"] > 25000)
    np.testing.assert_allclose(table["load"], table["catchment_people"] / 25000)
    # everyone within 10 minutes of a station has some access; nobody farther has any
    reach = res["minutes_station_adult"].to_numpy(float) <= 10.0
    assert (a_i[reach & (res["population"] > 0).to_numpy()] > 0).all() and (a_i[~reach] == 0).all()
    # each station's people are those whose walk to it is within 10 minutes; the nearest-station count is a lower
    # bound, since a resident may be in several catchments
    nearest = res.loc[reach, "population"].groupby(res.loc[reach, "nearest_station"]).sum()
    by_id = table.set_index(fac["facility_id"])["catchment_people"]
    assert (by_id.reindex(nearest.index) >= nearest - 1e-6).all()
