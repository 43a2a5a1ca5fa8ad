"""Folium maps for district officials: one self-explaining interactive map of a plan.

A builder at the edge of the planner (nothing in the computation imports it).
:func:`plan_map` returns a :class:`folium.Map` (it displays inline in Jupyter);
:func:`save_map` writes it as one HTML file that embeds every JavaScript and CSS
asset it needs (taken from the ``folium-offline`` package installed from PyPI),
so it renders with no network at all.

Basemaps: OpenStreetMap (default), a light basemap, Tianditu (key from the
``TIANDITU_KEY`` environment variable) and Gaode/AMap. Gaode tiles are GCJ-02,
so with ``basemap="gaode"`` every overlay is shifted from WGS-84 to GCJ-02 to
line up with its streets. The study area's own streets are drawn as a light
vector layer, so the map still reads as a map where no tile server is reachable.
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
import pandas as pd
import shapely
from branca.element import MacroElement, Template

from . import columns as col
from .coords import wgs84_to_gcj02
from .errors import ConfigError

if TYPE_CHECKING:
    from .plan import Plan
    from .sites import Proposal

__all__ = ["BASEMAPS", "TIER_COLOURS", "inline_assets", "plan_map", "save_map", "to_basemap_crs"]

log = logging.getLogger(__name__)

TIER_COLOURS = {"center": "#c0392b", "station": "#2471a3", "point": "#1e8449"}
_BAND_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
_MINUTE_CLASSES = [(5, "#1a9850"), (10, "#91cf60"), (15, "#fee08b"), (20, "#fc8d59"), (np.inf, "#d73027")]
_OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

#: Basemap keys and their tile sources (``None``: no tiles).
BASEMAPS: dict[str, dict] = {
    "osm": {
        "name": "OpenStreetMap",
        "tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attr": _OSM_ATTRIBUTION,
        "crs": "wgs84",
    },
    "light": {
        "name": "浅色 Light (CARTO)",
        "tiles": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png",
        "attr": f"{_OSM_ATTRIBUTION}, © CARTO",
        "crs": "wgs84",
    },
    "tianditu": {
        "name": "天地图 Tianditu",
        "crs": "wgs84",
        "attr": "© 天地图 Tianditu (CGCS2000 ≈ WGS-84)",
        "tiles": "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}",
        "subdomains": "01234567",
    },
    "gaode": {
        "name": "高德 Gaode/AMap (GCJ-02)",
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


def _simplify(gdf: gpd.GeoDataFrame, metres: float) -> gpd.GeoDataFrame:
    """Simplify to screen precision and round coordinates to ~1 m, to keep the file small and fast.

    Works in degrees (``metres`` / 111 km; a few metres either way are below screen precision),
    which spares two reprojections of every vertex.
    """
    if gdf.empty:
        return gdf
    out = gdf.to_crs("EPSG:4326")
    geoms = shapely.simplify(out.geometry.values, metres / 111_000.0, preserve_topology=True)
    out = out.set_geometry(shapely.set_precision(geoms, 1e-5, mode="pointwise"))
    return out[~out.geometry.is_empty]


def _minutes_colour(minutes: float) -> str:
    if not np.isfinite(minutes):
        return "#7b3294"
    return next(c for limit, c in _MINUTE_CLASSES if minutes <= limit)


def _resident_cells(residents: gpd.GeoDataFrame, tier, profile: str, crs: str, cell_m: float) -> gpd.GeoDataFrame:
    """Population-weighted minutes to a tier on a square grid (keeps the map fast with many residents)."""
    pts = residents.to_crs(crs)
    x, y = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    key = pd.DataFrame(
        {
            "i": np.floor(x / cell_m).astype(np.int64),
            "j": np.floor(y / cell_m).astype(np.int64),
            "pop": residents["population"].to_numpy(),
            "eld": residents["elderly"].to_numpy(),
            "m": residents[col.minutes(tier.key, profile)].to_numpy(),
            "miss": ~residents[col.covered(tier.key, profile)].to_numpy(bool),
        }
    )
    reach = key["m"].notna()
    key["pm"] = key["m"].fillna(0) * key["pop"]
    key["preach"] = key["pop"] * reach
    key["pmiss"] = key["pop"] * key["miss"]
    key["emiss"] = key["eld"] * key["miss"]
    g = (
        key.groupby(["i", "j"])
        .agg(
            pop=("pop", "sum"),
            eld=("eld", "sum"),
            pm=("pm", "sum"),
            preach=("preach", "sum"),
            pmiss=("pmiss", "sum"),
            emiss=("emiss", "sum"),
        )
        .reset_index()
    )
    g = g[g["pop"] > 0]
    # mean minutes of the people who can reach the tier at all; null where nobody can
    minutes = np.where(g["preach"] > 0, g["pm"] / np.maximum(g["preach"], 1e-12), np.nan)
    geom = shapely.box(g["i"] * cell_m, g["j"] * cell_m, (g["i"] + 1) * cell_m, (g["j"] + 1) * cell_m)
    cells = gpd.GeoDataFrame(
        {
            "minutes": np.round(minutes, 1),
            "population": g["pop"].round().astype(int),
            "elderly": g["eld"].round().astype(int),
            "without": g["pmiss"].round().astype(int),
            "elderly_without": g["emiss"].round().astype(int),
        },
        geometry=geom,
        crs=crs,
    )
    return cells.to_crs("EPSG:4326")


def _legend(plan, basemap: str, illustrative: bool, proposals) -> MacroElement:
    summary = plan.summary()
    date = (summary["network"].get("osm_timestamp") or "")[:10]
    pop_note = plan.area.settings.population.note if plan.area.settings.population else ""
    rows = "".join(
        f"<div><span style='background:{TIER_COLOURS.get(t.key, '#555')};border-radius:50%;"
        f"display:inline-block;width:10px;height:10px'></span> {html.escape(t.name_zh)} "
        f"{html.escape(t.name_en)} · {t.minutes:g} min</div>"
        for t in plan.rules.tiers
    )
    bands = "".join(
        f"<span style='background:{c};display:inline-block;width:26px;height:10px;opacity:.7'></span>"
        f"<span style='font-size:10px'>≤{b:g} </span>"
        for b, c in zip(plan.rules.bands, _BAND_COLOURS)
    )
    minutes = "".join(
        f"<span style='background:{c};display:inline-block;width:22px;height:10px'></span>"
        f"<span style='font-size:10px'>{'≤' + format(lim, 'g') if np.isfinite(lim) else '>20'} </span>"
        for lim, c in _MINUTE_CLASSES
    )
    warn = (
        "<div style='background:#fff4e5;border-left:4px solid #dd6b20;padding:3px 6px;margin:4px 0'>"
        "<b>示意设施</b> — 非真实位置<br><b>ILLUSTRATIVE facilities</b> — not real positions</div>"
        if illustrative
        else ""
    )
    shifted = (
        "<div>叠加图层已转换为 GCJ-02 以对齐高德底图 · overlays shifted to GCJ-02</div>"
        if BASEMAPS[basemap]["crs"] == "gcj02"
        else ""
    )
    sites = (
        (
            "<div><span style='border:2px solid #ffd700;border-radius:50%;padding:0 4px;font-size:10px'>1</span>"
            " 建议新增站点（排序） proposed sites, by rank</div>"
        )
        if proposals
        else ""
    )
    body = f"""
