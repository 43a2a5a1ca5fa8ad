"""Liveness, readiness, what is served, and the HTML map and report."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from planner.maps import inline_assets, plan_map
from planner.plan import Plan
from planner.report import render_report

from . import problems, reach
from .deps import ready_state
from .state import ServiceState
from .work import Work, get_work

router = APIRouter(tags=["service"], responses=problems.PROBLEMS)


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict:
    """Always 200 while the process runs; answered on the event loop, never behind heavy work."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the study area is loaded")
async def ready(request: Request) -> Response:
    """200 once queries can be answered; 503 problem details before, or if loading failed (the server log
    has the cause), with the extension member ``ready: false``."""
    state: ServiceState = request.app.state.lifecircle
    if state.ready:
        return JSONResponse({"ready": True, "area": state.plan.area.name})
    body = problems.problem(
        503,
        [{"field": "service", "reason": state.public_error or ""}],
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        ready=False,
    )
    return problems.response(503, body, headers={"Retry-After": "5"} if state.error is None else None)


@router.get("/areas", summary="The served study area")
def areas(state: ServiceState = Depends(ready_state)) -> list[dict]:
    """Name, extent, facilities per tier and residents of the served area. ``max_snap_m`` is the rule of every
    endpoint: a point farther than that from every street of the area is outside it."""
    s = state.plan.summary()
    res = s.get("residents") or {}
    return [
        {
            "name": s["area"]["name"],
            "title_zh": s["area"]["title_zh"],
            "title_en": s["area"]["title_en"],
            "bbox_wgs84": [reach.coord(v) for v in s["area"]["bbox_wgs84"]],
            "max_snap_m": reach.MAX_SNAP_M,
            "facilities": s["facilities"]["per_tier"],
            "facilities_illustrative": s["facilities"]["illustrative"],
            "population": res.get("population"),
            "elderly": res.get("elderly"),
            "osm_timestamp": s["network"]["osm_timestamp"],
            "licence": s["network"]["licence"],
        }
    ]


@router.get("/tiers", summary="Tiers, walking targets, speed profiles and service categories")
def tiers(state: ServiceState = Depends(ready_state)) -> dict:
    """The rules in force, and the time windows ``/coverage`` takes as ``window`` (with whether they are assessed:
    only when the area's lists give opening hours)."""
    rules = state.plan.rules
    av = state.plan.availability
    assessed = av.window_access if av is not None else {}
    windows = [
        {
            "key": w.key,
            "name_zh": w.name_zh,
            "name_en": w.name_en,
            "days": list(w.days),
            "start": w.start,
            "end": w.end,
            "assessed": w.key in assessed,
        }
        for w in (av.windows if av is not None else ())
    ]
    return {
        "windows": windows,
        "windows_note": av.windows_note if av is not None else "",
        "tiers": [
            {
                "key": t.key,
                "minutes": t.minutes,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "population_served": list(t.population_served) if t.population_served else None,
            }
            for t in rules.tiers
        ],
        "profiles": [
            {"key": p.key, "speed_mps": round(p.speed_mps, 4), "name_zh": p.name_zh, "name_en": p.name_en}
            for p in rules.profiles
        ],
        "services": [
            {"key": r.key, "minutes": r.minutes, "name_zh": r.name_zh, "name_en": r.name_en} for r in rules.services
        ],
    }


@router.get("/map", response_class=HTMLResponse, summary="The interactive map (self-contained HTML)")
async def the_map(state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)) -> HTMLResponse:
    """The same map ``lifecircle plan`` writes, built once (in a worker process) and kept."""
    return HTMLResponse(await work.layer("map", "the map", _map_html, state))


@router.get("/report", response_class=HTMLResponse, summary="The community check report (HTML)")
async def the_report(state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)) -> HTMLResponse:
    """The same report ``lifecircle plan`` writes, built once (in a worker process) and kept."""
    plan = state.plan
    if plan.residents is None:
        reason = "this study area has no population data, so there is no report"
        raise HTTPException(status_code=404, detail=[{"field": "path", "reason": reason}])
    return HTMLResponse(await work.layer("report", "the report", _report_html, plan))


def _map_html(state: ServiceState) -> bytes:
    return inline_assets(plan_map(_with_layers(state)).get_root().render()).encode("utf-8")


def _report_html(plan: Plan) -> bytes:
    return render_report(plan).encode("utf-8")


def _with_layers(state: ServiceState) -> Plan:
    """The served plan with the isochrones and service areas the map draws (computed once, here in the service)."""
    plan = state.plan
    everyone = plan.rules.everyone.key
    iso = state.cached("isochrones_drawn", lambda: plan.compute_isochrones(profiles=[everyone]))
    areas = state.cached("service_areas", plan.compute_service_areas)
    return replace(plan, isochrones=iso, service_areas=areas[areas["profile"] == everyone])
