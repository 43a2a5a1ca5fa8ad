"""2SFCA straight from the network (``catchment_sums``) equals the cost-matrix form (``floating_catchment`` on
``catchment_minutes``, itself equal to PySAL ``access`` in tests/test_crowding.py): hand-worked on a grid with exact
ties, on real streets with residents on the facilities' own edges, at equal positions and unsnapped, in the NumPy
form's two search modes (the network searched whole, and street by street around each chunk of facilities) and by
the compiled loops (``planner/_catchment_kernel.pyx``)."""

from __future__ import annotations

import numpy as np
import pytest

import planner.catchment as catchment
import planner.catchment_sums as sums
from conftest import YANGPU, planar_network
from planner.catchment import catchment_minutes
from planner.catchment_sums import catchment_sums
from planner.fca import DEFAULT_DECAY, floating_catchment
from planner.network import Snap, WalkNetwork
from test_ties import grid

FIELDS = ("people", "demand", "ratio", "access")


@pytest.fixture(params=["compiled", "whole", "by chunk"])
def search_mode(request, monkeypatch):
    if request.param != "compiled":  # the NumPy form
        monkeypatch.setattr(sums, "_kernel", None)
    if request.param == "by chunk":
        monkeypatch.setattr(catchment, "_WHOLE_CELLS", 0)
    return request.param


def test_the_compiled_loops_are_built():
    """``pip install -e .`` (make test) compiles them: without them the plan would quietly run the slower form."""
    from planner import _catchment_kernel  # noqa: F401

    assert sums._kernel is not None


def test_hand_worked_grid_with_exact_ties(search_mode):
    """One facility mid-block at (100, 150), 75 m a minute, bands 0-2 min weight 1 and 2-5 min weight 0.5.

    (100, 300): 150 m north, 2.0 min exactly, weight 1. (400, 125): 50 m to (100, 100), 300 m east, 25 m north,
    375 m = 5.0 min exactly, weight 0.5; (125, 500): 350 m north and 25 m east, 5.0 min. (400, 125.5): 375.5 m,
    beyond. So D = 80 * 1 + (10 + 20) * 0.5 = 95, people 110, R = 190 / 95 = 2, A = (1, 1, 0, 2)."""
    net = grid()
    fac = net.snap_xy(np.array([100.0]), np.array([150.0]))
    pts = net.snap_xy(np.array([400.0, 125.0, 400.0, 100.0]), np.array([125.0, 500.0, 125.5, 300.0]))
    demand, supply = np.array([10.0, 20.0, 40.0, 80.0]), np.array([190.0])
    bands = ((2.0, 1.0), (5.0, 0.5))
    got = catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, demand, supply, 5, 75.0, max_minutes=5, bands=bands)
    np.testing.assert_array_equal(got.people, [110.0])
    np.testing.assert_array_equal(got.demand, [95.0])
    np.testing.assert_array_equal(got.ratio, [2.0])
    np.testing.assert_array_equal(got.access, [1.0, 1.0, 0.0, 2.0])
    cost = catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, 5, 75.0)
    ref = floating_catchment(cost, demand, supply, max_minutes=5, bands=bands)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))


@pytest.fixture(scope="module")
def yangpu():
    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(18)
    nodes = rng.choice(net.n_nodes, 40, replace=False)
    fac = net.snap_xy(net.x[nodes] + rng.normal(0, 30, 40), net.y[nodes] + rng.normal(0, 30, 40))
    nodes = rng.choice(net.n_nodes, 3000)
    near = net.snap_xy(net.x[nodes] + rng.normal(0, 40, 3000), net.y[nodes] + rng.normal(0, 40, 3000))
    # and residents on the facilities' own edges, twenty at one same spot, and one unsnapped
    edge = np.concatenate([near.edge, np.repeat(fac.edge[:20], 8), np.full(20, near.edge[0]), [-1]])
    t = np.concatenate([near.t, rng.random(160), np.full(20, near.t[0]), [0.0]])
    off = np.concatenate([near.offset_m, rng.random(160) * 40, np.full(20, near.offset_m[0]), [0.0]])
    pts = Snap(edge, t, off, np.zeros(len(edge)), np.zeros(len(edge)))
    demand = rng.integers(0, 50, len(edge)).astype(float)
    supply = rng.random(40) * 1000
    supply[3] = np.nan  # a facility with no capacity is left out
    return net, fac, pts, demand, supply


@pytest.mark.parametrize("bands", [None, DEFAULT_DECAY])
@pytest.mark.parametrize("limit", [5.0, 10.0, 15.0])
def test_equal_to_the_cost_matrix_form_on_real_streets(yangpu, search_mode, bands, limit):
    net, fac, pts, demand, supply = yangpu
    cost = catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, limit, 75.0, chunk=8)
    assert cost.nnz > 1000
    ref = floating_catchment(cost, demand, supply, max_minutes=limit, bands=bands)
    got = catchment_sums(
        net, fac.edge, fac.t, fac.offset_m, pts, demand, supply, limit, 75.0, max_minutes=limit, bands=bands, chunk=8
    )
    for name in FIELDS:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)
    reaches_nothing = np.diff(cost.tocsr().indptr) == 0
    assert reaches_nothing.any() and (got.access[reaches_nothing] == 0).all()  # exactly 0, not rounding