<div id="lc-legend" style="position:fixed;bottom:56px;left:10px;z-index:9999;background:rgba(255,255,255,.93);
 padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px/1.35 sans-serif;max-width:290px">
 <div style="font-weight:bold">图例 Legend</div>{warn}{rows}
 <div style="margin-top:4px">步行等时圈 walking bands (min)<br>{bands}</div>
 <div style="margin-top:4px">居民步行时间 residents' minutes<br>{minutes}
 <span style='background:#7b3294;display:inline-block;width:22px;height:10px'></span>
 <span style='font-size:10px'>不可达 none</span></div>{sites}{shifted}
 <div style="margin-top:4px;color:#555;font-size:10.5px">街道 Streets: {_OSM_ATTRIBUTION}, {html.escape(date)}<br>
 人口 Population: {html.escape(pop_note) or "see report"}</div>
</div>
<div id="lc-title" style="position:fixed;top:10px;left:60px;z-index:9999;background:rgba(255,255,255,.93);
 padding:6px 12px;border:1px solid #999;border-radius:4px;font:15px sans-serif">
 <b>{html.escape(plan.area.title_zh)}</b> · 十五分钟社区生活圈<br>
 <span style="font-size:12px;color:#444">{html.escape(plan.area.title_en)} · 15-minute community life circle</span>
