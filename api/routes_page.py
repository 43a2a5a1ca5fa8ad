"""The what-if page for officials at ``/``: a Leaflet map served from the package (no CDN), its base layers,
and the scenario's three lists as a workbook.

The page (``api/static/``) draws the facilities, the units (街道) and the streets, and sends every click to
``POST /what-if``; the figures it shows are that answer's. Besides opening and closing facilities, its tools
draw a walking link (a side gate, a footbridge: two clicks, ``add_links``) and close a street (a click on it,
``close_links``). ``POST /what-if/lists.xlsx`` takes the same body
and answers the 需求清单, 资源清单 and 服务清单 of the scenario, recomputed, in one workbook.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from planner import columns as col
from planner.coords import to_wgs84
from planner.lists import SERVICES_COLUMNS, ThreeLists
from planner.lists_xlsx import write_lists_xlsx
from planner.maps import TIER_COLOURS
from planner.naming import place_name
from planner.scenario import Scenario

from . import reach
from .deps import bad, ready_state
from .problems import PROBLEMS
from .routes_access import _check_what_if, run_what_if
from .schemas import WhatIfRequest
from .state import ServiceState
from .work import Work, get_work

log = logging.getLogger("api")

router = APIRouter(tags=["page"], responses=PROBLEMS)

#: Where the page's own files are (the package folder ``api/static``, in a checkout or a wheel).
STATIC = Path(str(resources.files("api") / "static"))

#: Leaflet as folium-offline ships it for the maps (the same files ``planner.maps.inline_assets`` embeds).
_LEAFLET = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UNIT_TOLERANCE_DEG = 1e-4  # ~10 m: the unit outlines are simplified to this for drawing


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The what-if page (HTML; its script and styles under ``/static``, Leaflet under ``/page/leaflet``)."""
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/page/leaflet.{kind}", include_in_schema=False)
async def leaflet(kind: str) -> Response:
    """Leaflet 1.9.3 (BSD-2-Clause, © Volodymyr Agafonkin) from the folium-offline package: no CDN."""
    from offlinefolium.elements import _res as assets  # URL -> file content

    media = {"js": "text/javascript", "css": "text/css"}.get(kind)
    content = assets.get(f"{_LEAFLET}leaflet.{kind}")
    if media is None or content is None:
        raise HTTPException(status_code=404, detail=[{"field": "path", "reason": f"no leaflet.{kind} here"}])
    return Response(content, media_type=f"{media}; charset=utf-8", headers={"Cache-Control": "max-age=86400"})


@router.get("/page/base", summary="What the what-if page draws: tiers, facilities and units")
async def base(state: ServiceState = Depends(ready_state)) -> Response:
    """The rules (tiers with their Chinese names, profiles, services with the profiles each is measured on;
    ``street_edits``: whether the area has streets to edit), every facility (id, name, tier or "" for a
    facility of a service list only, services by Chinese name, WGS-84 point) and
    the units (街道 or grid cells) as GeoJSON, simplified to ~10 m for drawing. Built once and kept."""
    content = state.cached("page_base", lambda: _base(state))
    return Response(content, media_type="application/json")


