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

- step 1, ``D_j = sum_i W(c_ij) P_i``: per facility, edge and weight band, prefix sums of the people;
- step 2, ``A_i = sum_j W(c_ij) R_j``: the same prefixes as range additions over each order (a difference array
  and one cumulative sum), less the overlaps.

The step weight ``W`` is written as a sum of thresholds: with the bands' upper minutes below the catchment
``c_1 < … < c_Q`` (the last the catchment itself), ``W(c) = sum_q (w_q - w_{q+1}) [c <= c_q]``. Residents on a
facility's own edge (the straight walk along it competes) are counted pair by pair, as in the matrix.

The result equals ``floating_catchment(catchment_minutes(...))`` up to the order of the floating-point sums
(tests/test_crowding.py, on grids with exact ties and on real streets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .catchment import ChunkSearch, _AtNode, chunk_searches, spans
from .fca import Catchment, check_people, decay_weights, supply_ratio
from .network import Snap, SnapEnds, WalkNetwork

__all__ = ["catchment_sums"]


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


def _steps(max_minutes: float | None, bands: Sequence[tuple[float, float]] | None) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds in minutes (ascending, the last the catchment) and the weight step at each."""
    top = np.inf if max_minutes is None else float(max_minutes)
    if bands is None:
        return np.array([top]), np.array([1.0])
    caps = np.array([*sorted({float(b) for b, _ in bands if float(b) < top}), top])
    w = decay_weights(caps, bands)
    return caps, w - np.append(w[1:], 0.0)


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
        Facilities per Dijkstra call.

    Returns
    -------
    Catchment
    """
    edge = np.asarray(edge, dtype=np.int64)
    t, offset_m = np.asarray(t, dtype=float), np.asarray(offset_m, dtype=float)
    demand, supply = np.asarray(demand, dtype=float), np.asarray(supply, dtype=float)
    m, f = len(points), len(edge)
    check_people(demand, supply, m, f)
    limit_m, mpm = float(limit_min) * float(metres_per_minute), float(metres_per_minute)
    people, weighted = np.zeros(f), np.zeros(f)
    if f == 0 or m == 0 or not limit_m >= 0:
        return Catchment(people, weighted, np.full(f, np.nan), np.zeros(m))
    ends = points.ends(network)
    e = _edges(ends, network)
    caps, steps = _steps(max_minutes, bands)
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
    for q, (cap, step) in enumerate(zip(caps, steps)):
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
        weighted += step * np.bincount(fac, weights=total, minlength=f)
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
