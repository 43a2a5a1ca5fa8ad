"""Downloading a study area's streets from OpenStreetMap with OSMnx (Nominatim + Overpass).

The download is written as an OSM XML file, so a fetched area is read exactly like a file the user brings.
OSMnx's own HTTP cache keeps the answers (in the planner's cache folder), so a repeated fetch is offline.
Endpoints follow ``osmnx.settings`` (``overpass_url``, ``nominatim_url``), which tests point at a local server.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from .cache import cache_dir
from .errors import ConfigError, NetworkError, OutputExistsError

__all__ = ["fetch_osm", "write_osm_xml"]

log = logging.getLogger(__name__)

#: Way tags the walk rules read (planner.osm.walk_exclusion_reason): OSMnx drops them unless asked.
_RULE_TAGS = {
    "highway",
    "foot",
    "access",
    "motorroad",
    "expressway",
    "tunnel",
    "area",
    "sidewalk",
    "bridge",
    "layer",
    "service",
    "name",
}


def write_osm_xml(graph, path: str | Path, *, bounds: tuple[float, float, float, float] | None = None) -> None:
    """Write an unsimplified OSMnx graph as OSM XML, one way per street segment.

    Unlike rebuilding whole ways from a truncated graph, this never joins two
    nodes that are not neighbours on a street. Each segment keeps its way's tags
    and its OSM way id in ``osm_way_id``.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        From ``osmnx.graph_from_*(..., simplify=False)``, unprojected.
    path : str or pathlib.Path
    bounds : tuple, optional
        ``(west, south, east, north)`` written as ``<bounds>``.
    """
    from xml.sax.saxutils import quoteattr

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (
            '<osm version="0.6" generator="lifecircle via OSMnx" copyright="OpenStreetMap and contributors" '
            'license="https://opendatacommons.org/licenses/odbl/1-0/">'
        ),
    ]
    if bounds is not None:
        w, s, e, n = bounds
        lines.append(f'<bounds minlon="{w}" minlat="{s}" maxlon="{e}" maxlat="{n}"/>')
    for node, data in graph.nodes(data=True):
        lines.append(f'<node id="{int(node)}" lat="{data["y"]:.7f}" lon="{data["x"]:.7f}"/>')
    seen = set()
    way_id = 0
    for u, v, data in graph.edges(data=True):
        key = (min(u, v), max(u, v))
        if key in seen or u == v:
            continue
        seen.add(key)
        way_id += 1
        tags = {k: (val[0] if isinstance(val, list) else val) for k, val in data.items() if k in _RULE_TAGS}
        osmid = data.get("osmid")
        tags["osm_way_id"] = osmid[0] if isinstance(osmid, list) else osmid
        body = "".join(
            f"<tag k={quoteattr(str(k))} v={quoteattr(str(val))}/>"
            for k, val in tags.items()
            if val is not None and str(val) != "nan"
        )
        lines.append(f'<way id="{way_id}"><nd ref="{int(u)}"/><nd ref="{int(v)}"/>{body}</way>')
    lines.append("</osm>")
    Path(path).write_text("\n".join(lines), encoding="utf-8")


@contextmanager
def _osmnx_settings(**values):
    import osmnx as ox

    old = {k: getattr(ox.settings, k) for k in values}
    try:
        for k, v in values.items():
            setattr(ox.settings, k, v)
        yield ox
    finally:
        for k, v in old.items():
            setattr(ox.settings, k, v)


def fetch_osm(
    out: str | Path,
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    overpass_url: str | None = None,
    nominatim_url: str | None = None,
) -> Path:
    """Download the walkable streets of a place or box and save them as OSM XML.

    Parameters
    ----------
    out : str or pathlib.Path
        The ``.osm`` file to write (refused if it exists).
    place : str, optional
        A place name Nominatim knows, e.g. ``"松江区中山街道, 上海"``.
    bbox : tuple, optional
        ``(west, south, east, north)`` in WGS-84 degrees.
    overpass_url, nominatim_url : str, optional
        Other endpoints (a mirror, or a local server); default OSMnx's settings.

    Returns
    -------
    pathlib.Path
    """
    out = Path(out)
    if (place is None) == (bbox is None):
        msg = "give either a place name or a bbox (west, south, east, north)"
        raise ConfigError(msg)
    if out.exists():
        msg = f"{out} already exists; choose another file name"
        raise OutputExistsError(msg)
    if bbox is not None:
        w, s, e, n = bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            msg = f"bbox {bbox} must be west, south, east, north in degrees with west < east and south < north"
            raise ConfigError(msg)
    import osmnx as ox

    values = {
        "use_cache": True,
        "cache_folder": str(cache_dir() / "osmnx"),
        "log_console": False,
        "overpass_rate_limit": False,
        "useful_tags_way": sorted(set(ox.settings.useful_tags_way) | _RULE_TAGS),
    }
    if overpass_url:
        values["overpass_url"] = overpass_url
    if nominatim_url:
        values["nominatim_url"] = nominatim_url
    with _osmnx_settings(**values):
        try:
            if place is not None:
                graph = ox.graph_from_place(place, network_type="walk", simplify=False, retain_all=True)
            else:
                assert bbox is not None  # one of the two, checked above
                graph = ox.graph_from_bbox(bbox, network_type="walk", simplify=False, retain_all=True)
        except (ox._errors.InsufficientResponseError, ValueError, TypeError) as exc:
            msg = f"could not download streets for {place or bbox}: {exc}"
            raise NetworkError(msg) from None
        out.parent.mkdir(parents=True, exist_ok=True)
        write_osm_xml(graph, out, bounds=bbox)
    log.info(
        "saved %d nodes and %d street segments of %s to %s",
        graph.number_of_nodes(),
        graph.number_of_edges(),
        place or bbox,
        out,
    )
    return out