def _base(state: ServiceState) -> bytes:
    plan = state.plan
    rules = plan.rules
    fac = plan.facilities.to_crs("EPSG:4326")
    illustrative = fac["illustrative"].fillna(False).astype(bool) if "illustrative" in fac else pd.Series(False)
    services = {r.key: r.name_zh or r.key for r in rules.services}
    offered = fac["services"] if "services" in fac else pd.Series([[]] * len(fac), index=fac.index)
    facilities = [
        {
            "id": str(fid),
            "name": state.facility_names.get(str(fid)) or str(fid),
            "tier": str(tier) if isinstance(tier, str) else "",
            "services": [services.get(str(k), str(k)) for k in (keys if isinstance(keys, (list, tuple)) else [])],
            "lon": reach.coord(g.x),
            "lat": reach.coord(g.y),
        }
        for fid, tier, keys, g in zip(fac["facility_id"], fac["tier"], offered, fac.geometry)
    ]
    units = None
    if plan.units is not None:
        u = plan.units.to_crs("EPSG:4326")[["unit", "population", "elderly", "geometry"]].copy()
        u["geometry"] = reach.round_geometries(u.geometry.simplify(_UNIT_TOLERANCE_DEG).to_numpy())
        u["population"] = u["population"].round()
        u["elderly"] = u["elderly"].round()
        units = u.to_geo_dict(na="null", drop_id=True)
    s = plan.summary()
    body = {
        "area": {"name": s["area"]["name"], "title_zh": s["area"]["title_zh"], "title_en": s["area"]["title_en"]},
        "bbox": [reach.coord(v) for v in s["area"]["bbox_wgs84"]],
        "max_snap_m": reach.MAX_SNAP_M,
        "illustrative": bool(illustrative.any()),
        "tiers": [
            {
                "key": t.key,
                "name_zh": t.name_zh,
                "name_en": t.name_en,
                "short_zh": t.short_zh,
                "minutes": t.minutes,
                "colour": TIER_COLOURS.get(t.key, "#7d3c98"),
            }
            for t in rules.tiers
        ],
        "profiles": [{"key": p.key, "name_zh": p.name_zh or p.key, "group": p.group} for p in rules.profiles],
        "services": [
            {
                "key": r.key,
                "name_zh": r.name_zh or r.key,
                "minutes": r.minutes,
                "profiles": [p.key for p in rules.service_profiles(r.key)],
            }
            for r in rules.services
        ],
        "street_edits": plan.network is not None,
        "everyone": rules.everyone.key,
        "facilities": facilities,
        "units": units,
        "licence": s["network"]["licence"],
    }
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


@router.get("/page/streets", summary="The walk network's streets, for drawing")
async def streets(state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)) -> Response:
    """Every street segment as ``[lon1, lat1, lon2, lat2]`` (5 decimals, ~1 m): the page's background where
    the intranet has no map tiles. Built once and kept."""
    content = await work.batch(state.cached, "page_streets", lambda: _streets(state))
    return Response(content, media_type="application/json", headers={"Cache-Control": "max-age=3600"})


def _streets(state: ServiceState) -> bytes:
    net = state.plan.require_network("the what-if page")
    u, v = np.asarray(net.u), np.asarray(net.v)
    seg = np.round(np.column_stack([net.lon[u], net.lat[u], net.lon[v], net.lat[v]]), 5)
    seg = np.unique(seg, axis=0)  # both directions of a street, drawn once
    return json.dumps({"segments": seg.tolist()}, separators=(",", ":")).encode("utf-8")


@router.get("/page/place", summary="The name of a place, from its street and cross street")
async def place(
    lon: float = Query(..., ge=-180, le=180),
    lat: float = Query(..., ge=-90, le=90),
    state: ServiceState = Depends(ready_state),
    work: Work = Depends(get_work),
) -> dict[str, Any]:
    """``name`` such as 国顺路近政立路 (the nearest named street and its nearest cross street), for naming a
    new site on the page; WGS-84 in."""
    net = state.plan.require_network("naming a place")
    names = await work.batch(place_name, net, lon, lat)
    return {"lon": reach.coord(lon), "lat": reach.coord(lat), "name": names[0]}


@router.post(
    "/what-if/lists.xlsx",
    summary="The three lists of a what-if scenario (Excel workbook)",
    responses={200: {"content": {XLSX_TYPE: {}}}},
)
async def what_if_lists(
    body: WhatIfRequest, state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)
) -> Response:
    """The same body as ``POST /what-if``; the answer is ``lists.xlsx`` of the scenario: 需求清单 (needs per
    unit after the change), 资源清单 (the facilities left open and the new sites, each with the residents it
    serves), 服务清单 (the new sites, named by place, with the residents each newly covers) and 说明.

    Computed in a worker process, stopped at the request time limit (503)."""
    if state.plan.units is None:
        raise bad("body", "this study area has no units (街道 or grid cells), so it has no lists")
    ids = _check_what_if(state, body)
    content = await work.compute("what-if lists", _lists_xlsx, state, body, ids)
    return Response(
        content,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": 'attachment; filename="lists-what-if.xlsx"'},
    )


