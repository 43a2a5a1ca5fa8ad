"""Snapping points to the nearest street edge: the result types and the grid index behind fast bulk snapping.

:class:`Snap` says where points sit on the network (edge, fraction along it, metres off it); :class:`SnapEnds`
holds the walks from each point to both ends of its edge, shared by every tier and service. :class:`EdgeGrid`
lists, per cell of a grid over the area, every edge that can be the nearest one to some point of the cell (found
with a KD-tree over points sampled along the edges), so a point is checked exactly against a few edges only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial import cKDTree

from .segments import inverse_squared_length, squared_distance

if TYPE_CHECKING:
    from .network import WalkNetwork

__all__ = ["EdgeGrid", "Snap", "SnapEnds"]


@dataclass(frozen=True)
class Snap:
    """Points snapped to their nearest street edge.

    Attributes
    ----------
    edge : numpy.ndarray of int
        Index of the nearest edge (``-1`` where there is none).
    t : numpy.ndarray of float
        Position along the edge from its ``u`` end, 0..1.
    offset_m : numpy.ndarray of float
        Straight-line distance from the point to the edge, metres.
    x, y : numpy.ndarray of float
        The points in the network CRS.
    """

    edge: np.ndarray
    t: np.ndarray
    offset_m: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @classmethod
    def of(cls, table: Any, offset: str = "offset_m", rows: np.ndarray | None = None) -> Snap:
        """The snap a table already carries: its ``edge``, ``t`` and ``offset`` columns (residents, candidates;
        facilities name their offset ``snap_m``), optionally only ``rows``; without the points' coordinates."""
        edge = table["edge"].to_numpy(np.int64)
        t = table["t"].to_numpy(float)
        off = table[offset].to_numpy(float)
        if rows is not None:
            edge, t, off = edge[rows], t[rows], off[rows]
        return cls(edge, t, off, np.empty(0), np.empty(0))

    def ends(self, network: WalkNetwork) -> SnapEnds:
        """The snapped points' walks along their edges to both ends (worked out once, kept with the snap)."""
        kept = self.__dict__.get("_ends")
        if kept is not None and kept[0] is network:
            return kept[1]
        index = np.flatnonzero(self.edge >= 0)
        edge = self.edge[index]
        t = self.t[index]
        length = network.length[edge]
        ends = SnapEnds(
            index,
            edge,
            t,
            length,
            network.u[edge],
            network.v[edge],
            t * length,
            (1.0 - t) * length,
            self.offset_m[index],
        )
        self.__dict__["_ends"] = (network, ends)  # a frozen dataclass: a cache, not a field
        return ends


@dataclass(frozen=True)
class SnapEnds:
    """Snapped points with an edge (``index`` into the :class:`Snap`): the edge, its ends ``u`` and ``v``, the
    metres along it to each end (``t * length`` and ``(1 - t) * length``) and the offset from the street."""

    index: np.ndarray
    edge: np.ndarray
    t: np.ndarray
    length: np.ndarray
    u: np.ndarray
    v: np.ndarray
    to_u: np.ndarray
    to_v: np.ndarray
    offset_m: np.ndarray


