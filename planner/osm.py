"""Reading OpenStreetMap XML extracts and deciding which ways are walkable.

The parser streams ``.osm`` / ``.osm.bz2`` / ``.osm.gz`` files with
:func:`xml.etree.ElementTree.iterparse`, keeps every node's position and the
node lists of walkable ways, and reports what it dropped and why.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import xml.etree.ElementTree as ET
from array import array
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .cache import cache_dir, file_digest, read_cached, write_cached
from .errors import InputFileNotFound, NetworkError

__all__ = [
    "OsmExtract",
    "building_arrays",
    "buildings_frame",
    "cache_buildings",
    "footprints",
    "read_osm",
    "walk_exclusion_reason",
]

log = logging.getLogger(__name__)

#: highway values people do not walk along (OSMnx's walk filter excludes the same families).
_NOT_WALKABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "raceway",
        "bus_guideway",
        "busway",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "disused",
        "escape",
        "platform",
        "elevator",
    }
)
#: highway values for which a tunnel is a pedestrian underpass rather than a road tunnel.
_FOOT_HIGHWAYS = frozenset({"footway", "pedestrian", "path", "steps", "living_street", "corridor"})
_FOOT_ALLOWED = frozenset({"yes", "designated", "permissive"})
_FOOT_FORBIDDEN = frozenset({"no", "private", "use_sidepath"})
_ACCESS_FORBIDDEN = frozenset({"no", "private"})


def walk_exclusion_reason(tags: dict[str, str]) -> str | None:
    """Return why a way is not walkable, or None when people may walk along it.

    Rules, in order: not a highway; a highway class closed to walkers
    (motorways, construction, ...); ``foot=no|private|use_sidepath``;
    urban expressways (``motorroad=yes`` or ``expressway=yes``, e.g. Shanghai's
    elevated roads); road tunnels (``tunnel=yes|covered`` on a road without
    explicit foot access: the river-crossing and Bund tunnels would otherwise
    be walking shortcuts); ``access=no|private`` without foot access;
    cycleways without foot access; and areas (``area=yes``).

    Parameters
    ----------
    tags : dict
        The way's OSM tags.

    Returns
    -------
    str or None
        A short reason such as ``"foot=no"``, or None.
    """
    highway = tags.get("highway")
    if highway is None:
        return "not a highway"
    if highway in _NOT_WALKABLE_HIGHWAYS:
        return f"highway={highway}"
    foot = tags.get("foot", "")
    if foot in _FOOT_FORBIDDEN:
        return f"foot={foot}"
    foot_ok = foot in _FOOT_ALLOWED
    if not foot_ok and (tags.get("motorroad") == "yes" or tags.get("expressway") == "yes"):
        return "expressway"
    if not foot_ok and tags.get("tunnel") in {"yes", "covered"} and highway not in _FOOT_HIGHWAYS:
        return "road tunnel"
    if not foot_ok and tags.get("access") in _ACCESS_FORBIDDEN:
        return f"access={tags['access']}"
    if not foot_ok and highway == "cycleway":
        return "cycleway without foot access"
    if tags.get("area") == "yes":
        return "area"
    return None


@dataclass
class OsmExtract:
    """Walkable ways of an OSM file and the positions of their nodes.

    Attributes
    ----------
    node_ids : numpy.ndarray of int64
        OSM ids of every node in the file.
    lon, lat : numpy.ndarray of float64
        Their WGS-84 positions, aligned with ``node_ids``.
    way_ids : numpy.ndarray of int64
        OSM ids of the walkable ways.
    way_start : numpy.ndarray of int64
        Where each walkable way's node ids start in ``way_refs`` (one more entry than ways: the end).
    way_refs : numpy.ndarray of int64
        The walkable ways' node ids, one way after another (flat arrays hold a city's ways in a few bytes per
        node, where lists of Python integers took tens).
    bounds : tuple or None
        ``(minlon, minlat, maxlon, maxlat)`` from the file's ``<bounds>``.
    dropped : collections.Counter
        Highway ways left out, by reason.
    timestamp : str or None
        The export date (``osm_base`` or newest element timestamp).
    building_ids, building_start, building_refs : numpy.ndarray of int64
        Closed building ways, flat as the walkable ways are.
    building_levels : numpy.ndarray of float
        Their levels (1 when untagged).
    way_names : dict of int to str
        ``name`` of the walkable ways that have one (street names, to check addresses against).
    """

    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    way_ids: np.ndarray
    way_start: np.ndarray
    way_refs: np.ndarray
    bounds: tuple[float, float, float, float] | None = None
    dropped: Counter = field(default_factory=Counter)
    timestamp: str | None = None
    building_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    building_start: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    building_refs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    building_levels: np.ndarray = field(default_factory=lambda: np.zeros(0))
    way_names: dict[int, str] = field(default_factory=dict)

    @cached_property
    def _sorted_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """The node ids' stable sort order and the sorted ids (sorted once: ways and footprints both look up)."""
        order = np.argsort(self.node_ids, kind="stable")
        return order, self.node_ids[order]

    def positions(self, refs: np.ndarray) -> np.ndarray:
        """Index into ``node_ids`` of each node id in ``refs`` (-1 where the file has no such node; of a node
        given twice, its last position)."""
        order, ids = self._sorted_ids
        k = np.searchsorted(ids, refs, side="right") - 1
        found = (k >= 0) & (ids[np.maximum(k, 0)] == refs)
        return np.where(found, order[np.maximum(k, 0)], -1)


