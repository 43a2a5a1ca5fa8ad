# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled loops of :func:`planner.catchment_sums.catchment_sums` (2SFCA / E2SFCA by street edge).

Two passes, the same sums as the NumPy form of that module (its docstring has the method):

- :func:`demand_pass`: per facility, a bounded Dijkstra on the whole network that touches only the nodes it
  reaches (a binary heap and a list of the nodes set, reset after each facility: no dense row per facility as
  ``scipy.sparse.csgraph.dijkstra`` returns); then, per populated street edge with an end within the limit, the
  prefixes of its residents within each threshold (binary searches over the residents sorted by their walk to
  each end) and the people in them. It returns ``D_j`` and every (facility, edge) pair with its prefix lengths.
- :func:`access_pass`: with each facility's share ``R_j``, the prefixes as sums ending at each prefix's last
  resident, swept back along each edge (a resident no prefix reaches is exactly 0, with no cancellation), less
  the residents in both prefixes of a pair, plus the residents on each facility's own edge.

Only the planner's own sums are here; the walk itself is the one of :mod:`planner.catchment` (tested equal).
"""

import numpy as np

from libc.math cimport INFINITY, fabs
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

ctypedef Py_ssize_t idx
ctypedef int64_t i64


cdef struct Item:
    double d
    idx node


cdef inline void _push(Item* heap, idx* size, double d, idx node) noexcept nogil:
    cdef idx i = size[0]
    cdef idx parent
    size[0] += 1
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent].d <= d:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i].d = d
    heap[i].node = node


cdef inline Item _pop(Item* heap, idx* size) noexcept nogil:
    cdef Item top = heap[0]
    cdef idx n = size[0] - 1
    cdef Item last = heap[n]
    cdef idx i = 0
    cdef idx c
    size[0] = n
    if n == 0:
        return top
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and heap[c + 1].d < heap[c].d:
            c += 1
        if last.d <= heap[c].d:
            break
        heap[i] = heap[c]
        i = c
    heap[i] = last
    return top


cdef inline void _reach(
    double* dist, idx* touched, idx* n_touched, Item* heap, idx* size, idx x, double d, double limit_m
) noexcept nogil:
    """Node ``x`` reached at ``d`` metres: kept when within the limit and nearer than before (and listed, the
    first time, to be reset after the search)."""
    if d <= limit_m and d < dist[x]:
        if dist[x] == INFINITY:
            touched[n_touched[0]] = x
            n_touched[0] += 1
        dist[x] = d
        _push(heap, size, d, x)


cdef inline idx _prefix(
    const double[::1] walk, idx first, idx count, double lo, double hi, double d, double most
) noexcept nogil:
    """How many of ``walk[first:first + count]`` (ascending, from ``lo`` to ``hi``) have ``d + walk <= most``:
    the first and last settle most pairs without reading the slots."""
    cdef idx a, b, mid
    if not (d + lo <= most):
        return 0
    if d + hi <= most:
        return count
    a = 1
    b = count - 1
    while a < b:
        mid = (a + b) >> 1
        if d + walk[first + mid] <= most:
            a = mid + 1
        else:
            b = mid
    return a


cdef inline double _own_metres(
    double du, double dv, idx res, double fac_offset, double fac_t,
    const double[::1] to_u, const double[::1] to_v, const double[::1] offset, const double[::1] t,
    const double[::1] length,
) noexcept nogil:
    """A resident on the facility's own edge: through either end, or straight along the edge."""
    cdef double via = min(du + to_u[res], dv + to_v[res]) + offset[res]
    return min(via, offset[res] + fac_offset + fabs(t[res] - fac_t) * length[res])


cdef inline double _band_weight(double m, const double[::1] most, const double[::1] band) noexcept nogil:
    """The weight of the first band whose threshold ``m`` does not pass (the caller knows it is within the
    last)."""
    cdef idx q = 0
    while not (m <= most[q]):
        q += 1
    return band[q]


