"""Units: the areas figures are reported for — the user's 街道/居委 polygons, or a regular grid named by place.

Per unit: residents, elderly, coverage of every tier per profile (weighted by the profile's own group), facilities
per tier and people per facility against the GB 50180 bands, and the share within 15 minutes of every tier.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .area import StudyArea
from .coverage import group_weights
from .errors import ConfigError, InputError
from .naming import grid_unit_names, name_by_landmarks
from .network import WalkNetwork
from .straight_line import StraightLine
from .tiers import Rules

__all__ = ["MAX_GRID_CELLS", "area_units", "regular_grid", "unit_table"]

log = logging.getLogger(__name__)

#: The most grid cells a unit grid may have (a memory budget: each cell is a polygon in memory and on the map).
MAX_GRID_CELLS = 200_000


def regular_grid(boundary: shapely.Polygon, crs: str, cell_km: float = 1.0) -> gpd.GeoDataFrame:
    """Square cells of ``cell_km`` in a metric CRS covering a WGS-84 boundary, clipped to it."""
    b = gpd.GeoSeries([boundary], crs="EPSG:4326").to_crs(crs).iloc[0]
    x0, y0, x1, y1 = b.bounds
    size = cell_km * 1000
    cells_needed = np.ceil((x1 - x0) / size) * np.ceil((y1 - y0) / size)
    if cells_needed > MAX_GRID_CELLS:  # estimated before any array is allocated
        msg = (
            f"a {cell_km:g} km grid over this area needs {cells_needed:,.0f} cells (more than {MAX_GRID_CELLS:,}); "
            "set a larger [units] grid_km or give [units] file"
        )
        raise ConfigError(msg, key="units.grid_km")
    xs = np.arange(x0, x1, size)
    ys = np.arange(y0, y1, size)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.intersection(shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size, gy.ravel() + size), b)
    keep = ~shapely.is_empty(cells)
    names = [f"R{r:02d}C{c:02d}" for r in range(len(ys)) for c in range(len(xs))]
    return gpd.GeoDataFrame({"unit": np.asarray(names)[keep]}, geometry=cells[keep], crs=crs)


def unit_table(
    residents: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    rules: Rules,
    *,
    name_column: str = "unit",
) -> gpd.GeoDataFrame:
    """Statistics per administrative unit (or grid cell).

    Parameters
    ----------
    residents : geopandas.GeoDataFrame
        With coverage columns (see :func:`resident_coverage`).
    facilities : geopandas.GeoDataFrame
    units : geopandas.GeoDataFrame
        Polygons with a name column, any CRS.
    rules : Rules

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; per unit: population, elderly, area, covered shares per tier and
        profile, facilities and people per facility per tier against GB 50180's band,
        and the share within 15 minutes of every tier.
    """
    units = units.reset_index(drop=True)
    crs = units.estimate_utm_crs() if units.crs.is_geographic else units.crs
    um = units.to_crs(crs)
    which = _which_unit(residents.to_crs(crs).geometry.values, um.geometry.values)
    fac_unit = _which_unit(facilities.to_crs(crs).geometry.values, um.geometry.values)
    pop = residents["population"].to_numpy(float)
    eld = residents["elderly"].to_numpy(float)
    n = len(units)
    ok = which >= 0

    def per_unit(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        sel = ok if mask is None else ok & mask
        return np.bincount(which[sel], weights=weights[sel], minlength=n)

    table = pd.DataFrame(
        {
            "unit": units[name_column].astype(str),
            "population": per_unit(pop),
            "elderly": per_unit(eld),
            "area_km2": um.area.to_numpy() / 1e6,
        }
    )
    for tier in rules.tiers:
        for prof in rules.profiles:
            w = group_weights(residents, prof)
            cov = residents[col.covered(tier.key, prof.key)].to_numpy(bool)
            with np.errstate(invalid="ignore", divide="ignore"):
                table[col.covered(tier.key, prof.key)] = per_unit(w, cov) / per_unit(w)
        count = np.bincount(fac_unit[(fac_unit >= 0) & (facilities["tier"] == tier.key).to_numpy()], minlength=n)
        table[f"facilities_{tier.key}"] = count
        with np.errstate(invalid="ignore", divide="ignore"):
            table[f"people_per_{tier.key}"] = np.where(count > 0, table["population"] / np.maximum(count, 1), np.nan)
        if tier.population_served:
            lo, hi = tier.population_served
            ppf = table[f"people_per_{tier.key}"]
            table[f"gb50180_{tier.key}"] = np.select(
                [count == 0, ppf > hi, ppf < lo], ["none", "over", "under"], "within"
            )
    table["facilities_per_km2"] = sum(table[f"facilities_{t.key}"] for t in rules.tiers) / table["area_km2"]
    within = np.ones(len(residents), dtype=bool)
    for tier in rules.tiers:
        within &= residents[col.minutes(tier.key, rules.everyone.key)].to_numpy(float) <= 15.0
    with np.errstate(invalid="ignore", divide="ignore"):  # no tier inventory: not assessed (NaN), never 100%
        table["within_15min_share"] = per_unit(pop, within) / per_unit(pop) if rules.fifteen_minute_measure else np.nan
    return gpd.GeoDataFrame(table, geometry=um.geometry.values, crs=crs).to_crs("EPSG:4326")


def _which_unit(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (-1 when none)."""
    out = np.full(len(points), -1, dtype=np.int64)
    p, g = shapely.STRtree(polygons).query(points, predicate="intersects")
    first = np.unique(p, return_index=True)[1]
    out[p[first]] = g[first]
    return out


def area_units(
    area: StudyArea,
    network: WalkNetwork | StraightLine,
    residents: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    rules: Rules,
) -> gpd.GeoDataFrame:
    """Figures per administrative unit of the area's ``[units] file``, or per cell of a regular grid.

    See :func:`unit_table`; the unit's name is in column ``unit``.
    """
    cfg = area.settings.units
    if cfg.file is not None:
        units = gpd.read_file(area.path(cfg.file))
        if cfg.name_column not in units.columns:
            msg = (
                f"{cfg.file}: no unit name column {cfg.name_column!r} (columns: {', '.join(units.columns)}); "
                "set [units] name_column"
            )
            raise InputError(msg, path=area.path(cfg.file), field=cfg.name_column)
        return unit_table(residents, facilities, units, rules, name_column=cfg.name_column)
    grid = regular_grid(network.boundary_wgs84(), network.crs, cfg.grid_km)
    grid["code"] = grid["unit"]
    if isinstance(network, StraightLine):  # no streets: named by the nearest facility (中山街道长者食堂以南约1.2公里)
        centres = shapely.point_on_surface(np.asarray(grid.to_crs(network.crs).geometry.to_numpy(), dtype=object))
        named = facilities[facilities["name"].astype(str).str.strip() != ""]
        lx, ly = network.project(named.geometry.x.to_numpy(), named.geometry.y.to_numpy())
        grid["unit"] = name_by_landmarks(
            shapely.get_x(centres), shapely.get_y(centres), lx, ly, named["name"].astype(str).tolist()
        )
    else:
        grid["unit"] = grid_unit_names(network, grid.to_crs("EPSG:4326"))  # by place (长寿路/西康路一带), not R00C04
    return unit_table(residents, facilities, grid, rules, name_column="unit")
