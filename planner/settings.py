"""The sections of a study-area file as typed models: every setting with its default, unit and meaning.

Read by :mod:`planner.area`; each section is a frozen pydantic model that rejects unknown keys, so a typo in
``area.toml`` is reported with the file, the key and a did-you-mean instead of being ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .coords import normalise_crs_name

__all__ = [
    "DEFAULT_ELDERLY_SHARE",
    "AccessSettings",
    "AreaSettings",
    "AssessedIn",
    "ContextSettings",
    "CrowdingSettings",
    "FacilitiesSettings",
    "HoursSettings",
    "IsochroneSettings",
    "NetworkSettings",
    "PopulationCheckSettings",
    "PopulationSettings",
    "ProfileSettings",
    "ServiceSettings",
    "SitesSettings",
    "TierSettings",
    "UnitsSettings",
    "WindowSettings",
]

#: Shanghai's share of residents aged 60+ (7th census, 2020); used only when the population has no age split.
DEFAULT_ELDERLY_SHARE = 0.234


def _crs_name(value: Any) -> Any:
    """Spellings such as ``"GCJ-02"``, ``"gaode"``, ``"EPSG:4326"`` -> the planner's names (planner.coords)."""
    return None if value is None else normalise_crs_name(str(value))


#: A coordinate system as written in a study-area file, checked and normalised by :func:`planner.coords`.
CrsName = Annotated[Literal["wgs84", "gcj02", "bd09"], BeforeValidator(_crs_name)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Section):
    """``[network]``: the street file and how it becomes a walk network, or a straight-line estimate without one."""

    osm: Path | None = Field(None, description="OSM XML street file (.osm, .osm.bz2, .osm.gz); needed with streets")
    mode: Literal["streets", "none"] = Field(
        "streets",
        description='"streets": walk the OSM streets; "none": straight line x detour factor, every figure an estimate',
    )
    detour_factor: float = Field(
        1.25, ge=1.0, le=3.0, description='walking metres per straight-line metre with mode = "none"'
    )

    min_component_km: float = Field(2.0, ge=0, description="km; smaller disconnected street pieces are dropped")
    keep_fragments: bool = Field(False, description="keep every disconnected piece however small")
    clip_to_bounds: bool = Field(True, description="cut segments outside the file's <bounds>")
    max_extent_km: float = Field(150.0, gt=0, description="km; streets spanning more are refused (a broken export)")

    @model_validator(mode="after")
    def _streets_need_a_file(self) -> NetworkSettings:
        if self.mode == "streets" and self.osm is None:
            msg = 'osm: the OSM street file is needed; without streets set mode = "none" (a straight-line estimate)'
            raise ValueError(msg)
        return self


class FacilitiesSettings(_Section):
    """``[facilities]``: the facility list."""

    file: Path = Field(description="CSV, XLSX, GeoJSON or GeoPackage with a tier column")
    crs: CrsName | None = Field(
        None,
        description="coordinate system of the list; unset: the column names' hint (lon_gcj02, 高德经度), else wgs84",
    )
    sheet: str | int | None = Field(None, description="Excel sheet (name or 0-based position); default the first")
    illustrative: bool = Field(False, description="not real positions; said on every output")
    trust_crs: bool = Field(False, description="skip the check that the list fits its crs better than another")
    outside_area: Literal["error", "skip"] = Field(
        "error", description="rows outside the streets' outline: an error, or left out and counted (skip)"
    )
    max_snap_m: float = Field(300.0, gt=0, description="m; a facility farther than this from a street is an error")
    note: str = Field("", description="shown with the data (in Chinese for Chinese reports)")
    note_en: str = Field("", description="the note in English (English reports, GeoPackage descriptions)")


class PopulationCheckSettings(_Section):
    """``[population.check]``: compare the estimate with residential compounds' households, per unit."""

    compounds: Path = Field(description="list of residential compounds (小区) with coordinates and households")
    households_column: str = "households"
    household_size: float = Field(gt=0, le=10, description="people per household (census average)")
    household_size_source: str = ""


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
    elderly_share_source_en: str | None = Field(None, description="the source in English (for English reports)")
    spacing_m: float = Field(50.0, gt=0, description="m; residents of a zone are spread along streets this far apart")
    weights: Literal["auto", "streets", "buildings"] = Field(
        "auto", description="spread by building floor area, street length, or buildings where the file has them"
    )
    note: str = Field("", description="shown with the data (in Chinese for Chinese reports)")
    note_en: str = Field("", description="the note in English (English reports, GeoPackage descriptions)")
    check: PopulationCheckSettings | None = None

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
    crs: CrsName | None = None
    use: Literal["intersections", "file", "both"] | None = Field(
        None, description="default: file when one is given, else street intersections"
    )
    spacing_m: float = Field(150.0, gt=0, description="m; intersections are thinned to one per this distance")
    weight: str = Field("population", description="population, elderly or mix:<share of population>")
    capacity: dict[str, float] = Field(default_factory=dict, description="people one new site of a tier may serve")
    time_limit_s: float = Field(60.0, gt=0, description="s per exact solve; the best solution found is kept")
    method: Literal["exact", "greedy"] = "exact"


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


