"""Walking access and resident coverage tile by tile, each tile a Dask task, merged to the single-machine result.

An area's residents are split by a regular grid in the network CRS (:class:`TileGrid`); every resident and every
node is *owned* by exactly one tile, the cell its position falls in. A tile's task runs on a sub-network: every
street edge that comes within the **halo** of the tile's cell (and of its residents' points on the streets), the
halo being the search horizon in metres that :func:`planner.access.search_horizon` gives the single-machine run
(the largest of ``[access] horizon_min``, the bands and the tier targets, at the fastest profile's speed). Facilities
on those edges are the tile's sources. The task measures the nearest facility of every tier and service
(:func:`planner.access.nearest_facility`) and the residents' coverage (:func:`planner.coverage.resident_coverage`)
on the sub-network; :func:`tiled_coverage` puts the owned rows back in the residents' order.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import Access, NearestFacility, facility_sets, nearest_facility, search_horizon
from .coverage import coverage_totals, resident_coverage
from .edge_index import EdgeIndex
from .network import WalkNetwork
from .tiers import Rules

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "TileGrid",
    "TileJob",
    "TileResult",
    "halo_edges",
    "iter_tile_jobs",
    "run_tile",
    "sub_network",
    "tile_grid",
    "tiled_coverage",
    "tiled_coverage_parquet",
]

log = logging.getLogger(__name__)

#: Added to the halo, metres: the box and segment tests are in floating point (a path exactly H long stays in).
_HALO_SLACK_M = 1.0


@dataclass(frozen=True)
class TileGrid:
    """A regular grid of ``nx`` x ``ny`` cells in the network CRS.

    Attributes
    ----------
    x0, y0 : float
        Lower-left corner, metres.
    width, height : float
        Size of one cell, metres.
    nx, ny : int
        Cells along x and y.
    """

    x0: float
    y0: float
    width: float
    height: float
    nx: int
    ny: int

    @classmethod
    def covering(cls, x: np.ndarray, y: np.ndarray, nx: int, ny: int) -> TileGrid:
        """The grid of ``nx`` x ``ny`` equal cells over the bounding box of the points."""
        if nx < 1 or ny < 1:
            msg = f"tiles: {nx} x {ny}; give at least one tile each way"
            raise ValueError(msg)
        x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
        return cls(x0, y0, max(x1 - x0, 1.0) / nx, max(y1 - y0, 1.0) / ny, nx, ny)

    def __len__(self) -> int:
        return self.nx * self.ny

    def tile_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The one tile (``ix + nx * iy``) owning each point; points beyond the grid go to the nearest cell."""
        ix = np.clip(np.floor((np.asarray(x) - self.x0) / self.width), 0, self.nx - 1).astype(np.int64)
        iy = np.clip(np.floor((np.asarray(y) - self.y0) / self.height), 0, self.ny - 1).astype(np.int64)
        return ix + self.nx * iy

    def cell(self, tile: int) -> tuple[float, float, float, float]:
        """Bounds (xmin, ymin, xmax, ymax) of one tile's cell."""
        ix, iy = tile % self.nx, tile // self.nx
        x, y = self.x0 + ix * self.width, self.y0 + iy * self.height
        return x, y, x + self.width, y + self.height


@dataclass(frozen=True)
class TileJob:
    """What one tile's task needs: its sub-network, sources and residents (all positions in the sub-network).

    Attributes
    ----------
    tile : int
        The tile's number in the grid.
    network : WalkNetwork
        The edges within the halo of the tile.
    nodes : numpy.ndarray of int
        Full-network index of each sub-network node.
    owned : numpy.ndarray of int
        Sub-network indices of the nodes this tile owns.
    sources : mapping of str to tuple of numpy.ndarray
        Per ``"tier:<key>"`` / ``"service:<key>"``: the facilities' sub-network edge, t, offset and their rows in
        the full facility table (the ids the merge and ``nearest_<tier>`` read).
    residents : geopandas.GeoDataFrame
        The residents the tile owns, ``edge`` in the sub-network, index their positions in the full table.
    rules : Rules
    horizon_m : float
    facility_ids : numpy.ndarray
        ``facility_id`` of every row of the full facility table.
    edges : numpy.ndarray of int
        Full-network index of each sub-network edge.
    parquet : str, optional
        A folder: the task writes its residents there as one GeoParquet partition and returns none.
    """

    tile: int
    network: WalkNetwork
    nodes: np.ndarray
    owned: np.ndarray
    sources: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    residents: gpd.GeoDataFrame
    rules: Rules
    horizon_m: float
    facility_ids: np.ndarray
    edges: np.ndarray
    parquet: str | None = None


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


def halo_edges(index: EdgeIndex, xs: np.ndarray, ys: np.ndarray, reach_m: float) -> np.ndarray:
    """The edges (sorted) that come within ``reach_m`` (plus a metre of slack) of the bounding box of some points:
    every walk of at most ``reach_m`` from one of the points stays on them."""
    halo = reach_m + _HALO_SLACK_M
    return index.query(xs.min() - halo, ys.min() - halo, xs.max() + halo, ys.max() + halo)


def sub_network(network: WalkNetwork, edges: np.ndarray, tile: int) -> tuple[WalkNetwork, np.ndarray]:
    """The network restricted to some edges (kept in order) and their end nodes; the full index of each node."""
    nodes = np.unique(np.concatenate([network.u[edges], network.v[edges]]))
    new = np.full(network.n_nodes, -1, dtype=np.int64)
    new[nodes] = np.arange(len(nodes))
    sub = WalkNetwork(
        x=network.x[nodes],
        y=network.y[nodes],
        lon=network.lon[nodes],
        lat=network.lat[nodes],
        osmid=network.osmid[nodes],
        u=new[network.u[edges]].astype(np.int32),
        v=new[network.v[edges]].astype(np.int32),
        length=network.length[edges],
        crs=network.crs,
        meta={"tile": tile},
    )
    return sub, nodes


