"""Service areas kept on disk between runs: drawing them is most of a warm plan's run, and they depend only on the
network, the facilities, the search's result and the drawing's settings, all of which the key covers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import isochrones as _isochrones
from .access import NearestFacility
from .cache import cache_dir, content_key, read_cached, source_key, write_cached
from .forked import Beside, beside, done
from .network import WalkNetwork
from .tiers import SpeedProfile

__all__ = ["cached_service_areas", "service_areas_beside"]

log = logging.getLogger(__name__)

#: Bumped when service areas are stored differently; with the source of the drawing (``isochrones``) and of the
#: search (``access``), part of every cached service area's key.
_AREAS_VERSION = "service-areas-1"


def cached_service_areas(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    nearest: dict[str, NearestFacility],
    profiles: Sequence[SpeedProfile],
    bands: Sequence[float] = (5, 10, 15),
    *,
    method: str = "edges",
    corridor_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """:func:`planner.isochrones.service_areas`, read from the on-disk cache (:func:`planner.cache.cache_dir`)
    when the same inputs were drawn before.

    The key is the content of every input the drawing reads: the network's arrays and CRS, each facility's tier,
    position on its street and point, the nearest-facility metres of every node per tier and their horizon, the
    profiles' speeds, the bands, the method and corridor, and the source of the code that draws them. An entry
    holds the areas as WKB in EPSG:4326, so a hit gives the same geometries bit for bit.
    """
    path = _areas_path(network, facilities, nearest, profiles, bands, method, corridor_m)
    kept = _read(path)
    if kept is not None:
        return kept
    return _draw(network, facilities, nearest, profiles, bands, method, corridor_m, path)


def service_areas_beside(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    nearest: dict[str, NearestFacility],
    profiles: Sequence[SpeedProfile],
    bands: Sequence[float] = (5, 10, 15),
    *,
    method: str = "edges",
    corridor_m: float = 50.0,
    use_cache: bool = True,
) -> Beside:
    """Start the service areas now and take them later: a cache hit is read at once; otherwise they are drawn
    (and, with ``use_cache``, cached) in a forked child (:func:`planner.forked.beside`) while the caller goes on
    with its other stages. Arguments as :func:`cached_service_areas`.

    Returns
    -------
    planner.forked.Beside
        Its ``result()`` gives the service areas (waiting for the child if it still draws them); ``cancel()``
        stops the child when the caller fails.
    """
    path = _areas_path(network, facilities, nearest, profiles, bands, method, corridor_m) if use_cache else None
    kept = _read(path) if path is not None else None
    if kept is not None:
        return done(kept)
    return beside(
        _draw, network, facilities, nearest, profiles, bands, method, corridor_m, path, what="drawing service areas"
    )


def _areas_path(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    nearest: dict[str, NearestFacility],
    profiles: Sequence[SpeedProfile],
    bands: Sequence[float],
    method: str,
    corridor_m: float,
) -> Path:
    key = content_key(
        _AREAS_VERSION,
        source_key("planner.isochrones", "planner.access"),  # the code that draws them and the search
        network.crs,
        *(getattr(network, a) for a in ("x", "y", "u", "v", "length")),
        facilities["tier"].astype(str).to_numpy(object),
        *(facilities[c].to_numpy() for c in ("edge", "t", "snap_m")),
        facilities.geometry.x.to_numpy(),
        facilities.geometry.y.to_numpy(),
        *((k, near.horizon_m, near.distance_m) for k, near in sorted(nearest.items())),
        *((p.key, p.metres_per_minute) for p in profiles),
        tuple(float(b) for b in bands),
        method,
        float(corridor_m),
    )
    return cache_dir() / f"areas-{key}.npz"


def _read(path: Path) -> gpd.GeoDataFrame | None:
    kept = read_cached(path, _load_areas)
    if kept is not None:
        log.info("service areas loaded from cache %s", path)
    return kept


def _draw(
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame,
    nearest: dict[str, NearestFacility],
    profiles: Sequence[SpeedProfile],
    bands: Sequence[float],
    method: str,
    corridor_m: float,
    path: Path | None,
) -> gpd.GeoDataFrame:
    areas = _isochrones.service_areas(
        network, facilities, nearest, profiles, bands, method=method, corridor_m=corridor_m
    )
    if path is not None:
        write_cached(path, lambda tmp: _save_areas(areas, tmp))
    return areas


def _save_areas(areas: gpd.GeoDataFrame, path: Path) -> None:
    wkb = shapely.to_wkb(areas.geometry.to_numpy())
    sizes = np.array([len(b) for b in wkb], dtype=np.int64)
    columns = {c: areas[c].to_numpy(dtype=str if c in ("tier", "profile") else None) for c in _AREA_COLUMNS[:-1]}
    with open(path, "wb") as fh:
        np.savez(fh, wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), sizes=sizes, **columns)


def _load_areas(path: Path) -> gpd.GeoDataFrame:
    with np.load(path, allow_pickle=False) as z:
        buf, ends = z["wkb"].tobytes(), np.cumsum(z["sizes"])
        geoms = shapely.from_wkb([buf[e - n : e] for e, n in zip(ends, z["sizes"])])
        frame = pd.DataFrame({c: z[c] for c in _AREA_COLUMNS[:-1]})
    for c in ("tier", "profile"):
        frame[c] = frame[c].astype(str)
    return gpd.GeoDataFrame(frame, geometry=np.asarray(geoms, dtype=object), crs="EPSG:4326")[list(_AREA_COLUMNS)]


_AREA_COLUMNS = ("tier", "profile", "band_min", "facilities", "area_km2", "geometry")
