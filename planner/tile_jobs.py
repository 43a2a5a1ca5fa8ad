"""A grid of tiles over a network and each tile's job: its piece of the network within the halo, its sources and its
own residents (:mod:`planner.tiles` runs the jobs; why the halo makes every figure exact is told there).

:class:`TileCutter` cuts one tile's job at a time given that tile's residents (a city's store hands them over as
it places them, :mod:`planner.city_store`); :func:`iter_tile_jobs` cuts every tile's from the whole residents table.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import keyed_facility_sets, search_horizon
from .edge_index import EdgeIndex
from .network import WalkNetwork
from .tiers import Rules

__all__ = ["TileCutter", "TileGrid", "TileJob", "halo_edges", "iter_tile_jobs", "sub_network", "tile_grid"]

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
        self.sets = keyed_facility_sets(facilities, rules)
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


def tile_grid(network: WalkNetwork, residents: gpd.GeoDataFrame, tiles: tuple[int, int]) -> TileGrid:
    """The grid of ``tiles`` cells over the network's nodes and the residents' points."""
    pts = residents.geometry.to_crs(network.crs)
    x, y = np.concatenate([network.x, pts.x.to_numpy()]), np.concatenate([network.y, pts.y.to_numpy()])
    return TileGrid.covering(x, y, *tiles)
