"""Chinese coordinate systems: WGS-84, GCJ-02 and BD-09.

OpenStreetMap and GPS use WGS-84. Most Chinese web maps (AMap/Gaode, Tencent)
publish GCJ-02, an obfuscated datum offset by a few hundred metres in Shanghai;
Baidu publishes BD-09, a further offset of GCJ-02. Everything inside the planner
is WGS-84; these functions convert at the edges (facility lists in, Gaode
overlays out).

The GCJ-02 forward formula is public; its inverse has no closed form and is
solved here by fixed-point iteration to better than 1 mm. Points outside
mainland China get no offset, as in the published algorithm.

All functions are vectorised: they take scalars or array-likes of longitude and
latitude in degrees and return ``(lon, lat)`` of the same shape.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyproj
from numpy.typing import ArrayLike

from .errors import ConfigError

__all__ = [
    "CRS_NAMES",
    "MetricFrame",
    "bd09_to_gcj02",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_mainland_china",
    "to_wgs84",
    "wgs84_to_gcj02",
]


class MetricFrame:
    """WGS-84 degrees to and from an object's metric CRS (its ``crs``), the transformers made once per object: what
    a walk network and a straight-line estimate share."""

    crs: str

    @cached_property
    def _to_metric(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)

    @cached_property
    def _to_wgs84(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def project(self, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 degrees to metres in ``crs``."""
        x, y = self._to_metric.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def unproject(self, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Metres in ``crs`` to WGS-84 degrees."""
        lon, lat = self._to_wgs84.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon), np.asarray(lat)


#: Names accepted wherever a coordinate system is given by the user.
CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0


def in_mainland_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Return True where a point lies in the rough box where GCJ-02 applies.

    Parameters
    ----------
    lon, lat : array-like
        WGS-84 (or GCJ-02) degrees.

    Returns
    -------
    numpy.ndarray of bool
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset in degrees (dlon, dlat) at a WGS-84 point."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    wave_x = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat = dlat + wave_x
    dlat = dlat + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon = dlon + wave_x
    dlon = dlon + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0

    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = in_mainland_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 degrees to GCJ-02 degrees.

    Parameters
    ----------
    lon, lat : array-like
        WGS-84 longitude and latitude.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 ``(lon, lat)``.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-10, max_iter: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 degrees to WGS-84 degrees by fixed-point iteration.

    Parameters
    ----------
    lon, lat : array-like
        GCJ-02 longitude and latitude.
    tol : float, default 1e-10
        Stop when the largest correction in degrees is below this (~0.01 mm).
    max_iter : int, default 30
        Upper bound on iterations (4-6 suffice in practice).

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 ``(lon, lat)``.
    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    return _invert(wgs84_to_gcj02, g_lon, g_lat, g_lon.copy(), g_lat.copy(), tol=tol, max_iter=max_iter)


def _invert(
    forward, t_lon: np.ndarray, t_lat: np.ndarray, lon: np.ndarray, lat: np.ndarray, *, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``forward(lon, lat) == (t_lon, t_lat)`` by fixed-point iteration from a starting guess.

    The offsets are small and smooth, so each step moves the guess by the remaining error.
    """
    for _ in range(max_iter):
        f_lon, f_lat = forward(lon, lat)
        d_lon, d_lat = t_lon - f_lon, t_lat - f_lat
        lon, lat = lon + d_lon, lat + d_lat
        if np.nanmax(np.abs(np.concatenate([np.ravel(d_lon), np.ravel(d_lat)])), initial=0.0) < tol:
            break
    return lon, lat


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 degrees to Baidu BD-09 degrees."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-12, max_iter: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Convert Baidu BD-09 degrees to GCJ-02 degrees.

    The published closed-form inverse is off by up to ~1e-6 degrees (~0.1 m);
    it is used as the start of a fixed-point iteration on
    :func:`gcj02_to_bd09`, which makes the round trip exact.
    """
    b_lon = np.asarray(lon, dtype=float)
    b_lat = np.asarray(lat, dtype=float)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, b_lon, b_lat, z * np.cos(theta), z * np.sin(theta), tol=tol, max_iter=max_iter)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert degrees in a named Chinese coordinate system to WGS-84.

    Parameters
    ----------
    lon, lat : array-like
        Coordinates in degrees.
    crs : {"wgs84", "gcj02", "bd09"}
        The system the coordinates are in.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 ``(lon, lat)``.
    """
    key = normalise_crs_name(crs)
    if key == "wgs84":
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if key == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def normalise_crs_name(crs: str) -> str:
    """Map spellings such as ``"WGS-84"``, ``"EPSG:4326"``, ``"GCJ02"`` to a name in CRS_NAMES."""
    key = str(crs).strip().lower().replace("-", "").replace("_", "")
    aliases = {
        "wgs84": "wgs84",
        "epsg:4326": "wgs84",
        "4326": "wgs84",
        "cgcs2000": "wgs84",
        "gcj02": "gcj02",
        "gcj": "gcj02",
        "mars": "gcj02",
        "amap": "gcj02",
        "gaode": "gcj02",
        "bd09": "bd09",
        "baidu": "bd09",
        "bd09ll": "bd09",
    }
    if key not in aliases:
        msg = f"unknown coordinate system {crs!r}; use one of {', '.join(CRS_NAMES)}"
        raise ConfigError(msg)
    return aliases[key]