def iter_tile_jobs(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    horizon_min: float,
    grid: TileGrid,
    parquet: str | None = None,
) -> Iterator[TileJob]:
    """Cut the inputs of access and coverage into one job per tile that owns a resident or a node, one at a time
    (a caller that hands each on before the next never holds them all).

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        Snapped facilities (``tier``, ``services``, ``edge``, ``t``, ``snap_m``, ``facility_id``).
    residents : geopandas.GeoDataFrame
        Placed residents (``edge``, ``t``, ``offset_m``; points in any CRS).
    rules : Rules
    horizon_min : float
        The area's ``[access] horizon_min`` (raised as the single run raises it).
    grid : TileGrid
    parquet : str, optional
        See :attr:`TileJob.parquet`.

    Yields
    ------
    TileJob
    """
    pts = residents.geometry.to_crs(network.crs)
    rx, ry = pts.x.to_numpy(), pts.y.to_numpy()
    r_tile = grid.tile_of(rx, ry)
    cutter = TileCutter(network, facilities, rules, horizon_min, grid)
    positional = residents.reset_index(drop=True)
    for tile in range(len(grid)):
        mine = np.flatnonzero(r_tile == tile)
        job = cutter.job(tile, positional.iloc[mine], rx[mine], ry[mine], parquet)
        if job is not None:
            yield job


class TileCutter:
    """One tile's job at a time, cut from the whole network and facility table (:func:`iter_tile_jobs`; a city's
    store hands it each tile's residents as it places them, :mod:`planner.city_store`).

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        Snapped facilities (``tier``, ``services``, ``edge``, ``t``, ``snap_m``, ``facility_id``).
    rules : Rules
    horizon_min : float
        The area's ``[access] horizon_min`` (raised as the single run raises it).
    grid : TileGrid
    """

    def __init__(
        self, network: WalkNetwork, facilities: pd.DataFrame, rules: Rules, horizon_min: float, grid: TileGrid
    ) -> None:
        self.network, self.rules, self.grid = network, rules, grid
        _, self.horizon_m = search_horizon(rules, horizon_min)
        self.node_tile = grid.tile_of(network.x, network.y)
        self.index = network.edge_index
        self.f_edge, self.f_t, self.f_off = (facilities[c].to_numpy() for c in ("edge", "t", "snap_m"))
        tiers, services = facility_sets(facilities, rules)
        self.sets = {f"tier:{k}": sel for k, sel in tiers.items()} | {
            f"service:{k}": sel for k, sel in services.items()
        }
        self.facility_ids = facilities["facility_id"].to_numpy()

    def job(
        self, tile: int, residents: gpd.GeoDataFrame, rx: np.ndarray, ry: np.ndarray, parquet: str | None = None
    ) -> TileJob | None:
        """The job of ``tile``, whose own residents are given (index: their positions in the full table; ``rx``,
        ``ry``: their points in the network CRS); None when the tile owns no resident and no node."""
        network, grid = self.network, self.grid
        owned_nodes = np.flatnonzero(self.node_tile == tile)
        if len(residents) == 0 and len(owned_nodes) == 0:
            return None
        r_edge = residents["edge"].to_numpy(np.int64)
        r_t = residents["t"].to_numpy(float)
        on = r_edge >= 0
        e = np.maximum(r_edge, 0)
        # where each resident's walk starts: its point on the street (its own point when it has no street)
        u, v = network.u[e], network.v[e]
        sx = np.where(on, network.x[u] + r_t * (network.x[v] - network.x[u]), rx)
        sy = np.where(on, network.y[u] + r_t * (network.y[v] - network.y[u]), ry)
        cell = grid.cell(tile)
        xs = np.concatenate([[cell[0], cell[2]], sx, rx, network.x[owned_nodes]])
        ys = np.concatenate([[cell[1], cell[3]], sy, ry, network.y[owned_nodes]])
        edges = halo_edges(self.index, xs, ys, self.horizon_m)
        sub, nodes = sub_network(network, edges, tile)
        new_edge = np.full(network.n_edges + 1, -1, dtype=np.int64)  # the last slot: "no edge" stays -1
        new_edge[edges] = np.arange(len(edges))
        sources = {}
        for key, sel in self.sets.items():
            rows = np.flatnonzero(sel)
            rows = rows[new_edge[self.f_edge[rows]] >= 0]
            sources[key] = (
                new_edge[self.f_edge[rows]],
                self.f_t[rows].astype(float),
                self.f_off[rows].astype(float),
                rows,
            )
        mine = residents.copy()
        mine["edge"] = new_edge[r_edge]
        owned_sub = np.flatnonzero(self.node_tile[nodes] == tile)
        log.debug("tile %d: %d residents, %d of %d edges", tile, len(mine), len(edges), network.n_edges)
        return TileJob(
            tile, sub, nodes, owned_sub, sources, mine, self.rules, self.horizon_m, self.facility_ids, edges, parquet
        )


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


def tile_grid(network: WalkNetwork, residents: gpd.GeoDataFrame, tiles: tuple[int, int]) -> TileGrid:
    """The grid of ``tiles`` cells over the network's nodes and the residents' points."""
    pts = residents.geometry.to_crs(network.crs)
    x, y = np.concatenate([network.x, pts.x.to_numpy()]), np.concatenate([network.y, pts.y.to_numpy()])
    return TileGrid.covering(x, y, *tiles)


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