class EdgeGrid:
    """Exact nearest street edge for many points at once: square cells, each listing every edge that can be
    the nearest one to a point in it.

    For a cell with centre ``o`` and half-diagonal ``r``, let ``D`` be the distance from ``o`` to its nearest
    edge. Every point ``p`` of the cell has an edge within ``D + r``, so its nearest edges (all of them, when
    several tie) lie within ``D + 2r`` of ``o``: the cell lists exactly those. They are found once per network
    with a KD-tree over points sampled along the edges (every point of an edge is within ``h`` of a sample, so
    an edge within ``R`` of ``o`` has a sample within ``R + h``) and then measured exactly. A query measures
    its point's exact distance to each edge its cell lists and keeps the smallest: the nearest edge is exact,
    never a sample's. No edge comes nearer than ``D - r`` to any point of the cell, which answers
    ``max_distance`` for points far from every street without measuring anything.
    """

    _CHUNK = 1 << 15  # points measured at once (their candidate pairs stay in the cache)
    _BLOCK = 1 << 16  # cells built at once (bounds the KD-tree's Python lists)

    def __init__(self, x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, length: np.ndarray) -> None:
        self.ax, self.ay = x[u], y[u]
        self.dx, self.dy = x[v] - self.ax, y[v] - self.ay
        self.inv = inverse_squared_length(self.dx, self.dy)
        n_edges = len(u)
        lo_x, lo_y, hi_x, hi_y = float(x.min()), float(y.min()), float(x.max()), float(y.max())
        # about four cells per edge: some eight candidate edges per cell, a build in proportion to the network
        area = max(hi_x - lo_x, 1.0) * max(hi_y - lo_y, 1.0)
        c = self.cell = float(np.clip(np.sqrt(area / (4 * n_edges)), 10.0, 500.0))
        self.x0, self.y0 = lo_x - 2 * c, lo_y - 2 * c
        self.nx, self.ny = int((hi_x - lo_x) // c) + 5, int((hi_y - lo_y) // c) + 5
        # samples: the midpoints of pieces of at most 2c; every point of an edge is within h of one
        pieces = np.maximum(np.ceil(length / (2 * c)), 1).astype(np.int64)
        sample_edge = np.repeat(np.arange(n_edges), pieces)
        f = (np.arange(len(sample_edge)) - np.repeat(np.cumsum(pieces) - pieces, pieces) + 0.5) / pieces[sample_edge]
        tree = cKDTree(
            np.column_stack([self.ax[sample_edge], self.ay[sample_edge]])
            + f[:, None] * np.column_stack([self.dx[sample_edge], self.dy[sample_edge]])
        )
        slack = 1e-6 * (1.0 + c)  # so that rounding never drops a candidate (an extra one costs nothing)
        h = float((length / (2 * pieces)).max()) + slack
        rho = c * np.sqrt(0.5)  # half the diagonal of a cell
        n_cells = self.nx * self.ny
        self.lower = np.empty(n_cells)
        counts = np.zeros(n_cells, dtype=np.int64)
        parts = []
        for b in range(0, n_cells, self._BLOCK):
            cells = np.arange(b, min(b + self._BLOCK, n_cells))
            gy, gx = np.divmod(cells, self.nx)
            ox, oy = self.x0 + (gx + 0.5) * c, self.y0 + (gy + 0.5) * c
            _, first = tree.query(np.column_stack([ox, oy]), k=1)
            upper = np.sqrt(self._d2(ox, oy, sample_edge[first]))  # some edge is this near to the centre
            near = tree.query_ball_point(np.column_stack([ox, oy]), upper + 2 * rho + h, return_sorted=False)
            count = np.fromiter(map(len, near), np.int64, len(near))
            row = np.repeat(np.arange(len(cells)), count)
            edge = sample_edge[np.fromiter(chain.from_iterable(near), np.int64, int(count.sum()))]
            d = np.sqrt(self._d2(ox[row], oy[row], edge))
            nearest = np.minimum.reduceat(d, np.cumsum(count) - count)  # D: the nearest edge is always among them
            keep = d <= nearest[row] + 2 * rho + slack
            key = np.sort(row[keep] * n_edges + edge[keep])  # np.sort: np.unique is hash-based and slow in numpy 2.4
            row, edge = np.divmod(key[np.r_[True, key[1:] != key[:-1]]], n_edges)
            counts[cells] = np.bincount(row, minlength=len(cells))
            parts.append(edge.astype(np.int32))
            self.lower[cells] = nearest - rho - slack  # no edge is nearer to any point of the cell
        self.edges = np.concatenate(parts)
        self.start = np.concatenate([[0], np.cumsum(counts)])

    def _d2(self, px: np.ndarray, py: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Squared distance from points to edges ``e`` (element-wise; :func:`planner.segments.squared_distance`)."""
        return squared_distance(px, py, self.ax[e], self.ay[e], self.dx[e], self.dy[e], self.inv[e])

    def nearest(self, x: np.ndarray, y: np.ndarray, max_distance: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Nearest edge of each point (``-1`` beyond ``max_distance``), and which points lie outside the grid."""
        edge = np.full(len(x), -1, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            fx, fy = np.floor((x - self.x0) / self.cell), np.floor((y - self.y0) / self.cell)
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)  # False for NaN
        idx = np.flatnonzero(inside)
        cells = fy[idx].astype(np.int64) * self.nx + fx[idx].astype(np.int64)
        if max_distance is not None:
            maybe = self.lower[cells] <= max_distance
            idx, cells = idx[maybe], cells[maybe]
        for s in range(0, len(idx), self._CHUNK):
            pts, cl = idx[s : s + self._CHUNK], cells[s : s + self._CHUNK]
            count = self.start[cl + 1] - self.start[cl]
            first = np.cumsum(count) - count
            which = np.repeat(np.arange(len(pts)), count)
            cand = self.edges[np.arange(int(count.sum())) + np.repeat(self.start[cl] - first, count)]
            d2 = self._d2(x[pts][which], y[pts][which], cand)
            best = np.minimum.reduceat(d2, first)
            at = np.flatnonzero(d2 == best[which])
            at = at[np.r_[True, which[at[1:]] != which[at[:-1]]]]  # the first edge at the minimal distance
            ok = np.ones(len(pts), bool) if max_distance is None else np.sqrt(best) <= max_distance
            edge[pts[ok]] = cand[at[ok]]
        return edge, ~inside & np.isfinite(x) & np.isfinite(y)
