"""The one rule for "inside the study area", and the small answer pieces every endpoint shares.

A point is inside the area when it is within reach of the walk network: it snaps to a street of the area
within :data:`MAX_SNAP_M` metres (:meth:`planner.network.WalkNetwork.snap` with ``max_distance``). Every
endpoint uses this test: ``/coverage`` answers such a point with null minutes and null ``covered`` and
:data:`OUTSIDE` as the reason, ``/isochrones`` with a feature without geometry, ``/what-if`` does not open
a site there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from planner.network import Snap
from planner.plan import Plan

#: Farthest a point may be from a street of the area and still be assessed (metres).
MAX_SNAP_M = 500.0

#: Why a point outside the area has no answer.
OUTSIDE = f"more than {MAX_SNAP_M:g} m from any street of the study area"

#: Decimals of every coordinate in an answer (about 0.1 m).
DECIMALS = 6


def snap(plan: Plan, lon: np.ndarray, lat: np.ndarray) -> Snap:
    """WGS-84 points snapped to the area's streets within :data:`MAX_SNAP_M` (``edge`` -1 beyond it)."""
    network = plan.require_network("the HTTP service")
    return network.snap(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), max_distance=MAX_SNAP_M)


def inside(snap_distance_m: np.ndarray) -> np.ndarray:
    """The rule: a point is inside when a street was found within :data:`MAX_SNAP_M` of it.

    Takes the ``offset_m`` of :func:`snap` (or the ``snap_distance_m`` of :meth:`planner.plan.Plan.query_arrays`,
    the same snap with the same ``max_distance``), which is NaN exactly where no street was found.
    """
    d = np.asarray(snap_distance_m, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(d) & (d <= MAX_SNAP_M)


def coord(v: float) -> float:
    """A coordinate rounded for an answer."""
    return round(float(v), DECIMALS)


def round_geometries(geoms: Any) -> Any:
    """Geometries with every coordinate rounded to :data:`DECIMALS` decimals (None stays None)."""
    return shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
