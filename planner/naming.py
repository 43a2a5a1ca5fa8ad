"""Names for places as Chinese planners write them, from the OpenStreetMap street names of the walk network.

A point is named by the street it lies on and the nearest cross street: ``国顺路近政立路`` (on 国顺路, near
政立路); ``国顺路`` when no other named street is near; ``无名道路（121.4931, 31.2829）`` when no named street is
within reach. A grid cell is named by the street most present in it and the cross street at its centre:
``长寿路/西康路一带``, made unique with 甲, 乙, 丙 … where two cells would share a name.

Streets are compared by name, not by OSM way: the several ways of one road (密云路 in pieces) are one street.
Lookups go through a :class:`shapely.STRtree` of the named edges; nothing loops over the edges in Python.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from .network import WalkNetwork

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["DUPLICATE_SUFFIXES", "fallback_name", "grid_unit_names", "name_by_landmarks", "place_name", "unique_names"]

#: Compass words for the bearing from a landmark to a place, clockwise from north in 45° steps.
_BEARINGS_ZH = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")

log = logging.getLogger(__name__)

#: Suffixes that tell apart places that would share a name (the ten heavenly stems; numbers after them).
DUPLICATE_SUFFIXES: tuple[str, ...] = ("甲", "乙", "丙", "丁", "戊", "己", "庚", "辛", "壬", "癸")

#: Streets this much farther than the nearest one still count as the street a point is on (metres): at a
#: crossing both streets are about equally near, and the longer of them names the place.
_TIE_M = 1.0


@dataclass(frozen=True)
class _Streets:
    """The named edges of a network: geometries, a tree over them, and each edge's street."""

    lines: np.ndarray  # LineStrings of the named edges, in the network CRS
    street: np.ndarray  # street code of each named edge (index into names)
    names: np.ndarray  # street names, object array
    length_m: np.ndarray  # total length of each street in the network
    tree: shapely.STRtree

    @classmethod
    def of(cls, network: WalkNetwork) -> _Streets:
        way_names: dict[str, str] = network.meta.get("way_names") or {}
        edge_way = network.meta.get("edge_way_id")
        if edge_way is None or len(edge_way) != network.n_edges:
            log.warning("the walk network carries no way id per edge: places are named by coordinates only")
            edge_way = np.zeros(network.n_edges, dtype=np.int64)
        lookup = pd.Series({int(k): str(v).strip() for k, v in way_names.items()}, dtype=object)
        mapped = pd.Series(np.asarray(edge_way, dtype=np.int64)).map(lookup).astype(object)  # NaN: no name
        edge_name = mapped.where(mapped.notna(), "").to_numpy(dtype=object)
        named = np.flatnonzero(edge_name != "")
        names, street = np.unique(edge_name[named].astype(str), return_inverse=True)
        lines = network.lines(named)
        length = np.bincount(street, weights=network.length[named], minlength=len(names))
        return cls(lines, street.astype(np.int64), names.astype(object), length, shapely.STRtree(lines))

    def near(self, points: np.ndarray, radius_m: float) -> pd.DataFrame:
        """Per point, every street within ``radius_m`` and the nearest street at any distance.

        Returns
        -------
        pandas.DataFrame
            ``point, street, distance_m, length_m``: one row per point and street, at the street's least
            distance from the point.
        """
        if not len(self.names) or not len(points):
            return pd.DataFrame({"point": [], "street": [], "distance_m": [], "length_m": []})
        p_near, e_near = self.tree.query_nearest(points, all_matches=True)
        p_in, e_in = self.tree.query(points, predicate="dwithin", distance=radius_m)
        p = np.concatenate([p_near, p_in])
        e = np.concatenate([e_near, e_in])
        pairs = pd.DataFrame(
            {"point": p, "street": self.street[e], "distance_m": shapely.distance(points[p], self.lines[e])}
        )
        out = pairs.groupby(["point", "street"], sort=False)["distance_m"].min().reset_index()
        out["length_m"] = self.length_m[out["street"].to_numpy()]
        return out


