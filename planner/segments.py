"""The distance from points to straight street segments, worked out one way everywhere.

Every way of finding a point's nearest street (:class:`planner.snapping.EdgeGrid`, :meth:`planner.edge_index.
EdgeIndex.nearest` and the shapely tree in :meth:`planner.network.WalkNetwork.snap_xy`) ranks candidates with
:func:`squared_distance`, and takes the lowest edge index among equal ones, so a point exactly as far from two
streets snaps to the same one whichever way the batch it came in was answered.
"""

from __future__ import annotations

import numpy as np

__all__ = ["inverse_squared_length", "squared_distance"]


def inverse_squared_length(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``1 / (dx² + dy²)`` per segment, 0 for a segment of length 0 (kept by callers that measure often)."""
    seg2 = dx * dx + dy * dy
    return np.divide(1.0, seg2, out=np.zeros_like(seg2, dtype=float), where=seg2 > 0)


def squared_distance(
    px: np.ndarray | float,
    py: np.ndarray | float,
    ax: np.ndarray,
    ay: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    inv: np.ndarray | None = None,
) -> np.ndarray:
    """Squared distance from points ``(px, py)`` to segments from ``(ax, ay)`` along ``(dx, dy)`` (element-wise).

    The foot of the perpendicular is clamped to the segment; a segment of length 0 is its point. ``inv``:
    :func:`inverse_squared_length` of the segments, when kept.
    """
    inv = inverse_squared_length(dx, dy) if inv is None else inv
    qx, qy = px - ax, py - ay
    t = np.clip((qx * dx + qy * dy) * inv, 0.0, 1.0)
    qx = qx - t * dx
    qy = qy - t * dy
    return qx * qx + qy * qy
