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

A first line ``preset = "rural"`` starts from the township and village tiers of TD/T 1062-2021 instead of the
urban ones (:mod:`planner.presets`).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, InputFileNotFound
from .presets import Preset, preset
from .resources import DEFAULT_AREA
from .settings import DEFAULT_ELDERLY_SHARE, AreaSettings, FacilitiesSettings, ServiceSettings
from .tiers import Rules, ServiceRule, SpeedProfile, Tier

__all__ = [
    "DEFAULT_AREA",
    "AreaSettings",
    "FacilitiesSettings",
    "ServiceSettings",
    "StudyArea",
    "rules_from_settings",
    "write_area_toml",
]


def _merge(
    section: str,
    defaults: tuple[Any, ...],
    specs: Mapping[str, BaseModel],
    make: Callable[..., Any],
    *,
    needs: str,
    include: set[str] | None = None,
) -> dict[str, Any]:
    """Defaults updated field by field from ``[section.<key>]`` tables; a new key needs ``needs`` and is made new."""
    merged = {d.key: d for d in defaults}
    for key, spec in specs.items():
        given = spec.model_dump(exclude_none=True, include=include)
        if key in merged:
            merged[key] = replace(merged[key], **given)
        elif needs not in given:
            msg = f"[{section}.{key}]: a new {section.rstrip('s')} needs {needs}"
            raise ValueError(msg)
        else:
            merged[key] = make(key=key, **{"name_zh": key, "name_en": key, **given})
    return merged


def rules_from_settings(settings: AreaSettings) -> Rules:
    """Tiers, profiles, bands and services: the defaults of the area's ``preset`` (:mod:`planner.presets`),
    updated and extended by its tables.

    Raises
    ------
    ValueError
        When a new tier or service has no minutes, or a new profile no speed.
    """
    base = preset(settings.preset)
    tiers = _merge("tiers", base.tiers, settings.tiers, Tier, needs="minutes")
    profiles = {p.key: p for p in base.profiles}
    for key, pspec in settings.profiles.items():
        given = pspec.model_dump(exclude_none=True)
        speed = given.pop("speed_mps", None)
        if "speed_kmh" in given:
            speed = given.pop("speed_kmh") / 3.6
        if speed is not None:
            given["speed_mps"] = speed
        if key not in profiles and speed is None:
            msg = f"[profiles.{key}]: a new profile needs speed_kmh or speed_mps"
            raise ValueError(msg)
        profiles[key] = (
            replace(profiles[key], **given)
            if key in profiles
            else SpeedProfile(key=key, **{"name_zh": key, "name_en": key, **given})
        )
    services = _merge(
        "services",
        base.services,
        settings.services,
        ServiceRule,
        needs="minutes",
        include={"minutes", "name_zh", "name_en", "groups", "aliases"},
    )
    return Rules(
        # with no tier inventory ([facilities]) no tier can be assessed: none is measured, none reported as lacking
        tiers=tuple(tiers.values()) if settings.facilities is not None else (),
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
        text = err["msg"].removeprefix("Value error, ")
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
    def preset(self) -> Preset:
        """The preset the area's tiers and services start from (``preset = "rural"``; default urban)."""
        return preset(self.settings.preset)

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
    osm: str | Path | None,
    facilities: str | Path | None = None,
    facilities_crs: str = "wgs84",
    population: str | Path | None = None,
    population_kind: Literal["grid", "polygons", "points"] = "grid",
    population_column: str = "population",
    elderly_share: float = DEFAULT_ELDERLY_SHARE,
    title_zh: str | None = None,
    title_en: str | None = None,
    service: str | None = None,
    sheet: str | int | None = None,
    outside_km: float | None = None,
) -> Path:
    """Write a study-area TOML file, checked like one read back, with paths relative to it.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``area.toml`` to write (its folder must exist).
    name : str
        Short name of the area; any text (it is quoted by the TOML writer).
    osm, facilities, population : str or pathlib.Path
        The street file (None: no streets, ``[network] mode = "none"``, a straight-line estimate), facility list
        and population source.
    facilities_crs : {"wgs84", "gcj02", "bd09"}
    population_kind : {"grid", "polygons", "points"}
    population_column : str
    elderly_share : float
        Share aged 60+ assumed when the population has no such column.
    title_zh, title_en : str, optional
        Display names (default: ``name``).
    service : str, optional
        The facility list is of this one service with no tier: written as ``[services.<service>] file``.
    sheet : str or int, optional
        The Excel sheet of the facility list.
    outside_km : float, optional
        Rows of the list farther than this from the area are left out and counted (``outside_area = "skip"``,
        ``max_snap_m``), as a district's list reaching beyond the area needs.

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
        "network": {"osm": rel(osm)} if osm is not None else {"mode": "none"},
    }
    listed: dict[str, Any] = {"file": rel(facilities), "crs": facilities_crs} if facilities is not None else {}
    if sheet is not None:
        listed["sheet"] = sheet
    if outside_km is not None and facilities is not None:
        listed |= {"outside_area": "skip", "max_snap_m": outside_km * 1000}
    if facilities is not None and service is not None:
        raw["services"] = {service: listed}
    elif facilities is not None:
        raw["facilities"] = {**listed, "illustrative": False}
    if population is not None:
        raw["population"] = {
            population_kind: rel(population),
            "column": population_column,
            "elderly_share": elderly_share,
        }
    StudyArea.from_dict(raw, path)  # what is written reads back
    path.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return path
