"""The street segments that meet a box, found from the network's arrays alone.

Cutting a city into tiles asks, per tile, which segments come within the halo of its box. A shapely ``STRtree``
over every segment's ``LineString`` answers that, but holds a Python object per segment (some 2 GB for a city of ten
million segments). :class:`EdgeIndex` keeps the segments in square cells (a few integers per segment) and tests the
candidates exactly with the Liang–Barsky clip: a segment meets the box (its boundary included) when some part of it
lies inside. Tested against ``STRtree.query(box, predicate="intersects")`` in tests/test_edge_index.py.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .segments import squared_distance


class Segments(Protocol):
    """What the index reads of a :class:`~planner.network.WalkNetwork`: node positions and segment ends."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


__all__ = ["EdgeIndex"]


class EdgeIndex:
    """A network's segments in square cells of ``cell_m`` metres.

    Parameters
    ----------
    network : WalkNetwork
        Or anything with its ``x``, ``y``, ``u`` and ``v`` arrays.
    cell_m : float, default 500
        Side of a cell: boxes are tiles of kilometres; most segments fall in one or two cells.
    """

    def __init__(self, network: Segments, cell_m: float = 500.0) -> None:
        # the network's own arrays, not copies per segment: the index adds a few integers per segment
        self.x, self.y, self.u, self.v = network.x, network.y, network.u, network.v
        ax, ay, bx, by = self._ends(slice(None))
        self.cell = float(cell_m)
        self.x0, self.y0 = float(network.x.min()), float(network.y.min())
        ix0, ix1 = self._col(np.minimum(ax, bx)), self._col(np.maximum(ax, bx))
        iy0, iy1 = self._row(np.minimum(ay, by)), self._row(np.maximum(ay, by))
        self.nx = int(ix1.max()) + 1 if len(ix1) else 1
        self.ny = int(iy1.max()) + 1 if len(iy1) else 1
        w, h = ix1 - ix0 + 1, iy1 - iy0 + 1
        n = w * h
        seg = np.repeat(np.arange(len(n)), n)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
        cells = (iy0[seg] + k // w[seg]) * self.nx + ix0[seg] + k % w[seg]
        order = np.argsort(cells, kind="stable")
        self.segments = seg[order].astype(np.int32)  # four bytes a segment and cell
        self.cells, self.starts = np.unique(cells[order], return_index=True)
        self.ends = np.append(self.starts[1:], len(order))

    def _ends(self, s: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Both ends of segments ``s``: ``ax, ay, bx, by``."""
        u, v = self.u[s], self.v[s]
        return self.x[u], self.y[u], self.x[v], self.y[v]

    def _col(self, x: np.ndarray | float) -> np.ndarray:
        return np.floor((np.asarray(x) - self.x0) / self.cell).astype(np.int64)

    def _row(self, y: np.ndarray | float) -> np.ndarray:
        return np.floor((np.asarray(y) - self.y0) / self.cell).astype(np.int64)

    def query(self, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        """The segments (sorted indices) that meet the box ``[xmin, xmax] x [ymin, ymax]``."""
        cx0, cx1 = max(int(self._col(xmin)), 0), min(int(self._col(xmax)), self.nx - 1)
        cy0, cy1 = max(int(self._row(ymin)), 0), min(int(self._row(ymax)), self.ny - 1)  # only rows that exist
        if cx1 < cx0 or cy1 < cy0:
            return np.zeros(0, dtype=np.int64)
        cols = np.arange(cx0, cx1 + 1)
        wanted = (np.arange(cy0, cy1 + 1)[:, None] * self.nx + cols[None, :]).ravel()
        at = np.searchsorted(self.cells, wanted)
        at = at[(at < len(self.cells)) & (self.cells[np.minimum(at, len(self.cells) - 1)] == wanted)]
        if len(at) == 0:
            return np.zeros(0, dtype=np.int64)
        lengths = self.ends[at] - self.starts[at]
        pos = np.arange(int(lengths.sum())) + np.repeat(self.starts[at] - (np.cumsum(lengths) - lengths), lengths)
        cand = np.sort(self.segments[pos]).astype(np.int64)  # np.sort: np.unique is hash-based and slow in numpy 2.4
        cand = cand[np.r_[True, cand[1:] != cand[:-1]]]
        return cand[self._meets(cand, xmin, ymin, xmax, ymax)]

    def _meets(self, s: np.ndarray, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        """Liang–Barsky: the part of each segment inside the box, ``t`` in ``[t0, t1]``, is not empty."""
        ax, ay, bx, by = self._ends(s)
        dx, dy = bx - ax, by - ay
        t0, t1 = np.zeros(len(s)), np.ones(len(s))
        ok = np.ones(len(s), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            for p, q in ((-dx, ax - xmin), (dx, xmax - ax), (-dy, ay - ymin), (dy, ymax - ay)):
                flat = p == 0
                ok &= ~(flat & (q < 0))  # parallel to this side and outside it
                r = q / p
                t0 = np.where(~flat & (p < 0), np.maximum(t0, r), t0)
                t1 = np.where(~flat & (p > 0), np.minimum(t1, r), t1)
        return ok & (t0 <= t1)

    def nearest(self, x: np.ndarray, y: np.ndarray, max_distance: float | None = None) -> np.ndarray:
        """The nearest segment of each point, exact (of equidistant ones the lowest index; ``-1`` beyond
        ``max_distance`` metres or for a point that is not finite).

        Each point looks in a box around it, widened until its nearest segment in the box is no farther than the
        box's half-width: every segment outside the box is farther. Meant for a few thousand points on a large
        network, where a shapely tree would hold an object per segment (:meth:`WalkNetwork.snap_xy`).
        """
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        out = np.full(len(x), -1, dtype=np.int64)
        if not len(self.u):
            return out
        lo_x, lo_y, hi_x, hi_y = self.x.min(), self.y.min(), self.x.max(), self.y.max()
        for i in np.flatnonzero(np.isfinite(x) & np.isfinite(y)):
            px, py, r = x[i], y[i], self.cell / 2
            while True:
                every = px - r <= lo_x and px + r >= hi_x and py - r <= lo_y and py + r >= hi_y  # all segments
                cand = self.query(px - r, py - r, px + r, py + r)
                if len(cand):
                    d2 = self._d2(px, py, cand)
                    best = d2.min()
                    if best <= r * r or every:  # no segment outside the box is as near
                        if max_distance is None or np.sqrt(best) <= max_distance:
                            out[i] = cand[np.flatnonzero(d2 == best)[0]]  # cand is sorted: the lowest index
                        break
                if every or (max_distance is not None and r >= max_distance):
                    break  # no segment at all, or none within max_distance
                r *= 2
        return out

    def _d2(self, px: float, py: float, s: np.ndarray) -> np.ndarray:
        """Squared distance from a point to segments ``s`` (:func:`planner.segments.squared_distance`)."""
        ax, ay, bx, by = self._ends(s)
        return squared_distance(px, py, ax, ay, bx - ax, by - ay)