def fallback_name(lon: float, lat: float) -> str:
    """The name of a place with no named street near: ``无名道路（121.4931, 31.2829）``."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return "位置不详"
    return f"无名道路（{lon:.4f}, {lat:.4f}）"


def _street_and_cross(
    streets: _Streets, points: np.ndarray, *, radius_m: float, max_distance_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Street code of the street each point is on and of its cross street (-1: none)."""
    n = len(points)
    main = np.full(n, -1, dtype=np.int64)
    cross = np.full(n, -1, dtype=np.int64)
    near = streets.near(points, radius_m)
    if near.empty:
        return main, cross
    least = near.groupby("point")["distance_m"].transform("min")
    on = near[(near["distance_m"] <= least + _TIE_M) & (least <= max_distance_m)]
    on = on.sort_values(["point", "length_m", "street"], ascending=[True, False, True]).drop_duplicates("point")
    main[on["point"].to_numpy()] = on["street"].to_numpy()
    near_main = main[near["point"].to_numpy()]
    other = near[(near_main >= 0) & (near["street"].to_numpy() != near_main) & (near["distance_m"] <= radius_m)]
    other = other.sort_values(["point", "distance_m", "length_m"], ascending=[True, True, False])
    other = other.drop_duplicates("point")
    cross[other["point"].to_numpy()] = other["street"].to_numpy()
    return main, cross


def place_name(
    network: WalkNetwork, lon: Any, lat: Any, *, radius_m: float = 150.0, max_distance_m: float = 500.0
) -> list[str]:
    """Name points by their street and its nearest cross street, e.g. ``国顺路近政立路``.

    Parameters
    ----------
    network : WalkNetwork
        With ``meta["edge_way_id"]`` and ``meta["way_names"]`` (the OSM ``name`` of the walkable ways).
    lon, lat : float or array-like
        WGS-84 degrees.
    radius_m : float, default 150
        How far from the point a cross street may be (metres).
    max_distance_m : float, default 500
        How far from the point the street it is named after may be (metres); farther, the point gets a
        :func:`fallback_name` with its coordinates.

    Returns
    -------
    list of str
        Per point: ``<street>近<cross street>``; ``<street>`` when no other named street is within
        ``radius_m``; ``无名道路（<lon>, <lat>）`` when no named street is within ``max_distance_m``. The street is
        the nearest named one; where several are about equally near (a crossing, within 1 m), the longest in the
        network names the place and the other is the cross street.
    """
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon_a.shape != lat_a.shape:
        msg = f"lon and lat differ in length ({len(lon_a)} and {len(lat_a)})"
        raise ValueError(msg)
    streets = _Streets.of(network)
    return _names_at(network, streets, lon_a, lat_a, radius_m=radius_m, max_distance_m=max_distance_m)


def _names_at(
    network: WalkNetwork,
    streets: _Streets,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    radius_m: float,
    max_distance_m: float,
) -> list[str]:
    x, y = network.project(lon, lat)
    finite = np.isfinite(x) & np.isfinite(y)
    main = np.full(len(lon), -1, dtype=np.int64)
    cross = np.full(len(lon), -1, dtype=np.int64)
    if finite.any():
        m, c = _street_and_cross(
            streets, shapely.points(x[finite], y[finite]), radius_m=radius_m, max_distance_m=max_distance_m
        )
        main[finite], cross[finite] = m, c
    out = []
    for i, (a, b) in enumerate(zip(main.tolist(), cross.tolist())):
        if a < 0:
            out.append(fallback_name(float(lon[i]), float(lat[i])))
        elif b < 0:
            out.append(str(streets.names[a]))
        else:
            out.append(f"{streets.names[a]}近{streets.names[b]}")
    unnamed = int((main < 0).sum())
    if unnamed:
        log.info(
            "%d of %d places have no named street within %g m: named by coordinates", unnamed, len(out), max_distance_m
        )
    return out


