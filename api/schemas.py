"""Request and response models: field limits and examples make /docs a usable manual."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Crs = Literal["wgs84", "gcj02", "bd09"]


class LonLat(BaseModel):
    """A point in degrees."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(..., ge=-180, le=180, description="Longitude in degrees", examples=[121.4737])
    lat: float = Field(..., ge=-90, le=90, description="Latitude in degrees", examples=[31.2304])

    @model_validator(mode="before")
    @classmethod
    def _swapped(cls, data):
        if isinstance(data, dict):
            lon, lat = data.get("lon"), data.get("lat")
            if isinstance(lon, (int, float)) and isinstance(lat, (int, float)) and abs(lat) > 90 >= abs(lon):
                msg = f"lat {lat} is outside -90..90 while lon {lon} would fit: longitude and latitude look swapped"
                raise ValueError(msg)
        return data


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


class PointCoverage(BaseModel):
    """Walking access from one point."""

    id: str | None
    lon: float
    lat: float
    inside_area: bool = Field(description="Whether the point lies where the street data is known")
    snap_distance_m: float | None = Field(description="Straight line from the point to its street")
    minutes: dict[str, float | None] = Field(description="Minutes to the nearest facility per tier; null = none")
    covered: dict[str, bool] = Field(description="Within the tier's walking target")
    nearest_facility: dict[str, str | None]


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
    bands: list[float] = Field([5, 10, 15], min_length=1, max_length=12)
    profile: str | None = Field(None, max_length=50, description="Walking profile (GET /tiers lists them)")
    crs: Crs = "wgs84"
    method: Literal["edges", "hull"] = "edges"

    @model_validator(mode="after")
    def _bands(self):
        bad = [b for b in self.bands if not 1 <= b <= 60]
        if bad:
            msg = f"bands must each be 1-60 minutes; got {bad}"
            raise ValueError(msg)
        return self


class NewSite(LonLat):
    """A facility to open in a what-if."""

    tier: str = Field(..., examples=["station"])
    id: str | None = Field(None, max_length=100)


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


class WhatIfResponse(BaseModel):
    """Per tier and profile, e.g. ``station`` / ``adult``."""

    closed: list[str]
    opened: int
    tiers: dict[str, dict[str, TierChange]]


class ErrorDetail(BaseModel):
    """One problem with a request."""

    field: str = Field(description="Where the problem is, e.g. points[3].lat")
    reason: str = Field(description="What is wrong, in words")
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer has this shape."""

    detail: list[ErrorDetail]


#: Error responses declared on every route (so /docs and the OpenAPI schema say what errors look like).
ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Request body too large"},
    422: {"model": ErrorResponse, "description": "Invalid request: the field and the reason"},
    503: {"model": ErrorResponse, "description": "Not ready yet, or the request took too long"},
}
