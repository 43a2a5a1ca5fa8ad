"""Request and response models: field limits and examples make /docs a usable manual."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

Crs = Literal["wgs84", "gcj02", "bd09"]

#: A JSON number: an integer or a float, never a boolean or a string ("lat": false is not 0.0), never NaN.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class LonLat(BaseModel):
    """A point in degrees."""

    model_config = ConfigDict(extra="forbid")

    lon: Number = Field(..., ge=-180, le=180, description="Longitude in degrees", examples=[121.4737])
    lat: Number = Field(..., ge=-90, le=90, description="Latitude in degrees", examples=[31.2304])

    @model_validator(mode="before")
    @classmethod
    def _swapped(cls, data):
        if isinstance(data, dict):
            lon, lat = data.get("lon"), data.get("lat")
            if _number(lon) and _number(lat) and abs(lat) > 90 >= abs(lon):
                msg = f"lat {lat} is outside -90..90 while lon {lon} would fit: longitude and latitude look swapped"
                raise ValueError(msg)
        return data


def _number(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class QueryPoint(LonLat):
    """A point to check, with an optional id echoed back."""

    id: str | None = Field(None, max_length=100, description="Your id for the point", examples=["addr-1"])


class CoverageRequest(BaseModel):
    """Points to check; up to 10,000 per request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "points": [{"lon": 121.4737, "lat": 31.2304, "id": "people-square"}, {"lon": 121.44, "lat": 31.21}],
                    "profile": "adult",
                    "crs": "wgs84",
                }
            ]
        },
    )

    points: list[QueryPoint] = Field(..., min_length=1, max_length=10_000)
    profile: str | None = Field(
        None,
        max_length=50,
        description="Walking profile (GET /tiers lists them); default: the profile measured for everyone",
    )
    crs: Crs = Field("wgs84", description="Coordinate system of the points (answers are WGS-84)")
    window: str | None = Field(
        None,
        max_length=50,
        description="A time window of the area (by default weekday_day, weekday_evening, weekend_day; a 422"
        " lists the area's): minutes to the facilities open in it, a facility listing no hours counted as open;"
        " default: every facility",
        examples=["weekday_evening"],
    )


class FacilityRef(BaseModel):
    """A facility of the study area."""

    id: str = Field(examples=["CHC012"])
    name: str | None = Field(description="Its name in the facility list (null when the list has none)")


class PointCoverage(BaseModel):
    """Walking access from one point."""

    id: str | None
    lon: float = Field(description="WGS-84 longitude, rounded to 6 decimals")
    lat: float = Field(description="WGS-84 latitude, rounded to 6 decimals")
    inside_area: bool = Field(description="Within 500 m of a street of the study area (the rule of every endpoint)")
    reason: str | None = Field(
        description="Why the point is not assessed (null when it is)",
        examples=["more than 500 m from any street of the study area"],
    )
    snap_distance_m: float | None = Field(description="Straight line from the point to its street; null outside")
    minutes: dict[str, float | None] = Field(
        description="Minutes to the nearest facility per tier; null outside the area or when none is in reach"
    )
    covered: dict[str, bool | None] = Field(description="Within the tier's walking target; null outside the area")
    nearest_facility: dict[str, FacilityRef | None] = Field(description="Per tier; null when none is in reach")


class WindowAnswer(BaseModel):
    """The time window the minutes were measured in."""

    key: str = Field(examples=["weekday_evening"])
    name_zh: str = Field(examples=["工作日晚间"])
    name_en: str = Field(examples=["weekday evening"])
    days: list[int] = Field(description="Days of the week, 0 = Monday … 6 = Sunday", examples=[[0, 1, 2, 3, 4]])
    start: str = Field(examples=["18:00"])
    end: str = Field(examples=["21:00"])
    open_facilities: int = Field(description="Facilities open in it (those listing no hours included)")
    without_hours: int = Field(description="Of those, facilities that list no hours and are counted as open")


class CoverageResponse(BaseModel):
    """Answers in the order of the request's points."""

    profile: str
    window: WindowAnswer | None = Field(None, description="The request's time window; null for every facility")
    results: list[PointCoverage]


class IsochroneRequest(BaseModel):
    """Origins (up to 100) and time bands (up to 12, each 1-60 minutes)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"origins": [{"lon": 121.4737, "lat": 31.2304}], "bands": [5, 10, 15], "profile": "elderly"}]
        },
    )

    origins: list[LonLat] = Field(..., min_length=1, max_length=100)
    bands: list[Annotated[Number, Field(ge=1, le=60)]] = Field(
        [5, 10, 15], min_length=1, max_length=12, description="Minutes, each 1-60"
    )
    profile: str | None = Field(None, max_length=50, description="Walking profile (GET /tiers lists them)")
    crs: Crs = "wgs84"
    method: Literal["edges", "hull"] = "edges"


class NewSite(LonLat):
    """A facility to open in a what-if."""

    tier: str = Field(..., examples=["station"])
    id: str | None = Field(None, min_length=1, max_length=100, description="Default NEW1, NEW2, … in order")
    name: str | None = Field(None, max_length=200, description="A name to show for it")


class NewLink(BaseModel):
    """A walking link to add in a what-if: a compound's side gate, a footbridge, a new path."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: LonLat = Field(..., alias="from", description="One end, in the request's crs")
    end: LonLat = Field(..., alias="to", description="The other end, in the request's crs")
    length_m: Annotated[Number, Field(gt=0, le=50_000)] | None = Field(
        None, description="Its walking length in metres; default: the straight line between the ends"
    )
    name: str | None = Field(None, max_length=200, description="A name to show for it", examples=["新开侧门"])


