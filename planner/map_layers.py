"""The layers of the plan map (:mod:`planner.maps` puts them together): names, symbols, popups, GeoJSON.

Every layer reads a plan's results; nothing here computes walking access. Each layer is named in Chinese first,
with English after, and says its tier, walking profile and minutes where they apply; the same words go into the
legend (:class:`Drawing` keeps both). Points whose position upstream looks wrong (``position_flag``) are drawn
dashed and hollow, and their popup says why.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .coverage import assessed_mask
from .map_points import PointBatch
from .positions import POSITION_FLAGS

if TYPE_CHECKING:
    from .plan import Plan
    from .sites import Proposal
    from .tiers import Rules, ServiceRule, SpeedProfile, Tier

__all__ = [
    "BAND_COLOURS",
    "MINUTE_CLASSES",
    "TIER_COLOURS",
    "UNREACHABLE",
    "Drawing",
    "geojson",
    "minutes_text",
    "profile_words",
    "resident_cells",
    "simplify",
    "swatch",
]

#: WGS-84 geometries -> the basemap's datum (GCJ-02 for Gaode)
Shift = Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]

TIER_COLOURS = {"center": "#c0392b", "station": "#2471a3", "point": "#1e8449"}
BAND_COLOURS = ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
MINUTE_CLASSES = [(5, "#1a9850"), (10, "#91cf60"), (15, "#fee08b"), (20, "#fc8d59"), (np.inf, "#d73027")]
UNREACHABLE = "#7b3294"
UNASSESSED = "#8a8a8a"
_LIST_COLOURS = ["#8e44ad", "#d35400", "#16a085", "#b7950b"]
_CONTEXT_COLOURS = ["#5b2c6f", "#943126", "#0e6655", "#4d5656"]
_POLYGON_TYPES = [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON]

#: a service's own list may say what its facilities are called in one of these columns
_KIND_COLUMNS = ("category", "类别", "type", "kind")


def simplify(gdf: gpd.GeoDataFrame, metres: float) -> gpd.GeoDataFrame:
    """Simplify to screen precision and round coordinates to ~1 m (in degrees: spares two reprojections).

    Plain Douglas-Peucker first: it keeps each line's ends (no street is lost; 20 times faster on the streets
    than keeping topology) and is 3 times faster on the service areas. A polygon it empties or leaves crossing
    itself is simplified again keeping its topology, so no area collapses or fills what it does not cover.
    """
    if gdf.empty:
        return gdf
    out = gdf.to_crs("EPSG:4326")
    given = np.array(out.geometry.values, dtype=object)
    geoms = shapely.simplify(given, metres / 111_000.0, preserve_topology=False)
    redo = np.isin(shapely.get_type_id(given), _POLYGON_TYPES) & (shapely.is_empty(geoms) | ~shapely.is_valid(geoms))
    geoms[redo] = shapely.simplify(given[redo], metres / 111_000.0, preserve_topology=True)
    out = out.set_geometry(shapely.set_precision(geoms, 1e-5, mode="pointwise"), crs=out.crs)
    return out[~out.geometry.is_empty]


def geojson(gdf: gpd.GeoDataFrame, columns: Sequence[str] = ()) -> dict:
    """A FeatureCollection of only the given properties, without the per-feature bboxes (a smaller page)."""
    out = gdf[[*columns, gdf.geometry.name]].reset_index(drop=True)
    return out.to_geo_dict(na="null", show_bbox=False, drop_id=False)


def esc(value: Any) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value))


def profile_words(profile: SpeedProfile) -> tuple[str, str]:
    """``("成人步速", "Adult pace")``."""
    return f"{profile.name_zh or profile.key}步速", f"{profile.name_en or profile.key} pace"


def minutes_text(values: Iterable[float]) -> str:
    return "/".join(f"{v:g}" for v in values)


def service_words(keys: Any, rules: Rules) -> tuple[str, str]:
    """Chinese and English names of a facility's services (keys as a list, or text as a list file gives them)."""
    if isinstance(keys, str):
        keys = [k for k in re.split(r"[;,，、\s]+", keys) if k]
    zh, en = [], []
    for key in list(keys) if keys is not None else []:
        rule = next((r for r in rules.services if r.key == key), None)
        zh.append(rule.name_zh if rule and rule.name_zh else str(key))
        en.append(rule.name_en if rule and rule.name_en else str(key))
    return "、".join(zh), ", ".join(en)


