"""The travel-cost matrix of the floating-catchment methods: walking minutes from every facility to every resident
point within a limit, on the same edge-snapped walk as :func:`planner.access.point_distances`.

One bounded Dijkstra per facility (in chunks), each on the streets within the limit's straight-line reach only, so
the work grows with the catchments and not with the area. Tested against networkx in tests/test_crowding.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .network import Snap, SnapEnds, WalkNetwork

__all__ = ["ChunkSearch", "catchment_minutes", "chunk_searches", "spans"]

# straight-line slack of the local search area: lengths are planar, so only rounding needs room
_SLACK_M = 1e-3

# facilities x nodes up to which a network is searched whole, and the distances one such call returns
_WHOLE_CELLS = 1 << 26
_CALL_CELLS = 1 << 22


def catchment_minutes(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    points: Snap,
    limit_min: float,
    metres_per_minute: float,
    *,
    chunk: int = 32,
) -> sparse.csr_matrix:
    """Walking minutes from every facility to every point within a time limit.

    The walk is that of :func:`planner.access.point_distances`: the point's straight line to its edge, along the
    edge to either end (or straight to a facility on the same edge), and the network between. Facilities are
    searched in spatially sorted chunks, each on the streets within ``limit`` in a straight line of its facilities
    (no path within the limit leaves them, since every street is at least as long as its straight line).

    Parameters
    ----------
    network : WalkNetwork
    edge, t, offset_m : numpy.ndarray
        Facility positions on the network (``edge``, ``t``, ``snap_m`` of the facility table).
    points : Snap
        Resident points (``edge``, ``t``, ``offset_m`` of the residents).
    limit_min : float
        Catchment in minutes; pairs farther apart are left out.
    metres_per_minute : float
        Walking speed of the profile.
    chunk : int, default 32
        Facilities per Dijkstra call.

    Returns
    -------
    scipy.sparse.csr_matrix of float, shape (n_points, n_facilities)
        Minutes; the stored entries are exactly the pairs within the limit (a pair at 0 minutes is an explicit
        zero, so read the pattern, not the values, for membership).
    """
    edge = np.asarray(edge, dtype=np.int64)
    t = np.asarray(t, dtype=float)
    offset_m = np.asarray(offset_m, dtype=float)
    m, f = len(points), len(edge)
    limit_m = float(limit_min) * float(metres_per_minute)
    if f == 0 or m == 0 or not limit_m >= 0:
        return sparse.csr_matrix((m, f), dtype=float)
    ends = points.ends(network)
    at_u, at_v = _at_nodes(ends, network)
    rows, cols, vals = [], [], []
    for s in chunk_searches(network, edge, t, offset_m, ends, limit_m, chunk):
        fac, nodes, local, dist, k = s.fac, s.nodes, s.local, s.dist, s.k
        src, node = np.nonzero(dist[:, :k] <= limit_m)
        # each resident once: through its u end when that is reached, else through its v end (then its u end is
        # beyond the limit); residents on a facility's own edge apart, with the straight walk along it
        reached = dist[src, node]
        for near_end, by_end in ((True, at_u), (False, at_v)):
            which, at = by_end.expand(nodes[node])
            j = src[which]
            far = local[by_end.other[at]]
            far_m = dist[j, np.where(far >= 0, far, k)]
            if near_end:
                metres = np.minimum(reached[which] + by_end.near[at], far_m + by_end.far[at])
                keep = metres <= limit_m
            else:
                metres = reached[which] + by_end.near[at]
                keep = (metres <= limit_m) & ~(far_m <= limit_m)
            keep &= by_end.edge[at] != edge[fac[j]]
            rows.append(by_end.index[at[keep]])
            cols.append(fac[j[keep]])
            vals.append(metres[keep] / metres_per_minute)
        who, fac_of, metres = s.same_edge(ends, edge, t, offset_m)
        keep = metres <= limit_m
        rows.append(ends.index[who[keep]])
        cols.append(fac_of[keep])
        vals.append(metres[keep] / metres_per_minute)
    out = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, f), dtype=float
    )
    out.sort_indices()
    return out


@dataclass
class ChunkSearch:
    """One chunk of facilities searched at once on the streets within their reach.

    Attributes
    ----------
    fac : numpy.ndarray of int
        The chunk's facilities (positions in the facility arrays).
    nodes : numpy.ndarray of int
        The local nodes (network indices); local node ``i`` is ``nodes[i]``.
    local : numpy.ndarray of int
        Per network node, its local index, or -1 outside (valid while the chunk is current).
    dist : numpy.ndarray of float, shape (len(fac), k + len(fac))
        Metres from each chunk facility to each local node (``inf`` beyond the limit); column ``k`` is ``inf``
        throughout, so ``dist[:, np.where(local >= 0, local, k)]`` reads any network node.
    k : int
        Number of local nodes.
    """

    fac: np.ndarray
    nodes: np.ndarray
    local: np.ndarray
    dist: np.ndarray
    k: int
    _same: tuple[np.ndarray, ...]

    def same_edge(
        self, ends: SnapEnds, edge: np.ndarray, t: np.ndarray, offset_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The residents on a chunk facility's own edge: (position in ``ends``, facility, metres), the metres the
        shorter of the straight walk along the edge and the walk through either end."""
        d_j, d_who, d_fac = self._same
        along = ends.offset_m[d_who] + offset_m[d_fac] + np.abs(ends.t[d_who] - t[d_fac]) * ends.length[d_who]
        return d_who, d_fac, np.minimum(_walk(self.dist, self.k, self.local, ends, d_j, d_who), along)


