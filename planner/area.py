"""The study-area model: every setting of a district's planning run, typed, with its default, unit and meaning.

A study area is one small TOML file; paths in it are relative to the file::

    name = "shanghai-central"
    title_zh = "上海中心城区"

    [network]
    osm = "roads.osm.bz2"          # OSM XML (.osm, .osm.bz2, .osm.gz)

    [facilities]
    file = "facilities.csv"        # CSV / XLSX / GeoJSON / GeoPackage with a tier column
    crs = "gcj02"                  # wgs84 (default), gcj02 or bd09

    [population]
    grid = "pop_grid_1km.csv"

    [tiers.station]
    minutes = 8

    [profiles.child]               # any number of walking profiles, each measured for a group
    speed_mps = 1.0
    group = "population"

Reading checks everything at once: unknown sections and keys (with a
did-you-mean), wrong types, values out of range, files that do not exist. The
command line and the HTTP service override fields of the same model
(:meth:`StudyArea.with_overrides`), so one rule holds everywhere.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, InputFileNotFound
from .resources import DEFAULT_AREA
from .tiers import DEFAULT_PROFILES, DEFAULT_SERVICES, DEFAULT_TIERS, Rules, ServiceRule, SpeedProfile, Tier

__all__ = [
    "DEFAULT_AREA",
    "AreaSettings",
    "FacilitiesSettings",
    "ServiceSettings",
    "StudyArea",
    "rules_from_settings",
    "write_area_toml",
]

#: Shanghai's share of residents aged 60+ (7th census, 2020); used only when the population has no age split.
DEFAULT_ELDERLY_SHARE = 0.234


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Section):
    """``[network]``: the street file and how it becomes a walk network."""

    osm: Path = Field(description="OSM XML street file (.osm, .osm.bz2, .osm.gz)")
    min_component_km: float = Field(2.0, ge=0, description="km; smaller disconnected street pieces are dropped")
    keep_fragments: bool = Field(False, description="keep every disconnected piece however small")
    clip_to_bounds: bool = Field(True, description="cut segments outside the file's <bounds>")


class FacilitiesSettings(_Section):
    """``[facilities]``: the facility list."""

    file: Path = Field(description="CSV, XLSX, GeoJSON or GeoPackage with a tier column")
    crs: Literal["wgs84", "gcj02", "bd09"] | None = Field(
        None,
        description="coordinate system of the list; unset: the column names' hint (lon_gcj02, 高德经度), else wgs84",
    )
    sheet: str | int | None = Field(None, description="Excel sheet (name or 0-based position); default the first")
    illustrative: bool = Field(False, description="not real positions; said on every output")
    trust_crs: bool = Field(False, description="skip the check that the list fits its crs better than another")
    max_snap_m: float = Field(300.0, gt=0, description="m; a facility farther than this from a street is an error")
    note: str = ""

    @field_validator("crs", mode="before")
    @classmethod
    def _crs_alias(cls, value: Any) -> Any:
        aliases = {
            "wgs-84": "wgs84",
            "epsg:4326": "wgs84",
            "gcj-02": "gcj02",
            "gaode": "gcj02",
            "amap": "gcj02",
            "bd-09": "bd09",
            "baidu": "bd09",
            "bd09ll": "bd09",
        }
        return aliases.get(str(value).strip().lower(), str(value).strip().lower())


class PopulationSettings(_Section):
    """``[population]``: where residents live (exactly one of grid, polygons, points)."""

    grid: Path | None = Field(None, description="population per grid cell (CSV of cell bounds, or polygons)")
    polygons: Path | None = Field(None, description="population per polygon")
    points: Path | None = Field(None, description="population per point")
    column: str = Field("population", description="column holding the number of residents")
    elderly_column: str | None = Field(None, description="column holding residents aged 60+, when known")
    elderly_share: float = Field(
        DEFAULT_ELDERLY_SHARE, ge=0, le=1, description="share aged 60+ assumed when there is no elderly column"
    )
    elderly_share_source: str | None = None
    spacing_m: float = Field(50.0, gt=0, description="m; residents of a zone are spread along streets this far apart")
    weights: Literal["auto", "streets", "buildings"] = Field(
        "auto", description="spread by building floor area, street length, or buildings where the file has them"
    )
    note: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> PopulationSettings:
        given = [k for k in ("grid", "polygons", "points") if getattr(self, k) is not None]
        if len(given) != 1:
            msg = f"give exactly one of grid, polygons or points (given: {', '.join(given) or 'none'})"
            raise ValueError(msg)
        return self

    @property
    def source(self) -> tuple[str, Path]:
        """The kind (``grid``, ``polygons`` or ``points``) and path of the population source."""
        kind = next(k for k in ("grid", "polygons", "points") if getattr(self, k) is not None)
        return kind, getattr(self, kind)


class IsochroneSettings(_Section):
    """``[isochrones]``: walking bands drawn around facilities."""

    bands: tuple[float, ...] = Field((5.0, 10.0, 15.0), min_length=1, description="minutes")
    corridor_m: float = Field(50.0, ge=0, description="m; half-width of the walkable corridor around streets")
    method: Literal["edges", "hull"] = Field("edges", description="street-accurate shapes or convex hulls")

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < b <= 240 for b in value):
            msg = f"each band must be in (0, 240] minutes, got {list(value)}"
            raise ValueError(msg)
        return value


class AccessSettings(_Section):
    """``[access]``: how far the walking search goes."""

    horizon_min: float = Field(60.0, gt=0, le=600, description="minutes; farther is unreachable")


class UnitsSettings(_Section):
    """``[units]``: the areas figures are reported for (administrative polygons, or a grid)."""

    file: Path | None = Field(None, description="polygons of 街道/居委 (GeoJSON, GeoPackage, Shapefile)")
    name_column: str = Field("name", description="column with each unit's name")
    grid_km: float = Field(1.0, gt=0, description="km; cell size of the grid used when no file is given")


class SitesSettings(_Section):
    """``[sites]``: candidate sites and the solver for proposing new facilities."""

    file: Path | None = Field(None, description="available sites (idle buildings, plots)")
    crs: Literal["wgs84", "gcj02", "bd09"] | None = None
    use: Literal["intersections", "file", "both"] | None = Field(
        None, description="default: file when one is given, else street intersections"
    )
    spacing_m: float = Field(150.0, gt=0, description="m; intersections are thinned to one per this distance")
    weight: str = Field("population", description="population, elderly or mix:<share of population>")
    capacity: dict[str, float] = Field(default_factory=dict, description="people one new site of a tier may serve")
    time_limit_s: float = Field(60.0, gt=0, description="s per exact solve; the best solution found is kept")
    method: Literal["exact", "greedy"] = "exact"

    _crs_alias = field_validator("crs", mode="before")(FacilitiesSettings._crs_alias.__func__)  # type: ignore[attr-defined]


class TierSettings(_Section):
    """``[tiers.<key>]``: a level of the community service system (defaults: center, station, point)."""

    minutes: float | None = Field(None, gt=0, le=240, description="walking target in minutes")
    name_zh: str | None = None
    name_en: str | None = None
    population_served: tuple[int, int] | None = Field(None, description="GB 50180 band of people one serves")
    aliases: tuple[str, ...] | None = Field(None, description="other names lists use for the tier")


class ProfileSettings(_Section):
    """``[profiles.<key>]``: a walking speed and the group of residents it is measured for."""

    speed_kmh: float | None = Field(None, gt=0, description="km/h")
    speed_mps: float | None = Field(None, gt=0, description="m/s")
    name_zh: str | None = None
    name_en: str | None = None
    group: str | None = Field(None, description="residents this profile is for: population (everyone) or elderly")

    @model_validator(mode="after")
    def _one_speed(self) -> ProfileSettings:
        if self.speed_kmh is not None and self.speed_mps is not None:
            msg = "give speed_kmh or speed_mps, not both"
            raise ValueError(msg)
        return self


class ServiceSettings(_Section):
    """``[services.<key>]``: a category of service, within how many minutes it should be reachable, for whom,
    and optionally its own facility list (e.g. the district's 社区卫生服务中心, with no tier)."""

    minutes: float | None = Field(None, gt=0, le=240)
    name_zh: str | None = None
    name_en: str | None = None
    groups: tuple[str, ...] | None = Field(None, description="residents it is for: population and/or elderly")
    aliases: tuple[str, ...] | None = None
    file: Path | None = Field(None, description="a list of the facilities offering this service (no tier needed)")
    crs: Literal["wgs84", "gcj02", "bd09"] | None = None
    sheet: str | int | None = None
    illustrative: bool = False
    trust_crs: bool = False
    max_snap_m: float = Field(300.0, gt=0, description="m; a facility farther than this from a street is an error")
    note: str = ""

    _crs_alias = field_validator("crs", mode="before")(FacilitiesSettings._crs_alias.__func__)  # type: ignore[attr-defined]


class AreaSettings(_Section):
    """Everything in ``area.toml``, checked."""

    name: str | None = None
    title_zh: str | None = None
    title_en: str | None = None
    description: str = ""
    network: NetworkSettings
    facilities: FacilitiesSettings | None = None
    population: PopulationSettings | None = None
    isochrones: IsochroneSettings = IsochroneSettings()
    access: AccessSettings = AccessSettings()
    units: UnitsSettings = UnitsSettings()
    sites: SitesSettings = SitesSettings()
    tiers: dict[str, TierSettings] = Field(default_factory=dict)
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    services: dict[str, ServiceSettings] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)


