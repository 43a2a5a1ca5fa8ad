"""GeoJSON layers of the served plan: service areas, underserved residents, proposed sites."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from planner import columns as col

from .deps import bad, profile_key, ready_state
from .schemas import ERRORS
from .state import ServiceState

router = APIRouter(tags=["layers"], responses=ERRORS)
_GEOJSON: dict[int | str, dict[str, Any]] = {200: {"content": {"application/geo+json": {}}}}


def _tier(state: ServiceState, tier: str | None, field: str = "tier") -> str | None:
    known = [t.key for t in state.plan.rules.tiers]
    if tier is not None and tier not in known:
        raise bad(field, f"{tier!r} is not one of {', '.join(known)}")
    return tier


def _geojson(gdf) -> Response:
    return Response(gdf.to_json(drop_id=True, na="null"), media_type="application/geo+json")


@router.get("/service-areas", responses=_GEOJSON, summary="Dissolved service areas per tier and band")
def service_areas(
    tier: str | None = Query(None, examples=["station"]),
    band: float | None = Query(None, ge=1, le=60, examples=[10]),
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    state: ServiceState = Depends(ready_state),
) -> Response:
    """Where every resident is within ``band`` minutes of a facility of ``tier`` (all when not given)."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if band is not None and band not in plan.rules.bands:
        raise bad(
            "band",
            f"{band:g} is not a computed band; use one of {', '.join(f'{b:g}' for b in plan.rules.bands)}"
            " or POST /isochrones",
        )
    layer = state.cached("service_areas", plan.compute_service_areas)
    sel = layer["profile"] == profile
    if tier:
        sel &= layer["tier"] == tier
    if band is not None:
        sel &= layer["band_min"] == band
    return _geojson(layer[sel])


@router.get("/underserved", responses=_GEOJSON, summary="Residents lacking a tier (GeoJSON points)")
def underserved(
    tier: str | None = Query(None, description="Only those lacking this tier (default: any tier)"),
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    limit: int = Query(10_000, ge=1, le=100_000, description="Most points returned, most people first"),
    state: ServiceState = Depends(ready_state),
) -> Response:
    """Resident points (each standing for the people on ~50 m of street) that miss a tier."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if plan.residents is None:
        raise bad("tier", "this study area has no population data")
    res = plan.residents
    mask = ~res[col.covered(tier, profile)] if tier else res[col.underserved(profile)]
    cols = [
        "population",
        "elderly",
        col.missing_tiers(profile),
        *(col.minutes(t.key, profile) for t in plan.rules.tiers),
    ]
    out = res.loc[mask, [*cols, "geometry"]].sort_values("population", ascending=False).head(limit)
    out = out.round({c: 2 for c in cols if c.startswith(("minutes", "population", "elderly"))})
    return _geojson(out)


@router.get("/candidates", responses=_GEOJSON, summary="Proposed new sites for a tier (GeoJSON points)")
def candidates(
    tier: str = Query(..., examples=["station"]),
    k: int = Query(5, ge=1, le=50),
    weight: Literal["population", "elderly"] = "population",
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    state: ServiceState = Depends(ready_state),
) -> Response:
    """The ``k`` sites that cover the most residents the tier leaves out, ranked (maximal covering)."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if plan.residents is None:
        raise bad("tier", "this study area has no population data")
    proposal = state.cached(
        ("candidates", tier, k, weight, profile),
        lambda: plan.propose_sites(tier, k=k, weight=weight, profile=profile, time_limit=20),
    )
    return _geojson(proposal.sites)
