"""Residents: population units placed where people live, on the street network.

Population comes as zones (grid cells, residential compounds: polygons with a
population) or as points (addresses, buildings). A zone's people are spread
onto the streets inside it as resident points every ``spacing_m`` metres of
street, each carrying a share in proportion to the street length it stands
for, so coverage is computed along the streets people use rather than at a
cell centroid. A zone with people but no street inside gets one resident point
at its representative point (``placement = "zone_point"``).

Only the part of a zone inside the study area counts (people are assumed
evenly spread over the zone), so the residents' population equals the
source's population inside the study area.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import StudyArea
from .errors import ConfigError
from .network import WalkNetwork
from .osm import buildings_frame
from .population import PopulationError, elderly_counts, read_population
from .settings import DEFAULT_ELDERLY_SHARE
from .straight_line import StraightLine, lattice_points
from .zones import place_zone_people, zone_people

__all__ = [
    "RESIDENT_COLUMNS",
    "place_residents",
    "residents_from_points",
    "residents_from_zones",
    "residents_without_streets",
]

log = logging.getLogger(__name__)


#: The columns of placed residents (besides their points).
RESIDENT_COLUMNS = ["resident_id", "zone_id", "population", "elderly", "placement", "edge", "t", "offset_m"]


def residents_from_zones(
    network: WalkNetwork,
    zones: gpd.GeoDataFrame,
    *,
    population_col: str = "population",
    elderly_col: str | None = None,
    elderly_share: float = DEFAULT_ELDERLY_SHARE,
    spacing_m: float = 50.0,
    boundary: shapely.Polygon | None = None,
    buildings: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Spread zone populations onto the buildings, or else the streets, inside each zone.

    Parameters
    ----------
    network : WalkNetwork
    zones : geopandas.GeoDataFrame
        Polygons with a population column (EPSG:4326; see :func:`read_population`).
    population_col : str, default "population"
    elderly_col : str, optional
        Column of elderly counts, or of elderly shares when its name ends in ``share``.
    elderly_share : float, default 0.234
        Used when there is no elderly column.
    spacing_m : float, default 50
        Street length each resident point stands for (at most).
    boundary : shapely.Polygon, optional
        Study area in WGS-84; default :meth:`WalkNetwork.boundary_wgs84`.
    buildings : geopandas.GeoDataFrame, optional
        Building footprints with ``levels`` (see :func:`planner.osm.buildings_frame`). A zone with
        buildings inside shares its people among them by floor area (footprint x levels), one
        resident point per building (``placement = "building"``, its walk to the street counted);
        zones without buildings use the streets.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326 points with ``resident_id, zone_id, population, elderly, placement, edge, t, offset_m``.
    """
    if spacing_m <= 0:
        msg = f"resident spacing must be positive, got {spacing_m}"
        raise PopulationError(msg)
    source = zones.attrs.get("source", "population")
    if not zones.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        msg = f"{source}: zones must be polygons; use residents_from_points for point data"
        raise PopulationError(msg)
    boundary = boundary if boundary is not None else network.boundary_wgs84()
    people = zone_people(
        zones,
        boundary,
        network.crs,
        population_col=population_col,
        elderly_col=elderly_col,
        elderly_share=elderly_share,
    )
    out, by_building = place_zone_people(network, people, spacing_m=spacing_m, buildings=buildings)
    if by_building.any():
        log.info(
            "%s: %d zone(s) spread by the floor area of %d buildings",
            source,
            int(by_building.sum()),
            int((out["placement"] == "building").sum()),
        )
    points = out["placement"] == "zone_point"
    if points.any():
        log.warning(
            "%s: %d zone(s) with %.0f people have no street inside; each placed at one point "
            "(its walk onto the street counts)",
            source,
            int(points.sum()),
            out.loc[points, "population"].sum(),
        )
    pop, eld = people.population, people.elderly
    log.info(
        "%s: %.0f people (%.0f elderly) inside the study area placed as %d resident points",
        source,
        pop.sum(),
        eld.sum(),
        len(out),
    )
    return _finish(
        out,
        network,
        {
            "source": source,
            "population_in_area": float(pop.sum()),
            "population_in_source": float(zones[population_col].sum()),
            "elderly_share": elderly_share if not elderly_col else None,
            "zones_by_buildings": int(by_building.sum()),
        },
    )


def residents_from_points(
    network: WalkNetwork,
    points: gpd.GeoDataFrame,
    *,
    population_col: str = "population",
    elderly_col: str | None = None,
    elderly_share: float = DEFAULT_ELDERLY_SHARE,
    boundary: shapely.Polygon | None = None,
    max_snap_m: float = 500.0,
) -> gpd.GeoDataFrame:
    """Residents from points (addresses, buildings) carrying a population.

    Points outside the study area are left out (counted in the log); points
    farther than ``max_snap_m`` from any street keep their population but
    have no street (unreachable).
    """
    source = points.attrs.get("source", "population")
    boundary = boundary if boundary is not None else network.boundary_wgs84()
    if not points.geom_type.eq("Point").all():
        msg = f"{source}: residents_from_points needs point geometries"
        raise PopulationError(msg)
    inside = shapely.contains_xy(boundary, points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
    if not inside.any():
        msg = (
            f"{source}: no residents inside the study area {tuple(round(v, 4) for v in boundary.bounds)}; "
            f"the points span {tuple(round(v, 4) for v in points.total_bounds)}"
        )
        raise PopulationError(msg)
    if (~inside).any():
        log.warning(
            "%s: %d point(s) with %.0f people outside the study area left out",
            source,
            int((~inside).sum()),
            points[population_col][~inside].sum(),
        )
    pts = points[inside]
    pop = pts[population_col].to_numpy(dtype=float)
    snap = network.snap(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), max_distance=max_snap_m)
    out = pd.DataFrame(
        {
            "zone": np.arange(len(pts)),
            "population": pop,
            "elderly": elderly_counts(pts, pop, elderly_col, elderly_share),
            "placement": "point",
            "edge": snap.edge,
            "t": snap.t,
            "offset_m": snap.offset_m,
            "x": snap.x,
            "y": snap.y,
        }
    )
    out["zone_id"] = pts.index.to_numpy()
    return _finish(
        out,
        network,
        {
            "source": source,
            "population_in_area": float(pop.sum()),
            "population_in_source": float(points[population_col].sum()),
            "elderly_share": elderly_share if not elderly_col else None,
        },
    )


