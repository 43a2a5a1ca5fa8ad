"""Walking access estimated without a street network: straight-line distance times a detour factor (估算).

A district with no usable street data can still be assessed roughly. Each walk is taken as the straight line
between a resident and a facility, lengthened by a detour factor, and every figure that comes from it is an
estimate and is labelled so (估算) wherever it is shown. The factor 1.25 is the one Chinese map services use when
they lack a network (``shared/docs/standards.md``, "Streets are not straight lines").

The estimate is exact for what it claims: the nearest facility is found with a k-d tree
(:class:`scipy.spatial.cKDTree`), and the walking metres are ``detour x`` the Euclidean distance in the area's
UTM zone. Isochrones are discs, and a candidate site covers the residents within its disc.

>>> from planner.straight_line import StraightLine
>>> import shapely
>>> model = StraightLine(shapely.box(121.22, 31.0, 121.28, 31.05))
>>> model.detour
1.25
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from .access import facility_sets, search_horizon
from .coords import MetricFrame
from .network import utm_crs
from .tiers import Rules

__all__ = [
    "DETOUR_FACTOR",
    "DETOUR_SOURCE",
    "EstimatedAccess",
    "NearestByLine",
    "StraightLine",
    "disc_isochrones",
    "estimate_access",
    "lattice_candidates",
]

log = logging.getLogger(__name__)

#: Walking metres per metre of straight line when no street network is known.
DETOUR_FACTOR = 1.25
#: Where the factor comes from (shown in the report and summary).
DETOUR_SOURCE = "国内地图服务在没有路网时采用的绕行系数约为 1.25，见项目标准说明 standards.md"
DETOUR_SOURCE_EN = "Chinese map services use a detour factor of about 1.25 without a network; see standards.md"


@dataclass(frozen=True)
class StraightLine(MetricFrame):
    """The frame of a study area assessed without streets: its outline, metric CRS and detour factor.

    It offers the geometric part of :class:`~planner.network.WalkNetwork` that outputs read (``crs``,
    ``project``, ``unproject``, ``bbox_wgs84``, ``boundary_wgs84``).

    Parameters
    ----------
    boundary : shapely.Polygon
        The study area in WGS-84 (the population zones' outline, or the units').
    detour : float, default 1.25
        Walking metres per metre of straight line.
    """

    boundary: shapely.Geometry
    detour: float = DETOUR_FACTOR
    crs: str = field(init=False)

    def __post_init__(self) -> None:
        c = self.boundary.centroid
        object.__setattr__(self, "crs", utm_crs(float(c.x), float(c.y)))

    def bbox_wgs84(self) -> tuple[float, float, float, float]:
        """``(minlon, minlat, maxlon, maxlat)`` of the outline."""
        b = self.boundary.bounds
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def boundary_wgs84(self) -> shapely.Geometry:
        """The study area's outline."""
        return self.boundary

    @property
    def method_zh(self) -> str:
        """How walks are estimated, in Chinese (``直线距离×绕行系数 1.25``), for sentences that say 估算."""
        return f"直线距离×绕行系数 {self.detour:g}"

    def summary(self) -> dict[str, Any]:
        """How distances were estimated, JSON-ready."""
        return {
            "method": "straight_line",
            "detour_factor": self.detour,
            "source": DETOUR_SOURCE,
            "source_en": DETOUR_SOURCE_EN,
            "crs": self.crs,
        }

    def nearest(
        self, lon: np.ndarray, lat: np.ndarray, ids: np.ndarray | None = None, *, horizon_m: float = np.inf
    ) -> NearestByLine:
        """A nearest-facility search over points (the facilities of one tier or service)."""
        x, y = self.project(lon, lat)
        ids = np.arange(len(x)) if ids is None else np.asarray(ids, dtype=np.int64)
        return NearestByLine(self, np.asarray(x, float), np.asarray(y, float), ids, float(horizon_m))

    def cover_sets(
        self, src_lon: np.ndarray, src_lat: np.ndarray, lon: np.ndarray, lat: np.ndarray, limit_m: float
    ) -> sparse.csr_matrix:
        """Which sources reach which points within ``limit_m`` walking metres (points x sources, bool)."""
        m, f = len(lon), len(src_lon)
        if m == 0 or f == 0:
            return sparse.csr_matrix((m, f), dtype=bool)
        pts = cKDTree(np.column_stack(self.project(lon, lat)))
        src = cKDTree(np.column_stack(self.project(src_lon, src_lat)))
        # straight metres within limit / detour; the tree's bound is inclusive, as "covered" is (<=)
        dist = pts.sparse_distance_matrix(src, limit_m / self.detour, output_type="coo_matrix")
        return sparse.csr_matrix((np.ones(dist.nnz, dtype=bool), (dist.row, dist.col)), shape=(m, f))


