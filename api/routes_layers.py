"""GeoJSON layers of the served plan: service areas, underserved residents, proposed sites."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from planner import columns as col

from .deps import bad, profile_key, ready_state
from .geojson import MEDIA_TYPE as GEOJSON_TYPE
from .geojson import feature_collection
from .problems import PROBLEMS
from .schemas import FeatureCollection, UnderservedPage, geojson
from .state import ServiceState
from .work import Work, get_work

router = APIRouter(tags=["layers"], responses=PROBLEMS)
_GEOJSON = geojson(FeatureCollection)


def _tier(state: ServiceState, tier: str | None, field: str = "tier") -> str | None:
    known = [t.key for t in state.plan.rules.tiers]
    if tier is not None and tier not in known:
        raise bad(field, f"{tier!r} is not one of {', '.join(known)}")
    return tier


@router.get("/service-areas", responses=_GEOJSON, summary="Dissolved service areas per tier and band")
async def service_areas(
    tier: str | None = Query(None, examples=["station"]),
    band: float | None = Query(None, ge=1, le=60, examples=[10]),
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    state: ServiceState = Depends(ready_state),
    work: Work = Depends(get_work),
) -> Response:
    """Where every resident is within ``band`` minutes of a facility of ``tier`` (all when not given).

    The layer is built once, in a worker process, and kept."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if band is not None and band not in plan.rules.bands:
        raise bad(
            "band",
            f"{band:g} is not a computed band; use one of {', '.join(f'{b:g}' for b in plan.rules.bands)}"
            " or POST /isochrones",
        )
    layer = await work.layer("service_areas", "the service areas", plan.compute_service_areas)
    return await run_in_threadpool(_service_areas, layer, tier, band, profile)


def _service_areas(layer, tier: str | None, band: float | None, profile: str) -> Response:
    sel = layer["profile"] == profile
    if tier:
        sel &= layer["tier"] == tier
    if band is not None:
        sel &= layer["band_min"] == band
    return feature_collection(layer[sel])


@router.get("/underserved", responses=geojson(UnderservedPage), summary="Residents lacking a tier (GeoJSON points)")
def underserved(
    tier: str | None = Query(None, description="Only those lacking this tier (default: any tier)"),
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    limit: int = Query(10_000, ge=1, le=100_000, description="Most points on one page, most people first"),
    cursor: str | None = Query(
        None, max_length=200, description="next_cursor of the previous page (same tier and profile)"
    ),
    state: ServiceState = Depends(ready_state),
) -> Response:
    """Resident points (each standing for the people on ~50 m of street) that miss a tier, most people first,
    a page at a time: ``total`` counts them all and ``next_cursor`` (null on the last page) asks for the next
    page. ``missing_tiers_<profile>`` is an array of tier keys."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if plan.residents is None:
        raise bad("tier", "this study area has no population data")
    res = plan.residents
    order = state.cached(("underserved", tier, profile), lambda: _underserved_order(res, tier, profile))
    start = _read_cursor(cursor, tier, profile) if cursor else 0
    if start > len(order):
        raise bad("cursor", "past the last page")
    page = order[start : start + limit]
    end = start + len(page)
    missing = col.missing_tiers(profile)
    minutes = [col.minutes(t.key, profile) for t in plan.rules.tiers]
    out = res.iloc[page][["resident_id", "population", "elderly", missing, *minutes, "geometry"]].copy()
    out[missing] = [_keys(v) for v in out[missing]]
    out = out.round(dict.fromkeys(("population", "elderly", *minutes), 2))
    return feature_collection(
        out,
        total=len(order),
        next_cursor=_cursor(end, tier, profile) if end < len(order) else None,
    )


def _keys(value) -> list[str]:
    """Tier keys as a list, from the comma-joined text the residents layer keeps (or a list)."""
    if isinstance(value, str):
        return [k for k in value.split(",") if k]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(k) for k in value]
    return []


def _underserved_order(res, tier: str | None, profile: str) -> np.ndarray:
    """Row positions of the residents lacking ``tier`` (any tier when None), most people first (ties in
    resident order, so pages never overlap)."""
    mask = ~res[col.covered(tier, profile)].to_numpy(bool) if tier else res[col.underserved(profile)].to_numpy(bool)
    rows = np.flatnonzero(mask)
    return rows[np.argsort(-res["population"].to_numpy(float)[rows], kind="stable")]


def _cursor(offset: int, tier: str | None, profile: str) -> str:
    raw = json.dumps([offset, tier, profile], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, tier: str | None, profile: str) -> int:
    try:
        offset, c_tier, c_profile = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise bad("cursor", "not a cursor this service gave; use next_cursor of the previous page") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad("cursor", "not a cursor this service gave; use next_cursor of the previous page")
    if (c_tier, c_profile) != (tier, profile):
        raise bad("cursor", f"this cursor pages tier={c_tier or 'any'}, profile={c_profile}; ask with those")
    return offset


@router.get("/candidates", responses=_GEOJSON, summary="Proposed new sites for a tier (GeoJSON points)")
async def candidates(
    tier: str = Query(..., examples=["station"]),
    k: int = Query(5, ge=1, le=50),
    weight: Literal["population", "elderly"] = "population",
    profile: str | None = Query(None, max_length=50, description="walking profile (GET /tiers)"),
    state: ServiceState = Depends(ready_state),
    work: Work = Depends(get_work),
) -> Response:
    """The ``k`` sites that cover the most residents the tier leaves out, ranked (maximal covering).

    Computed in a worker process, stopped at the request time limit (503); recent answers are kept."""
    _tier(state, tier)
    profile = profile_key(state, profile)
    plan = state.plan
    if plan.residents is None:
        raise bad("tier", "this study area has no population data")
    key = ("candidates", tier, k, weight, profile)
    content = work.results.get(key)
    if content is None:
        content = await work.compute("candidates", _candidates, plan, tier, k, weight, profile)
        work.results.put(key, content)
    return Response(content, media_type=GEOJSON_TYPE)


def _candidates(plan, tier: str, k: int, weight: str, profile: str) -> bytes:
    """The /candidates answer, in a worker process."""
    proposal = plan.propose_sites(tier, k=k, weight=weight, profile=profile, time_limit=20)
    return bytes(feature_collection(proposal.sites).body)
