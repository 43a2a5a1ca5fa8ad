"""Study areas: one small TOML file says where a district's data is and which rules apply.

Example (paths are relative to the TOML file)::

    name = "shanghai-central"
    title_zh = "上海中心城区"
    title_en = "Central Shanghai"

    [network]
    osm = "roads.osm.bz2"        # OSM XML (.osm, .osm.bz2, .osm.gz)

    [facilities]
    file = "facilities.csv"      # CSV / XLSX / GeoJSON / GeoPackage with a tier column
    crs = "wgs84"                # or "gcj02", "bd09"
    illustrative = false         # true: not real positions; said on every output

    [population]
    grid = "pop_grid_1km.csv"

    [isochrones]
    bands = [5, 10, 15]

    [tiers.station]
    minutes = 8

    [profiles.elderly]
    speed_mps = 0.7
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .network import WalkNetwork, load_network
from .tiers import DEFAULT_BANDS, Rules, profiles_from_config, services_from_config, tiers_from_config

__all__ = ["DEFAULT_AREA", "StudyArea"]

#: The embedded default study area (central Shanghai).
from .resources import DEFAULT_AREA

_SECTIONS: dict[str, set[str]] = {
    "network": {"osm", "min_component_km", "keep_fragments", "clip_to_bounds"},
    "facilities": {"file", "crs", "illustrative", "max_snap_m", "note"},
    "population": {"grid", "points", "polygons", "column", "elderly_column", "elderly_share",
                   "elderly_share_source", "spacing_m", "weights", "note"},
    "isochrones": {"bands", "corridor_m", "method"},
    "access": {"horizon_min"},
    "tiers": None,
    "profiles": None,
    "services": None,
    "units": {"file", "name_column", "grid_km"},
    "sites": {"file", "crs", "spacing_m", "use", "capacity", "weight"},
    "provenance": None,
}
_TOP = {"name", "title_zh", "title_en", "description"}


@dataclass
class StudyArea:
    """Everything one planning run needs to know about a district.

    Attributes
    ----------
    name : str
        Short identifier (used for output folder names).
    title_zh, title_en : str
        Display names.
    root : pathlib.Path
        Folder the TOML file is in; relative paths resolve against it.
    config : dict
        The parsed TOML.
    rules : Rules
        Tiers, speed profiles and isochrone bands.
    """

    name: str
    title_zh: str
    title_en: str
    root: Path
    config: dict[str, Any]
    rules: Rules = field(default_factory=Rules)

    @classmethod
    def from_toml(cls, path: str | Path) -> "StudyArea":
        """Read and check a study-area TOML file.

        Raises
        ------
        FileNotFoundError
            When the TOML file, or a file it names, does not exist.
        ValueError
            On unknown sections or keys, or bad values (the message names them).
        """
        path = Path(path)
        if not path.is_file():
            msg = f"study-area file not found: {path}"
            raise FileNotFoundError(msg)
        try:
            config = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            msg = f"{path}: not valid TOML ({exc})"
            raise ValueError(msg) from None
        for key, value in config.items():
            if key in _TOP:
                continue
            if key not in _SECTIONS:
                msg = f"{path}: unknown section or key {key!r} (known: {', '.join(sorted(_TOP | set(_SECTIONS)))})"
                raise ValueError(msg)
            allowed = _SECTIONS[key]
            if allowed is not None and isinstance(value, dict):
                unknown = set(value) - allowed
                if unknown:
                    msg = f"{path}: [{key}] has unknown key(s) {sorted(unknown)} (known: {sorted(allowed)})"
                    raise ValueError(msg)
        if "osm" not in config.get("network", {}):
            msg = f"{path}: [network] needs osm = \"<file>.osm.bz2\""
            raise ValueError(msg)
        try:
            rules = Rules(tiers=tiers_from_config(config.get("tiers")),
                          profiles=profiles_from_config(config.get("profiles")),
                          bands=tuple(float(b) for b in config.get("isochrones", {}).get("bands", DEFAULT_BANDS)),
                          services=services_from_config(config.get("services")))
        except (ValueError, TypeError) as exc:
            msg = f"{path}: {exc}"
            raise ValueError(msg) from None
        area = cls(name=str(config.get("name", path.parent.name)),
                   title_zh=str(config.get("title_zh", config.get("name", path.parent.name))),
                   title_en=str(config.get("title_en", config.get("name", path.parent.name))),
                   root=path.parent.resolve(), config=config, rules=rules)
        for section, key in (("network", "osm"), ("facilities", "file"), ("population", "grid"),
                             ("population", "points"), ("population", "polygons"), ("units", "file"), ("sites", "file")):
            name = config.get(section, {}).get(key)
            if name is not None and not area.path(name).is_file():
                msg = f"{path}: [{section}] {key} = {name!r}: file not found at {area.path(name)}"
                raise FileNotFoundError(msg)
        return area

    @classmethod
    def default(cls) -> "StudyArea":
        """The embedded default study area (central Shanghai, illustrative facilities)."""
        return cls.from_toml(DEFAULT_AREA)

    def path(self, name: str) -> Path:
        """Resolve a path named in the TOML file."""
        p = Path(name)
        return p if p.is_absolute() else self.root / p

    def section(self, name: str) -> dict[str, Any]:
        """A TOML section as a dict (empty when absent)."""
        return dict(self.config.get(name, {}))

    @property
    def facilities_illustrative(self) -> bool:
        """Whether the facility inventory is illustrative rather than real."""
        return bool(self.section("facilities").get("illustrative", False))

    def load_network(self, *, use_cache: bool = True) -> WalkNetwork:
        """Build or load from cache the area's walk network."""
        net = self.section("network")
        return load_network(self.path(net["osm"]), clip_to_bounds=bool(net.get("clip_to_bounds", True)),
                            min_component_km=float(net.get("min_component_km", 2.0)),
                            keep_fragments=bool(net.get("keep_fragments", False)), use_cache=use_cache)
