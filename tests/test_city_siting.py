"""Siting at city scale (issue 19 item 4): tiles' cover sets are the city's, the value is recounted exactly, the
bound holds against the exact single-problem MCLP, and the coverage lies within the reported gap of it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from planner import columns as col
from planner.access import coverage_sets
from planner.city_bounds import greedy_bound, tile_bound, top_k_sum
from planner.city_siting import propose_city, siting_jobs, tile_problem
from planner.network import Snap
from planner.pipeline import RunOptions, run
from planner.sites import intersection_candidates
from planner.siting import CoverageProblem
from planner.tile_jobs import TileGrid

TIER, K = "station", 8


@pytest.fixture(scope="module")
def plan(default_plan):
    return default_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def exact(plan):
    """The single-problem MCLP on the whole network, proven optimal."""
    out = plan.propose_sites(TIER, k=K, method="exact")
    assert out.result.status == "optimal"
    return out.result.objective


def _demand(plan):
    r = plan.residents
    covered = r[col.covered(TIER, plan.rules.everyone.key)].to_numpy(bool)
    rows = np.flatnonzero(~covered & (r["edge"].to_numpy() >= 0) & (r["population"].to_numpy(float) > 0))
    return Snap.of(r, rows=rows), r["population"].to_numpy(float)[rows]


def _limit_m(plan):
    return plan.rules.tier(TIER).minutes * plan.rules.everyone.speed_mps * 60.0


def _recount(plan, sites):
    """Covered population of some sites, counted here on the whole network."""
    snap, w = _demand(plan)
    cover = coverage_sets(
        plan.network, sites["edge"].to_numpy(), sites["t"].to_numpy(float), sites["offset_m"].to_numpy(float), snap,
        _limit_m(plan),
    )  # fmt: skip
    return float(w[np.asarray(cover.sum(axis=1)).ravel() > 0].sum())


@pytest.mark.slow
def test_tiles_give_the_city_candidates_and_cover_sets(plan):
    """Exact within tiles: the tiles' intersections are the city's, and their columns are the city's cover matrix."""
    snap, w = _demand(plan)
    grid = TileGrid.covering(plan.network.x, plan.network.y, 3, 3)
    jobs = siting_jobs(plan.network, snap, w, None, grid, _limit_m(plan), 2, plan.area.settings.sites.spacing_m)
    problems = [tile_problem(job) for job in jobs]
    whole = intersection_candidates(plan.network, spacing_m=plan.area.settings.sites.spacing_m)
    tiled = np.concatenate([tp.candidates["candidate_id"].to_numpy() for tp in problems])
    assert len(tiled) == len(set(tiled)) == len(whole)
    assert set(tiled) == set(whole["candidate_id"])
    by_id = whole.set_index("candidate_id").loc[tiled]
    for c in ("edge", "t"):
        np.testing.assert_array_equal(np.concatenate([tp.candidates[c].to_numpy() for tp in problems]), by_id[c])
    blocks = []
    for tp in problems:
        coo = tp.problem.cover.tocoo()
        blocks.append(sparse.csr_matrix((coo.data, (tp.demand[coo.row], coo.col)), shape=(len(w), coo.shape[1])))
    reference = coverage_sets(
        plan.network, by_id["edge"].to_numpy(), by_id["t"].to_numpy(float), by_id["offset_m"].to_numpy(float), snap,
        _limit_m(plan),
    )  # fmt: skip
    assert (sparse.hstack(blocks, format="csr") != reference).nnz == 0


