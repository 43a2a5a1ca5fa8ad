"""Walking access and resident coverage tile by tile, each tile a Dask task, merged to the single-machine result.

An area's residents are split by a regular grid in the network CRS (:class:`~planner.tile_jobs.TileGrid`); every
resident and every node is *owned* by exactly one tile, the cell its position falls in. A tile's task runs on a
sub-network (:mod:`planner.tile_jobs` cuts it): every street edge that comes within the **halo** of the tile's cell
(and of its residents' points on the streets), the halo being the search horizon in metres that
:func:`planner.access.search_horizon` gives the single-machine run (the largest of ``[access] horizon_min``, the
bands and the tier targets, at the fastest profile's speed). Facilities on those edges are the tile's sources. The
task measures the nearest facility of every tier and service (:func:`planner.access.nearest_facility`) and the
residents' coverage (:func:`planner.coverage.resident_coverage`) on the sub-network; :func:`tiled_coverage` puts the
owned rows back in the residents' order.

Why the halo makes every figure exact
-------------------------------------
Let ``H`` be the horizon in metres. Every street edge is a straight segment whose length is the Euclidean distance
of its ends in the network CRS (zero-length segments count 1 mm in the search, longer, never shorter), and a point
at fraction ``t`` of an edge is ``t`` times the segment from its ``u`` end. So a walk of network length ``L`` along
streets never ends farther than ``L`` in straight line from where it started: **a shortest path of length <= H from
a resident's point on its street stays within distance H of it**. The tile keeps every edge that comes within
``H`` of its box, so it keeps the whole path, the facility's edge included (the facility's own arcs, its offset
from the street plus the walk to either end of its edge, are the same numbers). Removing edges and facilities can
only lengthen the shortest walks. Hence for a resident whose walk is at most ``H`` the tile finds the same walk, and
for one whose walk is longer (``NaN`` minutes in the single run) the tile's walk is longer still: ``NaN`` too.
The resident's own offset from the street is added after the search, the same in both. The same holds for a node
owned by the tile, so the merged node distances (:class:`~planner.access.Access`) equal the single run's.

The sums along a path are the same floating-point sums, so minutes agree to ~1e-12 (ties between two equally long
paths of different rounding aside). Which facility is *nearest* can differ only when two facilities are exactly
equally far (the search order decides a tie).

>>> from planner.tiles import tiled_coverage                 # doctest: +SKIP
>>> residents, access = tiled_coverage(net, facilities, placed, rules, 60, tiles=(3, 3), client=client)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import Access, NearestFacility, facility_sets, nearest_facility, search_horizon
from .coverage import coverage_totals, resident_coverage
from .network import WalkNetwork
from .tiers import Rules
from .tile_jobs import TileJob, iter_tile_jobs, tile_grid

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["TileResult", "run_tile", "tiled_coverage", "tiled_coverage_parquet"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TileResult:
    """One tile's answer: the coverage columns of its residents (none when written to GeoParquet) and its owned
    nodes' nearest facilities."""

    tile: int
    residents: pd.DataFrame
    nodes: np.ndarray
    distance_m: Mapping[str, np.ndarray]
    facility: Mapping[str, np.ndarray]
    totals: Mapping[str, float] = field(default_factory=dict)  # coverage_totals of its residents: they add up


def run_tile(job: TileJob) -> TileResult:
    """Access and coverage of one tile on its sub-network (a Dask task; also run in-process)."""

    # a new network object over the same arrays: the searches cache a graph and a lock on it, and the job itself
    # must stay picklable (Dask may spill it to disk or move it after the task ran)
    network = replace(job.network)

    def search(key: str) -> NearestFacility:
        edge, t, off, rows = job.sources[key]
        return nearest_facility(network, edge, t, off, ids=rows, horizon_m=job.horizon_m)

    found = {key: search(key) for key in job.sources}
    tiers = {k.partition(":")[2]: v for k, v in found.items() if k.startswith("tier:")}
    services = {k.partition(":")[2]: v for k, v in found.items() if k.startswith("service:")}
    out = resident_coverage(network, job.residents, tiers, job.rules, services, facility_ids=job.facility_ids)
    sub_edge = out["edge"].to_numpy()
    out["edge"] = np.where(sub_edge >= 0, job.edges[np.maximum(sub_edge, 0)], -1)  # the full network's edges
    totals = coverage_totals(out, job.rules)
    if job.parquet is not None:
        out.to_parquet(Path(job.parquet) / f"part.{job.tile:05d}.parquet")
        out = out.iloc[:0]
    else:  # only the columns coverage adds travel back (the caller has the rest)
        out = pd.DataFrame(out[[c for c in out.columns if c not in job.residents.columns]])
    return TileResult(
        job.tile,
        out,
        job.nodes[job.owned],
        {k: v.distance_m[job.owned] for k, v in found.items()},
        {k: v.facility[job.owned] for k, v in found.items()},
        totals,
    )


