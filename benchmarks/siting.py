"""Location-allocation: our exact (HiGHS) and greedy MCLP against spopt's MCLP (PuLP/CBC) on the same instance.

Same work on both sides: from the same demand points, weights, candidate sites, radius and number of sites to
the chosen sites. Each side's time includes turning coordinates into its coverage data (our KD-tree coverage
matrix; spopt's dense cost matrix).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from benchmarks.measure import NotRun, Section
from planner.siting import CoverageProblem


def instance(n_demand: int, n_sites: int, seed: int):
    """Random demand and candidate points in a 10 km square, with integer weights."""
    rng = np.random.default_rng(seed)
    return rng.random((n_demand, 2)) * 10_000, rng.random((n_sites, 2)) * 10_000, rng.integers(1, 100, n_demand) * 1.0


def ours(demand, sites, weights, radius, k, method):
    pairs = cKDTree(sites).query_ball_point(demand, radius)
    rows = np.repeat(np.arange(len(demand)), [len(p) for p in pairs])
    cols = np.concatenate([np.asarray(p, dtype=np.int64) for p in pairs])
    cover = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(demand), len(sites)))
    problem = CoverageProblem(weights, cover)
    return problem.mclp(k, time_limit=60) if method == "exact" else problem.mclp(k, method="greedy")


def run_spopt(demand, sites, weights, radius, k, time_limit):
    import pulp
    from spopt.locate import MCLP

    cost = np.sqrt(((demand[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2))
    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=k)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    return float(model.problem.objective.value()), pulp.LpStatus[model.problem.status]


def bench(sec: Section, quick: bool = False) -> None:
    try:
        import pulp  # noqa: F401
        import spopt.locate  # noqa: F401
    except ImportError as exc:
        raise NotRun(f"spopt or pulp is not installed ({exc.name}); pip install -e '.[dev]'") from None
    cases = [(2_000, 500, 600.0, 10, 0, 120)] + ([] if quick else [(20_000, 2_000, 400.0, 10, 1, 300)])
    for n_demand, n_sites, radius, k, seed, limit in cases:
        tag = f"{n_demand // 1000}k"
        demand, sites, weights = instance(n_demand, n_sites, seed)
        t0 = time.perf_counter()
        exact = ours(demand, sites, weights, radius, k, "exact")
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        greedy = ours(demand, sites, weights, radius, k, "greedy")
        t_greedy = time.perf_counter() - t0
        t0 = time.perf_counter()
        obj_spopt, status = run_spopt(demand, sites, weights, radius, k, limit)
        t_spopt = time.perf_counter() - t0
        print(f"   MCLP {n_demand:,} demand x {n_sites:,} candidates, k = {k}, radius {radius:g} m  (N=1 each)")
        sec.measure(
            f"exact_{tag}",
            f"ours exact (HiGHS): objective {exact.objective:,.0f}, gap {100 * exact.gap:.3f}%",
            [t_exact],
        )
        sec.measure(
            f"greedy_{tag}",
            f"ours greedy+swap: {100 * (1 - greedy.objective / exact.objective):.3f}% below exact, "
            f"certified gap {100 * greedy.gap:.3f}%",
            [t_greedy],
        )
        sec.measure(
            f"spopt_{tag}", f"spopt MCLP + CBC ({status}, limit {limit} s): objective {obj_spopt:,.0f}", [t_spopt]
        )
        sec.ratio(f"spopt_over_exact_{tag}", f"spopt / ours exact = x{t_spopt / t_exact:,.1f}", t_spopt / t_exact)
        sec.check(
            f"objectives_{tag}",
            f"objectives ours exact {exact.objective:,.0f} vs spopt {obj_spopt:,.0f}",
            {
                "ours_exact": exact.objective,
                "ours_greedy": greedy.objective,
                "spopt": obj_spopt,
                "spopt_status": status,
            },
        )
