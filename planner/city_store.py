"""A city's tile store written from its files a few zones at a time: no process places every resident.

:func:`write_city_store` writes the same store as :func:`planner.tile_store.write_tile_store` given the whole run's
network, facilities and residents (tested equal, partition by partition), without ever holding the city's residents
or building footprints as objects:

1. the walk network and the facilities snapped to it, as the whole run builds them. The network is a handful of
   flat arrays (about 60 bytes per node and edge, :mod:`planner.osm`); the facilities are a list;
2. the population zones (a city's grid is a few thousand cells) and the footprints as flat arrays;
3. **placement by tiles**: each zone belongs to the tile of its point (a grid over the streets). A tile's zones are
   placed on the piece of the network within ``reach_m`` of them, with the footprints that can lie in them and
   every zone they share a border with, by :func:`planner.zones.place_zone_people`, which makes each zone's
   residents from that zone's own streets and buildings. A building or zone point snapped nearer the piece's edge
   than its street is snapped again on the whole network, so every snap is the whole run's. Each tile's residents
   are written to ``placed/`` and dropped;
4. the residents numbered in the whole run's order (from three small integers each) and the final grid over the
   nodes and residents, as :func:`planner.tile_jobs.tile_grid` draws it;
5. the residents sorted into the final tiles (``bucket/``), then each tile's job cut
   (:class:`planner.tile_jobs.TileCutter`) and written as the store's partitions.

A point-based population (addresses, buildings as points) is placed whole, as the single run does.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import StudyArea
from .coverage import mark_assessed
from .edge_index import EdgeIndex
from .errors import ConfigError
from .facilities import area_facilities
from .network import WalkNetwork, load_network
from .osm import building_arrays, footprints
from .population import PopulationError, read_population
from .residents import RESIDENT_COLUMNS, place_residents
from .tile_jobs import TileCutter, TileGrid, sub_network
from .tile_store import finish_store, new_store, write_job
from .zones import ORDER, ZonePeople, place_zone_people, zone_people

__all__ = ["write_city_store"]

log = logging.getLogger(__name__)

_SLACK_M = 0.01  # boxes compared with a centimetre to spare (projections of the same point may differ in the last bit)


def write_city_store(
    area: StudyArea,
    folder: str | Path,
    *,
    tiles: tuple[int, int],
    use_cache: bool = True,
    skip_invalid_facilities: bool = False,
    reach_m: float = 1000.0,
    progress: bool | None = None,
) -> tuple[dict[str, Any], WalkNetwork]:
    """Write the tile store of ``area`` into ``folder`` (see the module's note).

    Parameters
    ----------
    area : StudyArea
        With streets and a population source.
    folder : str or pathlib.Path
        A new or empty folder (one that already holds a store is refused).
    tiles : (int, int)
        Tiles along x and y (the placement uses as many).
    use_cache, skip_invalid_facilities : bool
        As :class:`planner.pipeline.RunOptions`.
    reach_m : float, default 1000
        Streets this far around a tile's zones are loaded to place them (a footprint farther than this from every
        street is snapped on the whole network).
    progress : bool, optional
        A bar per stage (default: when stderr is a terminal).

    Returns
    -------
    (dict, WalkNetwork)
        The store's index (``index.json``) and the network.
    """
    cfg = area.settings.population
    net_cfg = area.settings.network
    if net_cfg.osm is None or cfg is None:
        what = "a street network ([network] osm)" if net_cfg.osm is None else "a [population] source"
        msg = f"a city run by tiles needs {what}; {area.name} has none"
        raise ConfigError(msg, path=area.file, key="network" if net_cfg.osm is None else "population")
    root = new_store(folder)
    t0 = time.perf_counter()
    network = load_network(
        area.path(net_cfg.osm),
        clip_to_bounds=net_cfg.clip_to_bounds,
        min_component_km=net_cfg.min_component_km,
        keep_fragments=net_cfg.keep_fragments,
        use_cache=use_cache,
        max_extent_km=net_cfg.max_extent_km,
    )
    rules = area.rules
    facilities = area_facilities(area, network, rules, skip_invalid=skip_invalid_facilities)
    kind, name = cfg.source
    scratch = root / "_placing"
    scratch.mkdir(exist_ok=True)
    if kind == "points":
        parts = _place_whole(area, network, scratch, use_cache)
    else:
        zones = read_population(area.path(name), column=cfg.column)
        if not zones.geom_type.isin(["Polygon", "MultiPolygon"]).all():
            msg = f"{zones.attrs.get('source', name)}: zones must be polygons"
            raise PopulationError(msg)
        people = zone_people(
            zones,
            network.boundary_wgs84(),
            network.crs,
            population_col=cfg.column,
            elderly_col=cfg.elderly_column,
            elderly_share=cfg.elderly_share,
        )
        buildings = None
        if cfg.weights != "streets":
            buildings = building_arrays(area.path(net_cfg.osm), use_cache=use_cache)
            if cfg.weights == "buildings" and not len(buildings[3]):
                msg = f'{area.file}: [population] weights = "buildings", but the OSM file has no building footprints'
                raise ConfigError(msg, path=area.file, key="population.weights")
        parts = _place_by_tiles(network, people, buildings, cfg.spacing_m, tiles, reach_m, scratch, progress)
    t1 = time.perf_counter()
    grid, ids = _number(network, parts, tiles)
    n_residents = sum(len(i) for i in ids)
    cutter = TileCutter(network, facilities, rules, area.settings.access.horizon_min, grid)
    entries = []
    for tile, residents, rx, ry in _by_tile(area, parts, ids, grid, scratch, progress):
        job = cutter.job(tile, residents, rx, ry)
        if job is not None:
            entries.append(write_job(root, job))
    shutil.rmtree(scratch)
    index = finish_store(root, network, facilities, rules, area.settings.access.horizon_min, grid, entries, n_residents)
    log.info(
        "tile store %s: %d residents placed by tiles in %.1f s, %d tiles written in %.1f s",
        root,
        n_residents,
        t1 - t0,
        len(entries),
        time.perf_counter() - t1,
    )
    return index, network


def _bar(total: int, desc: str, progress: bool | None):
    from tqdm import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="tile", disable=not show)


def _place_by_tiles(
    network: WalkNetwork,
    people: ZonePeople,
    buildings: tuple[np.ndarray, ...] | None,
    spacing_m: float,
    tiles: tuple[int, int],
    reach_m: float,
    scratch: Path,
    progress: bool | None,
) -> list[Path]:
    """Place the zones a tile at a time; one file of residents per tile with any (see the module's note)."""
    grid = TileGrid.covering(network.x, network.y, *tiles)
    live = np.flatnonzero((people.population > 0) & ~shapely.is_empty(people.inside))
    spot = shapely.point_on_surface(people.inside[live])
    zone_tile = np.full(len(people), -1, dtype=np.int64)  # -1: no one to place
    zone_tile[live] = grid.tile_of(shapely.get_x(spot), shapely.get_y(spot))
    box = shapely.bounds(people.inside)  # NaN for an empty part: it meets no box
    b_box = None  # each footprint's bounds in the network CRS, where zones are drawn and points fall in them
    if buildings is not None and len(buildings[1]):
        coords, ring = buildings[0], buildings[1]
        starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
        bx, by = network.project(coords[:, 0], coords[:, 1])
        b_box = np.stack(
            [np.minimum.reduceat(c, starts) for c in (bx, by)] + [np.maximum.reduceat(c, starts) for c in (bx, by)],
            axis=1,
        )
        del bx, by
    index = network.edge_index
    parts = []
    tiles_with_zones = np.unique(zone_tile[zone_tile >= 0])
    with _bar(len(tiles_with_zones), "placing", progress) as bar:
        for tile in tiles_with_zones:
            mine = zone_tile == tile
            x0, y0 = box[mine, 0].min(), box[mine, 1].min()
            x1, y1 = box[mine, 2].max(), box[mine, 3].max()
            near = np.flatnonzero((box[:, 0] <= x1) & (box[:, 2] >= x0) & (box[:, 1] <= y1) & (box[:, 3] >= y0))
            frame = None
            if buildings is not None and b_box is not None:
                # a footprint's point lies inside it, so a footprint whose point is in a zone meets the zone's box
                lo_x, lo_y, hi_x, hi_y = x0 - _SLACK_M, y0 - _SLACK_M, x1 + _SLACK_M, y1 + _SLACK_M
                which = np.flatnonzero(
                    (b_box[:, 0] <= hi_x) & (b_box[:, 2] >= lo_x) & (b_box[:, 1] <= hi_y) & (b_box[:, 3] >= lo_y)
                )
                coords, ring, levels, ids = buildings
                frame = footprints(coords, ring, levels, ids, which=which) if len(which) else None
            piece = (x0 - reach_m, y0 - reach_m, x1 + reach_m, y1 + reach_m)
            edges = index.query(*piece)
            sub, _ = sub_network(network, edges, int(tile))
            out, _ = place_zone_people(sub, people.take(near), spacing_m=spacing_m, buildings=frame, placed=mine[near])
            _to_whole(network, index, out, edges, piece)
            lon, lat = network.unproject(out["x"].to_numpy(), out["y"].to_numpy())
            out["lon"], out["lat"] = lon, lat
            back = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(network.crs)
            out["px"], out["py"] = back.x.to_numpy(), back.y.to_numpy()  # as tile_grid sees the residents
            path = scratch / f"placed.{int(tile):05d}.parquet"
            out.drop(columns=["x", "y"]).to_parquet(path)
            parts.append(path)
            bar.update()
    return parts


def _to_whole(
    network: WalkNetwork, index: EdgeIndex, out: pd.DataFrame, edges: np.ndarray, piece: tuple[float, ...]
) -> None:
    """Edges of a piece of the network as the whole network's. A snap that a street outside the piece could
    beat (nearer the piece's edge than its street, or none in the piece) is done again on a piece around it wide
    enough to settle it, widened until it is."""
    sub_edge = out["edge"].to_numpy(np.int64)
    whole = np.full(len(sub_edge), -1, dtype=np.int64)
    whole[sub_edge >= 0] = edges[sub_edge[sub_edge >= 0]]  # a piece may hold no street at all
    street = out["placement"].to_numpy() == "street"
    out.loc[street, "item"] = whole[street]
    x, y = out["x"].to_numpy(), out["y"].to_numpy()
    t, offset = out["t"].to_numpy(float).copy(), out["offset_m"].to_numpy(float).copy()
    again = ~street & ((sub_edge < 0) | ~(offset < _room(x, y, piece)))
    reach = max(float(np.nanmax(offset[again], initial=0.0)), piece[2] - piece[0], piece[3] - piece[1])
    while again.any():
        at = np.flatnonzero(again)
        wider = (x[at].min() - reach, y[at].min() - reach, x[at].max() + reach, y[at].max() + reach)
        more = index.query(*wider)
        sub, _ = sub_network(network, more, -1)
        snap = sub.snap_xy(x[at], y[at])
        done = (snap.edge >= 0) & (snap.offset_m < _room(x[at], y[at], wider))
        whole[at[done]] = more[snap.edge[done]]
        t[at[done]], offset[at[done]] = snap.t[done], snap.offset_m[done]
        again[at[done]] = False
        if len(more) == network.n_edges:  # the whole network: nothing is nearer than what it found
            whole[at], t[at], offset[at] = np.where(snap.edge >= 0, more[snap.edge], -1), snap.t, snap.offset_m
            break
        reach *= 2
    out["edge"], out["t"], out["offset_m"] = whole, t, offset


def _room(x: np.ndarray, y: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """Distance from points inside a box to its edge: no street outside the box is nearer."""
    return np.minimum.reduce([x - box[0], box[2] - x, y - box[1], box[3] - y])


def _place_whole(area: StudyArea, network: WalkNetwork, scratch: Path, use_cache: bool) -> list[Path]:
    """A point-based population, placed as the single run places it, as one file of residents."""
    placed = place_residents(area, network, use_cache=use_cache)
    assert placed is not None  # the caller checked the area has a population source
    back = placed.geometry.to_crs(network.crs)
    out = pd.DataFrame(placed.drop(columns="geometry"))
    out["lon"], out["lat"] = placed.geometry.x.to_numpy(), placed.geometry.y.to_numpy()
    out["px"], out["py"] = back.x.to_numpy(), back.y.to_numpy()
    out["rank"], out["item"], out["piece"] = 0, np.arange(len(out)), 0
    path = scratch / "placed.00000.parquet"
    out.to_parquet(path)
    return [path]


def _number(network: WalkNetwork, parts: list[Path], tiles: tuple[int, int]) -> tuple[TileGrid, list[np.ndarray]]:
    """Number the residents in the whole run's order (each part's ``resident_id``) and draw the final grid over
    the nodes and residents; only the order and point columns are read."""
    keys = [pd.read_parquet(p, columns=[*ORDER, "px", "py"]) for p in parts]
    counts = [len(k) for k in keys]
    if not sum(counts):
        msg = "no residents inside the study area"
        raise PopulationError(msg)
    everyone = pd.concat(keys, ignore_index=True)
    order = np.lexsort([everyone[c].to_numpy() for c in reversed(ORDER)])
    rid = np.empty(len(order), dtype=np.int64)
    rid[order] = np.arange(len(order))
    xs = np.r_[network.x.min(), network.x.max(), everyone["px"].min(), everyone["px"].max()]
    ys = np.r_[network.y.min(), network.y.max(), everyone["py"].min(), everyone["py"].max()]
    return TileGrid.covering(xs, ys, *tiles), np.split(rid, np.cumsum(counts)[:-1])


def _by_tile(
    area: StudyArea,
    parts: list[Path],
    ids: list[np.ndarray],
    grid: TileGrid,
    scratch: Path,
    progress: bool | None,
):
    """Each final tile's residents as the whole run lists them (index: ``resident_id``, ``ids`` per part), with
    their points."""
    bucket = scratch / "bucket"
    template = None  # a tile with nodes and no residents: the same columns, no rows
    for n, (path, rid) in enumerate(zip(parts, ids, strict=True)):
        frame = pd.read_parquet(path)
        frame["resident_id"] = rid
        template = frame.iloc[:0] if template is None else template
        owner = grid.tile_of(frame["px"].to_numpy(), frame["py"].to_numpy())
        for t in np.unique(owner):
            (bucket / f"{int(t):05d}").mkdir(parents=True, exist_ok=True)
            frame[owner == t].to_parquet(bucket / f"{int(t):05d}" / f"{n:05d}.parquet")
        path.unlink()
    with _bar(len(grid), "tiles", progress) as bar:
        for tile in range(len(grid)):
            folder = bucket / f"{tile:05d}"
            files = sorted(folder.glob("*.parquet")) if folder.exists() else []
            if files:
                frame = pd.concat([pd.read_parquet(f) for f in files]).sort_values("resident_id")
                shutil.rmtree(folder)
            else:
                assert template is not None  # parts is never empty (_number refuses no residents)
                frame = template
            residents = gpd.GeoDataFrame(
                frame[RESIDENT_COLUMNS].set_index(frame["resident_id"].to_numpy()),
                geometry=gpd.points_from_xy(frame["lon"].to_numpy(), frame["lat"].to_numpy()),
                crs="EPSG:4326",
            )
            residents = mark_assessed(area, residents)
            yield tile, residents, frame["px"].to_numpy(), frame["py"].to_numpy()
            bar.update()
