"""Location-allocation on sparse coverage sets: maximal covering (MCLP) and set covering (LSCP).

A :class:`CoverageProblem` holds demand weights and which candidate sites
cover which demand (a sparse boolean matrix); existing facilities are already
taken out of the demand (only people they leave uncovered count). Models:

- :meth:`CoverageProblem.mclp`: choose ``k`` sites maximising newly covered weight,
  optionally with a capacity per site (people one facility can serve);
- :meth:`CoverageProblem.lscp`: the fewest sites covering at least a target weight.

Solvers: an exact MILP through HiGHS (:func:`scipy.optimize.milp`) built
directly from the sparse sets, with identical demand rows merged first, and
for MCLP a lazy greedy with swap improvement whose gap is certified by the
submodular bound OPT <= f(S) + (sum of the k best marginal gains at S).
Every :class:`SitingResult` reports its objective, best bound and gap; a time
limit returns the best solution found with its gap.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from .errors import ConfigError, SolverError

__all__ = ["CoverageProblem", "SitingResult"]

log = logging.getLogger(__name__)


@dataclass
class SitingResult:
    """A chosen set of sites and how good it is.

    Attributes
    ----------
    sites : numpy.ndarray of int
        Candidate indices, in rank order (each adds the most of what remains).
    gains : numpy.ndarray
        Weight newly covered by each site in that order (sums to ``objective``).
    objective : float
        Newly covered weight (MCLP) or number of sites (LSCP).
    bound : float
        Best proven bound on the optimum (upper for MCLP, lower for LSCP).
    gap : float
        Relative gap between ``objective`` and ``bound`` (0 = proven optimal).
    solver : str
        ``"highs"`` or ``"greedy+swap"``.
    status : str
        The solver's word (``optimal``, ``time limit``, ...).
    seconds : float
        Wall time.
    covered_weight : float
        Weight covered by the chosen sites (for LSCP; equals ``objective`` for MCLP).
    """

    sites: np.ndarray
    gains: np.ndarray
    objective: float
    bound: float
    gap: float
    solver: str
    status: str
    seconds: float
    covered_weight: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def optimal(self) -> bool:
        """True when the gap is closed."""
        return self.gap <= 1e-9


def _gap(objective: float, bound: float) -> float:
    if bound == objective:
        return 0.0
    return abs(bound - objective) / max(abs(bound), 1e-12)


@dataclass
class CoverageProblem:
    """Demand weights and the candidate sites covering each demand point.

    Parameters
    ----------
    weights : numpy.ndarray, shape (D,)
        Demand weight (people not yet covered).
    cover : scipy.sparse matrix, shape (D, C)
        ``cover[i, j]`` is True when candidate ``j`` covers demand ``i``.
    """

    weights: np.ndarray
    cover: sparse.csr_matrix

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=float)
        self.cover = sparse.csr_matrix(self.cover, dtype=bool)
        self.cover.eliminate_zeros()
        if self.cover.shape[0] != len(self.weights):
            msg = f"cover has {self.cover.shape[0]} rows but there are {len(self.weights)} demand weights"
            raise ValueError(msg)
        if (self.weights < 0).any():
            msg = "demand weights must be non-negative"
            raise ValueError(msg)

    @classmethod
    def from_cost_matrix(cls, cost: np.ndarray, radius: float, weights: np.ndarray) -> CoverageProblem:
        """Build from a dense (demand x candidate) cost matrix and a service radius (as spopt does)."""
        return cls(weights, sparse.csr_matrix(np.asarray(cost) <= radius))

    @property
    def n_candidates(self) -> int:
        """Number of candidate sites."""
        return self.cover.shape[1]

    def covered_by(self, sites) -> np.ndarray:
        """Boolean mask of demand covered by a set of sites."""
        sites = np.asarray(list(sites), dtype=np.int64)
        if len(sites) == 0:
            return np.zeros(len(self.weights), dtype=bool)
        return np.asarray(self.cover[:, sites].sum(axis=1)).ravel() > 0

    def value(self, sites) -> float:
        """Weight covered by a set of sites."""
        return float(self.weights[self.covered_by(sites)].sum())

    def rank(self, sites) -> tuple[np.ndarray, np.ndarray]:
        """Order sites greedily by what each adds to those before it; return (sites, gains)."""
        sites = list(np.asarray(sites, dtype=np.int64))
        csc = self.cover.tocsc()
        remaining = self.weights.copy()
        order, gains = [], []
        while sites:
            g = [remaining[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]].sum() for j in sites]
            best = int(np.argmax(g))
            j = sites.pop(best)
            order.append(j)
            gains.append(g[best])
            remaining[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]] = 0.0
        return np.asarray(order, dtype=np.int64), np.asarray(gains, dtype=float)

    def _merged(self) -> tuple[np.ndarray, sparse.csr_matrix]:
        """Merge demand rows covered by the same candidates (summing weights); drop uncoverable rows."""
        cov = self.cover
        keep = (np.diff(cov.indptr) > 0) & (self.weights > 0)
        keys: dict[bytes, int] = {}
        group = np.full(cov.shape[0], -1, dtype=np.int64)
        rows: list[np.ndarray] = []
        for i in np.flatnonzero(keep):
            cols = np.sort(cov.indices[cov.indptr[i] : cov.indptr[i + 1]])
            key = cols.tobytes()
            g = keys.get(key)
            if g is None:
                g = keys[key] = len(rows)
                rows.append(cols)
            group[i] = g
        w = np.bincount(group[keep], weights=self.weights[keep], minlength=len(rows))
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        merged = sparse.csr_matrix(
            (np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(rows), cov.shape[1])
        )
        return w, merged

    # ------------------------------------------------------------------ MCLP
    def mclp(
        self,
        k: int,
        *,
        method: str = "exact",
        capacity: float | None = None,
        time_limit: float = 60.0,
        swap: bool = True,
        bound: str = "lp",
    ) -> SitingResult:
        """Maximal covering: ``k`` new sites maximising newly covered weight.

        Parameters
        ----------
        k : int
            Number of new sites.
        method : {"exact", "greedy"}, default "exact"
            HiGHS MILP, or lazy greedy with swap improvement.
        capacity : float, optional
            Most weight one site may serve (exact method only).
        time_limit : float, default 60
            Seconds for the MILP; on timeout the best solution found is returned with its gap.
        swap : bool, default True
            Improve the greedy solution by 1-for-1 swaps.
        bound : {"lp", "submodular"}, default "lp"
            How the greedy certifies its gap: the LP relaxation (tight, costs an LP solve) or the
            submodular bound (free, loose).
        """
        if k < 0 or int(k) != k:
            msg = f"k must be a whole number >= 0, got {k}"
            raise ConfigError(msg)
        k = int(min(k, self.n_candidates))
        if method == "greedy":
            if capacity is not None:
                msg = "capacities need the exact method"
                raise ConfigError(msg)
            out = self._greedy(k, swap=swap)
            if bound == "lp":
                t_lp = time.perf_counter()
                lp = self.lp_bound(k, time_limit=time_limit)
                out.extra["bound_seconds"] = time.perf_counter() - t_lp
                out.seconds += out.extra["bound_seconds"]
                out.bound = min(out.bound, max(lp, out.objective))
                out.gap = _gap(out.objective, out.bound)
            return out
        if method != "exact":
            msg = f"method must be 'exact' or 'greedy', got {method!r}"
            raise ConfigError(msg)
        return self._mclp_milp(k, capacity, time_limit)

    def _mclp_model(self, w: np.ndarray, cov: sparse.csr_matrix, k: int, capacity: float | None):
        """MILP data (objective, constraint matrix, upper bounds, integrality) of the merged MCLP."""
        d, c = cov.shape
        if capacity is None:
            # variables: x (c sites, binary), y (d demand groups, continuous 0..1)
            # y_i - sum_{j covers i} x_j <= 0 ;  sum x <= k
            a = sparse.hstack([-cov.astype(float), sparse.identity(d, format="csr")], format="csr")
            a = sparse.vstack([a, sparse.hstack([np.ones((1, c)), sparse.csr_matrix((1, d))])], format="csr")
            ub = np.concatenate([np.zeros(d), [k]])
            obj = np.concatenate([np.zeros(c), -w])
            return obj, a, ub, np.concatenate([np.ones(c), np.zeros(d)])
        # variables: x (c), z (one per covering pair: share of group i served by site j)
        # sum_j z_ij <= 1 ;  sum_i w_i z_ij - capacity x_j <= 0 ;  sum x <= k
        coo = cov.tocoo()
        e = len(coo.row)
        serve = sparse.csr_matrix((np.ones(e), (coo.row, np.arange(e))), shape=(d, e))
        load = sparse.csr_matrix((w[coo.row], (coo.col, np.arange(e))), shape=(c, e))
        a = sparse.vstack(
            [
                sparse.hstack([sparse.csr_matrix((d, c)), serve]),
                sparse.hstack([-capacity * sparse.identity(c), load]),
                sparse.hstack([np.ones((1, c)), sparse.csr_matrix((1, e))]),
            ],
            format="csr",
        )
        ub = np.concatenate([np.ones(d), np.zeros(c), [k]])
        obj = np.concatenate([np.zeros(c), -w[coo.row]])
        return obj, a, ub, np.concatenate([np.ones(c), np.zeros(e)])

    def lp_bound(self, k: int, *, time_limit: float = 60.0) -> float:
        """Upper bound on the MCLP optimum from its linear relaxation (HiGHS)."""
        w, cov = self._merged()
        if cov.shape[0] == 0 or k == 0:
            return 0.0
        obj, a, ub, _ = self._mclp_model(w, cov, k, None)
        res = milp(
            obj,
            bounds=Bounds(0, 1),
            constraints=LinearConstraint(a, -np.inf, ub),
            options={"time_limit": float(time_limit), "disp": False},
        )
        return float(-res.fun) if res.status == 0 else float(w.sum())

    def _mclp_milp(self, k: int, capacity: float | None, time_limit: float) -> SitingResult:
        t0 = time.perf_counter()
        w, cov = self._merged()
        d, c = cov.shape
        if d == 0 or k == 0:
            return SitingResult(
                np.zeros(0, np.int64), np.zeros(0), 0.0, 0.0, 0.0, "highs", "trivial", time.perf_counter() - t0
            )
        obj, a, ub, integrality = self._mclp_model(w, cov, k, capacity)
        res = milp(
            obj,
            integrality=integrality,
            bounds=Bounds(0, 1),
            constraints=LinearConstraint(a, -np.inf, ub),
            options={"time_limit": float(time_limit), "disp": False},
        )
        seconds = time.perf_counter() - t0
        if res.x is None:
            log.warning("HiGHS found no solution within %.0f s (%s); falling back to greedy", time_limit, res.message)
            out = self._greedy(k, swap=True)
            out.status = f"highs: {res.message}; greedy fallback"
            return out
        chosen = np.flatnonzero(res.x[:c] > 0.5)
        sites, gains = self.rank(chosen)
        objective = float(gains.sum())
        if capacity is not None:
            coo = cov.tocoo()
            objective = float(-res.fun)
            gains = np.bincount(coo.col, weights=w[coo.row] * res.x[c:], minlength=c)[sites]
        bound = float(-res.mip_dual_bound) if res.mip_dual_bound is not None else objective
        bound = max(bound, objective)
        status = "optimal" if res.status == 0 else ("time limit" if res.status == 1 else str(res.message))
        return SitingResult(
            sites,
            gains,
            objective,
            bound,
            _gap(objective, bound),
            "highs",
            status,
            seconds,
            covered_weight=objective,
            extra={"capacity": capacity, "demand_groups": d},
        )

    def _greedy(self, k: int, *, swap: bool) -> SitingResult:
        t0 = time.perf_counter()
        csc = self.cover.tocsc()
        cols = [csc.indices[csc.indptr[j] : csc.indptr[j + 1]] for j in range(self.n_candidates)]
        w = self.weights
        remaining = w.copy()
        heap = [(-w[cols[j]].sum(), j) for j in range(self.n_candidates)]
        heapq.heapify(heap)
        chosen: list[int] = []
        while heap and len(chosen) < k:  # lazy (CELF) evaluation of submodular gains
            _neg, j = heapq.heappop(heap)
            fresh = remaining[cols[j]].sum()
            if heap and fresh < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-fresh, j))
                continue
            chosen.append(j)
            remaining[cols[j]] = 0.0
        count = np.zeros(len(w), dtype=np.int64)
        for j in chosen:
            count[cols[j]] += 1
        cover_t = self.cover.T.tocsr().astype(float)
        if swap and chosen:
            self._swap(chosen, cols, count, cover_t, time_limit=10.0)
        value = float(w[count > 0].sum())
        # Submodular bound: OPT <= f(S) + sum of the k largest marginal gains at S.
        gains = cover_t @ np.where(count > 0, 0.0, w)
        bound = value + float(np.sort(gains)[::-1][:k].sum())
        sites, site_gains = self.rank(chosen)
        return SitingResult(
            sites,
            site_gains,
            value,
            bound,
            _gap(value, bound),
            "greedy+swap",
            "heuristic",
            time.perf_counter() - t0,
            covered_weight=value,
        )

    def _swap(
        self,
        chosen: list[int],
        cols: list[np.ndarray],
        count: np.ndarray,
        cover_t: sparse.csr_matrix,
        *,
        time_limit: float,
    ) -> None:
        """Best-improvement 1-for-1 swaps until none improves (or the time limit)."""
        w = self.weights
        t_end = time.perf_counter() + time_limit
        selected = set(chosen)
        improved = True
        while improved and time.perf_counter() < t_end:
            improved = False
            for pos, s in enumerate(list(chosen)):
                count[cols[s]] -= 1
                loss = w[cols[s]][count[cols[s]] == 0].sum()
                gain = cover_t @ np.where(count > 0, 0.0, w)  # what each candidate would add now
                gain[list(selected)] = -np.inf
                best_j = int(np.argmax(gain))
                if gain[best_j] <= loss + 1e-9:
                    best_j = s
                count[cols[best_j]] += 1
                if best_j != s:
                    selected.discard(s)
                    selected.add(best_j)
                    chosen[pos] = best_j
                    improved = True

    # ------------------------------------------------------------------ LSCP
    def lscp(self, target_weight: float, *, time_limit: float = 60.0) -> SitingResult:
        """Set covering: the fewest sites covering at least ``target_weight`` (exact, HiGHS).

        A target above what all candidates together can cover is lowered to that
        maximum (logged, and stated in ``extra["target_capped"]``).
        """
        t0 = time.perf_counter()
        w, cov = self._merged()
        d, c = cov.shape
        reachable = float(w.sum())
        capped = target_weight > reachable + 1e-9
        target = min(float(target_weight), reachable)
        if capped:
            log.warning(
                "target %.0f exceeds what all candidates can cover (%.0f); aiming for that", target_weight, reachable
            )
        if target <= 0 or d == 0:
            return SitingResult(
                np.zeros(0, np.int64),
                np.zeros(0),
                0.0,
                0.0,
                0.0,
                "highs",
                "trivial",
                time.perf_counter() - t0,
                extra={"target_capped": capped},
            )
        a = sparse.vstack(
            [
                sparse.hstack([-cov.astype(float), sparse.identity(d, format="csr")]),
                sparse.hstack([sparse.csr_matrix((1, c)), sparse.csr_matrix(w.reshape(1, -1))]),
            ],
            format="csr",
        )
        lb = np.concatenate([np.full(d, -np.inf), [target - 1e-6 * max(target, 1.0)]])
        ub = np.concatenate([np.zeros(d), [np.inf]])
        res = milp(
            np.concatenate([np.ones(c), np.zeros(d)]),
            integrality=np.concatenate([np.ones(c), np.zeros(d)]),
            bounds=Bounds(0, 1),
            constraints=LinearConstraint(a, lb, ub),
            options={"time_limit": float(time_limit), "disp": False},
        )
        seconds = time.perf_counter() - t0
        if res.x is None:
            msg = f"set covering found no solution within {time_limit:g} s ({res.message})"
            raise SolverError(msg)
        chosen = np.flatnonzero(res.x[:c] > 0.5)
        sites, gains = self.rank(chosen)
        objective = float(len(sites))
        bound = float(np.ceil(res.mip_dual_bound - 1e-6)) if res.mip_dual_bound is not None else objective
        status = "optimal" if res.status == 0 else ("time limit" if res.status == 1 else str(res.message))
        return SitingResult(
            sites,
            gains,
            objective,
            min(bound, objective),
            _gap(objective, min(bound, objective)),
            "highs",
            status,
            seconds,
            covered_weight=float(gains.sum()),
            extra={"target": target, "target_capped": capped},
        )