def _finish(df: pd.DataFrame, network: WalkNetwork | StraightLine, attrs: dict) -> gpd.GeoDataFrame:
    lon, lat = network.unproject(df["x"].to_numpy(), df["y"].to_numpy())
    df["resident_id"] = np.arange(len(df))
    gdf = gpd.GeoDataFrame(df[RESIDENT_COLUMNS], geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    gdf.attrs.update(attrs)
    return gdf


def residents_without_streets(
    model: StraightLine,
    data: gpd.GeoDataFrame,
    *,
    population_col: str = "population",
    elderly_col: str | None = None,
    elderly_share: float = DEFAULT_ELDERLY_SHARE,
    spacing_m: float = 100.0,
) -> gpd.GeoDataFrame:
    """Residents where no street network is known: zones spread evenly over a lattice, points kept as they are.

    Each zone's people are shared equally among lattice points every ``spacing_m`` metres inside it (people
    are assumed evenly spread over the zone, as :func:`residents_from_zones` assumes for the part inside the
    area); a zone too small for a lattice point gets one at its representative point. Residents carry
    ``placement = "lattice"`` (or ``"point"``) and ``edge = -1``: they sit on no street.

    Parameters
    ----------
    model : StraightLine
    data : geopandas.GeoDataFrame
        Population zones (polygons) or points, EPSG:4326 (see :func:`read_population`).
    population_col, elderly_col, elderly_share
        As :func:`residents_from_zones`.
    spacing_m : float, default 100
        Lattice spacing.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :func:`residents_from_zones`.
    """
    source = data.attrs.get("source", "population")
    data = data.to_crs("EPSG:4326")
    pop = data[population_col].to_numpy(dtype=float)
    eld = elderly_counts(data, pop, elderly_col, elderly_share)
    if data.geom_type.eq("Point").all():
        x, y = model.project(data.geometry.x.to_numpy(), data.geometry.y.to_numpy())
        zone, share, placement = np.arange(len(data)), np.ones(len(data)), "point"
    else:
        metric = gpd.GeoSeries(data.geometry.values, crs="EPSG:4326").to_crs(model.crs).to_numpy()
        x, y, zone = lattice_points(model, np.asarray(metric, dtype=object), spacing_m)
        share = 1.0 / np.bincount(zone, minlength=len(data))[zone]
        placement = "lattice"
    out = pd.DataFrame(
        {
            "zone": zone,
            "population": pop[zone] * share,
            "elderly": eld[zone] * share,
            "placement": placement,
            "edge": -1,
            "t": np.nan,
            "offset_m": 0.0,
            "x": x,
            "y": y,
        }
    )
    zone_ids = data["cell_id"].to_numpy() if "cell_id" in data.columns else np.arange(len(data))
    out["zone_id"] = zone_ids[zone]
    log.info("%s: %.0f people placed as %d resident points without streets", source, pop.sum(), len(out))
    return _finish(
        out,
        model,
        {
            "source": source,
            "population_in_area": float(pop.sum()),
            "population_in_source": float(pop.sum()),
            "elderly_share": elderly_share if not elderly_col else None,
            "placement": f"lattice {spacing_m:g} m",
        },
    )


def place_residents(
    area: StudyArea, network: WalkNetwork | StraightLine, *, use_cache: bool = True
) -> gpd.GeoDataFrame | None:
    """Resident points from the area's ``[population]`` source (grid, polygons or points); None without one.

    Parameters
    ----------
    area : StudyArea
    network : WalkNetwork or StraightLine
        The area's walk network (residents are placed along its streets), or the frame of a straight-line
        estimate (:func:`residents_without_streets`).

    Returns
    -------
    geopandas.GeoDataFrame or None
        See :func:`residents_from_zones` and :func:`residents_from_points`.
    """
    cfg = area.settings.population
    if cfg is None:
        return None
    kind, name = cfg.source
    data = read_population(area.path(name), column=cfg.column)
    if isinstance(network, StraightLine):
        return residents_without_streets(
            network,
            data,
            population_col=cfg.column,
            elderly_col=cfg.elderly_column,
            elderly_share=cfg.elderly_share,
            spacing_m=max(cfg.spacing_m, 100.0),
        )
    if kind == "points":
        return residents_from_points(
            network, data, population_col=cfg.column, elderly_col=cfg.elderly_column, elderly_share=cfg.elderly_share
        )
    buildings = None
    if cfg.weights != "streets":
        osm = area.settings.network.osm
        assert osm is not None  # with streets the settings require the file
        buildings = buildings_frame(area.path(osm), use_cache=use_cache)
        if cfg.weights == "buildings" and buildings.empty:
            msg = f'{area.file}: [population] weights = "buildings", but the OSM file has no building footprints'
            raise ConfigError(msg, path=area.file, key="population.weights")
    return residents_from_zones(
        network,
        data,
        population_col=cfg.column,
        elderly_col=cfg.elderly_column,
        elderly_share=cfg.elderly_share,
        spacing_m=cfg.spacing_m,
        buildings=buildings,
    )