def rules_from_settings(settings: AreaSettings) -> Rules:
    """Tiers, profiles, bands and services: the defaults, updated and extended by the area's tables.

    Raises
    ------
    ValueError
        When a new tier or service has no minutes, or a new profile no speed.
    """
    tiers = {t.key: t for t in DEFAULT_TIERS}
    for key, spec in settings.tiers.items():
        given = spec.model_dump(exclude_none=True)
        if key in tiers:
            tiers[key] = replace(tiers[key], **given)
        elif spec.minutes is None:
            msg = f"[tiers.{key}]: a new tier needs minutes"
            raise ValueError(msg)
        else:
            tiers[key] = Tier(key=key, **{"name_zh": key, "name_en": key, **given})
    profiles = {p.key: p for p in DEFAULT_PROFILES}
    for key, pspec in settings.profiles.items():
        given = pspec.model_dump(exclude_none=True)
        speed = given.pop("speed_mps", None)
        if "speed_kmh" in given:
            speed = given.pop("speed_kmh") / 3.6
        if key in profiles:
            profiles[key] = replace(profiles[key], **given, **({} if speed is None else {"speed_mps": speed}))
        elif speed is None:
            msg = f"[profiles.{key}]: a new profile needs speed_kmh or speed_mps"
            raise ValueError(msg)
        else:
            profiles[key] = SpeedProfile(key, speed, **{"name_zh": key, "name_en": key, **given})
    services = {s.key: s for s in DEFAULT_SERVICES}
    for key, sspec in settings.services.items():
        given = sspec.model_dump(exclude_none=True, include={"minutes", "name_zh", "name_en", "groups", "aliases"})
        if key in services:
            services[key] = replace(services[key], **given)
        elif sspec.minutes is None:
            msg = f"[services.{key}]: a new service needs minutes"
            raise ValueError(msg)
        else:
            services[key] = ServiceRule(key=key, **{"name_zh": key, "name_en": key, **given})
    return Rules(
        tiers=tuple(tiers.values()),
        profiles=tuple(profiles.values()),
        bands=tuple(float(b) for b in settings.isochrones.bands),
        services=tuple(services.values()),
    )