def flag_words(flag: Any) -> list[tuple[str, str]]:
    """``position_flag`` (one or several, e.g. ``street_far;shared_point``) as popup lines; [] when not flagged."""
    parts = [f for f in re.split(r"[;,|\s]+", str(flag or "")) if f and f.lower() != "nan"]
    return [
        (f"位置存疑：{POSITION_FLAGS.get(f, (f, f))[0]}", f"position uncertain: {POSITION_FLAGS.get(f, (f, f))[1]}")
        for f in parts
    ]


def popup(title: str, lines: Sequence[tuple[str, str]]) -> str:
    """A popup's HTML: the title, the Chinese lines, then the same in English (grey, smaller)."""
    zh = "".join(f"<br>{esc(a)}" for a, _ in lines if a)
    en = "".join(f"<br>{esc(b)}" for _, b in lines if b)
    return f"<b>{esc(title)}</b>{zh}<div style='color:#666;font-size:11px;margin-top:3px'>{en[4:]}</div>"


def swatch(colour: str, shape: str = "square") -> str:
    """A legend symbol: circle, ring (dashed, hollow: position uncertain), diamond, square, hatch, pill."""
    base = "display:inline-block;vertical-align:middle;margin-right:4px;"
    styles = {
        "circle": f"width:10px;height:10px;border-radius:50%;background:{colour}",
        "ring": f"width:8px;height:8px;border-radius:50%;border:2px dashed {colour};background:transparent",
        "diamond": f"width:8px;height:8px;background:{colour};transform:rotate(45deg);border:1px solid #fff",
        "square": f"width:22px;height:10px;background:{colour};opacity:.7",
        "hatch": f"width:22px;height:10px;background:repeating-linear-gradient(45deg,{colour} 0 2px,#eee 2px 5px)",
        "line": f"width:22px;height:0;border-top:2px solid {colour}",
    }
    return f"<span style='{base}{styles[shape]}'></span>"


#: Ring of a crowded facility (more people within reach than it can serve).
CROWDED = "#67001f"


