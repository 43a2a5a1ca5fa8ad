"""Walking distance and minutes from every node and any point to the nearest facility.

Facilities and query points sit on street edges, not on nodes: a facility at
fraction ``t`` along edge ``(u, v)`` of length ``L``, ``d`` metres off the
street, is a virtual source joined to ``u`` by ``d + t L`` and to ``v`` by
``d + (1 - t) L``. One multi-source Dijkstra over the augmented graph
(:func:`scipy.sparse.csgraph.dijkstra` with ``min_only=True``) gives every
node's distance to the nearest facility of a tier and which facility that is.
A query point on edge ``(u, v)`` then takes the better of its two ends, or
the direct walk along the edge when a facility sits on the same edge.

Distances are metres; a speed profile turns them into minutes, so one search
per tier serves every profile. Beyond the search horizon a node is
unreachable and gets ``inf`` metres (``NaN`` minutes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse import csgraph

from .network import Snap, WalkNetwork
from .tiers import Rules

__all__ = [
    "Access",
    "NearestFacility",
    "augmented_graph",
    "compute_access",
    "coverage_sets",
    "facility_sets",
    "keyed_facility_sets",
    "nearest_facility",
    "point_distances",
    "search_horizon",
]

log = logging.getLogger(__name__)

#: Floor of a facility's arc to an end of its edge, metres. scipy.sparse.csgraph keeps explicit zeros of a CSR
#: matrix as edges, so no floor is needed: a resident exactly at a tier's target stays exactly at it
#: (tests/test_ties.py). An earlier 1e-9 m floor made such ties "not covered".
_MIN_ARC_M = 0.0


@dataclass(frozen=True)
class NearestFacility:
    """Distance from every node to the nearest facility of one set.

    Attributes
    ----------
    distance_m : numpy.ndarray
        Metres per node; ``inf`` beyond the horizon or with no facility.
    facility : numpy.ndarray of int
        Id (``ids``) of the nearest facility; ``-1`` where unreachable.
    edge, t, offset_m : numpy.ndarray
        Where the facilities sit (see :class:`~planner.network.Snap`).
    ids : numpy.ndarray of int
        The caller's id of each facility (e.g. its row in a larger table).
    horizon_m : float
        The search cut-off in metres.
    """

    distance_m: np.ndarray
    facility: np.ndarray
    edge: np.ndarray
    t: np.ndarray
    offset_m: np.ndarray
    ids: np.ndarray
    horizon_m: float


def _facility_arcs(
    network: WalkNetwork, edge: np.ndarray, t: np.ndarray, offset_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Columns and metres of the facilities' arcs, two per facility, each row's columns in ascending order."""
    length = network.length[edge]
    a, b = network.u[edge], network.v[edge]
    wa = offset_m + t * length
    wb = offset_m + (1.0 - t) * length
    swap = b < a  # as a canonical CSR would list them
    cols = np.stack([np.where(swap, b, a), np.where(swap, a, b)], axis=1).ravel()
    w = np.maximum(np.stack([np.where(swap, wb, wa), np.where(swap, wa, wb)], axis=1).ravel(), _MIN_ARC_M)
    return cols, w


def augmented_graph(network: WalkNetwork, edge: np.ndarray, t: np.ndarray, offset_m: np.ndarray) -> sparse.csr_matrix:
    """The street graph plus one virtual source node per facility (rows ``n .. n+F-1``).

    Virtual nodes have outgoing arcs only, so no path passes through a facility. Built from the network's
    cached CSR by appending the facilities' rows (no sparse arithmetic). Arcs of zero metres (a facility
    exactly on a node) are kept as explicit zeros, which csgraph treats as edges.
    """
    n, f, base = network.n_nodes, len(edge), network.csr
    cols, w = _facility_arcs(network, edge, t, offset_m)
    itype = base.indices.dtype
    indptr = np.concatenate([base.indptr, base.indptr[-1] + 2 * np.arange(1, f + 1, dtype=itype)])
    indices = np.concatenate([base.indices, cols.astype(itype, copy=False)])
    data = np.concatenate([base.data, w])
    return sparse.csr_matrix((data, indices, indptr), shape=(n + f, n + f), copy=False)