def _merge_access(
    network: WalkNetwork, facilities: pd.DataFrame, rules: Rules, horizon_min: float, results: Sequence[TileResult]
) -> Access:
    """The node distances of every tier and service, each node from the tile that owns it."""
    horizon_min, horizon_m = search_horizon(rules, horizon_min)
    edge, t, off = (facilities[c].to_numpy() for c in ("edge", "t", "snap_m"))
    tiers, services = facility_sets(facilities, rules)

    def merged(key: str, sel: np.ndarray) -> NearestFacility:
        dist = np.full(network.n_nodes, np.inf)
        fac = np.full(network.n_nodes, -1, dtype=np.int64)
        for res in results:
            dist[res.nodes] = res.distance_m[key]
            fac[res.nodes] = res.facility[key]
        rows = np.flatnonzero(sel)
        return NearestFacility(dist, fac, edge[rows], t[rows], off[rows], rows, horizon_m)

    return Access(
        MappingProxyType({k: merged(f"tier:{k}", sel) for k, sel in tiers.items()}),
        MappingProxyType({k: merged(f"service:{k}", sel) for k, sel in services.items()}),
        horizon_min,
    )


def tiled_coverage(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    horizon_min: float,
    *,
    tiles: tuple[int, int] = (2, 2),
    client: Client | None = None,
    progress: bool | None = None,
) -> tuple[gpd.GeoDataFrame, Access]:
    """Access and resident coverage tile by tile, equal to :func:`~planner.access.compute_access` followed by
    :func:`~planner.coverage.resident_coverage` on the whole network (see the module's note for why).

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        Snapped facilities, with ``facility_id``.
    residents : geopandas.GeoDataFrame
        Placed residents (after :func:`~planner.coverage.mark_assessed`).
    rules : Rules
    horizon_min : float
        The area's ``[access] horizon_min``.
    tiles : (int, int), default (2, 2)
        Tiles along x and y.
    client : distributed.Client, optional
        Run each tile as a task on this Dask client; without one the tiles run one after another here.
    progress : bool, optional
        Show a bar of the tiles done (default: when standard error is a terminal); the Dask dashboard shows the tasks.

    Returns
    -------
    (geopandas.GeoDataFrame, Access)
        The residents with the coverage columns (in their own order and index) and the merged node access.
    """
    results = _run_tiles(network, facilities, residents, rules, horizon_min, tiles, client, progress, None)
    merged = pd.concat([res.residents for res in results]).sort_index()
    assert (merged.index == np.arange(len(residents))).all(), "every resident owned by exactly one tile"
    out = residents.copy()
    for column in merged.columns:
        out[column] = merged[column].to_numpy()
    return out, _merge_access(network, facilities, rules, horizon_min, results)


def tiled_coverage_parquet(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    horizon_min: float,
    out: str | Path,
    *,
    tiles: tuple[int, int] = (2, 2),
    client: Client | None = None,
    progress: bool | None = None,
) -> Access:
    """As :func:`tiled_coverage`, but each task writes its residents as one GeoParquet partition of ``out``
    (``part.<tile>.parquet``, index: the row's position in ``residents``), so no process gathers them all.

    Read them back with ``dask_geopandas.read_parquet(out)`` (one partition per tile) or
    ``geopandas.read_parquet``; ``out`` must be a folder every worker can write (a shared disk on a cluster).

    Returns
    -------
    Access
        The merged node access.
    """
    Path(out).mkdir(parents=True, exist_ok=True)
    folder = str(Path(out).resolve())
    results = _run_tiles(network, facilities, residents, rules, horizon_min, tiles, client, progress, folder)
    return _merge_access(network, facilities, rules, horizon_min, results)


def _run_tiles(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    horizon_min: float,
    tiles: tuple[int, int],
    client: Client | None,
    progress: bool | None,
    parquet: str | None,
) -> list[TileResult]:
    """Cut the tiles and run them, here or as Dask tasks."""
    grid = tile_grid(network, residents, tiles)
    # each job is run or handed to the cluster as it is cut: this process never holds every tile's copy at once
    jobs = iter_tile_jobs(network, facilities, residents, rules, horizon_min, grid, parquet)
    if client is None:
        here = [run_tile(job) for job in jobs]
        log.info("%d tiles of %d x %d with residents or streets", len(here), grid.nx, grid.ny)
        return here
    from distributed import as_completed
    from tqdm import tqdm

    # two tiles per worker thread in flight: a worker holds a couple of tiles' jobs at a time, never the city
    limit = 2 * max(sum(client.nthreads().values()), 1)
    running = as_completed()
    results: list[TileResult] = []
    show = progress if progress is not None else sys.stderr.isatty()
    with tqdm(desc="tiles", unit="tile", disable=not show) as bar:  # the Dask dashboard shows the tasks
        for job in jobs:
            # hash=False: tokenizing the jobs for content keys costs more than running them
            running.add(client.submit(run_tile, client.scatter(job, hash=False), pure=False))
            while running.count() >= limit:
                results.append(next(running).result())
                bar.update()
        while running.count():
            results.append(next(running).result())
            bar.update()
    log.info("%d tiles of %d x %d with residents or streets", len(results), grid.nx, grid.ny)
    return results