def _explain(path: Path, exc: ValidationError) -> str:
    """One line per problem: ``[section] key: what is wrong`` with a did-you-mean for unknown keys."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        where = f"[{'.'.join(loc[:-1])}] {loc[-1]}" if len(loc) > 1 else (loc[0] if loc else "")
        text = err["msg"]
        if err["type"] == "extra_forbidden":
            model: type[BaseModel] = AreaSettings
            for part in loc[:-1]:
                ann = model.model_fields.get(part)
                inner = getattr(ann, "annotation", None) if ann else None
                for cand in (inner, *getattr(inner, "__args__", ())):
                    if isinstance(cand, type) and issubclass(cand, BaseModel):
                        model = cand
                        break
            known = list(model.model_fields)
            close = difflib.get_close_matches(loc[-1], known, n=1)
            text = f"unknown key{f'; did you mean {close[0]!r}?' if close else ''} (known: {', '.join(known)})"
        lines.append(f"{where}: {text}" if where else text)
    return f"{path}: " + "; ".join(lines)


@dataclass(frozen=True)
class StudyArea:
    """A district's planning settings, read from its TOML file and checked.

    Attributes
    ----------
    file : pathlib.Path
        The ``area.toml`` (absolute); relative paths in it resolve against its folder.
    settings : AreaSettings
        Every setting, with defaults filled in.
    rules : Rules
        Tiers, walking profiles, isochrone bands and service targets in force.
    """

    file: Path
    settings: AreaSettings
    rules: Rules

    @classmethod
    def from_toml(cls, path: str | Path) -> StudyArea:
        """Read and check a study-area TOML file.

        Raises
        ------
        InputFileNotFound
            When the TOML file, or a file it names, does not exist.
        ConfigError
            On unknown sections or keys, wrong types or values out of range (the message names each).
        """
        path = Path(path)
        if not path.is_file():
            msg = f"study-area file not found: {path}"
            raise InputFileNotFound(msg, path=path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"{path}: not valid UTF-8 TOML ({exc})"
            raise ConfigError(msg, path=path) from None
        return cls.from_dict(raw, path)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: str | Path) -> StudyArea:
        """Check settings given as a dict (as parsed from TOML); ``path`` is where relative paths resolve."""
        path = Path(path).resolve()
        try:
            settings = AreaSettings.model_validate(raw)
            rules = rules_from_settings(settings)
        except ValidationError as exc:
            raise ConfigError(_explain(path, exc), path=path) from None
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}", path=path) from None
        area = cls(file=path, settings=settings, rules=rules)
        area.check_files()
        return area

    @classmethod
    def default(cls) -> StudyArea:
        """The embedded default study area (central Shanghai)."""
        return cls.from_toml(DEFAULT_AREA)

    def check_files(self) -> None:
        """Raise :class:`~planner.errors.InputFileNotFound` for the first named file that does not exist."""
        s = self.settings
        named: list[tuple[str, str, Path | None]] = [("network", "osm", s.network.osm)]
        if s.facilities:
            named.append(("facilities", "file", s.facilities.file))
        if s.population:
            named.append(("population", *s.population.source))
        named += [("units", "file", s.units.file), ("sites", "file", s.sites.file)]
        named += [(f"services.{key}", "file", spec.file) for key, spec in s.services.items()]
        for section, key, name in named:
            if name is not None and not self.path(name).is_file():
                msg = f"{self.file}: [{section}] {key} = {str(name)!r}: file not found at {self.path(name)}"
                raise InputFileNotFound(msg, path=self.path(name))

    @property
    def root(self) -> Path:
        """Folder of the TOML file."""
        return self.file.parent

    @property
    def name(self) -> str:
        """Short identifier (output folder names); default: the folder's name."""
        return self.settings.name or self.root.name

    @property
    def title_zh(self) -> str:
        """Chinese display name."""
        return self.settings.title_zh or self.name

    @property
    def title_en(self) -> str:
        """English display name."""
        return self.settings.title_en or self.name

    @property
    def facilities_illustrative(self) -> bool:
        """Whether the facility inventory is illustrative rather than real."""
        return bool(self.settings.facilities and self.settings.facilities.illustrative)

    def path(self, name: str | Path) -> Path:
        """Resolve a path named in the TOML file."""
        p = Path(name)
        return p if p.is_absolute() else self.root / p

    def with_overrides(self, **sections: dict[str, Any]) -> StudyArea:
        """A copy with some settings replaced, checked like the file.

        Parameters
        ----------
        **sections : dict
            Per section, the keys to replace, e.g. ``tiers={"station": {"minutes": 8}}``,
            ``profiles={"elderly": {"speed_mps": 0.7}}``, ``isochrones={"bands": [5, 10]}``.
            Tables of tiers, profiles and services are merged key by key.

        Returns
        -------
        StudyArea
        """
        raw = self.settings.model_dump(exclude_unset=True, mode="python")
        for section, values in sections.items():
            current = dict(raw.get(section) or {})
            if section in {"tiers", "profiles", "services"}:
                for key, spec in values.items():
                    current[key] = {**(current.get(key) or {}), **spec}
            else:
                current.update(values)
            raw[section] = current
        return StudyArea.from_dict(raw, self.file)