@dataclass(frozen=True)
class NearestByLine:
    """The facilities of one tier or service, for straight-line nearest searches.

    Attributes
    ----------
    model : StraightLine
    x, y : numpy.ndarray
        Facility positions in the model's CRS.
    ids : numpy.ndarray of int
        The caller's id of each facility (its row in the plan's facility table).
    horizon_m : float
        Walking metres beyond which a facility is not reached.
    """

    model: StraightLine
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    horizon_m: float

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(np.column_stack([self.x, self.y]))

    def distances(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """Estimated walking metres from points to their nearest facility, and its id.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            Metres (``inf`` beyond the horizon or with no facility) and the facility's id (``-1`` likewise).
        """
        px, py = self.model.project(lon, lat)
        m = len(np.atleast_1d(px))
        if len(self.x) == 0 or m == 0:
            return np.full(m, np.inf), np.full(m, -1, dtype=np.int64)
        bound = self.horizon_m / self.model.detour
        d, i = self._tree.query(np.column_stack([np.atleast_1d(px), np.atleast_1d(py)]), distance_upper_bound=bound)
        found = np.isfinite(d)
        metres = np.where(found, d * self.model.detour, np.inf)
        fac = np.where(found, self.ids[np.minimum(i, len(self.ids) - 1)], -1)
        return metres, fac.astype(np.int64)


@dataclass(frozen=True)
class EstimatedAccess:
    """Straight-line access of one facility set: the counterpart of :class:`planner.access.Access`.

    Attributes
    ----------
    tiers, services : mapping of str to NearestByLine
        Per tier key, and per assessed service key (a service no facility offers is absent).
    horizon_min : float
        Search horizon in minutes at the fastest profile.
    """

    tiers: Mapping[str, NearestByLine]
    services: Mapping[str, NearestByLine]
    horizon_min: float


def estimate_access(
    model: StraightLine, facilities: gpd.GeoDataFrame, rules: Rules, horizon_min: float
) -> EstimatedAccess:
    """Nearest-facility searches per tier and service, on straight lines (the sets of
    :func:`planner.access.facility_sets`)."""
    horizon_min, horizon_m = search_horizon(rules, horizon_min)
    lon, lat = facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy()
    tiers, services = facility_sets(facilities, rules)

    def search(sel: np.ndarray) -> NearestByLine:
        return model.nearest(lon[sel], lat[sel], np.flatnonzero(sel), horizon_m=horizon_m)

    return EstimatedAccess(
        MappingProxyType({k: search(sel) for k, sel in tiers.items()}),
        MappingProxyType({k: search(sel) for k, sel in services.items()}),
        horizon_min,
    )


def lattice_candidates(model: StraightLine, spacing_m: float = 200.0) -> gpd.GeoDataFrame:
    """Candidate sites on a square lattice over the area (no streets to put them on).

    Parameters
    ----------
    model : StraightLine
    spacing_m : float, default 200
        Distance between neighbouring candidates.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``candidate_id`` (``L<row>_<col>``), ``source`` and ``tier``.
    """
    outline = gpd.GeoSeries([model.boundary], crs="EPSG:4326").to_crs(model.crs).iloc[0]
    x0, y0, x1, y1 = outline.bounds
    xs = np.arange(x0 + spacing_m / 2, x1, spacing_m)
    ys = np.arange(y0 + spacing_m / 2, y1, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    rows, cols = np.meshgrid(np.arange(len(ys)), np.arange(len(xs)), indexing="ij")
    inside = shapely.contains_xy(outline, gx.ravel(), gy.ravel())
    lon, lat = model.unproject(gx.ravel()[inside], gy.ravel()[inside])
    ids = [f"L{r}_{c}" for r, c in zip(rows.ravel()[inside], cols.ravel()[inside])]
    out = gpd.GeoDataFrame(
        {"candidate_id": ids, "source": "lattice", "tier": None},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    out.attrs["unreachable"] = []
    return out


def lattice_points(model: StraightLine, zones: np.ndarray, spacing_m: float) -> tuple[np.ndarray, ...]:
    """Points every ``spacing_m`` metres inside zones (metric polygons), and the zone of each point.

    A zone too small to hold a lattice point gets its representative point. Returns ``(x, y, zone)``.
    """
    if len(zones) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, np.int64)
    x0, y0, x1, y1 = shapely.total_bounds(zones)
    xs = np.arange(np.floor(x0 / spacing_m) * spacing_m + spacing_m / 2, x1, spacing_m)
    ys = np.arange(np.floor(y0 / spacing_m) * spacing_m + spacing_m / 2, y1, spacing_m)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    p_idx, z_idx = shapely.STRtree(zones).query(shapely.points(gx, gy), predicate="intersects")
    first = np.unique(p_idx, return_index=True)[1]  # a point on a shared border goes to one zone
    p_idx, z_idx = p_idx[first], z_idx[first]
    empty = np.setdiff1d(np.arange(len(zones)), z_idx)
    rep = shapely.point_on_surface(zones[empty])
    x = np.concatenate([gx[p_idx], shapely.get_x(rep)])
    y = np.concatenate([gy[p_idx], shapely.get_y(rep)])
    return x, y, np.concatenate([z_idx, empty]).astype(np.int64)


def disc_isochrones(
    model: StraightLine,
    facilities: gpd.GeoDataFrame,
    profiles: Sequence[Any],
    bands: Sequence[float],
) -> gpd.GeoDataFrame:
    """Estimated isochrones: a disc per facility, band and profile, radius ``band x speed / detour``.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :func:`planner.isochrones.facility_isochrones`, EPSG:4326.
    """
    cols = ["facility_id", "tier", "profile", "band_min", "area_km2", "geometry"]
    if facilities.empty:
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs="EPSG:4326")
    x, y = model.project(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
    centres = shapely.points(x, y)
    records, geoms = [], []
    for prof in profiles:
        for band in sorted(bands):
            radius = band * prof.metres_per_minute / model.detour
            geoms.append(shapely.buffer(centres, radius, quad_segs=16))
            records.append(
                pd.DataFrame(
                    {
                        "facility_id": facilities["facility_id"].to_numpy(),
                        "tier": facilities["tier"].to_numpy(),
                        "profile": prof.key,
                        "band_min": band,
                    }
                )
            )
    gdf = gpd.GeoDataFrame(pd.concat(records, ignore_index=True), geometry=np.concatenate(geoms), crs=model.crs)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    return gdf.to_crs("EPSG:4326")[cols]
