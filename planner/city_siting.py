"""Siting at city scale: candidates and maximal covering (MCLP) tile by tile, recounted, with a proven gap.

Every candidate site is *owned* by the :class:`~planner.tile_jobs.TileGrid` cell its point on the street falls in. A
tile's task keeps the edges within the walking target ``L`` (the tier's minutes at the profile's speed) of its
cell (:func:`~planner.tile_jobs.halo_edges`), generates or takes its candidates, and measures which demand points
(residents the tier leaves uncovered, wherever they live) each covers. The city's ``k`` is shared out along the
tiles' greedy curves; each tile solves for its ``k_t``; then repair rounds re-solve each tile for what the other
tiles' sites leave uncovered; the chosen sites are recounted on the whole network.

**Exact**: a tile's cover sets (a walk of at most ``L`` from a candidate stays within ``L`` of it in straight line,
the argument of :mod:`planner.tiles`, so the tiles' columns together are the city's cover matrix to the last
pair); the candidates from intersections (a tile keeps those at its own nodes, whose degrees and thinning cells lie
well inside the halo: the same as :func:`~planner.sites.intersection_candidates` on the whole network); each tile's
solve (HiGHS: the best ``k_t`` of its candidates, given the other tiles' sites in a repair round; a time limit is
in the tile's status); the reported value (the union of the sites recounted with
:func:`~planner.access.coverage_sets` through :func:`~planner.sites.propose`, every resident once).

**Approximate**: the split of ``k`` across tiles (greedy curves, never revised), and sites across a border
chosen one tile at a time (block-coordinate ascent: the value never falls, but it may stop short of the best).

**The bound.** For the optimum ``S*``, coverage is subadditive: ``f(S*) <= sum_t OPT_t(k*_t)`` with ``OPT_t(j)``
the best ``j`` sites of tile ``t`` alone and ``sum_t k*_t = k``. ``OPT_t(j) <= U_t(j) = min(W_t, G_t(j), C_t(j))``:
``W_t`` all the weight the tile's candidates reach; ``G_t(j) = min_i f(S_i) + (the j largest gains at S_i)`` over
the greedy prefixes (Nemhauser, Wolsey and Fisher); ``C_t`` the chord of the tile's LP relaxation at ``k_t`` and
``k_t + 1`` extended (the LP's value is concave in the number of sites, so the line lies above it at every whole
number). Each ``U_t`` is concave, so no split of ``k`` beats the ``k`` largest increments of all ``U_t``: the
tiles' bound. ``global_bound`` also solves the LP relaxation of the whole problem (the tiles' columns side by
side) and keeps the smaller. ``gap = (bound - value) / bound``: the sites cover at least ``1 - gap`` of what the
best ``k`` sites would.

>>> from planner.city_siting import propose_city                          # doctest: +SKIP
>>> city = propose_city(plan, "station", k=20, tiles=(4, 4), client=client)
>>> city.value, city.bound, city.gap
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from . import columns as col
from .access import coverage_sets
from .city_bounds import allocate, greedy_bound, tile_bound, top_k_sum
from .edge_index import EdgeIndex
from .errors import ConfigError
from .network import Snap, WalkNetwork
from .sites import Proposal, area_candidates, intersection_candidates, parse_weight, propose
from .siting import CoverageProblem
from .tile_jobs import TileGrid, halo_edges, sub_network

if TYPE_CHECKING:
    from distributed import Client

    from .plan import Plan

__all__ = [
    "CityProposal",
    "SitingJob",
    "TileProblem",
    "city_sites",
    "propose_city",
    "siting_jobs",
    "solve_tile",
    "tile_problem",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitingJob:
    """What one tile's task needs: the edges within the walking target of its cell, its candidates or how to
    generate them, and the demand on those edges (``demand``: positions in the city's demand)."""

    tile: int
    grid: TileGrid
    network: WalkNetwork
    edges: np.ndarray
    limit_m: float
    k: int
    demand: np.ndarray
    demand_snap: Snap
    weights: np.ndarray
    candidates: pd.DataFrame | None
    spacing_m: float


@dataclass
class TileProblem:
    """One tile's coverage problem (demand rows ``demand``, its own candidates as columns) and its curves.

    ``greedy_gains[j]`` is what the greedy's site ``j + 1`` adds; ``greedy_bound[j]`` bounds the best ``j`` sites
    (Nemhauser); ``reach`` is the weight all its candidates reach.
    """

    tile: int
    candidates: gpd.GeoDataFrame
    problem: CoverageProblem
    demand: np.ndarray
    greedy_gains: np.ndarray
    greedy_bound: np.ndarray
    reach: float
    seconds: float


def _street_xy(network: WalkNetwork, edge: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at fraction ``t`` of edges, in the network CRS."""
    u, v = network.u[edge], network.v[edge]
    return network.x[u] + t * (network.x[v] - network.x[u]), network.y[u] + t * (network.y[v] - network.y[u])


def tile_problem(job: SitingJob) -> TileProblem:
    """A tile's candidates, their exact cover sets on the tile's edges, its greedy curve and bound (a Dask task)."""
    t0 = time.perf_counter()
    net = job.network
    if job.candidates is None:
        cands = intersection_candidates(net, spacing_m=job.spacing_m)
        x, y = _street_xy(net, cands["edge"].to_numpy(), cands["t"].to_numpy(float))
        cands = cands[job.grid.tile_of(x, y) == job.tile].reset_index(drop=True)
    else:
        cands = gpd.GeoDataFrame(job.candidates, crs="EPSG:4326")
    cover = coverage_sets(
        net,
        cands["edge"].to_numpy(),
        cands["t"].to_numpy(float),
        cands["offset_m"].to_numpy(float),
        job.demand_snap,
        job.limit_m,
    )
    problem = CoverageProblem(job.weights, cover)
    greedy = problem.mclp(job.k, method="greedy", swap=False, bound="submodular")
    reached = np.diff(cover.indptr) > 0
    out = cands.copy()
    out["edge"] = job.edges[cands["edge"].to_numpy()]  # the whole network's edges
    out["tile"] = job.tile
    return TileProblem(
        job.tile,
        out,
        problem,
        job.demand,
        greedy.gains,
        greedy_bound(problem, greedy.sites, job.k),
        float(job.weights[reached].sum()),
        time.perf_counter() - t0,
    )


def _curves(tp: TileProblem) -> tuple[np.ndarray, np.ndarray, float, int, int]:
    """The small part of a tile problem the client needs to share out k."""
    return tp.greedy_gains, tp.greedy_bound, tp.reach, len(tp.candidates), len(tp.demand)


def solve_tile(
    tp: TileProblem,
    k: int,
    others: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    *,
    method: str = "exact",
    time_limit: float = 60.0,
) -> dict[str, Any]:
    """The tile's best ``k`` sites (a Dask task): first alone, with its LP relaxation at ``k`` and ``k + 1``; in a
    repair round (``others``: the city's demand other tiles' sites cover) for what they leave, ``keep`` (its sites
    so far) kept unless beaten."""
    problem = tp.problem
    if others is not None:
        problem = CoverageProblem(np.where(others[tp.demand], 0.0, problem.weights), problem.cover)
    sites = np.zeros(0, dtype=np.int64)
    objective, status = 0.0, "no sites"
    if k > 0:
        result = problem.mclp(k, method=method, time_limit=time_limit)
        sites, objective, status = result.sites, result.objective, result.status
        if keep is not None and problem.value(keep) >= objective - 1e-9 * max(objective, 1.0):
            sites, objective = keep, problem.value(keep)
    out: dict[str, Any] = {"tile": tp.tile, "k": k, "sites": sites, "objective": objective, "status": status}
    out["chosen"] = tp.candidates.iloc[sites]
    csc = tp.problem.cover.tocsc()
    out["covers"] = [tp.demand[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] for j in sites]
    if others is None:
        out["lp_k"] = tp.problem.lp_bound(k, time_limit=time_limit) if k > 0 else 0.0
        out["lp_next"] = tp.problem.lp_bound(k + 1, time_limit=time_limit)
    return out


@dataclass
class CityProposal:
    """Sites chosen tile by tile: ``proposal`` lists them as :func:`~planner.sites.propose` does (ranked, named,
    recounted on the whole network, with their ``tile``); ``value`` the weight they cover; ``bound`` the smaller of
    ``bound_tiles`` and ``bound_lp`` (the whole LP, None unless asked); ``gap = (bound - value) / bound``;
    ``tiles`` per tile: candidates, demand, k, the greedy's, the solve's and the repaired objective, LP at k."""

    proposal: Proposal
    value: float
    bound: float
    bound_tiles: float
    bound_lp: float | None
    gap: float
    tiles: pd.DataFrame
    grid: tuple[int, int]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the proposal's summary with the city-scale figures."""
        return self.proposal.summary() | {
            "tiles": list(self.grid),
            "objective": self.value,
            "bound": self.bound,
            "bound_tiles": self.bound_tiles,
            "bound_lp": self.bound_lp,
            "gap": round(self.gap, 6),
            "solver": "tiles: " + ", ".join(sorted({str(s) for s in self.tiles["status"]})),
            "seconds": round(self.seconds, 3),
            "exact": "each tile's cover sets and its best k_t sites given the others'; the recount",
            "approximate": "the split of k across tiles; sites across a border chosen one tile at a time",
        }


def siting_jobs(
    network: WalkNetwork,
    snap: Snap,
    weights: np.ndarray,
    candidates: pd.DataFrame | None,
    grid: TileGrid,
    limit_m: float,
    k: int,
    spacing_m: float,
) -> list[SitingJob]:
    """One job per tile: the edges within ``limit_m`` of its cell (and of its candidates), what lies on them."""
    index = EdgeIndex(network)
    c_tile = None
    if candidates is not None:
        cx, cy = _street_xy(network, candidates["edge"].to_numpy(), candidates["t"].to_numpy(float))
        c_tile = grid.tile_of(cx, cy)
    jobs = []
    for tile in range(len(grid)):
        x0, y0, x1, y1 = grid.cell(tile)
        xs, ys = np.array([x0, x1]), np.array([y0, y1])
        mine = None
        if candidates is not None and c_tile is not None:
            mine = candidates[c_tile == tile]
            if mine.empty:
                continue
            xs, ys = np.concatenate([xs, cx[c_tile == tile]]), np.concatenate([ys, cy[c_tile == tile]])
        edges = halo_edges(index, xs, ys, limit_m)
        if len(edges) == 0:
            continue
        sub, _ = sub_network(network, edges, tile)
        new_edge = np.full(network.n_edges, -1, dtype=np.int64)
        new_edge[edges] = np.arange(len(edges))
        dem = np.flatnonzero(new_edge[snap.edge] >= 0)
        d_snap = Snap(new_edge[snap.edge[dem]], snap.t[dem], snap.offset_m[dem], np.empty(0), np.empty(0))
        if mine is not None:
            mine = mine.assign(edge=new_edge[mine["edge"].to_numpy()])
        jobs.append(SitingJob(tile, grid, sub, edges, limit_m, k, dem, d_snap, weights[dem], mine, spacing_m))
    return jobs


def city_sites(
    network: WalkNetwork,
    residents: gpd.GeoDataFrame,
    *,
    tier: str,
    minutes: float,
    speed_mps: float,
    profile: str,
    covered_column: str,
    k: int,
    candidates: gpd.GeoDataFrame | None = None,
    spacing_m: float = 150.0,
    tiles: tuple[int, int] = (2, 2),
    weight: str = "population",
    method: str = "exact",
    time_limit: float = 60.0,
    global_bound: bool = False,
    rounds: int = 2,
    client: Client | None = None,
) -> CityProposal:
    """``k`` new sites of a tier chosen tile by tile (maximal covering), recounted, with a proven bound and gap.

    Parameters are those of :func:`~planner.sites.propose` (demand: residents ``covered_column`` leaves out, with
    a street, weighted by ``weight``), and:

    candidates : geopandas.GeoDataFrame, optional
        Candidate sites (``edge``, ``t``, ``offset_m``); by default each tile generates street intersections
        thinned to ``spacing_m`` (the same as :func:`~planner.sites.intersection_candidates` on the whole network).
    tiles : (int, int), default (2, 2)
        Tiles along x and y.
    method, time_limit
        Each tile's solver and its seconds.
    global_bound : bool, default False
        Also solve the whole problem's LP relaxation for the bound (one LP over every tile's columns).
    rounds : int, default 2
        Repair rounds across tile borders (0: none).
    client : distributed.Client, optional
        Run the tiles as Dask tasks (the tile problems stay on the workers); else one after another here.

    Returns
    -------
    CityProposal
    """
    t0 = time.perf_counter()
    if k < 1:
        msg = f"city-scale siting needs k >= 1 sites, got {k}"
        raise ConfigError(msg)
    a, b = parse_weight(weight)
    w_all = a * residents["population"].to_numpy(float) + b * residents["elderly"].to_numpy(float)
    r_edge = residents["edge"].to_numpy(np.int64)
    demand = np.flatnonzero(~residents[covered_column].to_numpy(bool) & (r_edge >= 0) & (w_all > 0))
    snap = Snap.of(residents, rows=demand)
    grid = TileGrid.covering(network.x, network.y, *tiles)
    limit_m = minutes * speed_mps * 60.0
    jobs = siting_jobs(network, snap, w_all[demand], candidates, grid, limit_m, k, spacing_m)
    log.info("city siting %s: %d demand points, %d tiles of %d x %d", tier, len(demand), len(jobs), *tiles)
    if client is None:
        problems: list[Any] = [tile_problem(job) for job in jobs]
        curves = [_curves(tp) for tp in problems]
    else:  # the tile problems stay on the workers
        problems = client.map(tile_problem, client.scatter(jobs, hash=False), pure=False)
        curves = client.gather(client.map(_curves, problems, pure=False))
    counts = [int(n) for n in allocate([c[0] for c in curves], k)]
    solved = _map(client, problems, counts, [None] * len(jobs), [None] * len(jobs), method, time_limit)
    bound_tiles = top_k_sum(
        [tile_bound(c[1], c[2], s["k"], s["lp_k"], s["lp_next"]) for c, s in zip(curves, solved)], k
    )
    first = [s["objective"] for s in solved]
    classes = _colours(grid, [job.tile for job in jobs], limit_m)
    solved = _repair(client, problems, solved, classes, w_all[demand], rounds, method, time_limit)
    bound_lp = _global_lp(client.gather(problems) if client else problems, len(demand), k) if global_bound else None
    chosen = gpd.GeoDataFrame(pd.concat([s["chosen"] for s in solved], ignore_index=True), crs="EPSG:4326")
    recount = propose(network, residents, chosen, tier=tier, minutes=minutes, speed_mps=speed_mps, profile=profile,
                      covered_column=covered_column, k=max(len(chosen), 1), weight=weight, method="greedy",
                      time_limit=time_limit)  # fmt: skip
    recount.sites["tile"] = chosen["tile"].to_numpy()[recount.result.sites]
    value = recount.result.objective
    bound = min(bound_tiles, bound_lp if bound_lp is not None else np.inf)
    if bound < value * (1 - 1e-6):
        log.warning("bound %.9g below the recounted value %.9g: raised to it", bound, value)
    bound = max(bound, value)  # the LP's tolerances
    gap = (bound - value) / bound if bound > 0 else 0.0
    table = pd.DataFrame(
        {
            "tile": [s["tile"] for s in solved],
            "candidates": [c[3] for c in curves],
            "demand": [c[4] for c in curves],
            "k": counts,
            "greedy": [float(c[0][:n].sum()) for c, n in zip(curves, counts)],
            "alone": first,
            "after_repair": [s["objective"] for s in solved],
            "status": [s["status"] for s in solved],
            "lp_k": [s["lp_k"] for s in solved],
        }
    )
    seconds = time.perf_counter() - t0
    log.info("city siting %s: %d sites cover %.0f, bound %.0f (tiles %.0f, LP %s), gap %.2g%% in %.1f s",
             tier, len(chosen), value, bound, bound_tiles, bound_lp, 100 * gap, seconds)  # fmt: skip
    return CityProposal(recount, value, bound, bound_tiles, bound_lp, gap, table, tiles, seconds)


def _map(
    client: Client | None,
    problems: list[Any],
    ks: list[int],
    others: list[Any],
    keep: list[Any],
    method: str,
    time_limit: float,
) -> list[dict[str, Any]]:
    """:func:`solve_tile` for each tile problem, here or as Dask tasks."""
    if client is None:
        return [solve_tile(*a, method=method, time_limit=time_limit) for a in zip(problems, ks, others, keep)]
    futures = client.map(solve_tile, problems, ks, others, keep, method=method, time_limit=time_limit, pure=False)
    return list(client.gather(futures))


def _colours(grid: TileGrid, tiles: list[int], limit_m: float) -> list[list[int]]:
    """Groups of tiles (positions in ``tiles``) whose sites can share no resident, re-solved side by side: tiles of
    one parity along x and y when a cell is wider than 2 L (two walks of at most L); else one tile at a time."""
    if min(grid.width, grid.height) <= 2 * limit_m + 2.0:
        return [[i] for i in range(len(tiles))]
    key = [(t % grid.nx % 2, t // grid.nx % 2) for t in tiles]
    return [[i for i in range(len(tiles)) if key[i] == c] for c in sorted(set(key))]


def _repair(
    client: Client | None,
    problems: list[Any],
    solved: list[dict[str, Any]],
    classes: list[list[int]],
    weights: np.ndarray,
    rounds: int,
    method: str,
    time_limit: float,
) -> list[dict[str, Any]]:
    """Across the borders: re-solve each tile for the residents the other tiles' sites leave (its own ``k_t``),
    group by group, keeping its sites unless beaten. Each step is exact for its tile given the others, so the
    city's covered weight never falls; ``rounds`` passes, or until nothing changes."""
    solved = list(solved)
    count = np.zeros(len(weights), dtype=np.int64)
    for s in solved:
        for c in s["covers"]:
            count[c] += 1
    for r in range(rounds):
        changed = False
        for group in classes:
            todo = [i for i in group if solved[i]["k"] > 0]
            others = []
            for i in todo:
                own = np.zeros(len(weights), dtype=np.int64)
                for c in solved[i]["covers"]:
                    own[c] += 1
                others.append(count - own > 0)
            keep = [solved[i]["sites"] for i in todo]
            new = _map(
                client, [problems[i] for i in todo], [solved[i]["k"] for i in todo], others, keep, method, time_limit
            )
            for i, n in zip(todo, new):
                if np.array_equal(np.sort(n["sites"]), np.sort(solved[i]["sites"])):
                    continue
                changed = True
                for c in solved[i]["covers"]:
                    count[c] -= 1
                for c in n["covers"]:
                    count[c] += 1
                solved[i] = solved[i] | {key: n[key] for key in ("sites", "chosen", "covers", "status", "objective")}
        log.info("city siting: repair round %d, covered weight %.0f", r + 1, weights[count > 0].sum())
        if not changed:
            break
    return solved


def _global_lp(problems: Sequence[TileProblem], n_demand: int, k: int) -> float:
    """The LP relaxation of the whole problem: the tiles' columns side by side (rows: the city's demand)."""
    blocks = []
    for tp in problems:
        coo = tp.problem.cover.tocoo()
        blocks.append(sparse.csr_matrix((coo.data, (tp.demand[coo.row], coo.col)), shape=(n_demand, coo.shape[1])))
    weights = np.zeros(n_demand)
    for tp in problems:
        weights[tp.demand] = tp.problem.weights
    return CoverageProblem(weights, sparse.hstack(blocks, format="csr")).lp_bound(k)


def propose_city(
    plan: Plan,
    tier: str,
    *,
    k: int,
    tiles: tuple[int, int] = (2, 2),
    profile: str | None = None,
    global_bound: bool = False,
    client: Client | None = None,
) -> CityProposal:
    """:func:`city_sites` for a plan's tier, with the area's ``[sites]`` settings (as ``Plan.propose_sites``).

    Street intersections are generated tile by tile; a ``[sites] file`` is read once and its sites shared out.
    """
    network = plan.require_network("city-scale siting")
    residents = plan.require_residents("city-scale siting")
    cfg = plan.area.settings.sites
    t = plan.rules.tier(tier)
    prof = plan.rules.profile(profile) if profile else plan.rules.everyone
    candidates = None
    if cfg.file is not None and cfg.use != "intersections":
        candidates = area_candidates(plan.area, network, tier=t.key)
    return city_sites(
        network,
        residents,
        tier=t.key,
        minutes=t.minutes,
        speed_mps=prof.speed_mps,
        profile=prof.key,
        covered_column=col.covered(t.key, prof.key),
        k=k,
        candidates=candidates,
        spacing_m=cfg.spacing_m,
        tiles=tiles,
        weight=cfg.weight,
        method=cfg.method,
        time_limit=cfg.time_limit_s,
        global_bound=global_bound,
        client=client,
    )