def test_a_catchment_beyond_the_walking_limit_and_no_bands_cap(yangpu):
    """``max_minutes`` None: every pair within the limit counts; bands only weigh."""
    net, fac, pts, demand, supply = yangpu
    cost = catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, 12.0, 60.0)
    ref = floating_catchment(cost, demand, supply, bands=DEFAULT_DECAY)
    got = catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, demand, supply, 12.0, 60.0, bands=DEFAULT_DECAY)
    for name in FIELDS:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)


def test_a_new_demand_on_the_same_residents_is_not_read_from_the_last(yangpu, search_mode):
    """What is kept with the residents (their people along each street) follows the demand given: twice the
    people, the same supply, give twice D and half R and A."""
    net, fac, pts, demand, supply = yangpu
    one = catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, demand, supply, 10, 75.0, bands=DEFAULT_DECAY)
    two = catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, 2 * demand, supply, 10, 75.0, bands=DEFAULT_DECAY)
    np.testing.assert_allclose(two.demand, 2 * one.demand, rtol=1e-12)
    np.testing.assert_allclose(two.access, one.access / 2, rtol=1e-12)
    half = fac.edge[: len(fac.edge) // 2], fac.t[: len(fac.t) // 2], fac.offset_m[: len(fac.t) // 2]
    sub = catchment_sums(net, *half, pts, demand, supply[: len(half[0])], 10, 75.0, bands=DEFAULT_DECAY)
    np.testing.assert_allclose(sub.demand, one.demand[: len(half[0])], rtol=1e-12)


def test_bad_demand_and_an_unsnapped_facility_are_refused(yangpu):
    net, fac, pts, demand, supply = yangpu
    edge = fac.edge.copy()
    edge[0] = -1
    with pytest.raises(ValueError, match="not snapped"):
        catchment_sums(net, edge, fac.t, fac.offset_m, pts, demand, supply, 5, 75.0)
    with pytest.raises(ValueError, match="demand"):
        catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, -demand, supply, 5, 75.0)
    with pytest.raises(ValueError, match="do not fit"):
        catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, demand[:5], supply, 5, 75.0)


def _line(lengths: list[float]) -> WalkNetwork:
    """Streets one after another along x, with the given lengths."""
    x = np.concatenate([[0.0], np.cumsum(lengths)])
    return planar_network(x, np.zeros(len(x)), np.arange(len(x) - 1), np.arange(1, len(x)))


def _snap(edge, t, offset) -> Snap:
    n = len(edge)
    return Snap(np.asarray(edge, np.int64), np.asarray(t, float), np.asarray(offset, float), np.zeros(n), np.zeros(n))


def test_a_band_of_weight_zero_adds_exactly_nothing(search_mode):
    """Bands 0-1 min weight 0, 1-2 min 0.1, 2-3 min 0.3 (100 m a minute). A resident 0.5 min from the facility, on
    the next street, is in the zero band: D is exactly 0 and R not assessed (NaN), as in the matrix form (a sum of
    weight steps would leave 4e-16 and a ratio of 1e17). On the facility's own street, 0.5 min away, it still
    counts among the people in the catchment."""
    bands = ((1.0, 0.0), (2.0, 0.1), (3.0, 0.3))
    net = _line([100.0, 100.0])
    for fac, pts, people in (((0, 1.0, 0.0), (1, 0.5, 0.0), 13.0), ((0, 0.0, 0.0), (0, 0.5, 0.0), 13.0)):
        got = catchment_sums(
            net, *([v] for v in fac), _snap(*([v] for v in pts)), np.array([13.0]), np.array([50.0]), 3, 100.0,
            max_minutes=3, bands=bands,
        )  # fmt: skip
        cost = catchment_minutes(net, *([v] for v in fac), _snap(*([v] for v in pts)), 3, 100.0)
        ref = floating_catchment(cost, np.array([13.0]), np.array([50.0]), max_minutes=3, bands=bands)
        assert got.people[0] == ref.people[0] == people
        assert got.demand[0] == ref.demand[0] == 0.0
        assert np.isnan(got.ratio[0]) and np.isnan(ref.ratio[0])
        assert got.access[0] == ref.access[0] == 0.0


def test_residents_none_of_whom_is_on_a_street(search_mode):
    net = grid(3)
    got = catchment_sums(
        net, [0], [0.5], [0.0], _snap([-1, -1], [np.nan] * 2, [np.nan] * 2), np.array([5.0, 3.0]), np.array([10.0]),
        10, 75.0,
    )  # fmt: skip
    assert got.people.tolist() == [0.0] and got.demand.tolist() == [0.0] and np.isnan(got.ratio[0])
    assert got.access.tolist() == [0.0, 0.0]


def test_no_walking_limit(search_mode):
    """An infinite limit: every pair on the connected streets counts, as in the matrix form."""
    net = grid(4)
    fac = net.snap_xy(np.array([100.0, 250.0]), np.array([150.0, 300.0]))
    pts = net.snap_xy(np.array([0.0, 300.0, 120.0]), np.array([40.0, 210.0, 300.0]))
    demand, supply = np.array([10.0, 20.0, 40.0]), np.array([100.0, 50.0])
    got = catchment_sums(net, fac.edge, fac.t, fac.offset_m, pts, demand, supply, np.inf, 75.0)
    ref = floating_catchment(catchment_minutes(net, fac.edge, fac.t, fac.offset_m, pts, np.inf, 75.0), demand, supply)
    for name in FIELDS:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12, err_msg=name)
    assert got.people.tolist() == [70.0, 70.0]