</div>"""
    element = MacroElement()
    element._template = Template("{% macro html(this, kwargs) %}" + body + "{% endmacro %}")
    return element


def plan_map(
    plan: Plan,
    *,
    proposals: Sequence[Proposal] | None = None,
    basemap: str = "osm",
    resident_tier: str = "station",
    cell_m: float = 250.0,
) -> folium.Map:
    """Build the interactive map of a plan (it reads the plan's results and computes no access).

    Parameters
    ----------
    plan : planner.plan.Plan
        Its units are coloured by the share within 15 minutes; its isochrones and service areas are
        drawn for the profile measured for everyone (none when the run computed none).
    proposals : sequence of planner.sites.Proposal, optional
        Proposed sites, drawn with their rank (default: the plan's own).
    basemap : {"osm", "light", "tianditu", "gaode", "none"}, default "osm"
        The basemap shown first. WGS-84 basemaps are offered together; Gaode
        (GCJ-02) shifts every overlay.
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
    net = plan.network
    ref = plan.rules.everyone.key
    proposals = plan.proposals if proposals is None else proposals
    units = plan.units
    boundary = gpd.GeoDataFrame(geometry=[net.boundary_wgs84()], crs="EPSG:4326")
    x0, y0, x1, y1 = to_basemap_crs(boundary, basemap).total_bounds
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=13, tiles=None, control_scale=True, prefer_canvas=True
    )
    m.fit_bounds([[y0, x0], [y1, x1]])
    _add_basemaps(m, basemap)

    streets = gpd.GeoDataFrame(
        geometry=shapely.get_parts(shapely.line_merge(shapely.multilinestrings(net.edge_lines))), crs=net.crs
    )
    streets = to_basemap_crs(_simplify(streets, 3.0), basemap)
    folium.GeoJson(
        streets,
        name="街道 Streets (OSM)",
        style_function=lambda _: {"color": "#888", "weight": 1, "opacity": 0.8},
        interactive=False,
        show=True,
    ).add_to(m)

    band_colour = dict(zip(sorted(plan.rules.bands), _BAND_COLOURS))
    service_areas, isochrones = plan.service_areas, plan.isochrones
    if isochrones is not None and service_areas is not None:
        for tier in plan.rules.tiers:
            sa = service_areas[(service_areas["tier"] == tier.key) & (service_areas["profile"] == ref)]
            sa = to_basemap_crs(_simplify(sa.sort_values("band_min", ascending=False), 5.0), basemap)
            folium.GeoJson(
                sa,
                name=f"服务范围 Service area — {tier.name_zh} {tier.key}",
                show=tier.key == resident_tier,
                style_function=lambda f: {
                    "fillColor": band_colour.get(f["properties"]["band_min"], "#999"),
                    "color": band_colour.get(f["properties"]["band_min"], "#999"),
                    "weight": 0.5,
                    "fillOpacity": 0.25,
                },
                tooltip=folium.GeoJsonTooltip(
                    ["tier", "band_min", "area_km2"], aliases=["tier", "minutes 分钟", "km²"]
                ),
            ).add_to(m)
            iso = isochrones[(isochrones["tier"] == tier.key) & (isochrones["profile"] == ref)]
            iso = to_basemap_crs(_simplify(iso.sort_values("band_min", ascending=False), 8.0), basemap)
            folium.GeoJson(
                iso,
                name=f"等时圈 Isochrones — {tier.name_zh} {tier.key}",
                show=False,
                style_function=lambda f: {
                    "fillColor": band_colour.get(f["properties"]["band_min"], "#999"),
                    "color": "#555",
                    "weight": 0.3,
                    "fillOpacity": 0.15,
                },
                tooltip=folium.GeoJsonTooltip(["facility_id", "band_min"], aliases=["facility 设施", "minutes 分钟"]),
            ).add_to(m)

    if plan.residents is not None:
        for tier in plan.rules.tiers:
            cells = to_basemap_crs(_resident_cells(plan.residents, tier, ref, net.crs, cell_m), basemap)
            folium.GeoJson(
                cells,
                name=f"居民步行时间 Residents' minutes — {tier.name_zh} {tier.key}",
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
                        "minutes 分钟",
                        "residents 居民",
                        "elderly 老年人",
                        f"without {tier.key} 未覆盖",
                        "elderly without 老年人未覆盖",
                    ],
                ),
            ).add_to(m)

    if units is not None and len(units):
        u = units[units["population"] > 0].copy()
        u["within_15min_pct"] = (100 * u["within_15min_share"]).round(1)
        for t in plan.rules.tiers:
            u[f"{t.key}_pct"] = (100 * u[col.covered(t.key, ref)]).round(1)
        u = to_basemap_crs(_simplify(u, 5.0), basemap)
        folium.GeoJson(
            u,
            name="单元覆盖率 Units: share within 15 min",
            show=False,
            style_function=lambda f: {
                "fillColor": _share_colour(f["properties"]["within_15min_pct"]),
                "fillOpacity": 0.5,
                "color": "#333",
                "weight": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(
                ["unit", "population", "elderly", "within_15min_pct"] + [f"{t.key}_pct" for t in plan.rules.tiers],
                aliases=["unit 单元", "residents 居民", "elderly 老年人", "% ≤15 min (all tiers)"]
                + [f"% covered {t.key}" for t in plan.rules.tiers],
                localize=True,
            ),
        ).add_to(m)

    fac = to_basemap_crs(plan.facilities, basemap)
    illustrative = bool(plan.area.facilities_illustrative)
    for tier in plan.rules.tiers:
        group = folium.FeatureGroup(name=f"设施 Facilities — {tier.name_zh} {tier.key}", show=True)
        sel = fac[fac["tier"] == tier.key]
        radius = {"center": 9, "station": 7, "point": 5}.get(tier.key, 6)
        for _, row in sel.iterrows():
            services = ", ".join(row["services"]) if isinstance(row["services"], list) else str(row["services"])
            popup = (
                f"<b>{html.escape(str(row['name']))}</b><br>{html.escape(tier.name_zh)} · "
                f"{html.escape(tier.name_en)}<br>id: {html.escape(str(row['facility_id']))}<br>"
                f"services 服务: {html.escape(services) or '–'}"
                + ("<br><i>示意 illustrative</i>" if illustrative else "")
            )
            folium.CircleMarker(
                [row.geometry.y, row.geometry.x],
                radius=radius,
                color="#fff",
                weight=1.5,
                fill=True,
                fill_color=TIER_COLOURS.get(tier.key, "#555"),
                fill_opacity=0.95,
                popup=folium.Popup(popup, max_width=280),
                tooltip=f"{tier.key} {row['facility_id']}",
            ).add_to(group)
        group.add_to(m)

    for prop in proposals:
        group = folium.FeatureGroup(name=f"建议站点 Proposed sites — {prop.tier} ({prop.model})", show=True)
        sites = to_basemap_crs(prop.sites, basemap)
        for _, row in sites.iterrows():
            text = (
                f"<b>#{row['rank']} new {html.escape(prop.tier)}</b><br>covers {row['new_population']:,.0f} "
                f"more residents ({row['new_elderly']:,.0f} elderly)<br>新增覆盖 {row['new_population']:,.0f} 人"
                f"（老年人 {row['new_elderly']:,.0f}）<br>site: {html.escape(str(row['candidate_id']))}"
            )
            icon = folium.DivIcon(
                html=f"<div class='lc-site' style='background:{TIER_COLOURS.get(prop.tier, '#555')};"
                "color:#fff;border:2px solid #ffd700;border-radius:50%;width:22px;height:22px;"
                f"text-align:center;font:bold 11px/18px sans-serif'>{row['rank']}</div>",
                icon_size=(22, 22),
                icon_anchor=(11, 11),
            )
            folium.Marker(
                [row.geometry.y, row.geometry.x],
                icon=icon,
                popup=folium.Popup(text, max_width=260),
                tooltip=f"#{row['rank']} covers {row['new_population']:,.0f} more",
            ).add_to(group)
        group.add_to(m)

    _legend(plan, basemap, illustrative, proposals).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _share_colour(pct: float | None) -> str:
    if pct is None or not np.isfinite(pct):
        return "#cccccc"
    for limit, colour in ((50, "#d73027"), (85, "#fc8d59"), (99, "#fee08b"), (101, "#1a9850")):
        if pct < limit:
            return colour
    return "#1a9850"


def _add_basemaps(m: folium.Map, first: str) -> None:
    """The chosen basemap first (shown), then the others of the same datum, then 'no basemap'."""
    datum = BASEMAPS[first]["crs"]
    keys = [first] + [
        k
        for k, b in BASEMAPS.items()
        if k != first and b["crs"] == datum and b["tiles"] and (k != "tianditu" or os.environ.get("TIANDITU_KEY"))
    ]
    if first != "none":
        keys.append("none")
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
