"""Location-allocation: our exact (HiGHS) and heuristic MCLP against spopt's MCLP, in the same run."""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from planner.siting import CoverageProblem


def instance(n_demand: int, n_sites: int, radius: float, seed: int):
    """Random demand and candidate points in a 10 km square; returns (dense cost matrix or None, problem)."""
    rng = np.random.default_rng(seed)
    demand = rng.random((n_demand, 2)) * 10_000
    sites = rng.random((n_sites, 2)) * 10_000
    weights = rng.integers(1, 100, n_demand).astype(float)
    pairs = cKDTree(sites).query_ball_point(demand, radius)
    rows = np.repeat(np.arange(n_demand), [len(p) for p in pairs])
    cols = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])
    cover = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_demand, n_sites))
    return demand, sites, weights, CoverageProblem(weights, cover)


def run_spopt(demand, sites, weights, radius, k, time_limit):
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    cost = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=k)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    return time.perf_counter() - t0, float(model.problem.objective.value()), pulp.LpStatus[model.problem.status]


def bench(line, quick: bool = False) -> None:
    cases = [(2_000, 500, 600.0, 10, 0)] + ([] if quick else [(20_000, 2_000, 400.0, 10, 1)])
    for n_demand, n_sites, radius, k, seed in cases:
        print(f"\n   MCLP {n_demand:,} demand x {n_sites:,} candidates, k = {k}, radius {radius:g} m")
        demand, sites, weights, problem = instance(n_demand, n_sites, radius, seed)
        t0 = time.perf_counter()
        exact = problem.mclp(k, time_limit=60)
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = problem.mclp(k, method="greedy")
        t_greedy = time.perf_counter() - t0
        spopt_limit = 120 if n_demand <= 2_000 else 300
        try:
            t_spopt, obj_spopt, status = run_spopt(demand, sites, weights, radius, k, spopt_limit)
        except ImportError:
            t_spopt, obj_spopt, status = float("nan"), float("nan"), "spopt not installed"
        line(
            f"ours exact (HiGHS): objective {exact.objective:,.0f}, gap {100 * exact.gap:.3f}%",
            t_exact,
            None,
            f"{t_spopt / t_exact:,.1f}x faster than spopt",
        )
        t_bound = greedy.extra.get("bound_seconds", 0.0)
        line(
            f"ours greedy+swap: {greedy.objective:,.0f} ({100 * (1 - greedy.objective / exact.objective):.3f}% below "
            f"exact), certified gap {100 * greedy.gap:.3f}% (search {t_greedy - t_bound:.3f} s + LP bound "
            f"{t_bound:.3f} s)",
            t_greedy,
            None,
            f"{t_spopt / t_greedy:,.0f}x faster than spopt",
        )
        line(f"spopt MCLP + PuLP CBC ({status}, limit {spopt_limit} s): objective {obj_spopt:,.0f}", t_spopt)
