"""Folium maps for district officials: one self-explaining interactive map of a plan.

A builder at the edge of the planner (nothing in the computation imports it).
:func:`plan_map` returns a :class:`folium.Map` (it displays inline in Jupyter);
:func:`save_map` writes it as one HTML file that embeds every JavaScript and CSS
asset it needs (taken from the ``folium-offline`` package installed from PyPI),
so it renders with no network at all. The layers themselves are drawn by
:mod:`planner.map_layers`; every one is named in Chinese first, then English,
with its tier, walking profile and minutes, and the legend repeats those names.

Basemaps (:data:`BASEMAPS`): by default ``streets`` — no tiles, the study area's
own streets as a vector layer, so the map reads the same with no network. Tiles
are optional and listed in the layer control: OpenStreetMap, a light basemap,
Tianditu (key from the ``TIANDITU_KEY`` environment variable) and Gaode/AMap.
Gaode tiles are GCJ-02, so with ``basemap="gaode"`` every overlay is shifted
from WGS-84 to GCJ-02 to line up with its streets (and only tiles of one datum
are offered together). ``none`` draws no tiles and hides the streets at first.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement, Template

from . import columns as col
from .coords import wgs84_to_gcj02
from .errors import ConfigError
from .map_layers import (
    BAND_COLOURS,
    CROWDED,
    MINUTE_CLASSES,
    TIER_COLOURS,
    UNREACHABLE,
    Drawing,
    geojson,
    minutes_text,
    profile_words,
    resident_cells,
    simplify,
    swatch,
)

if TYPE_CHECKING:
    from .plan import Plan
    from .sites import Proposal

__all__ = ["BASEMAPS", "TIER_COLOURS", "inline_assets", "plan_map", "save_map", "to_basemap_crs"]

log = logging.getLogger(__name__)

_OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

#: Basemap keys and their tile sources (``None``: no tiles). The first is :func:`plan_map`'s default.
BASEMAPS: dict[str, dict] = {
    "streets": {"name": "街道线（离线，无瓦片） Streets only (offline, no tiles)", "tiles": None, "crs": "wgs84"},
    "osm": {
        "name": "OpenStreetMap 瓦片 tiles (online)",
        "tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attr": _OSM_ATTRIBUTION,
        "crs": "wgs84",
    },
    "light": {
        "name": "浅色瓦片 Light tiles (CARTO, online)",
        "tiles": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
        "attr": f"{_OSM_ATTRIBUTION}, © CARTO",
        "crs": "wgs84",
    },
    "tianditu": {
        "name": "天地图 Tianditu (online)",
        "crs": "wgs84",
        "attr": "© 天地图 Tianditu (CGCS2000 ≈ WGS-84)",
        "tiles": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}",
        "subdomains": "01234567",
    },
    "gaode": {
        "name": "高德 Gaode/AMap (GCJ-02, online)",
        "crs": "gcj02",
        "attr": "© 高德 AutoNavi (GCJ-02)",
        "tiles": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "subdomains": "1234",
    },
    "none": {"name": "无底图 No basemap", "tiles": None, "crs": "wgs84"},
}


def to_basemap_crs(gdf: gpd.GeoDataFrame, basemap: str) -> gpd.GeoDataFrame:
    """Return WGS-84 geometries as the basemap needs them: shifted to GCJ-02 for Gaode, else unchanged."""
    if BASEMAPS[basemap]["crs"] != "gcj02":
        return gdf

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out.geometry = shapely.transform(gdf.geometry.values, shift)
    return out


def _minutes_colour(minutes: float) -> str:
    if not np.isfinite(minutes):
        return UNREACHABLE
    return next(c for limit, c in MINUTE_CLASSES if minutes <= limit)


#: The folium default assets the map needs (see :func:`plan_map`).
_ASSETS_USED = frozenset({"leaflet", "jquery", "leaflet_css"})


def plan_map(
    plan: Plan,
    *,
    proposals: Sequence[Proposal] | None = None,
    basemap: str = "streets",
    resident_tier: str = "station",
    cell_m: float = 250.0,
) -> folium.Map:
    """Build the interactive map of a plan (it reads the plan's results and computes no access).

    Parameters
    ----------
    plan : planner.plan.Plan
        Its units are coloured by the share within 15 minutes; its isochrones and service areas are
        drawn for the profile measured for everyone (none when the run computed none). Facilities of
        every tier, each service list with no tier, the context layers (off at first) and, where the
        residents carry ``assessed_service_<key>``, where a service was not assessed.
    proposals : sequence of planner.sites.Proposal, optional
        Proposed sites, numbered per tier by rank (站1, 站2 …; default: the plan's own).
    basemap : {"streets", "osm", "light", "tianditu", "gaode", "none"}, default "streets"
        The basemap shown first (see :data:`BASEMAPS`). ``streets`` needs no network; the tile
        basemaps of the same datum are offered beside it. Gaode (GCJ-02) shifts every overlay.
    resident_tier : str, default "station"
        The tier whose walking minutes colour the residents layer shown first.
    cell_m : float, default 250
        Grid cell for the residents layer.

    Returns
    -------
    folium.Map
    """
    if basemap not in BASEMAPS:
        msg = f"basemap {basemap!r} is not one of {', '.join(BASEMAPS)}"
        raise ConfigError(msg)
    if basemap == "tianditu" and not os.environ.get("TIANDITU_KEY"):
        msg = "the Tianditu basemap needs a key: set the TIANDITU_KEY environment variable"
        raise ConfigError(msg)
    net = plan.frame
    rules = plan.rules
    ref = rules.everyone
    p_zh, p_en = profile_words(ref)
    proposals = plan.proposals if proposals is None else proposals
    boundary = gpd.GeoDataFrame(geometry=[net.boundary_wgs84()], crs="EPSG:4326")
    x0, y0, x1, y1 = to_basemap_crs(boundary, basemap).total_bounds
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=13, tiles=None, control_scale=True, prefer_canvas=True
    )
    # only what the page uses: Leaflet, and jQuery for folium's popups (no Bootstrap, Font Awesome or
    # awesome-markers: the markers are circles and HTML labels) -- a lighter page, 1.2 MB less embedded
    m.default_js = [(k, v) for k, v in m.default_js if k in _ASSETS_USED]
    m.default_css = [(k, v) for k, v in m.default_css if k in _ASSETS_USED]
    m.fit_bounds([[y0, x0], [y1, x1]])
    _add_basemaps(m, basemap)
    d = Drawing(m, lambda gdf: to_basemap_crs(gdf, basemap), estimated=plan.estimated)

    if plan.network is not None:  # one feature: the streets are drawn, never clicked
        lines = shapely.line_merge(shapely.multilinestrings(plan.network.edge_lines))
        streets = d.shift(simplify(gpd.GeoDataFrame(geometry=[lines], crs=net.crs), 3.0))
        layer = folium.GeoJson(
            geojson(streets),
            style_function=lambda _: {"color": "#888", "weight": 1, "opacity": 0.8},
            interactive=False,
            show=basemap != "none",
        )
        d.add(layer, "街道（OpenStreetMap 矢量，离线可用）", "Streets (OSM vector, offline)", swatch("#888", "line"))
    else:  # no streets: the area's outline, so the map still reads offline
        outline = d.shift(gpd.GeoDataFrame(geometry=[net.boundary_wgs84()], crs="EPSG:4326"))
        layer = folium.GeoJson(
            geojson(outline),
            style_function=lambda _: {"color": "#555", "weight": 1.5, "fill": False},
            interactive=False,
        )
        d.add(
            layer,
            "研究范围（无路网，步行时间为直线距离×绕行系数估算）",
            "Study area (no streets: walking times are straight-line estimates)",
            swatch("#555", "line"),
        )

    bands = sorted(rules.bands)
    band_colour = dict(zip(bands, BAND_COLOURS))
    service_areas, isochrones = plan.service_areas, plan.isochrones
    if service_areas is not None:
        for tier in rules.tiers:
            sa = service_areas[(service_areas["tier"] == tier.key) & (service_areas["profile"] == ref.key)]
            sa = d.shift(simplify(sa.sort_values("band_min", ascending=False), 10.0))
            words = f"{tier.name_zh} · {p_zh} · {minutes_text(bands)} 分钟"
            words_en = f"{tier.name_en} · {p_en} · {minutes_text(bands)} min"
            layer = folium.GeoJson(
                geojson(sa, ["band_min", "area_km2"]),
                show=tier.key == resident_tier,
                style_function=lambda f: {
                    "fillColor": band_colour.get(f["properties"]["band_min"], "#999"),
                    "color": band_colour.get(f["properties"]["band_min"], "#999"),
                    "weight": 0.5,
                    "fillOpacity": 0.25,
                },
                tooltip=folium.GeoJsonTooltip(["band_min", "area_km2"], aliases=["步行分钟 minutes", "面积 km²"]),
            )
            d.add(layer, f"服务范围 · {words}", f"Service area · {words_en}", swatch(BAND_COLOURS[1]), walking=True)
            if isochrones is None:  # per facility only when computed (--isochrones drawn or all)
                continue
            iso = isochrones[(isochrones["tier"] == tier.key) & (isochrones["profile"] == ref.key)]
            iso = d.shift(simplify(iso.sort_values("band_min", ascending=False), 8.0))
            layer = folium.GeoJson(
                geojson(iso, ["facility_id", "band_min"]),
                show=False,
                style_function=lambda f: {
                    "fillColor": band_colour.get(f["properties"]["band_min"], "#999"),
                    "color": "#555",
                    "weight": 0.3,
                    "fillOpacity": 0.15,
                },
                tooltip=folium.GeoJsonTooltip(["facility_id", "band_min"], aliases=["设施 facility", "分钟 minutes"]),
            )
            d.add(
                layer,
                f"等时圈（逐个设施） · {words}",
                f"Isochrones per facility · {words_en}",
                swatch("#bbb"),
                walking=True,
            )

    if plan.residents is not None:
        metric = plan.residents.to_crs(net.crs).geometry
        xy = (metric.x.to_numpy(), metric.y.to_numpy())  # projected once for every layer of cells
        for tier in rules.tiers:
            cells = d.shift(resident_cells(plan.residents, tier, ref.key, net.crs, cell_m, xy=xy))
            layer = folium.GeoJson(
                geojson(cells, ["minutes", "population", "elderly", "without", "elderly_without"]),
                show=tier.key == resident_tier,
                style_function=lambda f, lim=tier.minutes: {
                    "fillColor": _minutes_colour(f["properties"]["minutes"] or np.inf),
                    "fillOpacity": 0.55,
                    "color": "#b2182b"
                    if f["properties"]["without"] > 0 and (f["properties"]["minutes"] or 1e9) > lim
                    else "#666",
                    "weight": 1.6 if (f["properties"]["minutes"] or 1e9) > lim else 0.2,
                },
                tooltip=folium.GeoJsonTooltip(
                    ["minutes", "population", "elderly", "without", "elderly_without"],
                    aliases=[
                        "平均步行分钟 minutes",
                        "居民 residents",
                        "老年人 elderly",
                        f"{tier.minutes:g} 分钟内无{tier.name_zh} without",
                        "其中老年人 elderly without",
                    ],
                ),
            )
            zh = f"居民步行时间 · {tier.name_zh} · {p_zh} · {tier.minutes:g} 分钟目标"
            en = f"Residents' walking minutes · {tier.name_en} · {p_en} · {tier.minutes:g}-min target"
            d.add(layer, zh, en, swatch(MINUTE_CLASSES[2][1]), walking=True)

        assessed = [r.key for r in rules.services if r.key in plan.access.services]
        shown_service = assessed[0] if assessed else None  # drawn at first when there are no tiers to show
        for rule in rules.services:  # each service measured on a real list, for the first profile of its groups
            prof = next((p for p in rules.profiles if p.group in rule.groups), None)
            if prof is None or col.service_minutes(rule.key, prof.key) not in plan.residents.columns:
                continue
            if plan.service_basis(rule.key)["illustrative"]:  # measured on the illustrative tiers: the tier layers
                continue  # show those walks already (the report gives the figures, tagged illustrative)
            cells = d.shift(resident_cells(plan.residents, None, prof.key, net.crs, cell_m, service=rule, xy=xy))
            people = ["elderly", "elderly_without"] if prof.group == "elderly" else ["population", "without"]
            names = {
                "population": "居民 residents",
                "without": f"{rule.minutes:g} 分钟内无此服务 without",
                "elderly": "老年人 elderly",
                "elderly_without": f"{rule.minutes:g} 分钟内无此服务的老年人 elderly without",
            }
            layer = folium.GeoJson(
                geojson(cells, ["minutes", *people]),
                show=not rules.tiers and rule.key == shown_service,
                style_function=lambda f, lim=rule.minutes: {
                    "fillColor": _minutes_colour(f["properties"]["minutes"] or np.inf),
                    "fillOpacity": 0.55,
                    "color": "#b2182b" if (f["properties"]["minutes"] or 1e9) > lim else "#666",
                    "weight": 1.6 if (f["properties"]["minutes"] or 1e9) > lim else 0.2,
                },
                tooltip=folium.GeoJsonTooltip(
                    ["minutes", *people], aliases=["平均步行分钟 minutes", *(names[p] for p in people)]
                ),
            )
            zh = f"居民步行时间 · {rule.name_zh}服务 · {prof.name_zh or prof.key} · {rule.minutes:g} 分钟目标"
            en = (
                f"Residents' walking minutes · {rule.name_en} · {prof.name_en or prof.key} · "
                f"{rule.minutes:g}-min target"
            )
            d.add(layer, zh, en, swatch(MINUTE_CLASSES[2][1]), walking=True)

    units = plan.units
    if units is not None and len(units) and rules.fifteen_minute_measure:
        u = units[units["population"] > 0].copy()
        u["within_15min_pct"] = (100 * u["within_15min_share"]).round(1)
        for t in rules.tiers:
            u[f"{t.key}_pct"] = (100 * u[col.covered(t.key, ref.key)]).round(1)
        fields = ["unit", "population", "elderly", "within_15min_pct"] + [f"{t.key}_pct" for t in rules.tiers]
        u = d.shift(simplify(u, 5.0))
        layer = folium.GeoJson(
            geojson(u, fields),
            show=False,
            style_function=lambda f: {
                "fillColor": _share_colour(f["properties"]["within_15min_pct"]),
                "fillOpacity": 0.5,
                "color": "#333",
                "weight": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(
                fields,
                aliases=["单元 unit", "居民 residents", "老年人 elderly", "各层级均 15 分钟内 % all tiers ≤15 min"]
                + [f"{t.name_zh} {t.minutes:g} 分钟内 % {t.key}" for t in rules.tiers],
                localize=True,
            ),
        )
        zh, en = f"单元覆盖率 · 各层级均 15 分钟内 · {p_zh}", f"Units: share with every tier within 15 min · {p_en}"
        d.add(layer, zh, en, swatch("#fc8d59"), walking=True)

    d.not_assessed(plan, net.crs, cell_m)
    d.facilities(plan)
    d.context(plan)
    d.proposals(plan, proposals)
    _legend(plan, basemap, d).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _legend(plan: Plan, basemap: str, d: Drawing) -> MacroElement:
    summary = plan.summary()
    date = (summary["network"].get("osm_timestamp") or "")[:10]
    pop_note = plan.area.settings.population.note if plan.area.settings.population else ""
    p_zh, p_en = profile_words(plan.rules.everyone)
    speed = plan.rules.everyone.speed_mps * 3.6
    # one line per layer, named as in the layer control; a line shows while its layer is on the map
    hidden = " style='display:none'"
    layers = "".join(
        f"<div data-layer='{html.escape(f'{zh} — {en}', quote=True)}'{'' if shown else hidden}>"
        f"{symbol}{html.escape(zh)} <span class='en'>{html.escape(en)}</span></div>"
        for symbol, zh, en, shown in d.legend
    )
    bands = "".join(
        f"{swatch(c)}<span style='font-size:10px'>≤{b:g} </span>"
        for b, c in zip(sorted(plan.rules.bands), BAND_COLOURS)
    )
    minutes = "".join(
        f"{swatch(c)}<span style='font-size:10px'>{'≤' + format(lim, 'g') if np.isfinite(lim) else '>20'} </span>"
        for lim, c in MINUTE_CLASSES
    )
    warn = (
        "<div style='background:#fff4e5;border-left:4px solid #dd6b20;padding:3px 6px;margin:4px 0'>"
        "<b>示意设施</b>：非真实位置（图层名与弹窗标注“示意”）<br>"
        "<b>ILLUSTRATIVE facilities</b> — not real positions</div>"
        if d.illustrative
        else ""
    )
    shifted = (
        "<div>叠加图层已转换为 GCJ-02 以对齐高德底图 <span class='en'>overlays shifted to GCJ-02</span></div>"
        if BASEMAPS[basemap]["crs"] == "gcj02"
        else ""
    )
    context = "".join(f"<br>{line}" for line in d.sources)
    crowded = (
        f"<div>{swatch(CROWDED, 'ring')}深红外圈：拥挤（步行范围内人口超过可服务人数，{len(d.crowded)} 处"
        f"{'；示意设施的拥挤亦为示意' if d.illustrative else ''}）"
        " <span class='en'>dark red ring: crowded (more people within reach than capacity"
        f"{'; illustrative for illustrative facilities' if d.illustrative else ''})</span></div>"
        if d.crowded
        else ""
    )
    if plan.estimated:  # no streets: the walks are straight lines x a detour factor, and no OSM data is shown
        factor = plan.estimate.detour if plan.estimate else float("nan")
        pace = (
            f"<div style='background:#fff4e5;border-left:4px solid #dd6b20;padding:3px 6px;margin:4px 0'>"
            f"<b>估算</b>：没有道路网，步行距离按直线距离×{factor:g}，按{html.escape(p_zh)} {speed:.1f} 公里/小时计"
            f"<br><b>ESTIMATE</b>: no streets; straight line x {factor:g}, at {html.escape(p_en.lower())} "
            f"{speed:.1f} km/h</div>"
        )
        streets = "街道 Streets：无 none"
    else:
        pace = (
            f"<div>步行时间按{html.escape(p_zh)} {speed:.1f} 公里/小时计 <span class='en'>minutes at "
            f"{html.escape(p_en.lower())}, {speed:.1f} km/h</span></div>"
        )
        streets = f"街道 Streets {_OSM_ATTRIBUTION}, {html.escape(date)}"
    body = f"""
<style>#lc-legend .en{{color:#666;font-size:10.5px}} #lc-legend div{{margin:1px 0}}
.leaflet-control-layers-expanded{{max-height:70vh;overflow-y:auto;max-width:380px;font-size:11.5px}}</style>
<div id="lc-legend" style="position:fixed;bottom:56px;left:10px;z-index:9999;background:rgba(255,255,255,.93);
 padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px/1.35 sans-serif;max-width:340px;
 max-height:62vh;overflow-y:auto">
 <details open><summary style="font-weight:bold;cursor:pointer">图例 Legend</summary>{warn}
 {pace}
 {layers}
 <div>{swatch("#2471a3", "ring")}虚线空心：位置存疑（见弹窗）
 <span class='en'>dashed, hollow: position uncertain</span></div>{crowded}
 <div style="margin-top:4px">步行等时带（分钟） <span class='en'>walking bands (min)</span><br>{bands}</div>
 <div style="margin-top:4px">居民平均步行分钟 <span class='en'>residents' minutes</span><br>{minutes}
 {swatch(UNREACHABLE)}<span style='font-size:10px'>不可达 none</span></div>{shifted}
 <div style="margin-top:4px;color:#555;font-size:10.5px">来源 Sources：{streets}
 <br>人口 Population：{html.escape(pop_note) or "见报告 see report"}{context}</div>
 </details>
</div>
<div id="lc-title" style="position:fixed;top:10px;left:60px;z-index:9999;background:rgba(255,255,255,.93);
 padding:6px 12px;border:1px solid #999;border-radius:4px;font:15px sans-serif">
 <b>{html.escape(plan.area.title_zh)}</b> · 十五分钟社区生活圈<br>
 <span style="font-size:12px;color:#444">{html.escape(plan.area.title_en)} · 15-minute community life circle</span>
</div>"""
    element = MacroElement()
    element._template = Template("{% macro html(this, kwargs) %}" + body + "{% endmacro %}" + _LEGEND_SCRIPT)
    return element


# the legend follows the layer control: a layer's line shows while the layer is on the map
_LEGEND_SCRIPT = """{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.on("overlayadd overlayremove", function (e) {
  document.querySelectorAll("#lc-legend [data-layer]").forEach(function (el) {
    if (el.dataset.layer === e.name) { el.style.display = e.type === "overlayadd" ? "" : "none"; }
  });
});
{% endmacro %}"""


def _share_colour(pct: float | None) -> str:
    if pct is None or not np.isfinite(pct):
        return "#cccccc"
    for limit, colour in ((50, "#d73027"), (85, "#fc8d59"), (99, "#fee08b"), (101, "#1a9850")):
        if pct < limit:
            return colour
    return "#1a9850"


def _add_basemaps(m: folium.Map, first: str) -> None:
    """The chosen basemap first (shown), then the tiles of the same datum, then no tiles (streets only)."""
    datum = BASEMAPS[first]["crs"]
    keys = [first] + [
        k
        for k, b in BASEMAPS.items()
        if k != first and b["crs"] == datum and b["tiles"] and (k != "tianditu" or os.environ.get("TIANDITU_KEY"))
    ]
    if BASEMAPS[first]["tiles"] is not None:
        keys.append("streets")
    for key in keys:
        spec = BASEMAPS[key]
        if spec["tiles"] is None:
            folium.FeatureGroup(name=spec["name"], overlay=False, control=True, show=key == first).add_to(m)
            continue
        tiles = spec["tiles"].replace("{key}", os.environ.get("TIANDITU_KEY", ""))
        folium.TileLayer(
            tiles=tiles,
            attr=spec["attr"],
            name=spec["name"],
            subdomains=spec.get("subdomains", "abc"),
            max_zoom=19,
            overlay=False,
            control=True,
            show=key == first,
        ).add_to(m)


_ASSET_RE = re.compile(r'<script src="(https?://[^"]+)"></script>|<link rel="stylesheet" href="(https?://[^"]+)"/>')


def inline_assets(page: str) -> str:
    """Replace links to the CDN assets folium uses with their contents, from the folium-offline package.

    Raises
    ------
    RuntimeError
        When an asset the page links is not available offline (the page would need a network).
    """
    from offlinefolium.elements import _res as assets  # URL -> file content, shipped by folium-offline

    missing = []

    def replace(match: re.Match) -> str:
        url = match.group(1) or match.group(2)
        content = assets.get(url)
        if content is None:
            missing.append(url)
            return match.group(0)
        return f"<script>{content}</script>" if match.group(1) else f"<style>{content}</style>"

    out = _ASSET_RE.sub(replace, page)
    if missing:
        msg = f"no offline copy of {', '.join(missing)}; save with embed_assets=False or update folium-offline"
        raise RuntimeError(msg)
    return out


def save_map(m: folium.Map, path: str | Path, *, embed_assets: bool = True) -> None:
    """Write a map as one HTML file; with ``embed_assets`` it needs no network to render."""
    page = m.get_root().render()
    if embed_assets:
        page = inline_assets(page)
    Path(path).write_text(page, encoding="utf-8")
