"""Bounds and the share-out of city-scale siting: how much the best ``k`` sites could cover, tile by tile and over
the city, and which tile gets the next site. Used by :mod:`planner.city_siting`.

The bound over the city: the best value with ``k_t`` sites in tile ``t`` is at most ``U_t(k_t)`` for a concave
``U_t`` (:func:`tile_bound`), so the best over every split of ``k`` is at most the ``k`` largest increments of all the
curves (:func:`top_k_sum`).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from .siting import CoverageProblem

__all__ = ["allocate", "greedy_bound", "tile_bound", "top_k_sum"]


def greedy_bound(problem: CoverageProblem, sites: np.ndarray, k: int) -> np.ndarray:
    """``G(j) = min_i f(S_i) + (sum of the j largest gains at S_i)`` for j = 0..k, over the prefixes of ``sites``."""
    cover_t = problem.cover.T.tocsr().astype(float)
    csc = problem.cover.tocsc()
    w = problem.weights
    covered = np.zeros(len(w), dtype=bool)
    bound = np.full(k + 1, np.inf)
    for i in range(len(sites) + 1):
        gains = np.sort(cover_t @ np.where(covered, 0.0, w))[::-1][:k]
        top = np.concatenate([[0.0], np.cumsum(gains), np.full(k - len(gains), gains.sum())])
        bound = np.minimum(bound, float(w[covered].sum()) + top)
        if i < len(sites):
            covered[csc.indices[csc.indptr[sites[i]] : csc.indptr[sites[i] + 1]]] = True
    return bound


def tile_bound(greedy_bound: np.ndarray, reach: float, k_t: int, lp_k: float, lp_next: float) -> np.ndarray:
    """``U(j) = min(reach, G(j), chord of the LP at k_t, k_t + 1 extended)`` for j = 0..k: concave, and at least the
    best ``j`` sites of the tile alone.

    An LP value equal to ``reach`` may be :meth:`~planner.siting.CoverageProblem.lp_bound`'s answer when the LP did
    not finish (all the weight): the chord is left out then (``reach`` bounds anyway).
    """
    j = np.arange(len(greedy_bound), dtype=float)
    bound = np.minimum(greedy_bound, reach)
    if max(lp_k, lp_next) < reach * (1 - 1e-12):
        bound = np.minimum(bound, lp_k + (lp_next - lp_k) * (j - k_t))
    bound[0] = 0.0
    return np.maximum(bound, 0.0)


def top_k_sum(curves: Sequence[np.ndarray], k: int) -> float:
    """At least ``max sum_t U_t(k_t)`` over ``sum_t k_t <= k`` (equal when every ``U_t`` is concave): the ``k``
    largest increments of all curves (``U_t(0) = 0``)."""
    steps = np.concatenate([np.maximum(np.diff(c), 0.0) for c in curves] or [np.zeros(0)])
    return float(np.sort(steps)[::-1][:k].sum())


def allocate(gains: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Share ``k`` sites out: each next site to the tile whose greedy adds the most with it."""
    counts = np.zeros(len(gains), dtype=np.int64)
    heap = [(-float(g[0]), t) for t, g in enumerate(gains) if len(g)]
    heapq.heapify(heap)
    for _ in range(k):
        if not heap:
            break
        _, t = heapq.heappop(heap)
        counts[t] += 1
        if counts[t] < len(gains[t]):
            heapq.heappush(heap, (-float(gains[t][counts[t]]), t))
    return counts