class ClosePoint(LonLat):
    """A street to close: the street segment nearest this point (within 30 m), in the request's crs."""


class CloseWay(BaseModel):
    """A street to close: every segment of one OSM way."""

    model_config = ConfigDict(extra="forbid")

    way_id: int = Field(..., ge=1, le=2**53, description="The OSM way id", examples=[25830476])


class WhatIfRequest(BaseModel):
    """Close facilities (by id) and/or open sites, add walking links and close streets; the served state is
    not changed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"close": ["S001"], "open": [{"lon": 121.45, "lat": 31.22, "tier": "station"}]},
                {
                    "add_links": [
                        {"from": {"lon": 121.4402879, "lat": 31.2567142}, "to": {"lon": 121.4394984, "lat": 31.2564847}}
                    ],
                    "close_links": [{"lon": 121.4428, "lat": 31.2308}],
                },
            ]
        },
    )

    close: list[str] = Field([], max_length=1000)
    open: list[NewSite] = Field([], max_length=1000)
    add_links: list[NewLink] = Field(
        [], max_length=50, description="Walking links to add; each end joins the nearest open street within 100 m"
    )
    close_links: list[ClosePoint | CloseWay] = Field(
        [], max_length=50, description="Streets to close: a point on the street, or an OSM way id"
    )
    crs: Crs = "wgs84"
    changed_minutes: bool = Field(
        False, description="Also answer the residents whose minutes changed, as GeoJSON points (can be large)"
    )


class TierChange(BaseModel):
    """Coverage of one tier and profile before and after."""

    covered_share_before: float
    covered_share_after: float
    gain_people: int
    gain_elderly: int
    loss_people: int
    loss_elderly: int


class Gain(BaseModel):
    """People newly within the tier's target whose nearest facility of the tier is this site."""

    people: int
    elderly: int


class SiteAnswer(BaseModel):
    """What became of one site of the request's ``open`` list (in its order)."""

    id: str
    name: str | None
    tier: str
    lon: float = Field(description="WGS-84, rounded to 6 decimals")
    lat: float = Field(description="WGS-84, rounded to 6 decimals")
    opened: bool = Field(description="False when the site is outside the study area")
    snap_distance_m: float | None = Field(description="From the site to its street; null outside the area")
    gain: dict[str, Gain] = Field(description="Per profile; all zero for a site not opened")
    adds_nobody: bool = Field(description="Opened, but nobody newly covered has it as their nearest")
    reason: str | None = Field(description="Why it was not opened, or why it adds nobody (null otherwise)")


class UnitChange(BaseModel):
    """Residents of one unit (街道, or grid cell) newly covered or no longer covered for a tier and profile."""

    unit: str = Field(description="The unit's name; （研究区外） for residents in no unit", examples=["外滩街道"])
    tier: str
    profile: str
    gain_people: int
    gain_elderly: int
    loss_people: int
    loss_elderly: int


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946); coordinates are WGS-84 rounded to 6 decimals."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class ServiceChange(BaseModel):
    """Residents newly within, or no longer within, a service's minutes (where the service is assessed)."""

    gain_people: int
    gain_elderly: int
    loss_people: int
    loss_elderly: int


class UnitServiceChange(BaseModel):
    """As :class:`UnitChange`, for a service (health, meals …) instead of a tier."""

    unit: str
    service: str
    profile: str
    gain_people: int
    gain_elderly: int
    loss_people: int
    loss_elderly: int


class EditEffectAnswer(BaseModel):
    """What one street edit changes by itself, the other edits and facility changes staying as they are."""

    label: str = Field(description="Which edit: add_links[0] (its name), close_links[1] (way 123) …")
    kind: Literal["add", "close"]
    residents: int = Field(description="Resident points whose minutes to some tier or service change with it")
    people: int
    elderly: int
    proved: bool = Field(description="Shown to change nothing without a search (no shortest walk can use it)")
    changes_nothing: bool
    note_zh: str | None = Field(description="The sentence saying it changes nothing (null when it changes some)")
    note_en: str | None


class WhatIfResponse(BaseModel):
    """Per tier and profile, e.g. ``station`` / ``adult``, and what became of each site and street edit."""

    closed: list[FacilityRef]
    sites: list[SiteAnswer]
    notes: list[str] = Field(
        description="Sites not opened or adding nobody, street edits that change nothing, or a scenario that "
        "changes nothing"
    )
    notes_zh: list[str] = Field(
        [], description="The planner's sentences for people (Chinese): street edits or a scenario changing nothing"
    )
    tiers: dict[str, dict[str, TierChange]]
    service_change: dict[str, dict[str, ServiceChange]] = Field(
        {}, description="Per service and profile it is measured for (GET /tiers lists the services)"
    )
    units: list[UnitChange] = Field(
        [], description="Per unit, tier and profile with any change (none listed when the area has no units)"
    )
    service_units: list[UnitServiceChange] = Field([], description="Per unit, service and profile with any change")
    edit_effects: list[EditEffectAnswer] = Field([], description="Per street edit, in order (add_links first)")
    minutes_changed: int = Field(0, description="Resident points whose minutes to some tier or service changed")
    changed_minutes: FeatureCollection | None = Field(
        None,
        description="When asked: the residents whose minutes changed (points; <column>_before/_after, rounded)",
    )


class UnderservedPage(FeatureCollection):
    """One page of resident points, most people first, with the paging members beside ``features``."""

    total: int = Field(description="Residents matching the query, on every page together")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


def geojson(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A 200 answer of ``application/geo+json`` with ``model``'s schema (declared, not validated by FastAPI)."""
    return {200: {"content": {"application/geo+json": {"schema": model.model_json_schema()}}}}