class _Room:
    """The network's CSR arrays with room after them for facility rows, kept with the network.

    A search writes its facilities' rows into the room and runs on views of the arrays: it copies nothing of the
    network (copying, and the page faults of fresh arrays, cost a search on a large grid more than half again
    the time of the search itself). One search at a time uses the room (``lock``); another at the same time
    builds its own graph.
    """

    def __init__(self, base: sparse.csr_matrix, rows: int) -> None:
        self.n, self.nnz, self.rows = base.shape[0], base.nnz, rows
        self.indptr = np.empty(self.n + 1 + rows, dtype=base.indptr.dtype)
        self.indices = np.empty(self.nnz + 2 * rows, dtype=base.indices.dtype)
        self.data = np.empty(self.nnz + 2 * rows)
        self.indptr[: self.n + 1], self.indices[: self.nnz], self.data[: self.nnz] = (
            base.indptr,
            base.indices,
            base.data,
        )
        self.lock = threading.Lock()

    @staticmethod
    def of(network: WalkNetwork, rows: int) -> _Room:
        room = network.__dict__.get("_access_room")  # kept like the network's cached properties
        if room is None or room.rows < rows:
            room = network.__dict__["_access_room"] = _Room(network.csr, max(rows, 2 * (room.rows if room else 256)))
        return room

    def graph(self, cols: np.ndarray, w: np.ndarray) -> sparse.csr_matrix:
        f, end = len(cols) // 2, self.nnz + len(cols)
        self.indptr[self.n + 1 : self.n + 1 + f] = self.nnz + 2 * np.arange(1, f + 1)
        self.indices[self.nnz : end] = cols
        self.data[self.nnz : end] = w
        m = self.n + f
        return sparse.csr_matrix((self.data[:end], self.indices[:end], self.indptr[: m + 1]), shape=(m, m), copy=False)


def nearest_facility(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    horizon_m: float = np.inf,
) -> NearestFacility:
    """Distance from every node to the nearest of a set of edge-snapped facilities.

    Parameters
    ----------
    network : WalkNetwork
    edge, t, offset_m : array-like
        Facility positions on the network (see :meth:`WalkNetwork.snap`).
    ids : array-like of int, optional
        Id to report for each facility (default: its position, 0..F-1).
    horizon_m : float, default inf
        Stop the search at this distance; farther nodes get ``inf``.

    Returns
    -------
    NearestFacility
    """
    edge = np.asarray(edge, dtype=np.int64)
    t = np.asarray(t, dtype=float)
    offset_m = np.asarray(offset_m, dtype=float)
    ids = np.arange(len(edge)) if ids is None else np.asarray(ids, dtype=np.int64)
    n, f = network.n_nodes, len(edge)
    if f == 0:
        return NearestFacility(np.full(n, np.inf), np.full(n, -1, dtype=np.int64), edge, t, offset_m, ids, horizon_m)
    sources = np.arange(n, n + f)
    room = _Room.of(network, f)
    if room.lock.acquire(blocking=False):
        try:
            graph = room.graph(*_facility_arcs(network, edge, t, offset_m))
            dist, _, src = csgraph.dijkstra(
                graph, directed=True, indices=sources, limit=horizon_m, min_only=True, return_predecessors=True
            )
        finally:
            room.lock.release()
    else:  # another thread is searching this network
        graph = augmented_graph(network, edge, t, offset_m)
        dist, _, src = csgraph.dijkstra(
            graph, directed=True, indices=sources, limit=horizon_m, min_only=True, return_predecessors=True
        )
    # src is the virtual node a reached node was reached from and -9999 where the search did not reach
    # (unreached nodes also have dist inf): -1 there, else the facility's id
    which = src[:n].astype(np.int64) - (n - 1)
    facility = np.concatenate([[-1], ids])[np.maximum(which, 0, out=which)]
    return NearestFacility(dist[:n], facility, edge, t, offset_m, ids, horizon_m)


@dataclass(frozen=True)
class Access:
    """Walking access of one facility set: node distances to the nearest facility of every tier and service.

    Attributes
    ----------
    tiers : mapping of str to NearestFacility
        Per tier key.
    services : mapping of str to NearestFacility
        Per service key: the nearest facility offering that service, of any tier or list. A service that no
        facility offers is absent: it is not assessed.
    horizon_min : float
        Search horizon in minutes at the fastest profile.
    """

    tiers: Mapping[str, NearestFacility]
    services: Mapping[str, NearestFacility]
    horizon_min: float