cdef inline double _both(
    idx first, idx count, double d_other, double most, const double[::1] other, const double[::1] people,
) noexcept nogil:
    """The people of the slots ``first`` to ``first + count`` (a prefix of one order) also within ``most``
    through the other end (``other``: each slot's walk to that end)."""
    cdef double total = 0.0
    cdef idx s
    for s in range(first, first + count):
        if d_other + other[s] <= most:
            total += people[s]
    return total


cdef void _pair(
    idx p, idx j, idx e, double du, double dv,
    const i64[::1] edge_start, const i64[::1] edge_count, const double[:, ::1] edge_walks,
    const double[::1] edge_people,
    const double[::1] walk_u, const double[::1] walk_v, const double[::1] other_u, const double[::1] other_v,
    const double[::1] people_u, const double[::1] people_v, const double[::1] cum_u, const double[::1] cum_v,
    const double[::1] most, const double[::1] band,
    i64[::1] pf, i64[::1] pe, double[::1] pdu, double[::1] pdv, int[:, ::1] pnu, int[:, ::1] pnv,
    double[::1] people, double[::1] weighted,
) noexcept nogil:
    """One (facility, edge) pair: its prefixes within each threshold and the people in them, each band's people
    weighed by the band's weight (a band of weight 0 adds exactly 0)."""
    cdef idx s0 = edge_start[e]
    cdef idx cnt = edge_count[e]
    cdef idx q, nu, nv
    cdef double total, within = 0.0
    pf[p] = j
    pe[p] = e
    pdu[p] = du
    pdv[p] = dv
    for q in range(most.shape[0]):
        nu = _prefix(walk_u, s0, cnt, edge_walks[e, 0], edge_walks[e, 1], du, most[q])
        nv = _prefix(walk_v, s0, cnt, edge_walks[e, 2], edge_walks[e, 3], dv, most[q])
        pnu[p, q] = nu
        pnv[p, q] = nv
        if nu == cnt or nv == cnt:
            total = edge_people[e]
        elif nv == 0:
            total = cum_u[s0 + nu] - cum_u[s0]
        elif nu == 0:
            total = cum_v[s0 + nv] - cum_v[s0]
        elif nu <= nv:  # both prefixes partial: the residents in both, once (scanning the shorter)
            total = cum_u[s0 + nu] - cum_u[s0] + cum_v[s0 + nv] - cum_v[s0] - _both(s0, nu, dv, most[q], other_u, people_u)
        else:
            total = cum_u[s0 + nu] - cum_u[s0] + cum_v[s0 + nv] - cum_v[s0] - _both(s0, nv, du, most[q], other_v, people_v)
        weighted[j] += band[q] * (total - within)
        within = total
        if q == most.shape[0] - 1:
            people[j] += total


