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


class CoverageResponse(BaseModel):
    """Answers in the order of the request's points."""

    profile: str
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


class WhatIfRequest(BaseModel):
    """Close facilities (by id) and/or open sites; the served state is not changed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"close": ["S001"], "open": [{"lon": 121.45, "lat": 31.22, "tier": "station"}]}]
        },
    )

    close: list[str] = Field([], max_length=1000)
    open: list[NewSite] = Field([], max_length=1000)
    crs: Crs = "wgs84"


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


class WhatIfResponse(BaseModel):
    """Per tier and profile, e.g. ``station`` / ``adult``, and what became of each site."""

    closed: list[FacilityRef]
    sites: list[SiteAnswer]
    notes: list[str] = Field(description="Sites not opened or adding nobody, or a scenario that changes nothing")
    tiers: dict[str, dict[str, TierChange]]
    units: list[UnitChange] = Field(
        [], description="Per unit, tier and profile with any change (none listed when the area has no units)"
    )


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946); coordinates are WGS-84 rounded to 6 decimals."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class UnderservedPage(FeatureCollection):
    """One page of resident points, most people first, with the paging members beside ``features``."""

    total: int = Field(description="Residents matching the query, on every page together")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


def geojson(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """A 200 answer of ``application/geo+json`` with ``model``'s schema (declared, not validated by FastAPI)."""
    return {200: {"content": {"application/geo+json": {"schema": model.model_json_schema()}}}}
