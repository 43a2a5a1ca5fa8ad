"""Location-allocation: brute force on small instances, spopt agreement, certified gaps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from planner.siting import CoverageProblem


def random_problem(d: int, c: int, density: float, seed: int) -> CoverageProblem:
    rng = np.random.default_rng(seed)
    cover = sparse.random(d, c, density=density, random_state=seed, format="csr", dtype=float) > 0
    return CoverageProblem(rng.integers(1, 50, d).astype(float), cover)


def brute_force_mclp(p: CoverageProblem, k: int) -> float:
    return max(p.value(s) for s in itertools.combinations(range(p.n_candidates), k))


def brute_force_lscp(p: CoverageProblem, target: float) -> int:
    for k in range(p.n_candidates + 1):
        if any(p.value(s) >= target - 1e-9 for s in itertools.combinations(range(p.n_candidates), k)):
            return k
    raise AssertionError("unreachable target")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_exact_mclp_matches_brute_force(seed, k):
    p = random_problem(40, 9, 0.15, seed)
    best = brute_force_mclp(p, k)
    res = p.mclp(k)
    assert res.objective == pytest.approx(best) and res.optimal and res.status == "optimal"
    assert p.value(res.sites) == pytest.approx(best)
    assert res.gains.sum() == pytest.approx(best) and np.all(np.diff(res.gains) <= 1e-9)  # ranked


@pytest.mark.parametrize("seed", range(6))
def test_greedy_gap_is_true(seed):
    p = random_problem(40, 9, 0.2, seed)
    for k in (2, 3):
        best = brute_force_mclp(p, k)
        for bound in ("lp", "submodular"):
            res = p.mclp(k, method="greedy", bound=bound)
            assert res.objective <= best + 1e-9
            assert res.bound >= best - 1e-9  # the reported bound really bounds the optimum
            assert res.gap == pytest.approx((res.bound - res.objective) / res.bound)


@pytest.mark.parametrize("seed", range(4))
def test_exact_lscp_matches_brute_force(seed):
    p = random_problem(30, 8, 0.2, seed)
    reachable = p.weights[np.asarray(p.cover.sum(axis=1)).ravel() > 0].sum()
    for share in (0.5, 0.9, 1.0):
        target = share * reachable
        res = p.lscp(target)
        assert res.objective == brute_force_lscp(p, target)
        assert res.covered_weight >= target - 1e-6


def test_lscp_target_above_reach_is_capped():
    p = CoverageProblem(np.array([5.0, 5.0, 90.0]), sparse.csr_matrix(np.array([[1], [0], [0]], dtype=bool)))
    res = p.lscp(100.0)
    assert res.extra["target_capped"] and res.objective == 1 and res.covered_weight == 5.0


def test_capacity_limits_what_one_site_serves():
    # one site covers 3 groups of 100 people, the other covers one group of 100; capacity 150
    cover = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], dtype=bool)
    p = CoverageProblem(np.array([100.0, 100, 100, 100]), cover)
    assert p.mclp(1).objective == 300.0
    capped = p.mclp(1, capacity=150.0)
    assert capped.objective == pytest.approx(150.0)
    both = p.mclp(2, capacity=150.0)
    assert both.objective == pytest.approx(250.0)  # 150 + the 100 the second site alone can reach


def test_bad_arguments():
    p = random_problem(10, 4, 0.3, 0)
    with pytest.raises(ValueError, match="k must be a whole number"):
        p.mclp(-1)
    with pytest.raises(ValueError, match="method must be 'exact' or 'greedy'"):
        p.mclp(2, method="magic")
    with pytest.raises(ValueError, match="capacities need the exact method"):
        p.mclp(2, method="greedy", capacity=10)


def test_agrees_with_spopt():
    pulp = pytest.importorskip("pulp")
    locate = pytest.importorskip("spopt.locate")
    rng = np.random.default_rng(4)
    demand, sites = rng.random((300, 2)) * 5000, rng.random((60, 2)) * 5000
    cost = np.hypot(*(demand[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    weights = rng.integers(1, 100, 300).astype(float)
    ours = CoverageProblem.from_cost_matrix(cost, 700.0, weights).mclp(5)
    model = locate.MCLP.from_cost_matrix(cost, weights, service_radius=700.0, p_facilities=5)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.objective == pytest.approx(model.problem.objective.value())