def _open(path: Path):
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_osm(path: str | Path) -> OsmExtract:
    """Read an OSM XML file and keep its walkable ways.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.osm``, ``.osm.bz2`` or ``.osm.gz`` file.

    Returns
    -------
    OsmExtract

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is not OSM XML or has no walkable ways.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"OSM file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    # flat typed buffers, a few bytes per node: a city's elements never live as Python objects
    ids, lons, lats = array("q"), array("d"), array("d")
    way_ids, way_len, way_refs = array("q"), array("q"), array("q")
    b_ids, b_len, b_refs, b_levels = array("q"), array("q"), array("q"), array("d")
    way_names: dict[int, str] = {}
    bad_nodes: list[str] = []
    dropped: Counter = Counter()
    bounds: tuple[float, float, float, float] | None = None
    timestamp = None
    newest = ""
    root: ET.Element | None = None
    try:
        with _open(path) as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                if event == "start":
                    if root is None:
                        root = el
                        if el.tag != "osm":
                            msg = f"{path}: not OSM XML (root element <{el.tag}>, expected <osm>)"
                            raise NetworkError(msg, path=path)
                    continue
                tag = el.tag
                if tag == "node":
                    lon_text, lat_text = el.get("lon"), el.get("lat")
                    try:
                        lon_v, lat_v = float(lon_text or "nan"), float(lat_text or "nan")
                    except ValueError:
                        lon_v = lat_v = float("nan")
                    if not (-180 <= lon_v <= 180 and -90 <= lat_v <= 90) or (lon_v == 0 and lat_v == 0):
                        bad_nodes.append(el.get("id") or "?")
                    ids.append(int(el.get("id") or -len(ids) - 1))
                    lons.append(lon_v)
                    lats.append(lat_v)
                    newest = max(newest, el.get("timestamp") or "")
                    root.clear()  # type: ignore[union-attr]  # read: drop it from the tree, not only empty it
                elif tag == "way":
                    tags = {t.get("k"): t.get("v") for t in el.iter("tag")}
                    if "highway" in tags:
                        reason = walk_exclusion_reason(tags)
                        if reason is None:
                            refs = [int(nd.get("ref")) for nd in el.iter("nd")]
                            way_ids.append(int(el.get("id")))
                            way_len.append(len(refs))
                            way_refs.extend(refs)
                            if tags.get("name"):
                                way_names[int(el.get("id"))] = tags["name"]
                        else:
                            dropped[reason] += 1
                    elif "building" in tags and tags["building"] != "no":
                        refs = [int(nd.get("ref")) for nd in el.iter("nd")]
                        if len(refs) >= 4 and refs[0] == refs[-1]:
                            b_ids.append(int(el.get("id")))
                            b_len.append(len(refs))
                            b_refs.extend(refs)
                            b_levels.append(_levels(tags.get("building:levels")))
                    newest = max(newest, el.get("timestamp") or "")
                    root.clear()  # type: ignore[union-attr]
                elif tag == "bounds":
                    w, s, e, n = (float(el.get(k)) for k in ("minlon", "minlat", "maxlon", "maxlat"))
                    bounds = (w, s, e, n)
                elif tag == "meta":
                    timestamp = el.get("osm_base")
                elif tag == "relation":
                    root.clear()  # type: ignore[union-attr]
    except ET.ParseError as exc:
        msg = f"{path}: not readable as OSM XML ({exc})"
        raise NetworkError(msg, path=path) from None
    except (OSError, EOFError) as exc:
        msg = f"{path}: could not be read ({exc})"
        raise NetworkError(msg, path=path) from None
    if bad_nodes:  # a broken export: refuse before building anything from it
        msg = (
            f"{path}: {len(bad_nodes)} node(s) have no valid coordinates (missing, out of range, or at 0/0; "
            f"e.g. node {bad_nodes[0]}); re-export the streets"
        )
        raise NetworkError(msg, path=path, field="node")
    if not way_ids:
        msg = f"{path}: no walkable highway ways found (dropped: {dict(dropped) or 'none'})"
        raise NetworkError(msg, path=path)
    if dropped:
        log.info(
            "%s: left out %d non-walkable highway ways: %s",
            path.name,
            sum(dropped.values()),
            ", ".join(f"{k} {v}" for k, v in dropped.most_common()),
        )
    return OsmExtract(
        node_ids=np.frombuffer(ids, dtype=np.int64),
        lon=np.frombuffer(lons, dtype=float),
        lat=np.frombuffer(lats, dtype=float),
        way_ids=np.frombuffer(way_ids, dtype=np.int64),
        way_start=_starts(way_len),
        way_refs=np.frombuffer(way_refs, dtype=np.int64),
        bounds=bounds,
        dropped=dropped,
        timestamp=timestamp or (newest or None),
        building_ids=np.frombuffer(b_ids, dtype=np.int64),
        building_start=_starts(b_len),
        building_refs=np.frombuffer(b_refs, dtype=np.int64),
        building_levels=np.frombuffer(b_levels, dtype=float),
        way_names=way_names,
    )


def _starts(lengths: array) -> np.ndarray:
    """Offsets of consecutive runs of these lengths, with the end appended."""
    return np.concatenate([[0], np.cumsum(np.frombuffer(lengths, dtype=np.int64))]).astype(np.int64)


def _levels(value: str | None) -> float:
    """``building:levels`` as a number (1 when missing or unreadable, at least 1)."""
    try:
        return max(1.0, float(str(value).split(";")[0]))
    except (TypeError, ValueError):
        return 1.0


def buildings_frame(path: str | Path, *, use_cache: bool = True):
    """Building footprints of an OSM file as a GeoDataFrame (EPSG:4326) with ``levels``; may be empty.

    Footprints with nodes missing from the file (a clipped extract) are left out. Like the walk
    network, the result is cached on disk, keyed by the file's content (a walk network built from the
    file on a cache miss writes it too, from the same reading: :func:`cache_buildings`).
    """
    return footprints(*building_arrays(path, use_cache=use_cache))


def building_arrays(path: str | Path, *, use_cache: bool = True) -> tuple[np.ndarray, ...]:
    """The footprints of :func:`buildings_frame` as flat arrays, a few bytes per vertex: ``(coords, ring, levels,
    ids)``, the lon/lat of every vertex, its footprint's number, and per footprint its levels and way id (make
    polygons of some of them with :func:`footprints`)."""
    path = Path(path)
    cached = _buildings_cache(path)

    def load(file: Path) -> tuple[np.ndarray, ...]:
        with np.load(file, allow_pickle=False) as z:
            return z["coords"], z["ring"], z["levels"], z["ids"]

    arrays = read_cached(cached, load) if use_cache else None
    if arrays is not None:
        return arrays
    arrays = _building_arrays(read_osm(path))
    if use_cache:
        _write_buildings(cached, arrays)
    return arrays


def cache_buildings(path: str | Path, extract: OsmExtract) -> None:
    """Write the building footprints' cache entry of an OSM file from an extract of it already read (no second
    reading of the file when the buildings are asked for); nothing when the entry exists."""
    cached = _buildings_cache(Path(path))
    if not cached.exists():
        _write_buildings(cached, _building_arrays(extract))


def _buildings_cache(path: Path) -> Path:
    return cache_dir() / f"buildings-{_BUILDINGS_VERSION}-{file_digest(path)[:24]}.npz"


def _building_arrays(extract: OsmExtract) -> tuple[np.ndarray, ...]:
    """Coordinates, ring of each coordinate, levels and way ids of the extract's complete footprints."""
    pos = extract.positions(extract.building_refs)
    n = len(extract.building_ids)
    which = np.repeat(np.arange(n), np.diff(extract.building_start))
    complete = np.bincount(which[pos < 0], minlength=n) == 0
    keep = complete[which]
    ring = np.cumsum(complete) - 1
    return (
        np.stack([extract.lon[pos[keep]], extract.lat[pos[keep]]], axis=1),
        ring[which[keep]].astype(np.int64),
        extract.building_levels[complete].astype(float),
        extract.building_ids[complete].astype(np.int64),
    )