def search_horizon(rules: Rules, horizon_min: float) -> tuple[float, float]:
    """The search horizon in minutes (raised to the largest band or tier target) and in metres at the fastest
    profile."""
    horizon_min = max(horizon_min, *rules.bands, *(t.minutes for t in rules.tiers))
    return horizon_min, horizon_min * max(p.metres_per_minute for p in rules.profiles)


def facility_sets(facilities: pd.DataFrame, rules: Rules) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Which facilities each tier and each service is measured on (boolean masks over the rows).

    A tier uses its own rows. A service uses its own list when it has one (``list == "services.<key>"``), else
    every facility that lists it; a service no facility offers is absent, so it is not assessed (never
    "nobody has it").
    """
    tiers = {}
    for tier in rules.tiers:
        sel = (facilities["tier"] == tier.key).to_numpy()
        if not sel.any():
            log.warning("no facilities of tier %r (%s): every resident lacks it", tier.key, tier.name_en)
        tiers[tier.key] = sel
    offers = facilities["services"]
    services = {}
    for rule in rules.services:
        sel = offers.map(lambda listed, k=rule.key: k in listed).to_numpy(bool)
        if "list" in facilities.columns:  # a service with its own list is measured on that list alone
            own = (facilities["list"] == f"services.{rule.key}").to_numpy(bool)
            sel = own if own.any() else sel
        if sel.any():
            services[rule.key] = sel
        else:
            log.info("no facility list offers %r (%s): not assessed", rule.key, rule.name_en)
    return tiers, services


def keyed_facility_sets(facilities: pd.DataFrame, rules: Rules) -> dict[str, np.ndarray]:
    """:func:`facility_sets` in one mapping keyed ``"tier:<key>"`` and ``"service:<key>"`` (a tile's sources)."""
    tiers, services = facility_sets(facilities, rules)
    return {f"tier:{k}": sel for k, sel in tiers.items()} | {f"service:{k}": sel for k, sel in services.items()}


def compute_access(network: WalkNetwork, facilities: pd.DataFrame, rules: Rules, horizon_min: float) -> Access:
    """One multi-source search per tier and per service category.

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        Snapped facilities (``tier``, ``services``, ``edge``, ``t``, ``snap_m``): the plan's own, or a
        what-if variant.
    rules : Rules
    horizon_min : float
        Minutes; raised to the largest band or tier target when smaller.

    Returns
    -------
    Access
    """
    horizon_min, horizon_m = search_horizon(rules, horizon_min)
    edge, t, off = (facilities[c].to_numpy() for c in ("edge", "t", "snap_m"))

    def search(sel: np.ndarray) -> NearestFacility:
        return nearest_facility(network, edge[sel], t[sel], off[sel], ids=np.flatnonzero(sel), horizon_m=horizon_m)

    tiers, services = facility_sets(facilities, rules)
    return Access(
        MappingProxyType({k: search(sel) for k, sel in tiers.items()}),
        MappingProxyType({k: search(sel) for k, sel in services.items()}),
        horizon_min,
    )


def point_distances(network: WalkNetwork, nearest: NearestFacility, points: Snap) -> tuple[np.ndarray, np.ndarray]:
    """Walking metres from snapped points to their nearest facility.

    The walk counts the straight line from the point to its street edge, the
    walk along the edge to either end (or straight to a facility on the same
    edge), and the network distance from there.

    Parameters
    ----------
    network : WalkNetwork
    nearest : NearestFacility
        From :func:`nearest_facility`.
    points : Snap
        From :meth:`WalkNetwork.snap`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Metres (``inf`` when unreachable within the horizon or not snapped)
        and the id of the nearest facility (``-1`` likewise).
    """
    m = len(points)
    dist = np.full(m, np.inf)
    fac = np.full(m, -1, dtype=np.int64)
    p = points.ends(network)  # shared by every tier and service measured from the same snap
    du = nearest.distance_m[p.u] + p.to_u
    dv = nearest.distance_m[p.v] + p.to_v
    use_v = dv < du
    best = np.where(use_v, dv, du)
    best_fac = np.where(use_v, nearest.facility[p.v], nearest.facility[p.u])

    # A facility on the same edge can be reached directly along it.
    p_idx, f_idx = _same_edge_pairs(p.edge, nearest.edge)
    if len(p_idx):
        direct = nearest.offset_m[f_idx] + np.abs(p.t[p_idx] - nearest.t[f_idx]) * p.length[p_idx]
        order = np.lexsort((direct, p_idx))  # per point, the nearest same-edge facility first
        p_idx, f_idx, direct = p_idx[order], f_idx[order], direct[order]
        first = np.r_[True, p_idx[1:] != p_idx[:-1]]
        p_idx, f_idx, direct = p_idx[first], f_idx[first], direct[first]
        better = direct < best[p_idx]
        best[p_idx[better]] = direct[better]
        best_fac[p_idx[better]] = nearest.ids[f_idx[better]]

    best += p.offset_m
    reach = best <= nearest.horizon_m
    dist[p.index] = np.where(reach, best, np.inf)
    fac[p.index] = np.where(reach, best_fac, -1)
    return dist, fac


def _same_edge_pairs(point_edge: np.ndarray, source_edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (point, source) index pairs that lie on the same edge (sorted-array join, no pandas)."""
    if len(point_edge) == 0 or len(source_edge) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # only the points on an edge with a source take part (a mask first: a few sources, a million points)
    on = np.zeros(int(max(point_edge.max(), source_edge.max())) + 1, dtype=bool)
    on[source_edge] = True
    some = np.flatnonzero(on[point_edge])
    order = np.argsort(source_edge, kind="stable")
    sorted_edges = source_edge[order]
    lo = np.searchsorted(sorted_edges, point_edge[some], side="left")
    hi = np.searchsorted(sorted_edges, point_edge[some], side="right")
    counts = hi - lo
    p_idx = np.repeat(some, counts)
    if len(p_idx) == 0:
        return p_idx, p_idx
    offsets = np.arange(len(p_idx)) - np.repeat(np.cumsum(counts) - counts, counts)
    return p_idx, order[np.repeat(lo, counts) + offsets]


def coverage_sets(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    points: Snap,
    limit_m: float,
    *,
    chunk: int = 128,
) -> sparse.csr_matrix:
    """Which sources reach which points within a walking distance.

    One Dijkstra per source (in chunks, each cut off at ``limit_m``), with the
    same edge-snapped walk as :func:`point_distances`.

    Parameters
    ----------
    network : WalkNetwork
    edge, t, offset_m : numpy.ndarray
        Source positions (e.g. candidate sites).
    points : Snap
        Demand points.
    limit_m : float
        Walking metres within which a source covers a point.
    chunk : int, default 128
        Sources per Dijkstra call (memory: chunk x (nodes + points) floats).

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (n_points, n_sources)
    """
    edge = np.asarray(edge, dtype=np.int64)
    t = np.asarray(t, dtype=float)
    offset_m = np.asarray(offset_m, dtype=float)
    n, f = network.n_nodes, len(edge)
    m = len(points)
    if f == 0 or m == 0:
        return sparse.csr_matrix((m, f), dtype=bool)
    graph = augmented_graph(network, edge, t, offset_m)
    ok = np.flatnonzero(points.edge >= 0)
    pe = points.edge[ok]
    length = network.length[pe]
    along_u = points.t[ok] * length + points.offset_m[ok]
    along_v = (1.0 - points.t[ok]) * length + points.offset_m[ok]
    pu, pv = network.u[pe], network.v[pe]
    rows, cols = [], []
    for start in range(0, f, chunk):
        idx = np.arange(start, min(start + chunk, f))
        dist = csgraph.dijkstra(graph, directed=True, indices=n + idx, limit=limit_m)
        reach = np.minimum(dist[:, pu] + along_u, dist[:, pv] + along_v) <= limit_m
        r, c = np.nonzero(reach)
        rows.append(ok[c])
        cols.append(idx[r])
    # a source on the point's own edge reaches it directly along the edge
    p_idx, s_idx = _same_edge_pairs(pe, edge)
    if len(p_idx):
        direct = points.offset_m[ok][p_idx] + offset_m[s_idx] + np.abs(points.t[ok][p_idx] - t[s_idx]) * length[p_idx]
        near = direct <= limit_m
        rows.append(ok[p_idx[near]])
        cols.append(s_idx[near])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    out = sparse.csr_matrix((np.ones(len(r), dtype=bool), (r, c)), shape=(m, f))
    out.sum_duplicates()
    return out