class AssessedIn(_Section):
    """Where a service's list is complete: residents elsewhere are not assessed for it (未评估), never "0%"."""

    file: Path = Field(description="polygons (e.g. district outlines)")
    column: str = Field(description="the polygons' name column")
    values: tuple[str, ...] = Field(min_length=1, description="the names of the polygons where the list is complete")
    note: str = Field("", description="shown with the data (in Chinese for Chinese reports)")
    note_en: str = Field("", description="the note in English (English reports, GeoPackage descriptions)")


class ServiceSettings(_Section):
    """``[services.<key>]``: a category of service, within how many minutes it should be reachable, for whom,
    and optionally its own facility list (e.g. the district's 社区卫生服务中心, with no tier)."""

    minutes: float | None = Field(None, gt=0, le=240)
    name_zh: str | None = None
    name_en: str | None = None
    groups: tuple[str, ...] | None = Field(None, description="residents it is for: population and/or elderly")
    aliases: tuple[str, ...] | None = None
    file: Path | None = Field(None, description="a list of the facilities offering this service (no tier needed)")
    crs: CrsName | None = None
    sheet: str | int | None = None
    illustrative: bool = False
    trust_crs: bool = False
    outside_area: Literal["error", "skip"] = "error"
    max_snap_m: float = Field(300.0, gt=0, description="m; a facility farther than this from a street is an error")
    assessed_in: AssessedIn | None = Field(None, description="only where the list is complete")
    note: str = Field("", description="shown with the data (in Chinese for Chinese reports)")
    note_en: str = Field("", description="the note in English (English reports, GeoPackage descriptions)")


class ContextSettings(_Section):
    """``[context.<key>]``: a layer shown for context only (hospitals, 120 stations), not a life-circle service."""

    file: Path = Field(description="CSV/XLSX list with name and coordinates")
    crs: CrsName | None = None
    name_zh: str = ""
    name_en: str = ""
    licence: str = Field("none stated", description="the data's licence, shown with the layer")
    source: str = Field("", description="where the list comes from, shown with the layer")


class WindowSettings(_Section):
    """One ``[[hours.windows]]`` entry: a named time of the week in which residents look for a service."""

    key: str = Field(description="identifier used in column names, e.g. weekday_evening")
    days: list[int] = Field(description="days of the week, 0 = Monday .. 6 = Sunday")
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM, after start, the same day (24:00 allowed)")
    name_zh: str = ""
    name_en: str = ""


class HoursSettings(_Section):
    """``[hours]``: the time windows coverage is measured in, for facilities that list opening hours."""

    windows: list[WindowSettings] | None = Field(
        None, description="default: weekday daytime 09-17, weekday evening 18-21, weekend daytime 09-17"
    )
    min_share: float = Field(
        0.5, gt=0, le=1, description="share of a window's minutes a facility must be open in to count as open"
    )


class CrowdingSettings(_Section):
    """``[crowding]``: supply and demand of facilities (two-step floating catchment on walking times)."""

    enabled: bool = Field(True, description="measure people per facility within its catchment against capacity")
    decay: list[tuple[float, float]] | None = Field(
        None,
        description="E2SFCA (upper minute, weight) steps; default 5/10/15 min at 1.0/0.68/0.22; [] for plain 2SFCA",
    )
    people_per_unit: float = Field(1.0, gt=0, description="people per unit of a 容量 column (beds, seats)")


class AreaSettings(_Section):
    """Everything in ``area.toml``, checked."""

    preset: Literal["urban", "rural"] = Field(
        "urban",
        description=(
            "the defaults tiers and services start from (planner.presets): urban = 社区服务中心 / 家门口服务站 / "
            "家门口服务点 at 15 / 10 / 5 min (GB 50180-2018); rural = TD/T 1062-2021's township tier "
            "(乡镇级社区服务中心, 30 min) and village/group tier (村级服务站, 15 min), minutes to confirm; "
            "[tiers.x] and [services.x] tables still update them"
        ),
    )
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
    hours: HoursSettings = HoursSettings()
    crowding: CrowdingSettings = CrowdingSettings()
    tiers: dict[str, TierSettings] = Field(default_factory=dict)
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    services: dict[str, ServiceSettings] = Field(default_factory=dict)
    context: dict[str, ContextSettings] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