def write_area_toml(
    path: str | Path,
    *,
    name: str,
    osm: str | Path,
    facilities: str | Path | None = None,
    facilities_crs: str = "wgs84",
    population: str | Path | None = None,
    population_kind: Literal["grid", "polygons", "points"] = "grid",
    population_column: str = "population",
    elderly_share: float = DEFAULT_ELDERLY_SHARE,
    title_zh: str | None = None,
    title_en: str | None = None,
) -> Path:
    """Write a study-area TOML file, checked like one read back, with paths relative to it.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``area.toml`` to write (its folder must exist).
    name : str
        Short name of the area; any text (it is quoted by the TOML writer).
    osm, facilities, population : str or pathlib.Path
        The street file, facility list and population source.
    facilities_crs : {"wgs84", "gcj02", "bd09"}
    population_kind : {"grid", "polygons", "points"}
    population_column : str
    elderly_share : float
        Share aged 60+ assumed when the population has no such column.
    title_zh, title_en : str, optional
        Display names (default: ``name``).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    root = path.parent.resolve()

    def rel(p: str | Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), root)).as_posix()

    raw: dict[str, Any] = {
        "name": name,
        "title_zh": title_zh or name,
        "title_en": title_en or name,
        "network": {"osm": rel(osm)},
    }
    if facilities is not None:
        raw["facilities"] = {"file": rel(facilities), "crs": facilities_crs, "illustrative": False}
    if population is not None:
        raw["population"] = {
            population_kind: rel(population),
            "column": population_column,
            "elderly_share": elderly_share,
        }
    StudyArea.from_dict(raw, path)  # what is written reads back
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path