def grid_unit_names(
    network: WalkNetwork, units_gdf: gpd.GeoDataFrame, *, unit_column: str = "unit", radius_m: float = 250.0
) -> list[str]:
    """Name grid cells by place, e.g. ``长寿路/西康路一带``, instead of codes such as ``R00C04``.

    Parameters
    ----------
    network : WalkNetwork
    units_gdf : geopandas.GeoDataFrame
        Cell polygons in any CRS (EPSG:4326 from :attr:`planner.plan.Plan.units`).
    unit_column : str, default "unit"
        The cells' codes, used for a cell with no named street in or near it (``网格R00C04``).
    radius_m : float, default 250
        For a cell with no named street in it: how far from its centre the street it is named after may be.

    Returns
    -------
    list of str
        One unique name per cell, in the cells' order: the named street with the most length inside the cell,
        then, after a ``/``, its cross street: the other named street in the cell that passes nearest to the
        cell's centre (a point on its surface), then ``一带``. A cell without a named street in it is named
        after the nearest street within ``radius_m`` of its centre + ``一带``, else by its code
        (``网格R00C04``). Names shared by several cells get 甲, 乙, 丙 … (then numbers), in the cells' order
        (:func:`unique_names`).
    """
    n = len(units_gdf)
    if n == 0:
        return []
    streets = _Streets.of(network)
    cells = np.asarray(units_gdf.to_crs(network.crs).geometry.to_numpy(), dtype=object)
    centres = shapely.point_on_surface(cells)
    main = np.full(n, -1, dtype=np.int64)
    cross = np.full(n, -1, dtype=np.int64)
    if len(streets.names):
        c, e = streets.tree.query(cells, predicate="intersects")
        pieces = pd.DataFrame(
            {
                "cell": c,
                "street": streets.street[e],
                "metres": shapely.length(shapely.intersection(cells[c], streets.lines[e])),
                "distance_m": shapely.distance(centres[c], streets.lines[e]),
            }
        )
        grouped = pieces[pieces["metres"] > 0].groupby(["cell", "street"])
        per = grouped.agg(metres=("metres", "sum"), distance_m=("distance_m", "min")).reset_index()
        per["length_m"] = streets.length_m[per["street"].to_numpy()]
        top = per.sort_values(["cell", "metres", "length_m"], ascending=[True, False, False]).drop_duplicates("cell")
        main[top["cell"].to_numpy()] = top["street"].to_numpy()
        others = per[per["street"].to_numpy() != main[per["cell"].to_numpy()]]
        others = others.sort_values(["cell", "distance_m", "length_m"], ascending=[True, True, False])
        others = others.drop_duplicates("cell")
        cross[others["cell"].to_numpy()] = others["street"].to_numpy()
    empty = np.flatnonzero(main < 0)
    at_centre = np.full(n, -1, dtype=np.int64)
    if len(empty):
        at_centre[empty] = _street_and_cross(streets, centres[empty], radius_m=radius_m, max_distance_m=radius_m)[0]
    codes = units_gdf[unit_column].astype(str).tolist() if unit_column in units_gdf.columns else [""] * n
    names: list[str] = []
    for i in range(n):
        if main[i] >= 0 and cross[i] >= 0:
            names.append(f"{streets.names[main[i]]}/{streets.names[cross[i]]}一带")
        elif main[i] >= 0:
            names.append(f"{streets.names[main[i]]}一带")
        elif at_centre[i] >= 0:
            names.append(f"{streets.names[at_centre[i]]}一带")
        else:
            names.append(f"网格{codes[i] or i + 1}")
    if len(empty):
        log.info("%d of %d cells have no named street in them", len(empty), n)
    return unique_names(names)


def name_by_landmarks(
    x: np.ndarray, y: np.ndarray, lx: np.ndarray, ly: np.ndarray, landmarks: list[str], *, near_m: float = 300.0
) -> list[str]:
    """Name places by their nearest named landmark where no street names are known (a straight-line estimate).

    Parameters
    ----------
    x, y : numpy.ndarray
        The places, in a metric CRS.
    lx, ly : numpy.ndarray
        The landmarks (named facilities), in the same CRS.
    landmarks : list of str
        The landmarks' names.
    near_m : float, default 300
        Within this distance a place is ``近<landmark>``.

    Returns
    -------
    list of str
        ``近中山街道长者食堂`` near a landmark, else ``中山街道长者食堂以南约1.2公里`` (bearing from the landmark,
        to 0.1 km); made unique with :func:`unique_names`. With no landmark, the places' coordinates.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(landmarks) == 0:
        return unique_names([f"（{a:.0f}, {b:.0f}）" for a, b in zip(x, y)])
    d, i = cKDTree(np.column_stack([lx, ly])).query(np.column_stack([x, y]))
    names = []
    for k in range(len(x)):
        name = landmarks[i[k]]
        if d[k] <= near_m:
            names.append(f"近{name}")
            continue
        bearing = np.degrees(np.arctan2(x[k] - lx[i[k]], y[k] - ly[i[k]])) % 360
        names.append(f"{name}以{_BEARINGS_ZH[int((bearing + 22.5) // 45) % 8]}约{d[k] / 1000:.1f}公里")
    return unique_names(names)


def unique_names(names: list[str]) -> list[str]:
    """Make names unique: every name shared by several places gets 甲, 乙, 丙 … (then 11, 12 …), in order.

    A suffixed name that is already another place's name skips to the next suffix.
    """
    counts = Counter(names)
    taken = set(names)
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        if counts[name] == 1:
            out.append(name)
            continue
        while True:
            k = seen[name]
            seen[name] += 1
            suffix = DUPLICATE_SUFFIXES[k] if k < len(DUPLICATE_SUFFIXES) else str(k + 1)
            candidate = f"{name}{suffix}"
            if candidate not in taken:
                break
        taken.add(candidate)
        out.append(candidate)
    return out
