"""Coverage checks, isochrones and what-if comparisons."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from planner import columns as col
from planner.coords import to_wgs84
from planner.errors import ConfigError
from planner.hours import open_mask
from planner.isochrones import facility_isochrones
from planner.plan import Plan
from planner.scenario import Scenario
from planner.scenario import what_if as plan_what_if

from . import reach
from .deps import bad, profile_key, ready_state
from .geojson import feature_collection
from .problems import PROBLEMS
from .schemas import (
    CloseWay,
    CoverageRequest,
    CoverageResponse,
    FeatureCollection,
    IsochroneRequest,
    WhatIfRequest,
    WhatIfResponse,
    geojson,
)
from .state import ServiceState
from .work import Work, get_work

router = APIRouter(tags=["access"], responses=PROBLEMS)

_INLINE_POINTS = 64  # small requests (~1 ms) are answered on the event loop; larger ones in a worker thread


@router.post("/coverage", response_model=CoverageResponse, summary="Minutes from points to every tier")
async def coverage(
    body: CoverageRequest, state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)
) -> Response:
    """Per point: minutes to the nearest facility of each tier (null when none is reachable), whether that is
    within the tier's target, the nearest facility (id and name), the distance from the point to its street.

    A point more than 500 m from every street of the study area is outside it: answered, not refused, with
    ``inside_area: false``, null minutes, null ``covered`` and the ``reason``.

    With ``window`` (a time window such as ``weekday_evening``), the minutes, ``covered`` and the nearest
    facility are those of the facilities open in that window (a facility listing no opening hours counts as
    open); a 422 says when the area's lists give no hours, so that the windows are not assessed."""
    window = _check_window(state, body.window)
    if len(body.points) <= _INLINE_POINTS:
        return _coverage(body, state, window)
    return await work.batch(_coverage, body, state, window)


def _check_window(state: ServiceState, window: str | None) -> dict[str, Any] | None:
    """The ``window`` member of the answer (None without a window), or a 422 naming ``window``."""
    if window is None:
        return None
    av = state.plan.availability
    if av is None:
        raise bad("window", "the time windows are not assessed for this study area: it was planned without them")
    known = {w.key: w for w in av.windows}
    if window not in known:
        raise bad("window", f"{window!r} is not one of the area's time windows: {', '.join(known)}")
    if window not in av.window_access:
        why = av.windows_note or "未评估"
        raise bad(
            "window",
            f"the time windows are not assessed for this study area: {why} (no facility list gives opening hours,"
            " so every window would repeat the figures for all facilities; give them in a column 开放时间)",
        )
    w = known[window]
    table = av.facilities
    is_open = open_mask(table, window)
    no_hours = table["opening_hours"].astype(str).str.strip().eq("").to_numpy() if "opening_hours" in table else None
    return {
        "key": w.key,
        "name_zh": w.name_zh or w.key,
        "name_en": w.name_en or w.key,
        "days": [int(d) for d in w.days],
        "start": w.start,
        "end": w.end,
        "open_facilities": int(is_open.sum()),
        "without_hours": int((is_open & no_hours).sum()) if no_hours is not None else int(is_open.sum()),
    }