@dataclass
class Drawing:
    """The map being drawn: layers go on it with their legend line (symbol, Chinese, English)."""

    m: folium.Map
    shift: Shift
    legend: list[tuple[str, str, str, bool]] = field(default_factory=list)  # symbol, Chinese, English, shown
    sources: list[str] = field(default_factory=list)
    illustrative: bool = False
    estimated: bool = False  # no street network: layers drawn from walking times are estimates (估算)
    load: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # popup lines per facility id
    crowded: set[str] = field(default_factory=set)  # facility ids with more people in reach than capacity

    def add(self, layer: folium.map.Layer, zh: str, en: str, symbol: str, *, walking: bool = False) -> None:
        """Put a layer on the map, named ``中文 — English`` in the layer control (unique), with its legend line.

        A layer drawn from walking times (``walking``) is named an estimate (估算) when there is no street network.
        """
        if walking and self.estimated:
            zh, en = f"{zh}（估算）", f"{en} (estimate)"
        used, n, base = {(z, e) for _, z, e, _ in self.legend}, 2, (zh, en)
        while (zh, en) in used:
            zh, en, n = f"{base[0]}（{n}）", f"{base[1]} ({n})", n + 1
        layer.layer_name = f"{zh} — {en}"
        layer.add_to(self.m)
        self.legend.append((symbol, zh, en, bool(layer.show)))

    # -- points -------------------------------------------------------------------------------------------------

    def _availability(self, plan: Plan) -> None:
        """Popup lines of crowding and opening hours per facility, from the plan's availability stage."""
        av = plan.availability
        if av is None:
            return
        words = {"open": ("开放", "open"), "closed": ("关闭", "closed"), "unknown": ("不确定", "unknown")}
        for _, row in av.facilities.iterrows():
            lines: list[tuple[str, str]] = []
            if "catchment_people" in row and pd.notna(row.get("capacity_people")):
                crowded = bool(row["crowded"]) if pd.notna(row["crowded"]) else False
                people, cap, load = row["catchment_people"], row["capacity_people"], row["load"]
                zh = f"步行范围内 {people:,.0f} 人，可服务 {cap:,.0f} 人（负荷率 {load:.0%}）" + (
                    "，拥挤" if crowded else ""
                )
                en = (
                    f"{people:,.0f} within reach, capacity {cap:,.0f} (load {load:.0%}){', crowded' if crowded else ''}"
                )
                lines.append((zh, en))
                if crowded:
                    self.crowded.add(str(row["facility_id"]))
            if not av.windows_note:
                states = [(w, words.get(str(row[f"open_{w.key}"]), ("", ""))) for w in av.windows]
                lines.append(
                    (
                        "开放：" + "，".join(f"{w.name_zh or w.key}{zh}" for w, (zh, _) in states),
                        "open: " + ", ".join(f"{w.name_en or w.key} {en}" for w, (_, en) in states),
                    )
                )
            self.load[str(row["facility_id"])] = lines

    def facilities(self, plan: Plan) -> None:
        """Facilities by tier (circles in the tier's colour), then each service list with no tier (diamonds).

        A crowded facility gets a dark red ring; its popup says the people within reach against its capacity,
        and whether it is open in each time window."""
        self._availability(plan)
        rules, default = plan.rules, bool(plan.area.facilities_illustrative)
        fac = self.shift(plan.facilities)
        if "illustrative" not in fac.columns:
            fac = fac.assign(illustrative=default)
        for tier in rules.tiers:
            sel = fac[fac["tier"] == tier.key]
            illus = bool(sel["illustrative"].fillna(default).astype(bool).any())
            self.illustrative |= illus
            group = folium.FeatureGroup(show=True)
            batch = PointBatch()
            batch.add_to(group)
            colour = TIER_COLOURS.get(tier.key, "#555")
            radius = {"center": 9, "station": 7, "point": 5}.get(tier.key, 6)
            for _, row in sel.iterrows():
                lines = [
                    (
                        f"{tier.name_zh}（步行 {tier.minutes:g} 分钟可达目标）",
                        f"{tier.name_en}, {tier.minutes:g}-min target",
                    )
                ]
                self._point(batch, row, lines, rules, colour, radius, illus_default=default)
            zh = f"设施 · {tier.name_zh} · 步行 {tier.minutes:g} 分钟目标" + (" · 示意" if illus else "")
            en = f"Facilities · {tier.name_en} · {tier.minutes:g}-min target" + (" · illustrative" if illus else "")
            self.add(group, zh, en, swatch(colour, "circle"))
        lists = fac[fac["tier"].fillna("") == ""]
        by_list = lists.groupby(lists["list"] if "list" in lists.columns else pd.Series("", index=lists.index))
        for i, (name, rows) in enumerate(by_list):
            key = str(name).removeprefix("services.")
            rule = next((r for r in rules.services if r.key == key), None)
            svc_zh, svc_en = (rule.name_zh or key, rule.name_en or key) if rule else (key, key)
            kind = _kind(rows) or f"{svc_zh}设施"
            illus = bool(rows["illustrative"].fillna(default).astype(bool).any())
            self.illustrative |= illus
            colour = _LIST_COLOURS[i % len(_LIST_COLOURS)]
            group = folium.FeatureGroup(show=True)
            batch = PointBatch()
            batch.add_to(group)
            target = f"，目标 {rule.minutes:g} 分钟" if rule else ""
            for _, row in rows.iterrows():
                lines = [(f"{svc_zh}服务清单（不分层级{target}）", f"{svc_en} list (no tier)")]
                self._point(batch, row, lines, rules, colour, 6, illus_default=default, diamond=True)
            zh = f"{kind}（{svc_zh}服务，{'示意' if illus else '真实'}清单）" + (
                f" · 步行 {rule.minutes:g} 分钟目标" if rule else ""
            )
            en = f"{svc_en} list ({'illustrative' if illus else 'real positions'})" + (
                f" · {rule.minutes:g}-min target" if rule else ""
            )
            self.add(group, zh, en, swatch(colour, "diamond"))

    def context(self, plan: Plan) -> None:
        """Context layers (hospitals, 120 stations): off at first, level and source in the popup."""
        for i, (key, layer) in enumerate(plan.context.items()):
            attrs = layer.attrs
            zh_name, en_name = attrs.get("name_zh") or key, attrs.get("name_en") or key
            licence = str(attrs.get("licence") or "none stated")
            licence_zh = "未说明" if licence.strip().lower() in ("none stated", "") else licence
            source = str(attrs.get("source") or "")
            self.sources.append(
                f"{esc(zh_name)}：来源 {esc(source) or '未说明'}；许可：{esc(licence_zh)}"
                f" ({esc(en_name)}: licence {esc(licence)})"
            )
            colour = _CONTEXT_COLOURS[i % len(_CONTEXT_COLOURS)]
            group = folium.FeatureGroup(show=False)
            batch = PointBatch()
            batch.add_to(group)
            for _, row in self.shift(layer).iterrows():
                lines = [
                    (f"{zh_name}（背景参考，不计入生活圈）", f"{en_name} (context only, not a life-circle measure)")
                ]
                for column, zh, en in (("level", "等级", "level"), ("type", "类型", "type")):
                    if _text(row.get(column)):
                        lines.append((f"{zh}：{row[column]}", f"{en}: {row[column]}"))
                lines.append((f"来源：{source}；许可：{licence_zh}", f"source: {source}; licence: {licence}"))
                self._point(batch, row, lines, None, colour, 5, illus_default=False)
            self.add(group, f"{zh_name}（背景参考）", f"{en_name} (context)", swatch(colour, "circle"))

    def _point(
        self,
        batch: PointBatch,
        row: pd.Series,
        lines: list[tuple[str, str]],
        rules: Rules | None,
        colour: str,
        radius: float,
        *,
        illus_default: bool,
        diamond: bool = False,
    ) -> None:
        if rules is not None:
            zh, en = service_words(row.get("services"), rules)
            lines.append((f"服务：{zh or '–'}", f"services: {en or '–'}"))
        if _text(row.get("address")):
            lines.append((f"地址：{row['address']}", f"address: {row['address']}"))
        if _text(row.get("facility_id")):
            lines.append((f"编号：{row['facility_id']}", f"id: {row['facility_id']}"))
        lines += self.load.get(str(row.get("facility_id")), [])
        flags = flag_words(row.get("position_flag"))
        lines += flags
        illus = row.get("illustrative")
        if bool(illus_default if illus is None or pd.isna(illus) else illus):
            lines.append(("示意：非真实位置", "illustrative: not a real position"))
        name = str(row.get("name") or "")
        where = (float(row.geometry.y), float(row.geometry.x))
        tip = name + ("（位置存疑）" if flags else "")
        if diamond:
            fill = "transparent" if flags else colour
            border = f"2px dashed {colour}" if flags else "1.5px solid #fff"
            batch.icon(
                *where,
                html=f"<div style='width:10px;height:10px;background:{fill};border:{border};"
                "transform:rotate(45deg);box-sizing:border-box'></div>",
                size=(10, 10),
                anchor=(5, 5),
                popup=popup(name, lines),
                tip=tip,
            )
            return
        crowded = str(row.get("facility_id")) in self.crowded
        batch.circle(
            *where,
            radius=radius,
            color=colour if flags else CROWDED if crowded else "#fff",
            weight=2 if flags else 3 if crowded else 1.5,
            dash_array="3 3" if flags else None,
            fill_color=colour,
            fill_opacity=0.15 if flags else 0.95,
            popup=popup(name, lines),
            tip=tip,
        )

    def proposals(self, plan: Plan, proposals: Sequence[Proposal]) -> None:
        """Proposed sites, numbered per tier in rank order (站1, 站2 …, 点1 …, 中心1 …)."""
        rules, counters = plan.rules, dict[str, int]()
        for prop in proposals:
            tier = next((t for t in rules.tiers if t.key == prop.tier), None)
            t_zh, t_en = (tier.name_zh, tier.name_en) if tier else (prop.tier, prop.tier)
            prefix, minutes = (tier.short_zh, tier.minutes) if tier else (prop.tier, np.nan)
            prof = next((p for p in rules.profiles if p.key == prop.profile), rules.everyone)
            p_zh, p_en = profile_words(prof)
            colour = TIER_COLOURS.get(prop.tier, "#555")
            group, first = folium.FeatureGroup(show=True), counters.get(prop.tier, 0) + 1
            batch = PointBatch()
            batch.add_to(group)
            for _, row in self.shift(prop.sites).sort_values("rank").iterrows():
                counters[prop.tier] = counters.get(prop.tier, 0) + 1
                label = f"{prefix}{counters[prop.tier]}"
                new, eld = row["new_population"], row["new_elderly"]
                lines = [
                    (f"按新增覆盖排序第 {row['rank']} 位", f"rank {row['rank']} by residents newly covered"),
                    (
                        f"新增覆盖 {new:,.0f} 人（其中老年人 {eld:,.0f} 人），{p_zh} {minutes:g} 分钟内",
                        f"covers {new:,.0f} more people ({eld:,.0f} elderly) within {minutes:g} min at {p_en.lower()}",
                    ),
                    (
                        f"建成后覆盖率 {100 * row['covered_share']:.1f}%",
                        f"{100 * row['covered_share']:.1f}% covered with it",
                    ),
                    (f"候选点：{row['candidate_id']}", f"candidate site: {row['candidate_id']}"),
                ]
                if _text(row.get("place")):  # named by its street and cross street (国顺路近政立路)
                    lines.insert(1, (f"位置：{row['place']}", f"near: {row['place']}"))
                width = 12 + sum(11 if ord(c) > 255 else 7 for c in label)
                batch.icon(
                    float(row.geometry.y),
                    float(row.geometry.x),
                    html=f"<div class='lc-site' style='background:{colour};color:#fff;border:2px solid #ffd700;"
                    f"border-radius:11px;height:22px;width:{width}px;box-sizing:border-box;text-align:center;"
                    f"font:bold 11px/18px sans-serif;white-space:nowrap'>{esc(label)}</div>",
                    size=(width, 22),
                    anchor=(width // 2, 11),
                    popup=popup(f"建议新增{t_zh} {label}", lines),
                    width=320,
                    tip=f"{label} · 新增覆盖 {new:,.0f} 人",
                )
            last = counters.get(prop.tier, 0)
            numbers = f"{prefix}{first}" + (f"–{prefix}{last}" if last > first else "")
            zh = f"建议新增 · {t_zh} · {p_zh} · {minutes:g} 分钟（{numbers}，按排序）"
            en = f"Proposed sites · {t_en} · {p_en} · {minutes:g} min ({prop.model}, numbered by rank)"
            symbol = (
                f"<span style='background:{colour};color:#fff;border:1.5px solid #ffd700;border-radius:8px;"
                f"padding:0 3px;margin-right:4px;font-size:10px'>{esc(prefix)}1</span>"
            )
            self.add(group, zh, en, symbol, walking=True)

    # -- areas --------------------------------------------------------------------------------------------------

    def not_assessed(self, plan: Plan, crs: str, cell_m: float) -> None:
        """Where a service's list is incomplete (residents' ``assessed_service_<key>`` False): grey, hatched."""
        residents = plan.residents
        if residents is None:
            return
        for rule in plan.rules.services:
            name = col.service_assessed(rule.key)
            if name not in residents.columns:
                continue
            out = ~residents[name].fillna(False).to_numpy(bool)
            if not out.any():
                continue
            pts = residents[out].to_crs(crs)
            cells = np.unique(np.floor(np.column_stack([pts.geometry.x, pts.geometry.y]) / cell_m), axis=0)
            area = shapely.union_all(shapely.box(*(cells * cell_m).T, *((cells + 1) * cell_m).T))
            area = shapely.simplify(area, cell_m / 2, preserve_topology=True)  # the cells' stairs as slopes
            x0, y0, x1, y1 = area.bounds
            step, span = 3 * cell_m, (x1 - x0) + (y1 - y0)  # a hatch line every three cells: a lighter page
            hatch = shapely.multilinestrings(
                [[(x0 + o, y0), (x0 + o - span, y0 + span)] for o in np.arange(step / 2, span, step)]
            ).intersection(area)
            gdf = gpd.GeoDataFrame({"part": ["area", "hatch"]}, geometry=[area, hatch], crs=crs)
            gdf = self.shift(simplify(gdf, 5.0))
            layer = folium.GeoJson(
                geojson(gdf, ["part"]),
                show=False,
                interactive=False,
                style_function=lambda f: {
                    "color": UNASSESSED,
                    "weight": 0.8 if f["properties"]["part"] == "area" else 1.0,
                    "dashArray": "4 3" if f["properties"]["part"] == "area" else None,
                    "fillColor": UNASSESSED,
                    "fillOpacity": 0.25 if f["properties"]["part"] == "area" else 0,
                },
            )
            zh = f"未评估 · {rule.name_zh or rule.key}服务（此处清单不完整，不计为缺失）"
            en = f"Not assessed · {rule.name_en or rule.key} (the list is incomplete here; not counted as missing)"
            self.add(layer, zh, en, swatch(UNASSESSED, "hatch"))


def _kind(rows: pd.DataFrame) -> str:
    """What a service list's facilities are called (its most common category), '' when it does not say."""
    for column in _KIND_COLUMNS:
        if column in rows.columns:
            values = rows[column].dropna().astype(str).str.strip()
            values = values[(values != "") & (values.str.lower() != "nan")]
            if len(values):
                return str(values.mode().iloc[0])
    return ""


def _text(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value).strip() != ""


def resident_cells(
    residents: gpd.GeoDataFrame,
    tier: Tier | None,
    profile: str,
    crs: str,
    cell_m: float,
    *,
    service: ServiceRule | None = None,
    xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> gpd.GeoDataFrame:
    """Population-weighted minutes to a tier (or a service) on a square grid (keeps the map fast).

    For a service, residents where it is not assessed (``assessed_service_<key>``) are left out of the cells.
    ``xy``: the residents' coordinates in ``crs`` when the caller has them (a map draws several layers of cells).
    """
    if service is not None:
        minutes = residents[col.service_minutes(service.key, profile)].to_numpy(float)
        assessed = assessed_mask(residents, service.key)
        missing = assessed & ~(minutes <= service.minutes)
    else:
        assert tier is not None
        minutes = residents[col.minutes(tier.key, profile)].to_numpy(float)
        assessed = np.ones(len(residents), dtype=bool)
        missing = ~residents[col.covered(tier.key, profile)].to_numpy(bool)
    residents = residents[assessed]
    if xy is None:
        pts = residents.to_crs(crs).geometry
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
    else:
        x, y = xy[0][assessed], xy[1][assessed]
    key = pd.DataFrame(
        {
            "i": np.floor(x / cell_m).astype(np.int64),
            "j": np.floor(y / cell_m).astype(np.int64),
            "pop": residents["population"].to_numpy(),
            "eld": residents["elderly"].to_numpy(),
            "m": minutes[assessed],
            "miss": missing[assessed],
        }
    )
    reach = key["m"].notna()
    key["pm"] = key["m"].fillna(0) * key["pop"]
    key["preach"] = key["pop"] * reach
    key["pmiss"] = key["pop"] * key["miss"]
    key["emiss"] = key["eld"] * key["miss"]
    sums = {c: (c, "sum") for c in ("pop", "eld", "pm", "preach", "pmiss", "emiss")}
    g = key.groupby(["i", "j"]).agg(**sums).reset_index()
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
    return simplify(cells, 1.0)