@pytest.mark.slow
def test_city_siting_within_its_gap_of_the_exact_mclp(plan, exact):
    # 2 x 3 tiles, not 2 x 2: the claim holds for any tiling, and on this one the value still falls short of the
    # optimum (a gap of about 0.6 %, so the gap check is not trivial, as it would be on 3 x 3 where the tiles find
    # the optimum), while each tile's MILP is smaller (about 5 s instead of 10-14 s)
    city = propose_city(plan, TIER, k=K, tiles=(2, 3), global_bound=True)
    sites = city.proposal.sites
    assert len(sites) == K and city.tiles["k"].sum() == K
    assert sites["tile"].between(0, 5).all()
    # the reported value is the union of the sites recounted, each resident once
    chosen = city.proposal.sites["candidate_id"]
    cands = intersection_candidates(plan.network, spacing_m=plan.area.settings.sites.spacing_m)
    assert city.value == pytest.approx(_recount(plan, cands.set_index("candidate_id").loc[chosen]), rel=1e-12)
    # both bounds hold against the proven optimum, and the value is within the gap of it
    assert city.bound_tiles >= exact * (1 - 1e-9)
    assert city.bound_lp is not None and city.bound_lp >= exact * (1 - 1e-9)
    assert city.bound == min(city.bound_tiles, city.bound_lp)
    assert city.gap == pytest.approx((city.bound - city.value) / city.bound)
    assert city.value <= exact * (1 + 1e-9)
    assert (exact - city.value) / exact <= city.gap + 1e-12
    assert city.gap < 0.05  # what it is on the default area (about 0.6 %), with room
    summary = city.summary()
    assert summary["objective"] == city.value and summary["tiles"] == [2, 3]
    assert "exact" in summary and "approximate" in summary


@pytest.mark.slow
def test_city_siting_on_dask_equals_the_run_here(plan, dask_client):
    here = propose_city(plan, TIER, k=K, tiles=(3, 3))
    there = propose_city(plan, TIER, k=K, tiles=(3, 3), client=dask_client)
    assert there.value == pytest.approx(here.value, rel=1e-12)
    assert there.bound_tiles == pytest.approx(here.bound_tiles, rel=1e-9)
    assert set(there.proposal.sites["candidate_id"]) == set(here.proposal.sites["candidate_id"])
    assert (here.tiles["after_repair"] >= 0).all()


def test_the_tiles_bound_holds_for_every_number_of_sites():
    """U(j) >= the best j sites, for j = 0..k, whatever k_t its LP chord was taken at; the k largest steps are the
    best split of k across concave curves."""
    rng = np.random.default_rng(1)
    cover = sparse.random(120, 25, density=0.08, random_state=rng, data_rvs=np.ones) > 0
    problem = CoverageProblem(rng.integers(1, 50, 120).astype(float), cover)
    k = 6
    best = [0.0] + [problem.mclp(j, method="exact").objective for j in range(1, k + 1)]
    greedy = problem.mclp(k, method="greedy", swap=False, bound="submodular")
    curve = greedy_bound(problem, greedy.sites, k)
    reach = float(problem.weights[np.diff(problem.cover.indptr) > 0].sum())
    for k_t in range(k):
        lp = [problem.lp_bound(j) if j else 0.0 for j in (k_t, k_t + 1)]
        bound = tile_bound(curve, reach, k_t, *lp)
        assert (bound >= np.array(best) - 1e-6).all(), k_t
        assert bound[0] == 0.0 and (np.diff(bound) >= -1e-9).all()
    curves = [np.array([0.0, 5, 8, 9]), np.array([0.0, 4, 7, 9.5]), np.array([0.0, 1, 2, 3])]
    brute = max(
        sum(c[n] for c, n in zip(curves, split))
        for split in np.ndindex(4, 4, 4)
        if sum(split) <= 3
    )  # fmt: skip
    assert top_k_sum(curves, 3) == pytest.approx(brute)


def test_a_run_with_tiles_proposes_its_sites_tile_by_tile(area_toml):
    """``plan --tiles NxM --sites station=K`` (RunOptions tiles): the proposal says the tiles, bound and gap."""
    from planner.area import StudyArea

    plan = run(StudyArea.from_toml(area_toml), RunOptions(isochrones="none", sites={"station": 2}, tiles=(2, 2)))
    (proposal,) = plan.proposals
    s = plan.summary()["sites"][0]
    assert s["tiles"] == [2, 2] and s["bound"] >= s["objective"] - 1e-6 and 0 <= s["gap"] <= 1
    assert "exact" in s and "approximate" in s
    assert s["new_population"] == round(proposal.sites["new_population"].sum())