def chunk_searches(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    ends: SnapEnds,
    limit_m: float,
    chunk: int,
) -> Iterator[ChunkSearch]:
    """Bounded Dijkstra searches from the facilities, in spatially sorted chunks, each on the streets within
    ``limit_m`` in a straight line of its facilities (no path within the limit leaves them, since every street is
    at least as long as its straight line). The facility's own arcs are its offset plus the walk to either end.

    Yields
    ------
    ChunkSearch
        One per chunk; its ``local`` is reset when the next is made.
    """
    n, f = network.n_nodes, len(edge)
    on_edge = _on_edge(ends, network)
    u, v = network.u[edge].astype(np.int64), network.v[edge].astype(np.int64)
    to_u = offset_m + t * network.length[edge]
    to_v = offset_m + (1.0 - t) * network.length[edge]
    # where each facility sits on its street: the centre of its search area
    fx = network.x[u] + t * (network.x[v] - network.x[u])
    fy = network.y[u] + t * (network.y[v] - network.y[u])
    cell = max(limit_m, 1.0)
    order = np.lexsort((np.floor(fx / cell), np.floor(fy / cell)))  # rows of cells: chunks of near facilities
    if f * n <= _WHOLE_CELLS or not np.isfinite(limit_m):
        # a small network (or no limit): one graph with every facility's source, searched whole (the limit bounds
        # each search, and its dense answer costs less than cutting out the streets around each chunk)
        chunk = max(chunk, _CALL_CELLS // (n + f))
        same = _same_edge(on_edge, edge, order, chunk)
        graph = _with_sources(network.csr, u, v, to_u, to_v)
        every = np.arange(n)
        for c, start in enumerate(range(0, f, chunk)):
            fac = order[start : start + chunk]
            dist = csgraph.dijkstra(graph, directed=True, indices=n + fac, limit=limit_m)
            dist[:, n] = np.inf  # read for "outside", which nothing is here
            yield ChunkSearch(fac, every, every, dist, n, same[c])
        return
    same = _same_edge(on_edge, edge, order, chunk)
    reach_m = np.maximum(limit_m - offset_m, 0.0) + _SLACK_M
    grid = _node_grid(network)
    local = np.full(n, -1, dtype=np.int64)
    for c, start in enumerate(range(0, f, chunk)):
        fac = order[start : start + chunk]
        nodes = np.unique(np.concatenate([grid.near(fx[fac], fy[fac], reach_m[fac]), u[fac], v[fac]]))
        k = len(nodes)
        local[nodes] = np.arange(k)
        graph = _local_graph(network.csr, nodes, local, u[fac], v[fac], to_u[fac], to_v[fac])
        dist = csgraph.dijkstra(graph, directed=True, indices=k + np.arange(len(fac)), limit=limit_m)
        dist[:, k] = np.inf  # column k (the first source, unreachable from the others): any node outside
        yield ChunkSearch(fac, nodes, local, dist, k, same[c])
        local[nodes] = -1


def _walk(dist: np.ndarray, k: int, local: np.ndarray, ends: SnapEnds, j: np.ndarray, who: np.ndarray) -> np.ndarray:
    """Metres from chunk facility ``j`` to resident ``who`` through either end of its edge (``dist``: metres from
    each chunk facility to each of the ``k`` local nodes, and ``inf`` in column ``k`` for any node outside)."""
    lu, lv = local[ends.u[who]], local[ends.v[who]]
    via_u = dist[j, np.where(lu >= 0, lu, k)] + ends.to_u[who]
    via_v = dist[j, np.where(lv >= 0, lv, k)] + ends.to_v[who]
    return np.minimum(via_u, via_v) + ends.offset_m[who]


class _AtNode:
    """The snapped residents grouped by a node (or edge) of theirs: ``order`` lists them (positions in the ends)
    group by group, ``start`` where each group starts. With ``end`` (``u`` or ``v``), also, in the same order, the
    walk from that end to each resident (``near``, offset included), the other end (``other``) and the walk from
    it (``far``), their edge and their index in the snap: read in runs, not scattered."""

    def __init__(self, key: np.ndarray, n_keys: int, ends: SnapEnds | None = None, end: str = "") -> None:
        self.order = np.argsort(key, kind="stable")
        self.start = np.zeros(n_keys + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=n_keys), out=self.start[1:])
        if ends is not None:
            o = self.order
            near, far, other = (ends.to_u, ends.to_v, ends.v) if end == "u" else (ends.to_v, ends.to_u, ends.u)
            self.near, self.far = (near + ends.offset_m)[o], (far + ends.offset_m)[o]
            self.other, self.edge, self.index = other[o].astype(np.int64), ends.edge[o], ends.index[o]

    def expand(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The residents of each group ``key``: the position of their group in ``key``, and theirs in the lists."""
        count = self.start[key + 1] - self.start[key]
        which = np.repeat(np.arange(len(key)), count)
        return which, np.arange(int(count.sum())) + np.repeat(self.start[key] - (np.cumsum(count) - count), count)


def _at_nodes(ends: SnapEnds, network: WalkNetwork) -> tuple[_AtNode, _AtNode]:
    """The residents at each node by their ``u`` and by their ``v`` end (worked out once, kept with the ends)."""
    kept = ends.__dict__.get("_at_nodes")
    if kept is None:  # a frozen dataclass: a cache, not a field
        n = network.n_nodes
        kept = ends.__dict__["_at_nodes"] = (_AtNode(ends.u, n, ends, "u"), _AtNode(ends.v, n, ends, "v"))
    return kept


def _on_edge(ends: SnapEnds, network: WalkNetwork) -> _AtNode:
    """The residents on each edge (worked out once, kept with the ends)."""
    kept = ends.__dict__.get("_on_edge")
    if kept is None:
        kept = ends.__dict__["_on_edge"] = _AtNode(ends.edge, len(network.u))
    return kept


def _same_edge(on_edge: _AtNode, edge: np.ndarray, order: np.ndarray, chunk: int) -> list[tuple[np.ndarray, ...]]:
    """Per chunk of ``order``: (position in the chunk, resident, facility) of the residents on a facility's own
    edge."""
    fac, at = on_edge.expand(edge)
    who = on_edge.order[at]
    rank = np.empty(len(edge), dtype=np.int64)
    rank[order] = np.arange(len(edge))
    group = rank[fac] // chunk
    by_group = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[by_group], np.arange((len(edge) + chunk - 1) // chunk + 1))
    out: list[tuple[np.ndarray, ...]] = []
    for c in range(len(bounds) - 1):
        sel = by_group[bounds[c] : bounds[c + 1]]
        out.append((rank[fac[sel]] - c * chunk, who[sel], fac[sel]))
    return out


class _NodeGrid:
    """The network's nodes in square cells (``size`` metres), for the nodes near a few points without a search."""

    def __init__(self, x: np.ndarray, y: np.ndarray, size: float) -> None:
        self.size, self.x0, self.y0 = size, float(x.min()), float(y.min())
        ix = ((x - self.x0) // size).astype(np.int64)
        iy = ((y - self.y0) // size).astype(np.int64)
        self.nx, self.ny = int(ix.max()) + 1, int(iy.max()) + 1
        self.nodes = _AtNode(ix + self.nx * iy, self.nx * self.ny)

    def near(self, x: np.ndarray, y: np.ndarray, reach: np.ndarray) -> np.ndarray:
        """Every node within ``reach`` of a point (and some farther: the cells that the squares around the
        points touch)."""
        lo_x = np.clip((x - reach - self.x0) // self.size, 0, self.nx - 1).astype(np.int64)
        hi_x = np.clip((x + reach - self.x0) // self.size, 0, self.nx - 1).astype(np.int64)
        lo_y = np.clip((y - reach - self.y0) // self.size, 0, self.ny - 1).astype(np.int64)
        hi_y = np.clip((y + reach - self.y0) // self.size, 0, self.ny - 1).astype(np.int64)
        bx, by = int(lo_x.min()), int(lo_y.min())
        mask = np.zeros((int(hi_y.max()) - by + 1, int(hi_x.max()) - bx + 1), dtype=bool)
        for a, b, c, d in zip(lo_y - by, hi_y - by + 1, lo_x - bx, hi_x - bx + 1):
            mask[a:b, c:d] = True
        iy, ix = np.nonzero(mask)
        _, at = self.nodes.expand((iy + by) * self.nx + ix + bx)
        return self.nodes.order[at]


def _node_grid(network: WalkNetwork) -> _NodeGrid:
    """The nodes in 100 m cells, built once and kept with the network (like its CSR)."""
    grid = network.__dict__.get("_node_grid")
    if grid is None:
        grid = network.__dict__["_node_grid"] = _NodeGrid(network.x, network.y, 100.0)
    return grid


def _local_graph(
    csr: sparse.csr_matrix,
    nodes: np.ndarray,
    local: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    wa: np.ndarray,
    wb: np.ndarray,
) -> sparse.csr_matrix:
    """The streets between the local ``nodes`` (``local``: each network node's local index, -1 outside) and a
    source per facility (:func:`_with_sources`, with ``a`` and ``b`` network nodes)."""
    lo = csr.indptr[nodes].astype(np.int64)
    which, pos = spans(lo, csr.indptr[nodes + 1] - lo)
    cols = local[csr.indices[pos]]
    keep = cols >= 0
    indptr = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.cumsum(np.bincount(which[keep], minlength=len(nodes)), out=indptr[1:])
    k = len(nodes)
    base = sparse.csr_matrix((csr.data[pos[keep]], cols[keep], indptr), shape=(k, k), copy=False)
    return _with_sources(base, local[a], local[b], wa, wb)


def spans(first: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every position of the spans ``[first, first + length)``: the span it is in, and the position."""
    which = np.repeat(np.arange(len(first)), length)
    return which, np.arange(len(which)) + np.repeat(first - (np.cumsum(length) - length), length)


def _with_sources(
    base: sparse.csr_matrix, a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray
) -> sparse.csr_matrix:
    """A street graph plus one source row per facility with arcs to its edge's ends ``a`` and ``b`` (metres ``wa``,
    ``wb``); sources have no incoming arcs, and zero arcs stay as explicit zeros (csgraph keeps them as edges)."""
    n, f = base.shape[0], len(a)
    swap = b < a
    cols = np.stack([np.where(swap, b, a), np.where(swap, a, b)], axis=1).ravel()
    w = np.stack([np.where(swap, wb, wa), np.where(swap, wa, wb)], axis=1).ravel()
    itype = np.int64
    indptr = np.concatenate([base.indptr.astype(itype), base.indptr[-1] + 2 * np.arange(1, f + 1, dtype=itype)])
    indices = np.concatenate([base.indices.astype(itype), cols.astype(itype)])
    data = np.concatenate([base.data, w])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + f, n + f), copy=False)
