"""The travel-cost matrix of the floating-catchment methods: walking minutes from every facility to every resident
point within a limit, on the same edge-snapped walk as :func:`planner.access.point_distances`.

One bounded Dijkstra per facility (in chunks), each on the streets within the limit's straight-line reach only, so
the work grows with the catchments and not with the area. Tested against networkx in tests/test_crowding.py.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from .network import Snap, SnapEnds, WalkNetwork

__all__ = ["catchment_minutes"]

# straight-line slack of the local search area: lengths are planar, so only rounding needs room
_SLACK_M = 1e-3


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
    m, f, n = len(points), len(edge), network.n_nodes
    limit_m = float(limit_min) * float(metres_per_minute)
    if f == 0 or m == 0 or not limit_m >= 0:
        return sparse.csr_matrix((m, f), dtype=float)
    ends = points.ends(network)
    at_u, at_v, on_edge = _at_nodes(ends, network)
    u, v = network.u[edge].astype(np.int64), network.v[edge].astype(np.int64)
    # where each facility sits on its street: the centre of its search area
    fx = network.x[u] + t * (network.x[v] - network.x[u])
    fy = network.y[u] + t * (network.y[v] - network.y[u])
    reach_m = np.maximum(limit_m - offset_m, 0.0) + _SLACK_M
    cell = max(limit_m, 1.0)
    order = np.lexsort((np.floor(fx / cell), np.floor(fy / cell)))  # rows of cells: chunks of near facilities
    same = _same_edge(on_edge, edge, order, chunk)
    tree = _node_tree(network)
    rows, cols, vals = [], [], []
    local = np.full(n, -1, dtype=np.int64)
    for c, start in enumerate(range(0, f, chunk)):
        fac = order[start : start + chunk]
        for found in tree.query_ball_point(np.column_stack([fx[fac], fy[fac]]), reach_m[fac], return_sorted=False):
            local[found] = 0
        local[u[fac]] = local[v[fac]] = 0
        nodes = np.flatnonzero(local >= 0)
        k = len(nodes)
        local[nodes] = np.arange(k)
        graph = _with_sources(
            network.csr[nodes][:, nodes],
            local[u[fac]],
            local[v[fac]],
            offset_m[fac] + t[fac] * network.length[edge[fac]],
            offset_m[fac] + (1.0 - t[fac]) * network.length[edge[fac]],
        )
        dist = csgraph.dijkstra(graph, directed=True, indices=k + np.arange(len(fac)), limit=limit_m)
        dist[:, k] = np.inf  # column k (the first source, unreachable from the others): any node outside
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
        d_j, d_who, d_fac = same[c]
        along = ends.offset_m[d_who] + offset_m[d_fac] + np.abs(ends.t[d_who] - t[d_fac]) * ends.length[d_who]
        metres = np.minimum(_walk(dist, k, local, ends, d_j, d_who), along)
        keep = metres <= limit_m
        rows.append(ends.index[d_who[keep]])
        cols.append(d_fac[keep])
        vals.append(metres[keep] / metres_per_minute)
        local[nodes] = -1
    out = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, f), dtype=float
    )
    out.sort_indices()
    return out


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


def _at_nodes(ends: SnapEnds, network: WalkNetwork) -> tuple[_AtNode, _AtNode, _AtNode]:
    """The residents at each node by their ``u`` and by their ``v`` end, and on each edge (worked out once, kept
    with the ends)."""
    kept = ends.__dict__.get("_at_nodes")
    if kept is None:  # a frozen dataclass: a cache, not a field
        n = network.n_nodes
        kept = (_AtNode(ends.u, n, ends, "u"), _AtNode(ends.v, n, ends, "v"), _AtNode(ends.edge, len(network.u)))
        ends.__dict__["_at_nodes"] = kept
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


def _node_tree(network: WalkNetwork) -> cKDTree:
    """A KD-tree of the network's nodes, built once and kept with the network (like its CSR)."""
    tree = network.__dict__.get("_node_tree")
    if tree is None:
        tree = network.__dict__["_node_tree"] = cKDTree(np.column_stack([network.x, network.y]))
    return tree


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
