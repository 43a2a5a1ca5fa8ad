"""A what-if written down: the small TOML file a street office keeps for a scenario, read into :func:`what_if` calls.

::

    title = "国顺路小区开侧门"
    crs = "gcj02"                      # coordinates below: wgs84 (default), gcj02 (Gaode) or bd09 (Baidu)
    close = ["S012"]                   # facility ids to close
    close_links = [123456, { lon = 121.47, lat = 31.23 }]   # OSM way ids, or points on a street

    [[add_links]]                      # a gate, a footbridge, a new path
    from = [121.44, 31.25]
    to = { lon = 121.45, lat = 31.25 }
    length_m = 80                      # optional: else measured along the line
    name = "某小区侧门"

    [[open]]                           # new facilities
    tier = "station"
    lon = 121.46
    lat = 31.24
    name = "新设服务站"

Every coordinate is converted to WGS-84 before it meets the streets; a bad entry is reported with the file and its
key (``add_links[0].from``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from .coords import normalise_crs_name, to_wgs84
from .errors import ConfigError, InputFileNotFound

__all__ = ["ScenarioFile", "read_scenario_file"]

_KEYS = {"title", "crs", "close", "close_links", "add_links", "open"}


@dataclass(frozen=True)
class ScenarioFile:
    """The contents of a scenario file, coordinates in WGS-84: the keyword arguments of
    :func:`planner.scenario.what_if` (``kwargs``) and the scenario's title."""

    path: Path
    title: str
    close: tuple[str, ...] = ()
    open_sites: gpd.GeoDataFrame | None = None
    add_links: tuple[dict[str, Any], ...] = ()
    close_links: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kwargs(self) -> dict[str, Any]:
        """What :func:`planner.scenario.what_if` takes."""
        return {
            "close": self.close,
            "open_sites": self.open_sites,
            "add_links": self.add_links,
            "close_links": self.close_links,
        }


def _point(path: Path, key: str, value: Any, crs: str) -> tuple[float, float]:
    """A ``[lon, lat]`` or ``{lon, lat}`` in the file's CRS, as WGS-84."""
    if isinstance(value, dict) and {"lon", "lat"} <= set(value):
        lon, lat = value["lon"], value["lat"]
    elif isinstance(value, list | tuple) and len(value) == 2:
        lon, lat = value
    else:
        msg = f"{path}: {key}: expected [lon, lat] or {{ lon = …, lat = … }}, got {value!r}"
        raise ConfigError(msg, path=path, key=key)
    if isinstance(lon, bool) or isinstance(lat, bool) or not all(isinstance(v, int | float) for v in (lon, lat)):
        msg = f"{path}: {key}: longitude and latitude must be numbers, got {value!r}"
        raise ConfigError(msg, path=path, key=key)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"{path}: {key}: ({lon}, {lat}) is not a longitude/latitude in degrees"
        raise ConfigError(msg, path=path, key=key)
    x, y = to_wgs84(np.array([float(lon)]), np.array([float(lat)]), crs)
    return float(x[0]), float(y[0])


def read_scenario_file(path: str | Path) -> ScenarioFile:
    """Read a scenario TOML file (see the module's docstring for its keys).

    Raises
    ------
    InputFileNotFound
        When there is no such file.
    ConfigError
        For an unknown key, a bad coordinate or CRS, with the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"scenario file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: not valid UTF-8 TOML ({exc})"
        raise ConfigError(msg, path=path) from None
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        msg = f"{path}: unknown key(s) {', '.join(unknown)}; a scenario has {', '.join(sorted(_KEYS))}"
        raise ConfigError(msg, path=path, key=unknown[0])
    try:
        crs = normalise_crs_name(str(raw.get("crs", "wgs84")))
    except ValueError as exc:
        raise ConfigError(f"{path}: crs: {exc}", path=path, key="crs") from None
    close = raw.get("close", [])
    if not isinstance(close, list) or not all(isinstance(c, str | int) for c in close):
        msg = f'{path}: close: expected a list of facility ids, e.g. ["S012"]'
        raise ConfigError(msg, path=path, key="close")
    links = []
    for i, link in enumerate(raw.get("add_links", [])):
        if not isinstance(link, dict) or not {"from", "to"} <= set(link):
            msg = f"{path}: add_links[{i}]: a link needs from and to"
            raise ConfigError(msg, path=path, key=f"add_links[{i}]")
        entry = dict(link)
        for end in ("from", "to"):
            entry[end] = list(_point(path, f"add_links[{i}].{end}", link[end], crs))
        links.append(entry)
    closes: list[Any] = []
    for i, item in enumerate(raw.get("close_links", [])):
        if isinstance(item, int) and not isinstance(item, bool):
            closes.append(item)  # an OSM way id
        else:
            closes.append(_point(path, f"close_links[{i}]", item, crs))
    sites = None
    opened = raw.get("open", [])
    if opened:
        rows = []
        for i, site in enumerate(opened):
            if not isinstance(site, dict) or "tier" not in site:
                msg = f"{path}: open[{i}]: a new site needs a tier and lon, lat"
                raise ConfigError(msg, path=path, key=f"open[{i}]")
            lon, lat = _point(path, f"open[{i}]", site, crs)
            rows.append(
                {
                    "facility_id": str(site.get("id", f"NEW{i + 1}")),
                    "name": str(site.get("name", f"新增{i + 1}")),
                    "tier": str(site["tier"]),
                    "lon": lon,
                    "lat": lat,
                }
            )
        sites = gpd.GeoDataFrame(
            [{k: v for k, v in r.items() if k not in ("lon", "lat")} for r in rows],
            geometry=gpd.points_from_xy([r["lon"] for r in rows], [r["lat"] for r in rows]),
            crs="EPSG:4326",
        )
    return ScenarioFile(
        path=path,
        title=str(raw.get("title", path.stem)),
        close=tuple(str(c) for c in close),
        open_sites=sites,
        add_links=tuple(links),
        close_links=tuple(closes),
    )
