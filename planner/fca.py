"""The floating-catchment formulas: 2SFCA and E2SFCA on a travel-cost matrix.

1. for every facility ``j``, the demand in its catchment ``D_j = sum_i W(c_ij) P_i`` and the supply-to-demand ratio
   ``R_j = S_j / D_j``;
2. for every resident point ``i``, the accessibility ``A_i = sum_j W(c_ij) R_j``,

where ``c_ij`` is the walking time in minutes, ``P_i`` the people at the point, ``S_j`` the facility's supply and
both sums run over the pairs within the catchment (``c_ij <= max_minutes``). Plain 2SFCA (Luo and Wang 2003) has
``W = 1``; E2SFCA (Luo and Qi 2009) has a step weight per time band. :func:`floating_catchment` reads a cost
matrix (the form PySAL ``access`` takes, and equal to it: tests/test_crowding.py);
:func:`planner.catchment_sums.catchment_sums` computes the same sums straight from the walk network. What they
mean for a plan is :mod:`planner.crowding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["DEFAULT_DECAY", "Catchment", "check_people", "decay_weights", "floating_catchment", "supply_ratio"]

#: E2SFCA step weights per walking-time band, ``(upper minute, weight)``: 1.00 / 0.68 / 0.22 for 0-5 / 5-10 /
#: 10-15 minutes. The weights are Luo and Qi's (2009, "An enhanced two-step floating catchment area (E2SFCA) method
#: for measuring spatial accessibility to primary care physicians", Health & Place 15(4), 1100-1107: Gaussian weights
#: for three travel-time zones, also PySAL ``access``'s default); the zones are our 15-minute walk in thirds.
DEFAULT_DECAY: tuple[tuple[float, float], ...] = ((5.0, 1.0), (10.0, 0.68), (15.0, 0.22))


def decay_weights(minutes: np.ndarray, bands: Sequence[tuple[float, float]] | None) -> np.ndarray:
    """Weight of each walking time: the weight of the first band whose upper minute it does not exceed.

    Parameters
    ----------
    minutes : numpy.ndarray
    bands : sequence of (float, float), optional
        ``(upper minute, weight)`` pairs; None for plain 2SFCA (weight 1 everywhere).

    Returns
    -------
    numpy.ndarray
        Weights; 0 beyond the last band.
    """
    minutes = np.asarray(minutes, dtype=float)
    if bands is None:
        return np.ones_like(minutes)
    ordered = sorted(bands)
    upper = np.array([b for b, _ in ordered], dtype=float)
    weight = np.array([w for _, w in ordered] + [0.0], dtype=float)
    if (weight < 0).any():
        msg = f"decay weights must not be negative: {list(bands)}"
        raise ValueError(msg)
    return weight[np.searchsorted(upper, minutes, side="left")]


@dataclass(frozen=True)
class Catchment:
    """Floating-catchment results on one cost matrix.

    Attributes
    ----------
    people : numpy.ndarray
        Per facility: the people within its catchment (unweighted).
    demand : numpy.ndarray
        Per facility: the distance-weighted people, ``D_j`` (equal to ``people`` in plain 2SFCA).
    ratio : numpy.ndarray
        Per facility: supply per weighted person, ``R_j = S_j / D_j``; NaN with nobody in the catchment or no supply.
    access : numpy.ndarray
        Per resident point: ``A_i = sum_j W(c_ij) R_j``; 0 where no facility is within the catchment.
    """

    people: np.ndarray
    demand: np.ndarray
    ratio: np.ndarray
    access: np.ndarray


def floating_catchment(
    minutes: sparse.spmatrix | np.ndarray,
    demand: np.ndarray,
    supply: np.ndarray,
    *,
    max_minutes: float | None = None,
    bands: Sequence[tuple[float, float]] | None = None,
) -> Catchment:
    """2SFCA (``bands=None``) or E2SFCA (step weights per band) from a travel-cost matrix.

    Parameters
    ----------
    minutes : scipy.sparse matrix or numpy.ndarray, shape (n_points, n_facilities)
        Walking minutes. Sparse: the stored entries are the pairs (explicit zeros included). Dense: ``inf`` or NaN
        where a pair is out of reach.
    demand : numpy.ndarray
        People at each point (population, or the elderly).
    supply : numpy.ndarray
        Supply of each facility (people it can serve, :func:`facility_capacity`); NaN leaves a facility out.
    max_minutes : float, optional
        Catchment: pairs beyond it are left out (default: every pair given).
    bands : sequence of (float, float), optional
        ``(upper minute, weight)`` steps for E2SFCA, e.g. :data:`DEFAULT_DECAY`; pairs beyond the last band weigh 0.

    Returns
    -------
    Catchment
    """
    demand = np.asarray(demand, dtype=float)
    supply = np.asarray(supply, dtype=float)
    if sparse.issparse(minutes):
        coo = sparse.coo_matrix(minutes)
        rows, cols, cost = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(float)
    else:
        dense = np.asarray(minutes, dtype=float)
        rows, cols = np.nonzero(np.isfinite(dense))
        cost = dense[rows, cols]
    m, f = minutes.shape
    check_people(demand, supply, m, f)
    inside = np.ones(len(cost), dtype=bool) if max_minutes is None else cost <= max_minutes
    weight = decay_weights(cost, bands) * inside
    people = np.bincount(cols, weights=inside * demand[rows], minlength=f)
    weighted = np.bincount(cols, weights=weight * demand[rows], minlength=f)
    ratio = supply_ratio(supply, weighted)
    share = weight * ratio[cols]
    access = np.bincount(rows, weights=np.where(np.isfinite(share), share, 0.0), minlength=m)
    return Catchment(people, weighted, ratio, access)


def check_people(demand: np.ndarray, supply: np.ndarray, points: int, facilities: int) -> None:
    """Refuse demand and supply that do not fit ``points`` x ``facilities``, or demand that is not a count."""
    if demand.shape != (points,) or supply.shape != (facilities,):
        msg = f"demand {demand.shape} and supply {supply.shape} do not fit {points} points and {facilities} facilities"
        raise ValueError(msg)
    if not (np.isfinite(demand) & (demand >= 0)).all():
        msg = "demand must be finite and not negative at every point"
        raise ValueError(msg)


def supply_ratio(supply: np.ndarray, weighted: np.ndarray) -> np.ndarray:
    """``R_j = S_j / D_j``; NaN where nobody is in the catchment (or the supply is unknown)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weighted > 0, supply / weighted, np.nan)