def _write_buildings(cached: Path, arrays: tuple[np.ndarray, ...]) -> None:
    coords, ring, levels, ids = arrays
    write_cached(cached, lambda file: np.savez(file, coords=coords, ring=ring, levels=levels, ids=ids))


def footprints(
    coords: np.ndarray, ring: np.ndarray, levels: np.ndarray, ids: np.ndarray, which: np.ndarray | None = None
):
    """Footprints from :func:`building_arrays` as a GeoDataFrame (EPSG:4326; ``building_id``, ``levels``), all or
    only ``which`` (their numbers, ascending; then column ``order`` holds them)."""
    import geopandas as gpd
    import shapely

    if which is None:
        polys = shapely.polygons(shapely.linearrings(coords, indices=ring)) if len(coords) else []
        return gpd.GeoDataFrame({"building_id": ids, "levels": levels}, geometry=polys, crs="EPSG:4326")
    start = np.searchsorted(ring, which)
    count = np.searchsorted(ring, which, side="right") - start
    rows = np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    local = np.repeat(np.arange(len(which)), count)
    polys = shapely.polygons(shapely.linearrings(coords[rows], indices=local)) if len(rows) else []
    return gpd.GeoDataFrame(
        {"building_id": ids[which], "levels": levels[which], "order": which}, geometry=polys, crs="EPSG:4326"
    )


_BUILDINGS_VERSION = "1"