def _coverage(body: CoverageRequest, state: ServiceState, window: dict[str, Any] | None = None) -> Response:
    plan = state.plan
    profile = profile_key(state, body.profile)
    lon = np.fromiter((p.lon for p in body.points), float, len(body.points))
    lat = np.fromiter((p.lat for p in body.points), float, len(body.points))
    # the same snap as reach.snap: network.snap with max_distance=MAX_SNAP_M (NaN distance beyond it)
    key = window["key"] if window is not None else None
    q = plan.query_arrays(lon, lat, crs=body.crs, max_snap_m=reach.MAX_SNAP_M, window=key)
    snap = q["snap_distance_m"]
    inside = reach.inside(snap)
    tiers = [t.key for t in plan.rules.tiers]
    minutes: dict[str, list] = {}
    covered: dict[str, list] = {}
    nearest: dict[str, list] = {}
    names: dict[
        Any, Any
    ] = {}  # a facility's answer piece, built once per facility (a batch repeats the same few hundred)
    for t in plan.rules.tiers:  # whole columns at a time (numpy to Python lists in C), None where not assessed
        m = q[col.minutes(t.key, profile)]
        reached = inside & np.isfinite(m)
        minutes[t.key] = _with_none(np.round(m, 2), reached)
        covered[t.key] = _with_none(m <= t.minutes, inside)
        ids = q[col.nearest(t.key)]
        nearest[t.key] = [
            (names[f] if f in names else names.setdefault(f, state.facility(f))) if ok else None
            for f, ok in zip(ids.tolist(), reached.tolist())
        ]
    lons, lats = np.round(q["lon"], reach.DECIMALS).tolist(), np.round(q["lat"], reach.DECIMALS).tolist()
    snaps = _with_none(np.round(snap, 1), inside)
    within = inside.tolist()
    results = [
        {
            "id": p.id,
            "lon": lons[i],
            "lat": lats[i],
            "inside_area": within[i],
            "reason": None if within[i] else reach.OUTSIDE,
            "snap_distance_m": snaps[i],
            "minutes": {k: minutes[k][i] for k in tiers},
            "covered": {k: covered[k][i] for k in tiers},
            "nearest_facility": {k: nearest[k][i] for k in tiers},
        }
        for i, p in enumerate(body.points)
    ]
    return _json({"profile": profile, "window": window, "results": results})


def _with_none(values: np.ndarray, keep: np.ndarray) -> list:
    """``values`` as a Python list, None where ``keep`` is False."""
    out = values.astype(object)
    out[~keep] = None
    return out.tolist()


def _json(content: Any) -> Response:
    """A JSON answer encoded by orjson (C; a 10,000-point batch in 0.02 s against 0.2 s with the standard library)."""
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


@router.post(
    "/isochrones",
    summary="Walking isochrones from origins (GeoJSON)",
    responses=geojson(FeatureCollection),
)
async def isochrones(
    request: Request,
    body: IsochroneRequest,
    state: ServiceState = Depends(ready_state),
    work: Work = Depends(get_work),
) -> Response:
    """One feature per origin and band (origins in the request's order, bands ascending): the streets
    reachable within that many minutes, with a 50 m walking corridor.

    An origin outside the study area (more than 500 m from any street, the rule of every endpoint) is
    answered, not refused: its features have no geometry (``null``), ``inside_area: false``, null
    ``area_km2`` and the ``reason``; so is a band too short to reach the origin's street.

    Computed in a worker process, stopped at the request time limit (503)."""
    profile = profile_key(state, body.profile)
    budget = request.app.state.settings.isochrone_budget
    asked = len(body.origins) * max(body.bands)
    if asked > budget:  # refused before any work: a request at the limits would only run into the time limit
        raise bad(
            "origins",
            f"{len(body.origins)} origins to {max(body.bands):g} minutes is {asked:,.0f} origin-minutes, more than "
            f"this service's budget of {budget:,.0f} per request: send fewer origins per request or shorter bands",
        )
    content, media_type = await work.compute("isochrones", _isochrones, state, body, profile)
    return Response(content, media_type=media_type)