def demand_pass(
    const i64[::1] indptr, const i64[::1] indices, const double[::1] weight,
    const i64[::1] fac_u, const i64[::1] fac_v, const double[::1] fac_to_u, const double[::1] fac_to_v,
    const i64[::1] fac_edge, const double[::1] fac_t, const double[::1] fac_offset, const i64[::1] fac_order,
    const i64[::1] edge_start, const i64[::1] edge_count, const i64[::1] edge_u, const i64[::1] edge_v,
    const double[:, ::1] edge_walks, const double[::1] edge_people,
    const i64[::1] by_u_ptr, const i64[::1] by_u_edge, const i64[::1] by_v_ptr, const i64[::1] by_v_edge,
    const double[::1] walk_u, const double[::1] walk_v, const double[::1] other_u, const double[::1] other_v,
    const double[::1] people_u, const double[::1] people_v, const double[::1] cum_u, const double[::1] cum_v,
    const i64[::1] pos_u, const double[::1] res_to_u, const double[::1] res_to_v,
    const double[::1] res_offset, const double[::1] res_t, const double[::1] res_length,
    const double[::1] most, const double[::1] band, const double[::1] step, double limit_m, tuple room,
):
    """``D_j`` (weighted and unweighted) and the (facility, edge) pairs of every facility's search.

    The pairs are written into ``room`` (``pair_fac``, ``pair_edge``, ``pair_du``, ``pair_dv``, ``n_u``, ``n_v`` of
    a previous call, or empty arrays), grown when full; the arrays returned may be new ones.

    Facilities are searched in ``fac_order`` (near ones one after the other: their pairs read the same
    edges). Slots are positions in the residents' two orders along their edges (edge ``e`` has slots ``edge_start[e]``
    to ``edge_start[e] + edge_count[e]`` in both). In the ``u`` order, ``walk_u`` is each slot's walk to the
    ``u`` end (ascending within an edge), ``other_u`` its walk to the ``v`` end, ``people_u`` its people,
    ``cum_u`` their running sum and ``pos_u`` the resident (index of ``res_*``); the ``v`` order likewise.
    Per edge, ``edge_walks`` holds the first and last walk of the ``u`` order and of the ``v`` order, and
    ``edge_people`` its people. ``by_u_ptr``/``by_u_edge`` list the populated edges at each node as their ``u`` end (``v`` likewise).
    ``most`` are the thresholds in metres (ascending), ``band`` the weight of the band each closes and
    ``step`` the weight step at each.

    Returns
    -------
    people, weighted : numpy.ndarray of float, per facility
    pair_fac, pair_edge : numpy.ndarray of int, per pair
    pair_du, pair_dv : numpy.ndarray of float, per pair: metres to the edge's ends (inf beyond the limit, and
        ``pair_du`` inf when the pair is counted through ``v``)
    n_u, n_v : numpy.ndarray of int, shape (pairs, thresholds): the prefix lengths
    own_du, own_dv : numpy.ndarray of float, per facility: metres to its own edge's ends (inf beyond the limit)
    room : tuple of numpy.ndarray
        The arrays the pairs are in (the six above are their first rows).
    """
    cdef idx n = indptr.shape[0] - 1
    cdef idx f = fac_u.shape[0]
    cdef idx q_count = most.shape[0]
    cdef idx jj, j, x, a, s, e, k, s0, n_touched, size, more
    cdef double m
    cdef Item item

    people_arr = np.zeros(f)
    weighted_arr = np.zeros(f)
    own_du_arr = np.full(f, np.inf)
    own_dv_arr = np.full(f, np.inf)
    cdef double[::1] people = people_arr, weighted = weighted_arr, own_du = own_du_arr, own_dv = own_dv_arr

    pf_arr, pe_arr, pdu_arr, pdv_arr, nu_arr, nv_arr = room
    cdef idx cap = pf_arr.shape[0]
    cdef idx p = 0
    if cap < 1024 or nu_arr.shape[1] != q_count:
        cap = max(1024, 64 * f, cap)
        pf_arr, pe_arr = np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64)
        pdu_arr, pdv_arr = np.empty(cap), np.empty(cap)
        nu_arr, nv_arr = np.empty((cap, q_count), dtype=np.intc), np.empty((cap, q_count), dtype=np.intc)
    cdef i64[::1] pf = pf_arr, pe = pe_arr
    cdef double[::1] pdu = pdu_arr, pdv = pdv_arr
    cdef int[:, ::1] pnu = nu_arr, pnv = nv_arr

    cdef double* dist = <double*> malloc(n * sizeof(double))
    cdef char* done = <char*> malloc(n * sizeof(char))
    cdef idx* touched = <idx*> malloc(n * sizeof(idx))
    cdef Item* heap = <Item*> malloc((indices.shape[0] + 2) * sizeof(Item))
    if dist == NULL or done == NULL or touched == NULL or heap == NULL:
        free(dist); free(done); free(touched); free(heap)
        raise MemoryError()
    for x in range(n):
        dist[x] = INFINITY
        done[x] = 0
    try:
        for jj in range(f):
            j = fac_order[jj]
            # the bounded search: the sources are the facility's arcs to its edge's ends
            n_touched = 0
            size = 0
            for k in range(2):
                x = fac_u[j] if k == 0 else fac_v[j]
                _reach(dist, touched, &n_touched, heap, &size, x, fac_to_u[j] if k == 0 else fac_to_v[j], limit_m)
            while size > 0:
                item = _pop(heap, &size)
                x = item.node
                if done[x] or item.d > dist[x]:
                    continue
                done[x] = 1
                for a in range(indptr[x], indptr[x + 1]):
                    _reach(dist, touched, &n_touched, heap, &size, indices[a], item.d + weight[a], limit_m)
            # the populated edges with an end reached: through u when it is, else through v
            for k in range(n_touched):
                x = touched[k]
                more = (by_u_ptr[x + 1] - by_u_ptr[x]) + (by_v_ptr[x + 1] - by_v_ptr[x])
                if p + more > cap:
                    cap = 2 * cap + more
                    pf_arr, pe_arr = np.resize(pf_arr, cap), np.resize(pe_arr, cap)
                    pdu_arr, pdv_arr = np.resize(pdu_arr, cap), np.resize(pdv_arr, cap)
                    nu_arr, nv_arr = np.resize(nu_arr, (cap, q_count)), np.resize(nv_arr, (cap, q_count))
                    pf, pe, pdu, pdv, pnu, pnv = pf_arr, pe_arr, pdu_arr, pdv_arr, nu_arr, nv_arr
                for a in range(by_u_ptr[x], by_u_ptr[x + 1]):
                    e = by_u_edge[a]
                    if e != fac_edge[j]:
                        _pair(p, j, e, dist[x], dist[edge_v[e]], edge_start, edge_count, edge_walks,
                              edge_people, walk_u, walk_v, other_u, other_v, people_u, people_v, cum_u, cum_v, most, band,
                              pf, pe, pdu, pdv, pnu, pnv, people, weighted)
                        p += 1
                for a in range(by_v_ptr[x], by_v_ptr[x + 1]):
                    e = by_v_edge[a]
                    if e != fac_edge[j] and not (dist[edge_u[e]] <= limit_m):  # else counted through its u end
                        _pair(p, j, e, INFINITY, dist[x], edge_start, edge_count, edge_walks,
                              edge_people, walk_u, walk_v, other_u, other_v, people_u, people_v, cum_u, cum_v, most, band,
                              pf, pe, pdu, pdv, pnu, pnv, people, weighted)
                        p += 1
            # the residents on the facility's own edge, pair by pair
            e = fac_edge[j]
            own_du[j] = dist[fac_u[j]]
            own_dv[j] = dist[fac_v[j]]
            s0 = edge_start[e]
            for s in range(s0, s0 + edge_count[e]):
                m = _own_metres(own_du[j], own_dv[j], pos_u[s], fac_offset[j], fac_t[j],
                                res_to_u, res_to_v, res_offset, res_t, res_length)
                if m <= most[q_count - 1]:
                    weighted[j] += _band_weight(m, most, band) * people_u[s]
                    people[j] += people_u[s]
            for k in range(n_touched):
                dist[touched[k]] = INFINITY
                done[touched[k]] = 0
    finally:
        free(dist); free(done); free(touched); free(heap)
    return (people_arr, weighted_arr, pf_arr[:p], pe_arr[:p], pdu_arr[:p], pdv_arr[:p], nu_arr[:p], nv_arr[:p],
            own_du_arr, own_dv_arr, (pf_arr, pe_arr, pdu_arr, pdv_arr, nu_arr, nv_arr))