def _lists_xlsx(state: ServiceState, body: WhatIfRequest, ids: list[str]) -> bytes:
    """The workbook, in a worker process."""
    plan = state.plan
    lon, lat = to_wgs84([s.lon for s in body.open], [s.lat for s in body.open], body.crs)
    inside = reach.inside(reach.snap(plan, lon, lat).offset_m)
    net = plan.require_network("the lists of a what-if")
    places = place_name(net, lon[inside], lat[inside]) if inside.any() else []
    tiers = {t.key: t for t in plan.rules.tiers}
    chosen = [(s, i) for s, i, ok in zip(body.open, ids, inside) if ok]
    opened = None
    if chosen:
        opened = gpd.GeoDataFrame(
            {
                "tier": [s.tier for s, _ in chosen],
                "facility_id": [i for _, i in chosen],
                "name": [s.name or f"新增{tiers[s.tier].name_zh}（{p}）" for (s, _), p in zip(chosen, places)],
                "list": "情景新增",
            },
            geometry=gpd.points_from_xy(lon[inside], lat[inside]),
            crs="EPSG:4326",
        )
    scenario = run_what_if(plan, body, opened)
    lists = scenario_lists(scenario, places, state)
    with tempfile.TemporaryDirectory(prefix="lifecircle-lists-") as tmp:
        path = write_lists_xlsx(lists, Path(tmp) / "lists.xlsx")
        return path.read_bytes()


def scenario_lists(scenario: Scenario, places: list[str], state: ServiceState | None = None) -> ThreeLists:
    """The three lists of a scenario: the planner's lists of the variant (:attr:`planner.scenario.Scenario.lists`:
    needs and resources after the changes), with the scenario's new sites as the services list.

    Parameters
    ----------
    scenario : planner.scenario.Scenario
        Of a plan with units.
    places : list of str
        The place name of each new site, in the order of ``scenario.opened``.
    state : ServiceState, optional
        For the names of closed facilities in the notes.

    Returns
    -------
    planner.lists.ThreeLists
    """
    lists = scenario.lists
    if lists is None:  # checked before the work starts
        msg = "a scenario of a plan without units has no lists"
        raise ValueError(msg)
    services = _new_sites(scenario, places)
    names = state.facility_names if state is not None else {}
    closed = "、".join(names.get(f) or f for f in scenario.closed) or "无"
    added = "、".join(services["位置"].astype(str)) or "无"
    ours = (
        f"关闭：{closed}；新增：{added}。服务清单列出情景新增的站点及各自新增覆盖的居民（以该站为最近同层级设施者），"
        "覆盖率（累计）为关闭设施后依次加上各站的覆盖率。"
    )
    return replace(lists, services=services, notes=(*lists.notes[:1], ours, *lists.notes[1:]))


def _new_sites(scenario: Scenario, places: list[str]) -> pd.DataFrame:
    """The services list of a scenario: its new sites per tier in request order, numbered 站1, 站2 …"""
    base, variant = scenario.base, scenario.plan
    rules = variant.rules
    everyone = rules.everyone
    was = base.require_residents("a what-if")
    now = variant.require_residents("a what-if")
    pop = was["population"].to_numpy(float)
    eld = was["elderly"].to_numpy(float)
    total = float(pop.sum()) or 1.0
    new = scenario.opened.reset_index(drop=True)
    rows = []
    for t in rules.tiers:
        mine = np.flatnonzero(new["tier"].to_numpy() == t.key) if len(new) else np.array([], dtype=int)
        if not len(mine):
            continue
        c = col.covered(t.key, everyone.key)
        a, b = was[c].to_numpy(bool), now[c].to_numpy(bool)
        gained = b & ~a
        share = float(pop[a & b].sum()) / total  # after the closures, before any new site
        nearest = now[col.nearest(t.key)].to_numpy(object)
        for n, i in enumerate(mine, start=1):
            site = new.iloc[i]
            hit = gained & (nearest == site["facility_id"])
            share += float(pop[hit].sum()) / total
            rows.append(
                {
                    "序号": f"{t.short_zh}{n}",
                    "位置": places[i] if i < len(places) else str(site.get("name", "")),
                    "层级": t.name_zh,
                    "步行速度": everyone.name_zh or everyone.key,
                    "新增覆盖居民": float(pop[hit].sum()),
                    "新增覆盖老年人": float(eld[hit].sum()),
                    "覆盖率（累计）": share,
                    "经度": round(float(site.geometry.x), 6),
                    "纬度": round(float(site.geometry.y), 6),
                    "候选点": str(site["facility_id"]),
                }
            )
    return pd.DataFrame(rows, columns=list(SERVICES_COLUMNS))