def _isochrones(state: ServiceState, body: IsochroneRequest, profile: str) -> tuple[bytes, str | None]:
    """The /isochrones answer (body and media type), in a worker process."""
    plan = state.plan
    lon, lat = to_wgs84([o.lon for o in body.origins], [o.lat for o in body.origins], body.crs)
    snap = reach.snap(plan, lon, lat)
    inside = reach.inside(snap.offset_m)
    bands = sorted(set(body.bands))
    names = [f"origin-{i}" for i in range(len(lon))]
    found: dict[tuple[str, float], Any] = {}
    if inside.any():
        origins = gpd.GeoDataFrame(
            {
                "facility_id": [n for n, ok in zip(names, inside) if ok],
                "tier": "origin",
                "edge": snap.edge[inside],
                "t": snap.t[inside],
                "snap_m": snap.offset_m[inside],
            },
            geometry=gpd.points_from_xy(lon[inside], lat[inside]),
            crs="EPSG:4326",
        )
        iso = facility_isochrones(
            plan.require_network("isochrones"),
            origins,
            [plan.rules.profile(profile)],
            bands,
            method=body.method,
            progress=False,
        )
        found = {
            (o, float(b)): (g, a)
            for o, b, g, a in zip(iso["facility_id"], iso["band_min"], iso.geometry, iso["area_km2"])
        }
    rows = []
    for i, name in enumerate(names):
        for band in bands:
            geom, area = found.get((name, float(band)), (None, None))
            reason = None if geom is not None else reach.OUTSIDE if not inside[i] else _TOO_SHORT
            rows.append(
                {
                    "origin": name,
                    "profile": profile,
                    "band_min": float(band),
                    "area_km2": None if area is None else round(float(area), 4),
                    "inside_area": bool(inside[i]),
                    "reason": reason,
                    "geometry": geom,
                }
            )
    answer = feature_collection(gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326"))
    return bytes(answer.body), answer.media_type


_TOO_SHORT = "the walk of this band does not reach the origin's street"


@router.post(
    "/what-if",
    response_model=WhatIfResponse,
    summary="Coverage change if facilities close or open, or streets change",
)
async def what_if(
    body: WhatIfRequest, state: ServiceState = Depends(ready_state), work: Work = Depends(get_work)
) -> dict:
    """Before/after coverage per tier and profile; other clients keep being served the unchanged state.

    Each site of ``open`` is answered in ``sites``: a site outside the study area (more than 500 m from any
    street) is not opened; a site opened but nearest to nobody newly covered ``adds_nobody``. ``notes`` says
    both in words, and when the scenario changes nobody's coverage at all. ``units`` gives the gains and
    losses per unit (街道, or grid cell) of the area, tier and profile; ``service_change`` and
    ``service_units`` the same per service.

    Street edits: ``add_links`` (a compound's side gate, a footbridge: each end joins the nearest open street
    within 100 m, the street split there) and ``close_links`` (the street segment within 30 m of a point, or
    a whole OSM way). ``edit_effects`` gives what each edit changes by itself; an edit that changes nobody's
    minutes says so in ``notes`` (and ``notes_zh``). An edit that cannot be made (an end far from every
    street, an unknown way) is a 422 naming it, e.g. ``add_links[0]``. With ``changed_minutes: true`` the
    answer also holds the residents whose minutes changed, as GeoJSON points.

    Computed in a worker process, stopped at the request time limit (503)."""
    ids = _check_what_if(state, body)
    return await work.compute("what-if", _what_if, state, body, ids)


def _check_what_if(state: ServiceState, body: WhatIfRequest) -> list[str]:
    """The ids of the sites to open, once the request is known to be valid (else a 422)."""
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
    ids = [s.id or f"NEW{i + 1}" for i, s in enumerate(body.open)]
    taken = set(plan.facilities["facility_id"])
    for i, site_id in enumerate(ids):
        if site_id in taken or site_id in ids[:i]:
            raise bad(f"open[{i}].id", f"{site_id!r} is already the id of a facility; give the site another id")
    if (body.add_links or body.close_links) and plan.network is None:
        field = "add_links" if body.add_links else "close_links"
        raise bad(field, "street edits need a street network; this study area is a straight-line estimate")
    return ids


def street_edits(body: WhatIfRequest) -> dict[str, list[Any]]:
    """The request's street edits as :func:`planner.scenario.what_if` takes them (``add_links``,
    ``close_links``), in WGS-84."""
    links = body.add_links
    ends = [p for k in links for p in (k.start, k.end)]
    lon, lat = to_wgs84([p.lon for p in ends], [p.lat for p in ends], body.crs)
    add = []
    for i, k in enumerate(links):
        a, b = 2 * i, 2 * i + 1
        link: dict[str, Any] = {
            "from": {"lon": float(lon[a]), "lat": float(lat[a])},
            "to": {"lon": float(lon[b]), "lat": float(lat[b])},
        }
        if k.length_m is not None:
            link["length_m"] = float(k.length_m)
        if k.name:
            link["name"] = k.name
        add.append(link)
    points = [c for c in body.close_links if not isinstance(c, CloseWay)]
    plon, plat = to_wgs84([c.lon for c in points], [c.lat for c in points], body.crs)
    where = iter(zip(plon.tolist(), plat.tolist()))
    close: list[Any] = [c.way_id if isinstance(c, CloseWay) else next(where) for c in body.close_links]
    return {"add_links": add, "close_links": close}


def run_what_if(plan: Plan, body: WhatIfRequest, opened: gpd.GeoDataFrame | None) -> Scenario:
    """:func:`planner.scenario.what_if` with the request's closures, sites and street edits; a street edit
    that cannot be made is a 422 naming it (``add_links[0]``, ``close_links[1]`` …)."""
    try:
        edits = street_edits(body)
        return plan_what_if(
            plan, close=body.close, open_sites=opened, add_links=edits["add_links"], close_links=edits["close_links"]
        )
    except ConfigError as exc:
        key = exc.key or ""
        field = key if key.startswith(("add_links", "close_links")) else "body"
        raise bad(field, str(exc).removeprefix(f"{key}: ")) from None


def _what_if(state: ServiceState, body: WhatIfRequest, ids: list[str]) -> dict:
    """The /what-if answer, in a worker process."""
    plan = state.plan
    lon, lat = to_wgs84([s.lon for s in body.open], [s.lat for s in body.open], body.crs)
    snap = reach.snap(plan, lon, lat)
    inside = reach.inside(snap.offset_m)
    opened = None
    if inside.any():
        opened = gpd.GeoDataFrame(
            {
                "tier": [s.tier for s, ok in zip(body.open, inside) if ok],
                "facility_id": [i for i, ok in zip(ids, inside) if ok],
            },
            geometry=gpd.points_from_xy(lon[inside], lat[inside]),
            crs="EPSG:4326",
        )
    scenario = run_what_if(plan, body, opened)
    before, after = scenario.before, scenario.after
    tiers: dict = {}
    for t in plan.rules.tiers:
        for p in plan.rules.profiles:
            tiers.setdefault(t.key, {})[p.key] = {
                "covered_share_before": before["tiers"][t.key][p.key]["covered_share"],
                "covered_share_after": after["tiers"][t.key][p.key]["covered_share"],
                **scenario.change[t.key][p.key],
            }
    gains = _site_gains(scenario, dict(zip(ids, (s.tier for s in body.open))))
    sites = []
    notes = []
    for i, (site, site_id) in enumerate(zip(body.open, ids)):
        gain = gains.get(site_id) or {p.key: {"people": 0, "elderly": 0} for p in plan.rules.profiles}
        adds_nobody = bool(inside[i]) and not any(g["people"] or g["elderly"] for g in gain.values())
        reason = None
        if not inside[i]:
            reason = f"not opened: {reach.OUTSIDE}"
        elif adds_nobody:
            reason = f"adds nobody: no one newly within the {site.tier} target has it as their nearest {site.tier}"
        if reason:
            notes.append(f"open[{i}] ({site_id}) {reason}")
        sites.append(
            {
                "id": site_id,
                "name": site.name,
                "tier": site.tier,
                "lon": reach.coord(lon[i]),
                "lat": reach.coord(lat[i]),
                "opened": bool(inside[i]),
                "snap_distance_m": round(float(snap.offset_m[i]), 1) if inside[i] else None,
                "gain": gain,
                "adds_nobody": adds_nobody,
                "reason": reason,
            }
        )
    effects = [_effect(e) for e in scenario.edit_effects]
    notes += [e["note_en"] for e in effects if e["note_en"]]
    changes = (scenario.change, scenario.service_change)
    if not any(v for kind in changes for per_key in kind.values() for c in per_key.values() for v in c.values()):
        notes.append("this scenario changes nobody's coverage of any tier")
    answer = {
        "closed": [state.facility(f) for f in body.close],
        "sites": sites,
        "notes": notes,
        "notes_zh": list(scenario.notes),
        "tiers": tiers,
        "service_change": scenario.service_change,
        "units": _unit_changes(scenario, "tier"),
        "service_units": _unit_changes(scenario, "service"),
        "edit_effects": effects,
        "minutes_changed": int(scenario.minutes_changed),
        "changed_minutes": _changed_minutes(scenario) if body.changed_minutes else None,
    }
    return answer


def _effect(e: Any) -> dict[str, Any]:
    """One :class:`planner.scenario.EditEffect` as answered."""
    zh, en = e.note
    return {
        "label": e.label,
        "kind": e.kind,
        "residents": int(e.residents),
        "people": int(e.people),
        "elderly": int(e.elderly),
        "proved": bool(e.proved),
        "changes_nothing": not e.residents,
        "note_zh": zh or None,
        "note_en": en or None,
    }


def _changed_minutes(scenario: Scenario) -> dict[str, Any]:
    """The residents whose minutes changed, as a GeoJSON dict: coordinates rounded (api/reach.py), minutes to
    2 decimals (null where none is reached); only the columns in which some of them changed."""
    layer = scenario.changed_minutes()
    for c in [c for c in layer.columns if c.startswith("minutes_") and c.endswith("_before")]:
        c2 = c.removesuffix("_before") + "_after"
        a, b = (layer[k].astype(float).replace([np.inf, -np.inf], np.nan).round(2) for k in (c, c2))
        if a.equals(b):  # a column none of these residents' minutes changed in: left out
            layer = layer.drop(columns=[c, c2])
        else:
            layer[c], layer[c2] = a, b
    for c in ("population", "elderly"):
        if c in layer:
            layer[c] = layer[c].astype(float).round(2)
    layer["geometry"] = reach.round_geometries(layer.geometry.to_numpy())
    return layer.to_geo_dict(na="null", drop_id=True)


def _unit_changes(scenario: Scenario, kind: str) -> list[dict[str, Any]]:
    """Per unit (街道 or grid cell), tier (``kind`` "tier") or service ("service") and profile with any change:
    gains and losses (rows with none left out)."""
    table = scenario.unit_change
    if table is None:
        return []
    rows = table[table["kind"] == kind]
    counts = ("gain_people", "gain_elderly", "loss_people", "loss_elderly")
    key = "tier" if kind == "tier" else "service"
    return [
        {"unit": str(r["unit"]), key: str(r["key"]), "profile": str(r["profile"]), **{c: int(r[c]) for c in counts}}
        for r in rows.to_dict("records")
    ]


def _site_gains(scenario: Scenario, tiers_of: dict[str, str]) -> dict[str, dict[str, dict[str, int]]]:
    """Per new site and profile: people and elderly newly within its tier's target whose nearest facility of
    the tier it is. Every newly covered resident's nearest is a new site, so per tier and profile these add
    up to the scenario's ``gain_people`` / ``gain_elderly`` (each rounded on its own)."""
    was = scenario.base.require_residents("a what-if comparison")
    now = scenario.plan.require_residents("a what-if comparison")
    pop = was["population"].to_numpy(float)
    eld = was["elderly"].to_numpy(float)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for tier in set(tiers_of.values()):
        nearest = now[col.nearest(tier)].to_numpy(object)
        for prof in scenario.plan.rules.profiles:
            c = col.covered(tier, prof.key)
            new = now[c].to_numpy(bool) & ~was[c].to_numpy(bool)
            for site_id, site_tier in tiers_of.items():
                if site_tier != tier:
                    continue
                mine = new & (nearest == site_id)
                out.setdefault(site_id, {})[prof.key] = {
                    "people": round(float(pop[mine].sum())),
                    "elderly": round(float(eld[mine].sum())),
                }
    return out