def access_pass(
    const double[::1] share, const i64[::1] pair_fac, const i64[::1] pair_edge,
    const double[::1] pair_du, const double[::1] pair_dv, const int[:, ::1] n_u, const int[:, ::1] n_v,
    const double[::1] own_du, const double[::1] own_dv,
    const i64[::1] fac_edge, const double[::1] fac_t, const double[::1] fac_offset,
    const i64[::1] edge_start, const i64[::1] edge_count, const i64[::1] populated,
    const double[::1] other_u, const double[::1] other_v, const i64[::1] pos_u,
    const i64[::1] out_u, const i64[::1] out_v, idx n_out,
    const double[::1] res_to_u, const double[::1] res_to_v,
    const double[::1] res_offset, const double[::1] res_t, const double[::1] res_length,
    const double[::1] most, const double[::1] band, const double[::1] step, double[::1] last_u,
    double[::1] last_v,
):
    """``A_i = sum_j W(c_ij) R_j`` per point, from :func:`demand_pass`'s pairs and the facilities' ``share``
    (``R_j``, 0 where it is not finite): ``n_out`` values, the slots of the ``u`` and ``v`` orders at the
    points ``out_u`` and ``out_v`` (0 at a point in no slot). ``last_u`` and ``last_v``, one value per slot, are
    room to work in: zero when given, and zero again on return. Other arguments as in :func:`demand_pass`.

    A prefix adds its value at its last slot, and a sweep back along each edge sums them; a resident in both
    prefixes of a pair is taken off at its slot (less at that slot, more at the one before: the sweep carries
    the difference no further)."""
    cdef idx n_res = n_out
    cdef idx q_count = most.shape[0]
    cdef idx p, j, e, q, s, s0, cnt, nu, nv, k
    cdef double sh, val, run, du, dv, m
    access_arr = np.zeros(n_res)
    cdef double[::1] access = access_arr
    full_arr = np.zeros(edge_count.shape[0])  # per edge: the prefixes that cover it whole
    cdef double[::1] full = full_arr
    for p in range(pair_fac.shape[0]):
        sh = share[pair_fac[p]]
        if sh == 0.0:
            continue
        e = pair_edge[p]
        s0 = edge_start[e]
        cnt = edge_count[e]
        du = pair_du[p]
        dv = pair_dv[p]
        for q in range(q_count):
            nu = n_u[p, q]
            nv = n_v[p, q]
            val = step[q] * sh
            if nu == cnt or nv == cnt:
                full[e] += val
            elif nv == 0:
                if nu > 0:
                    last_u[s0 + nu - 1] += val
            elif nu == 0:
                last_v[s0 + nv - 1] += val
            else:
                last_u[s0 + nu - 1] += val
                last_v[s0 + nv - 1] += val
                if nu <= nv:
                    for s in range(s0, s0 + nu):
                        if dv + other_u[s] <= most[q]:
                            last_u[s] -= val
                            if s > s0:
                                last_u[s - 1] += val
                else:
                    for s in range(s0, s0 + nv):
                        if du + other_v[s] <= most[q]:
                            last_v[s] -= val
                            if s > s0:
                                last_v[s - 1] += val
    for k in range(populated.shape[0]):  # a prefix covers its edge's slots up to its last one
        e = populated[k]
        s0 = edge_start[e]
        run = full[e]
        for s in range(s0 + edge_count[e] - 1, s0 - 1, -1):
            run += last_u[s]
            last_u[s] = 0.0
            access[out_u[s]] += run
        run = 0.0
        for s in range(s0 + edge_count[e] - 1, s0 - 1, -1):
            run += last_v[s]
            last_v[s] = 0.0
            access[out_v[s]] += run
    for j in range(fac_edge.shape[0]):
        sh = share[j]
        if sh == 0.0:
            continue
        e = fac_edge[j]
        s0 = edge_start[e]
        for s in range(s0, s0 + edge_count[e]):
            m = _own_metres(own_du[j], own_dv[j], pos_u[s], fac_offset[j], fac_t[j],
                            res_to_u, res_to_v, res_offset, res_t, res_length)
            if m <= most[q_count - 1]:
                access[out_u[s]] += _band_weight(m, most, band) * sh
    return access_arr
