"""2SFCA / E2SFCA straight from the facilities' searches, without the residents x facilities matrix.

:func:`planner.fca.floating_catchment` reads a cost matrix of every resident-facility pair within the
catchment; with a million residents and a thousand facilities per tier that is tens of millions of pairs, built
and read one by one. The sums need less. A resident ``i`` on a street edge ``(u, v)`` walks ``s_u`` to its ``u``
end (its offset from the street included) or ``s_v`` to its ``v`` end, so its walk from facility ``j`` is
``min(D_j(u) + s_u, D_j(v) + s_v)``. Sort an edge's residents by ``s_u``: those within any threshold through
``u`` are a *prefix* of that order (one binary search per facility and edge, testing the very float comparison
the matrix path makes), and likewise through ``v`` in the ``s_v`` order. A resident within the threshold is in
one prefix or the other; only where both prefixes are partial does the overlap have to be counted resident by
resident. So:

With the bands' upper minutes below the catchment ``c_1 < … < c_Q`` (the last the catchment itself) and ``w_q``
the weight of the band ending at ``c_q``:

- step 1, ``D_j = sum_i W(c_ij) P_i``: per facility and edge, the people within each threshold from prefix sums;
  each band's people (within ``c_q`` and not ``c_{q-1}``) times ``w_q``, so a band of weight 0 adds exactly 0;
- step 2, ``A_i = sum_j W(c_ij) R_j``: the same prefixes as range additions over each order, with the weight
  written as steps, ``W(c) = sum_q (w_q - w_{q+1}) [c <= c_q]``, less the overlaps.

Residents on a facility's own edge (the straight walk along it competes) are counted pair by pair, as in the matrix.
The loops run compiled (``planner/_catchment_kernel.pyx``) when installed; the NumPy form below is the same method.

The result equals ``floating_catchment(catchment_minutes(...))`` up to the order of the floating-point sums
(tests/test_catchment_sums.py, on grids with exact ties and on real streets).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .catchment import ChunkSearch, _AtNode, chunk_searches, spans
from .fca import Catchment, check_people, decay_weights, supply_ratio
from .network import Snap, SnapEnds, WalkNetwork

_kernel: ModuleType | None
try:  # compiled at install (planner/_catchment_kernel.pyx); the NumPy form below gives the same sums
    from . import _catchment_kernel as _kernel
except ImportError:  # pragma: no cover - a source checkout used without installing
    _kernel = None

__all__ = ["catchment_sums", "prepare"]

log = logging.getLogger(__name__)
_said_numpy = False


def _say_numpy() -> None:
    global _said_numpy  # noqa: PLW0603 - said once per process
    _said_numpy = True
    log.info("2SFCA in its NumPy form: the compiled loops are not built (pip install -e . builds them)")


@dataclass(frozen=True)
class _Order:
    """Residents (positions in the snap's ends) grouped by edge, and within an edge sorted by their walk to one
    end: ``pos`` in that order, ``walk`` the metres, ``rank`` the place of each resident in it; per edge the
    ``first`` and ``last`` walk (the shortest and the longest)."""

    pos: np.ndarray
    walk: np.ndarray
    rank: np.ndarray
    first: np.ndarray
    last: np.ndarray


@dataclass(frozen=True)
class _Edges:
    """The edges with residents: per edge ``start`` (in both orders) and ``count``; per position in an order, its
    ``edge`` and ``rank`` on it; the two orders; and the populated edges by their ``u`` and by their ``v`` node."""

    start: np.ndarray
    count: np.ndarray
    edge: np.ndarray
    rank: np.ndarray
    by_u: _Order
    by_v: _Order
    populated: np.ndarray
    at_u: _AtNode
    at_v: _AtNode


def _edges(ends: SnapEnds, network: WalkNetwork) -> _Edges:
    """Worked out once per snap and kept with its ends (like the catchment's node groups)."""
    kept = ends.__dict__.get("_edge_orders")
    if kept is None:
        n_edges = len(network.u)
        count = np.bincount(ends.edge, minlength=n_edges)
        start = np.zeros(n_edges + 1, dtype=np.int64)
        np.cumsum(count, out=start[1:])

        populated = np.flatnonzero(count)

        def order(walk: np.ndarray) -> _Order:
            pos = np.lexsort((walk, ends.edge))
            rank = np.empty(len(pos), dtype=np.int64)
            rank[pos] = np.arange(len(pos))
            walk = walk[pos]
            first, last = np.full(n_edges, np.inf), np.full(n_edges, np.inf)
            first[populated], last[populated] = walk[start[populated]], walk[start[populated + 1] - 1]
            return _Order(pos, walk, rank, first, last)

        n = network.n_nodes
        edge_at = np.repeat(np.arange(n_edges), count)
        kept = _Edges(
            start,
            count,
            edge_at,
            np.arange(len(edge_at)) - start[edge_at],
            order(ends.to_u + ends.offset_m),
            order(ends.to_v + ends.offset_m),
            populated,
            _AtNode(network.u[populated].astype(np.int64), n),
            _AtNode(network.v[populated].astype(np.int64), n),
        )
        ends.__dict__["_edge_orders"] = kept
    return kept


def prepare(network: WalkNetwork, points: Snap, demand: np.ndarray | None = None) -> None:
    """Work out ahead what :func:`catchment_sums` keeps with a set of residents: their order along their streets
    and, with ``demand``, the people along them. It does so on first use; a benchmark times it apart, and a
    server can do it once up front."""
    ends = points.ends(network)
    e = _edges(ends, network)
    if _kernel is not None:
        k = _kernel_arrays(network, ends, e)
        if demand is not None:
            _people_along(ends, k, np.asarray(demand, dtype=float))


def _steps(max_minutes: float | None, bands: Sequence[tuple[float, float]] | None) -> tuple[np.ndarray, ...]:
    """Thresholds in minutes (ascending, the last the catchment), the weight of the band each closes, and the
    weight step at each. ``D_j`` sums each band's weight times its people (a band of weight 0 adds exactly 0);
    ``A_i`` sums the steps over the prefixes that reach a resident."""
    top = np.inf if max_minutes is None else float(max_minutes)
    if bands is None:
        return np.array([top]), np.array([1.0]), np.array([1.0])
    caps = np.array([*sorted({float(b) for b, _ in bands if float(b) < top}), top])
    w = decay_weights(caps, bands)
    return caps, w, w - np.append(w[1:], 0.0)


def _edge_pairs(
    s: ChunkSearch, e: _Edges, network: WalkNetwork, own_edge: np.ndarray, limit_m: float
) -> tuple[np.ndarray, ...]:
    """Every (chunk facility, populated edge) with an end within the limit, once (through its ``u`` end when that
    is reached, else through ``v``), with the metres to each end (``inf`` beyond the limit); a facility's own edge
    is left out (its residents are counted pair by pair)."""
    k, dist, local = s.k, s.dist, s.local
    src, node = np.nonzero(dist[:, :k] <= limit_m)
    gnode = s.nodes[node]
    out = []
    for by_u, groups in ((True, e.at_u), (False, e.at_v)):
        which, at = groups.expand(gnode)
        edge = e.populated[groups.order[at]]
        j = src[which]
        other = local[(network.v if by_u else network.u)[edge]]
        d_other = dist[j, np.where(other >= 0, other, k)]
        d_here = dist[j, node[which]]
        keep = edge != own_edge[s.fac[j]]
        if by_u:
            du, dv = d_here, d_other
        else:  # reached through v only
            keep &= ~(d_other <= limit_m)
            du, dv = np.full(len(j), np.inf), d_here
        out.append((s.fac[j[keep]], edge[keep], du[keep], dv[keep]))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _within(limit_m: float, mpm: float, cap: float) -> float:
    """The largest float ``m`` with ``m <= limit_m`` and ``m / mpm <= cap``: the matrix path's two tests of a
    pair's metres (the limit) and minutes (the band), as one comparison. Both tests hold for every float up to
    some value (division rounds monotonically), so this finds that value."""

    def ok(m: float) -> bool:
        return m <= limit_m and m / mpm <= cap

    m = float(min(limit_m, cap * mpm))
    if m == np.inf:  # no limit at all: every finite walk passes
        return m
    while not ok(m):
        m = float(np.nextafter(m, -np.inf))
    while ok(up := float(np.nextafter(m, np.inf))):
        m = up
    return m


def _prefix(
    order: _Order, edge: np.ndarray, start: np.ndarray, count: np.ndarray, d: np.ndarray, most: float
) -> np.ndarray:
    """How many of each edge's residents (in ``order``, from ``start``) walk at most ``most`` metres from ``d``
    at their end: a prefix, so a binary search per pair, on the pairs the first and last do not settle."""
    walk = order.walk
    full = d + order.last[edge] <= most
    none = ~(d + order.first[edge] <= most)
    n = np.where(full, count, 0)
    active = np.flatnonzero(~full & ~none)  # the first is in, the last out: the count is in [1, count - 1]
    lo, hi = np.ones(len(active), dtype=np.int64), count[active] - 1
    while len(active):
        mid = (lo + hi) // 2
        inside = d[active] + walk[start[active] + mid] <= most
        lo = np.where(inside, mid + 1, lo)
        hi = np.where(inside, hi, mid)
        done = lo >= hi
        n[active[done]] = lo[done]
        active, lo, hi = active[~done], lo[~done], hi[~done]
    return n


def catchment_sums(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    points: Snap,
    demand: np.ndarray,
    supply: np.ndarray,
    limit_min: float,
    metres_per_minute: float,
    *,
    max_minutes: float | None = None,
    bands: Sequence[tuple[float, float]] | None = None,
    chunk: int = 32,
    compiled: bool | None = None,
) -> Catchment:
    """2SFCA (``bands=None``) or E2SFCA on the walk network, equal to
    ``floating_catchment(catchment_minutes(...), demand, supply, max_minutes=..., bands=...)``.

    Parameters
    ----------
    network : WalkNetwork
    edge, t, offset_m : numpy.ndarray
        Facility positions on the network (``edge``, ``t``, ``snap_m`` of the facility table).
    points : Snap
        Resident points (``edge``, ``t``, ``offset_m``); unsnapped points (``edge`` -1) are in no catchment.
    demand : numpy.ndarray
        People at each point.
    supply : numpy.ndarray
        Supply of each facility; NaN leaves it out.
    limit_min : float
        Walking limit of the pairs, minutes.
    metres_per_minute : float
        Walking speed of the profile.
    max_minutes : float, optional
        Catchment (default: every pair within ``limit_min``).
    bands : sequence of (float, float), optional
        ``(upper minute, weight)`` steps for E2SFCA; None for plain 2SFCA.
    chunk : int, default 32
        Facilities per Dijkstra call (the NumPy form).
    compiled : bool, optional
        Use the compiled loops (``planner._catchment_kernel``, built at install) or the NumPy form; by default
        the compiled loops when they are installed. Both give the same sums up to their order.

    Returns
    -------
    Catchment
    """
    edge = np.asarray(edge, dtype=np.int64)
    t, offset_m = np.asarray(t, dtype=float), np.asarray(offset_m, dtype=float)
    demand, supply = np.asarray(demand, dtype=float), np.asarray(supply, dtype=float)
    m, f = len(points), len(edge)
    check_people(demand, supply, m, f)
    if f and not ((edge >= 0) & (edge < network.n_edges)).all():
        msg = "every facility must be on a street of the network (edge -1: not snapped; leave it out)"
        raise ValueError(msg)
    limit_m, mpm = float(limit_min) * float(metres_per_minute), float(metres_per_minute)
    people, weighted = np.zeros(f), np.zeros(f)
    if f == 0 or m == 0 or not limit_m >= 0:
        return Catchment(people, weighted, np.full(f, np.nan), np.zeros(m))
    ends = points.ends(network)
    e = _edges(ends, network)
    caps, weights, steps = _steps(max_minutes, bands)
    if compiled is None:
        compiled = _kernel is not None
        if not compiled and not _said_numpy:
            _say_numpy()
    if compiled:
        if _kernel is None:
            msg = "planner._catchment_kernel is not built: reinstall the package (pip install -e .)"
            raise ImportError(msg)
        thresholds = np.array([_within(limit_m, mpm, cap) for cap in caps])
        return _compiled_sums(network, edge, t, offset_m, ends, e, demand, supply, thresholds, weights, steps, limit_m)
    who_demand = demand[ends.index]
    cum = {o: np.concatenate([[0.0], np.cumsum(who_demand[order.pos])]) for o, order in (("u", e.by_u), ("v", e.by_v))}
    pairs, own = [], []  # (facility, edge, metres to u, to v); (facility, resident, weight) on a facility's edge
    for search in chunk_searches(network, edge, t, offset_m, ends, limit_m, chunk):
        pairs.append(_edge_pairs(search, e, network, edge, limit_m))
        who, fac_of, metres = search.same_edge(ends, edge, t, offset_m)
        cost = metres / mpm
        inside = (metres <= limit_m) & (cost <= (np.inf if max_minutes is None else max_minutes))
        w = decay_weights(cost, bands) * inside
        people += np.bincount(fac_of, weights=inside * who_demand[who], minlength=f)
        weighted += np.bincount(fac_of, weights=w * who_demand[who], minlength=f)
        own.append((fac_of, who, w))
    fac, pe, du, dv = (np.concatenate(p) for p in zip(*pairs))
    start, count = e.start[pe], e.count[pe]
    lengths: dict[str, list[np.ndarray]] = {"u": [], "v": []}  # per threshold, the prefix each pair adds to
    overlaps = []  # (facility, resident, weight step): residents in both prefixes, counted twice
    within = np.zeros(len(fac))  # per pair, the people within the threshold before
    for q, (cap, weight, step) in enumerate(zip(caps, weights, steps)):
        most = _within(limit_m, mpm, cap)
        n_u, n_v = _prefix(e.by_u, pe, start, count, du, most), _prefix(e.by_v, pe, start, count, dv, most)
        sum_u = cum["u"][start + n_u] - cum["u"][start]
        sum_v = cum["v"][start + n_v] - cum["v"][start]
        just_u = (n_u == count) | (n_v == 0)
        just_v = ~just_u & ((n_v == count) | (n_u == 0))
        both = ~just_u & ~just_v
        total = np.where(just_u, sum_u, np.where(just_v, sum_v, sum_u + sum_v))
        if both.any():  # both prefixes partial: the residents in both, one by one
            b = np.flatnonzero(both)
            which, at = spans(start[b], n_u[b])
            res = e.by_u.pos[at]
            twice = dv[b[which]] + e.by_v.walk[e.by_v.rank[res]] <= most
            total -= np.bincount(b[which[twice]], weights=who_demand[res[twice]], minlength=len(total))
            overlaps.append((fac[b[which[twice]]], res[twice], np.full(int(twice.sum()), step)))
        if q == len(caps) - 1:
            people += np.bincount(fac, weights=total, minlength=f)
        weighted += weight * np.bincount(fac, weights=total - within, minlength=f)  # this band's people
        within = total
        lengths["u"].append(np.where(just_u | both, n_u, 0))
        lengths["v"].append(np.where(just_v | both, n_v, 0))
    ratio = supply_ratio(supply, weighted)
    share = np.where(np.isfinite(ratio), ratio, 0.0)
    at_ends = np.zeros(len(ends.index))
    for o, order in (("u", e.by_u), ("v", e.by_v)):
        at_ends += _range_sums(np.stack(lengths[o]), steps, share[fac], start, pe, e)[order.rank]
    for parts, sign in ((overlaps, -1.0), (own, 1.0)):
        if parts:
            fac_of, who, w = (np.concatenate(p) for p in zip(*parts))
            at_ends += sign * np.bincount(who, weights=w * share[fac_of], minlength=len(at_ends))
    access = np.zeros(m)
    access[ends.index] = at_ends
    return Catchment(people, weighted, ratio, access)


def _compiled_sums(
    network: WalkNetwork,
    edge: np.ndarray,
    t: np.ndarray,
    offset_m: np.ndarray,
    ends: SnapEnds,
    e: _Edges,
    demand: np.ndarray,
    supply: np.ndarray,
    most: np.ndarray,
    weights: np.ndarray,
    steps: np.ndarray,
    limit_m: float,
) -> Catchment:
    """The same sums by the compiled loops (``planner/_catchment_kernel.pyx``): one pass for ``D_j``, one for
    ``A_i``."""
    assert _kernel is not None
    k = _kernel_arrays(network, ends, e)
    length = network.length[edge]
    fac = (np.ascontiguousarray(edge), np.ascontiguousarray(t), np.ascontiguousarray(offset_m))
    people_u, people_v, cum_u, cum_v, edge_people = _people_along(ends, k, demand)
    orders = (e.by_u.walk, e.by_v.walk, k["other_u"], k["other_v"], people_u, people_v, cum_u, cum_v, e.by_u.pos)
    with k["lock"]:  # the room to work in is the snap's: one call at a time
        *found, k["room"] = _kernel.demand_pass(
            k["indptr"],
            k["indices"],
            network.csr.data,
            network.u[edge].astype(np.int64),
            network.v[edge].astype(np.int64),
            offset_m + t * length,
            offset_m + (1.0 - t) * length,
            *fac,
            _facility_order(network, edge, t, limit_m),
            e.start,
            e.count,
            k["u"],
            k["v"],
            k["edge_walks"],
            edge_people,
            e.at_u.start,
            k["by_u"],
            e.at_v.start,
            k["by_v"],
            *orders,
            *k["res"],
            most,
            weights,
            steps,
            limit_m,
            k["room"],
        )
        people, weighted, pairs, own = found[0], found[1], found[2:8], found[8:10]
        ratio = supply_ratio(supply, weighted)
        access = _kernel.access_pass(
            np.where(np.isfinite(ratio), ratio, 0.0),
            *pairs,
            *own,
            *fac,
            e.start,
            e.count,
            e.populated,
            k["other_u"],
            k["other_v"],
            e.by_u.pos,
            k["out_u"],
            k["out_v"],
            len(demand),
            *k["res"],
            most,
            weights,
            steps,
            *k["last"],
        )
    return Catchment(people, weighted, ratio, access)


def _people_along(ends: SnapEnds, k: dict, demand: np.ndarray) -> tuple[np.ndarray, ...]:
    """The people in each slot of the two orders, their running sums and the people on each edge, worked out
    once per demand (kept with the ends while the demand is equal: the tiers of a plan share it)."""
    kept = ends.__dict__.get("_people_along")
    if kept is None or kept[0] is not k or not np.array_equal(kept[1], demand):
        people_u, people_v = demand[k["out_u"]], demand[k["out_v"]]
        cum = [np.concatenate([[0.0], np.cumsum(p)]) for p in (people_u, people_v)]
        edge_people = np.bincount(k["edge"], weights=people_u, minlength=len(k["edge_walks"])).astype(float)
        kept = ends.__dict__["_people_along"] = (k, demand.copy(), (people_u, people_v, *cum, edge_people))
    return kept[2]


def _facility_order(network: WalkNetwork, edge: np.ndarray, t: np.ndarray, limit_m: float) -> np.ndarray:
    """The facilities row by row of ``limit_m`` cells: searched in this order, near ones read the same edges."""
    u, v = network.u[edge], network.v[edge]
    x = network.x[u] + t * (network.x[v] - network.x[u])
    y = network.y[u] + t * (network.y[v] - network.y[u])
    cell = max(limit_m, 1.0)
    return np.lexsort((x, np.floor(y / cell))).astype(np.int64)


def _kernel_arrays(network: WalkNetwork, ends: SnapEnds, e: _Edges) -> dict:
    """The arrays the compiled loops read besides the edge orders (64-bit, contiguous), worked out once per snap
    and kept with its ends like the orders: the network's, the populated edges at each node, each slot's walk to
    its edge's other end, and the residents' own."""
    kept = ends.__dict__.get("_kernel_arrays")
    if kept is None or kept["network"] is not network:
        csr = network.csr
        to_u, to_v = ends.to_u + ends.offset_m, ends.to_v + ends.offset_m  # as the orders' walks are summed
        n_slots = len(e.by_u.pos)
        kept = ends.__dict__["_kernel_arrays"] = {
            "network": network,
            "lock": threading.Lock(),
            "room": (
                *(np.empty(0, dtype=t) for t in (np.int64, np.int64, float, float)),
                *[np.empty((0, 0), np.intc)] * 2,
            ),
            "last": (np.zeros(n_slots), np.zeros(n_slots)),
            "indptr": csr.indptr.astype(np.int64),
            "indices": csr.indices.astype(np.int64),
            "u": network.u.astype(np.int64),
            "v": network.v.astype(np.int64),
            "by_u": e.populated[e.at_u.order].astype(np.int64),
            "by_v": e.populated[e.at_v.order].astype(np.int64),
            "edge_walks": np.stack([e.by_u.first, e.by_u.last, e.by_v.first, e.by_v.last], axis=1),
            "out_u": ends.index[e.by_u.pos].astype(np.int64),
            "out_v": ends.index[e.by_v.pos].astype(np.int64),
            "edge": e.edge,
            "other_u": to_v[e.by_u.pos],
            "other_v": to_u[e.by_v.pos],
            "res": tuple(
                np.ascontiguousarray(a, dtype=float) for a in (ends.to_u, ends.to_v, ends.offset_m, ends.t, ends.length)
            ),
        }
    return kept


def _range_sums(
    length: np.ndarray, steps: np.ndarray, share: np.ndarray, first: np.ndarray, edge: np.ndarray, e: _Edges
) -> np.ndarray:
    """Per position of an order, ``sum(steps[q] * share[p])`` over the thresholds ``q`` and pairs ``p`` whose prefix
    (``length[q, p]`` positions from ``first[p]``, the start of the pair's ``edge``) covers it.

    A difference array and one cumulative sum: the start of every pair's prefixes, and where each ends. Every
    prefix ends within its edge, so at an edge's first position the running sum should hold just what the edge's
    own prefixes start with; the rest is rounding carried from the edges before, taken back over the edge. A
    position no prefix covers is exactly 0."""
    size = len(e.by_u.pos)
    value = steps[:, None] * share[None, :] * (length > 0)
    ends = (first[None, :] + length).ravel()
    diff = np.bincount(
        np.concatenate([first, ends]), weights=np.concatenate([value.sum(axis=0), -value.ravel()]), minlength=size + 1
    )
    running = np.cumsum(diff)[:size]
    # at an edge's first position the running sum should be what its own prefixes start with: the rest is rounding
    drift = np.zeros(len(e.count))
    drift[e.populated] = running[e.start[e.populated]]
    drift -= np.bincount(edge, weights=value.sum(axis=0), minlength=len(e.count))
    longest = np.zeros(len(e.count), dtype=np.int64)
    np.maximum.at(longest, edge, np.where(value != 0, length, 0).max(axis=0))
    return np.where(e.rank < longest[e.edge], running - drift[e.edge], 0.0)
