"""Coverage checks, isochrones and what-if comparisons."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from planner import columns as col
from planner.coords import to_wgs84
from planner.isochrones import facility_isochrones
from planner.scenario import what_if as plan_what_if

from .deps import bad, profile_key, ready_state
from .schemas import ERRORS, CoverageRequest, CoverageResponse, IsochroneRequest, WhatIfRequest, WhatIfResponse
from .state import ServiceState

router = APIRouter(tags=["access"], responses=ERRORS)

_MAX_SNAP_M = 500.0
_NONE = np.array(None)  # None as numpy.where takes it (numpy's stubs refuse a bare None)


_INLINE_POINTS = 64  # small requests (~1 ms) are answered on the event loop; larger ones in a worker thread


@router.post("/coverage", response_model=CoverageResponse, summary="Minutes from points to every tier")
async def coverage(body: CoverageRequest, state: ServiceState = Depends(ready_state)) -> JSONResponse:
    """Per point: minutes to the nearest facility of each tier (null when none is reachable), whether that is
    within the tier's target, the nearest facility's id, the distance from the point to its street, and
    whether the point lies in the study area at all (points outside are answered, not refused)."""
    if len(body.points) <= _INLINE_POINTS:
        return _coverage(body, state)
    return await run_in_threadpool(_coverage, body, state)


def _coverage(body: CoverageRequest, state: ServiceState) -> JSONResponse:
    plan = state.plan
    profile = profile_key(state, body.profile)
    lon = np.fromiter((p.lon for p in body.points), float, len(body.points))
    lat = np.fromiter((p.lat for p in body.points), float, len(body.points))
    q = plan.query_arrays(lon, lat, crs=body.crs, max_snap_m=_MAX_SNAP_M)
    inside = shapely.contains_xy(state.boundary, q["lon"], q["lat"])
    tiers = [t.key for t in plan.rules.tiers]
    minutes = {}
    covered = {}
    nearest = {}
    for t in plan.rules.tiers:
        m = np.where(inside, q[col.minutes(t.key, profile)], np.nan)
        minutes[t.key] = [None if not np.isfinite(v) else round(float(v), 2) for v in m]
        covered[t.key] = (m <= t.minutes).tolist()
        nearest[t.key] = np.where(inside & np.isfinite(m), q[col.nearest(t.key)], _NONE).tolist()
    snap = q["snap_distance_m"]
    results = [
        {
            "id": p.id,
            "lon": round(float(q["lon"][i]), 7),
            "lat": round(float(q["lat"][i]), 7),
            "inside_area": bool(inside[i]),
            "snap_distance_m": round(float(snap[i]), 1) if np.isfinite(snap[i]) else None,
            "minutes": {k: minutes[k][i] for k in tiers},
            "covered": {k: covered[k][i] for k in tiers},
            "nearest_facility": {k: nearest[k][i] for k in tiers},
        }
        for i, p in enumerate(body.points)
    ]
    return JSONResponse({"profile": profile, "results": results})


@router.post(
    "/isochrones",
    summary="Walking isochrones from origins (GeoJSON)",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def isochrones(body: IsochroneRequest, state: ServiceState = Depends(ready_state)) -> Response:
    """One polygon per origin and band: the streets reachable within that many minutes, with a 50 m
    walking corridor. Origins must lie within 500 m of a street of the study area."""
    plan = state.plan
    profile = profile_key(state, body.profile)
    lon, lat = to_wgs84([o.lon for o in body.origins], [o.lat for o in body.origins], body.crs)
    snap = plan.network.snap(lon, lat)
    far = np.flatnonzero(~(snap.offset_m <= _MAX_SNAP_M))
    if len(far):
        i = int(far[0])
        raise bad(
            f"origins[{i}]",
            f"({lon[i]:.5f}, {lat[i]:.5f}) is more than {_MAX_SNAP_M:g} m from any street of the study area",
        )
    origins = gpd.GeoDataFrame(
        {
            "facility_id": [f"origin-{i}" for i in range(len(lon))],
            "tier": "origin",
            "edge": snap.edge,
            "t": snap.t,
            "snap_m": snap.offset_m,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    iso = facility_isochrones(
        plan.network, origins, [plan.rules.profile(profile)], tuple(body.bands), method=body.method, progress=False
    )
    iso = iso.rename(columns={"facility_id": "origin"}).drop(columns=["tier"])
    return Response(iso.to_json(drop_id=True), media_type="application/geo+json")


@router.post("/what-if", response_model=WhatIfResponse, summary="Coverage change if facilities close or open")
def what_if(body: WhatIfRequest, state: ServiceState = Depends(ready_state)) -> dict:
    """Before/after coverage per tier and profile; other clients keep being served the unchanged state."""
    plan = state.plan
    if plan.residents is None:
        raise bad("body", "this study area has no population data to compare")
    known = {t.key for t in plan.rules.tiers}
    for i, site in enumerate(body.open):
        if site.tier not in known:
            raise bad(f"open[{i}].tier", f"{site.tier!r} is not one of {', '.join(sorted(known))}")
    unknown = sorted(set(body.close) - set(plan.facilities["facility_id"]))
    if unknown:
        raise bad("close", f"unknown facility id(s): {', '.join(unknown[:20])}")
    opened = None
    if body.open:
        lon, lat = to_wgs84([s.lon for s in body.open], [s.lat for s in body.open], body.crs)
        opened = gpd.GeoDataFrame(
            {
                "tier": [s.tier for s in body.open],
                "facility_id": [s.id or f"NEW{i + 1}" for i, s in enumerate(body.open)],
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        )
    scenario = plan_what_if(plan, close=body.close, open_sites=opened)
    before, after = scenario.before, scenario.after
    tiers: dict = {}
    for t in plan.rules.tiers:
        for p in plan.rules.profiles:
            tiers.setdefault(t.key, {})[p.key] = {
                "covered_share_before": before["tiers"][t.key][p.key]["covered_share"],
                "covered_share_after": after["tiers"][t.key][p.key]["covered_share"],
                **scenario.change[t.key][p.key],
            }
    return {"closed": body.close, "opened": len(body.open), "tiers": tiers}
