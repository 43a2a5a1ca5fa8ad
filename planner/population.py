"""Population sources: reading a grid, polygons or points with a population column, checked, and the elderly
among them; the outline of an area assessed without streets.

Placing the people on the streets is :mod:`planner.residents`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import StudyArea
from .errors import ConfigError, InputError, InputFileNotFound

__all__ = ["PopulationError", "elderly_counts", "estimate_outline", "population_outline", "read_population"]

log = logging.getLogger(__name__)


class PopulationError(InputError):
    """A population source cannot be used; the message names the file, field and reason."""


def read_population(path: str | Path, *, column: str = "population") -> gpd.GeoDataFrame:
    """Read a population file: GeoJSON/GeoPackage/Shapefile, or CSV of grid cells or points.

    CSV files give either cell boxes (``minlon, minlat, maxlon, maxlat``) or
    points (``lon, lat``), in WGS-84.

    Parameters
    ----------
    path : str or pathlib.Path
    column : str, default "population"
        The population column.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, with the population column numeric and checked.

    Raises
    ------
    PopulationError
        Missing column, negative or non-numeric values, coordinates that are not degrees.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"population file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
        cols = set(df.columns)
        if {"minlon", "minlat", "maxlon", "maxlat"} <= cols:
            geom = shapely.box(df["minlon"], df["minlat"], df["maxlon"], df["maxlat"])
        elif {"lon", "lat"} <= cols:
            geom = shapely.points(df["lon"], df["lat"])
        else:
            msg = (
                f"{path}: a population CSV needs cell columns minlon, minlat, maxlon, maxlat or point "
                f"columns lon, lat (columns are: {', '.join(map(str, df.columns))})"
            )
            raise PopulationError(msg)
        gdf = gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326")
    else:
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # noqa: BLE001 - pyogrio raises several error types for unreadable files
            msg = f"{path}: not a readable spatial file ({exc})"
            raise PopulationError(msg) from None
    if gdf.crs is None:
        msg = f"{path}: no coordinate reference system given; save it with one (e.g. EPSG:4326)"
        raise PopulationError(msg)
    if not gdf.crs.equals("EPSG:4326"):
        log.info("%s: converting population from %s to WGS-84", path.name, gdf.crs.to_string())
        gdf = gdf.to_crs("EPSG:4326")
    x0, y0, x1, y1 = gdf.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        msg = (
            f"{path}: coordinates ({x0:g}, {y0:g}, {x1:g}, {y1:g}) are not longitude/latitude degrees; "
            "the file's declared coordinate system is wrong"
        )
        raise PopulationError(msg)
    if column not in gdf.columns:
        msg = f"{path}: no population column {column!r} (columns are: {', '.join(map(str, gdf.columns))})"
        raise PopulationError(msg)
    values = pd.to_numeric(gdf[column], errors="coerce")
    bad = values.isna() | (values < 0) | ~np.isfinite(values.fillna(0).to_numpy(float))
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 2)[:10]
        msg = (
            f"{path}: column {column!r} must hold finite non-negative numbers; bad value(s) in row(s) "
            f"{', '.join(map(str, rows))}{' ...' if bad.sum() > 10 else ''} "
            f"(e.g. {str(gdf[column][bad].iloc[0])!r})"
        )
        raise PopulationError(msg)
    gdf[column] = values.astype(float)
    gdf.attrs["source"] = str(path)
    return gdf


def elderly_counts(
    gdf: gpd.GeoDataFrame, population: np.ndarray, elderly_col: str | None, elderly_share: float
) -> np.ndarray:
    """People aged 60+ per row: the elderly column (counts, or shares when its name ends in ``share``), else
    ``population x elderly_share``."""
    if not 0 <= elderly_share <= 1:
        msg = f"elderly share must be between 0 and 1, got {elderly_share}"
        raise PopulationError(msg)
    if elderly_col and elderly_col in gdf.columns:
        values = pd.to_numeric(gdf[elderly_col], errors="coerce").to_numpy(dtype=float)
        if elderly_col.endswith("share"):
            return np.clip(values, 0, 1) * population
        return np.minimum(values, population)
    return population * elderly_share


def population_outline(data: gpd.GeoDataFrame) -> shapely.Geometry:
    """Where a population source lies (WGS-84): its zones' union, or its points' hull grown by ~200 m."""
    data = data.to_crs("EPSG:4326")
    geoms = data.geometry.values
    if data.geom_type.eq("Point").all():
        return shapely.convex_hull(shapely.union_all(geoms)).buffer(0.002)
    return shapely.union_all(geoms)


def estimate_outline(area: StudyArea) -> shapely.Geometry:
    """The outline of a study area assessed without streets: its population zones' union (else their hull), or
    the units' polygons when there is no population source."""
    cfg = area.settings.population
    if cfg is not None:
        return population_outline(read_population(area.path(cfg.source[1]), column=cfg.column))
    if area.settings.units.file is not None:
        return shapely.union_all(gpd.read_file(area.path(area.settings.units.file)).to_crs("EPSG:4326").geometry.values)
    msg = f"{area.file}: without a street network the study area needs a [population] source or a [units] file"
    raise ConfigError(msg, path=area.file, key="population")
