"""The three lists of a community check report (一报告三清单): needs, resources and services.

Shanghai's 家门口 programme asks each community for a check report with three lists:

- 需求清单 (needs): per unit, tier or service and group of residents, how many lack it within its walking target;
- 资源清单 (resources): every facility, with the residents it serves against the GB 50180 band of its tier;
- 服务清单 (services): the proposed new sites in priority order, named by place.

:func:`three_lists` builds them as pandas DataFrames with Chinese headers from plain inputs (a plan's residents,
units, facilities and proposals), so this module sits below :mod:`planner.plan`; :func:`write_lists_xlsx` writes
them to one workbook with a 说明 sheet. Counts keep their fractions (residents are estimates spread over
points) so that totals equal the residents layer; the workbook shows them rounded.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import columns as col
from .lists_needs import group_name, needs_list
from .positions import POSITION_FLAGS
from .tiers import Rules

if TYPE_CHECKING:
    import geopandas as gpd

    from .availability import Availability
    from .network import WalkNetwork
    from .sites import Proposal

__all__ = [
    "POSITION_FLAGS_ZH",
    "RESOURCES_COLUMNS",
    "SERVICES_COLUMNS",
    "SHEETS",
    "ThreeLists",
    "three_lists",
]

log = logging.getLogger(__name__)

#: The Chinese wording of each ``position_flag``.
POSITION_FLAGS_ZH: dict[str, str] = {k: zh for k, (zh, _) in POSITION_FLAGS.items()}
#: Sheet names of the workbook, in order.
SHEETS: tuple[str, ...] = ("需求清单", "资源清单", "服务清单", "说明")

RESOURCES_COLUMNS = (
    "编号",
    "名称",
    "层级",
    "服务",
    "地址",
    "服务人口",
    "人口规模（GB 50180）",
    "规模判定",
    "开放时间",
    "容量",
    "面积（平方米）",
    "步行范围内人口",
    "可服务人数",
    "可服务人数依据",
    "负荷率",
    "拥挤",
    "分时段开放",
    "位置存疑",
    "示意数据",
    "来源清单",
)
SERVICES_COLUMNS = (
    "序号",
    "位置",
    "层级",
    "步行速度",
    "新增覆盖居民",
    "新增覆盖老年人",
    "覆盖率（累计）",
    "经度",
    "纬度",
    "候选点",
)


@dataclass(frozen=True)
class ThreeLists:
    """The three lists of a community check report.

    Attributes
    ----------
    needs : pandas.DataFrame
        需求清单: one row per unit × tier or service × walking profile (its group of residents), ranked by
        未覆盖人数 (people of the group lacking it within its target), largest first. 人群人数 is the group's
        count in the unit; 评估人数 the part of it where the service was assessed (all of it, except for a service
        whose list is complete only in some areas: ``assessed_service_<key>``); 占比 = 未覆盖人数 / 评估人数.
        Services not assessed come last with 未覆盖人数 empty (never 0) and 说明 :data:`UNASSESSED` (no list
        offers it) or :data:`OUTSIDE_LIST` (the unit lies outside where its list is complete). 数据列 names the
        residents' column the figures were read from.
    resources : pandas.DataFrame
        资源清单: one row per facility, by tier.
    services : pandas.DataFrame
        服务清单: proposed sites in priority order, numbered per tier (站1, 站2 …).
    notes : tuple of str
        Sources and caveats, for the 说明 sheet.
    """

    needs: pd.DataFrame
    resources: pd.DataFrame
    services: pd.DataFrame
    notes: tuple[str, ...] = ()


def three_lists(
    residents: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    proposals: Sequence[Proposal],
    rules: Rules,
    *,
    unit_column: str = "unit",
    network: WalkNetwork | None = None,
    estimate: str | None = None,
    availability: Availability | None = None,
) -> ThreeLists:
    """Build the needs, resources and services lists of a community check report.

    Parameters
    ----------
    residents : geopandas.GeoDataFrame
        Resident points (EPSG:4326) with ``population``, ``elderly`` and the coverage columns of
        :mod:`planner.columns` (``covered_<tier>_<profile>``, ``minutes_service_<service>_<profile>``, and
        ``nearest_<tier>`` when known).
    units : geopandas.GeoDataFrame
        Unit polygons (any CRS) with a name column ``unit_column``.
    facilities : geopandas.GeoDataFrame
        ``facility_id, name, tier, services, address, list, illustrative, position_flag`` and optionally
        ``opening_hours``, ``capacity``, ``floor_area_m2``.
    proposals : sequence of Proposal
        Proposed sites (:class:`planner.sites.Proposal`), each with its ranked ``sites``.
    rules : Rules
        Tiers, profiles and services in force.
    unit_column : str, default "unit"
        The units' name column.
    network : WalkNetwork, optional
        The walk network the sites were named on (its OSM attribution goes in the notes).
    availability : Availability, optional
        Crowding and opening hours per facility (资源清单: 步行范围内人口, 可服务人数, 负荷率, 拥挤, 分时段开放).
    estimate : str, optional
        How walking minutes were estimated when there is no street network (e.g. "直线距离×绕行系数 1.25"): every
        figure then says 估算, in the notes and in the 说明 of each row.

    Returns
    -------
    ThreeLists
    """
    notes: list[str] = []
    needs = needs_list(residents, units, rules, unit_column, notes)
    resources = _resources(residents, facilities, rules, notes, availability)
    if availability is not None:
        notes += _availability_notes(availability)
    services = _services(proposals, rules, notes)
    notes = _source_notes(residents, facilities, rules, network) + notes
    if estimate:  # every figure that comes from a straight-line estimate says so, in each list
        notes.insert(0, f"估算：没有道路网，步行时间按{estimate}估算，所有覆盖与人数均为估算值，仅供参考。")
        needs["说明"] = [f"估算；{s}" if s else "估算" for s in needs["说明"].fillna("").astype(str)]
        resources["规模判定"] = [f"估算：{s}" if s else "估算" for s in resources["规模判定"].fillna("").astype(str)]
        services["位置"] = [f"{s}（估算）" for s in services["位置"].astype(str)]
    log.info("three lists: %d needs rows, %d facilities, %d proposed sites", len(needs), len(resources), len(services))
    return ThreeLists(needs, resources, services, tuple(notes))


# -------------------------------------------------------------------------------------------- resources
def _service_names(value: Any, rules: Rules) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    keys = [value] if isinstance(value, str) else list(value)
    known = {r.key: r.name_zh or r.key for r in rules.services}
    return "、".join(known.get(str(k), str(k)) for k in keys if str(k))


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A text column, empty where missing (also when the column is absent)."""
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str).replace("nan", "")


def _number(frame: pd.DataFrame, column: str) -> pd.Series:
    """A numeric column, NaN where missing or not a number (also when the column is absent)."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _list_name(name: str, rules: Rules) -> str:
    """A facility list as the report names it: 设施清单, 健康服务清单 (``services.health``)."""
    if name == "facilities":
        return "设施清单"
    if name.startswith("services."):
        key = name.removeprefix("services.")
        rule = next((r for r in rules.services if r.key == key), None)
        return f"{rule.name_zh if rule and rule.name_zh else key}服务清单"
    return name


#: Chinese words of a capacity's basis (:func:`planner.crowding.facility_capacity`) and of a window state.
CAPACITY_BASIS_ZH = {"capacity": "清单容量", "area": "按面积折算", "band": "GB 50180 人口规模上限", "none": ""}
WINDOW_STATE_ZH = {"open": "开放", "closed": "关闭", "unknown": "不确定"}


def _load_columns(fac: pd.DataFrame, availability: Availability | None) -> dict[str, Any]:
    """The crowding and time-window columns of the resources list (empty without an availability stage)."""
    n = len(fac)
    empty = np.full(n, "", dtype=object)
    out: dict[str, Any] = {
        "步行范围内人口": np.full(n, np.nan),
        "可服务人数": np.full(n, np.nan),
        "可服务人数依据": empty,
        "负荷率": np.full(n, np.nan),
        "拥挤": empty,
        "分时段开放": empty,
    }
    if availability is None:
        return out
    table = availability.facilities.set_index("facility_id").reindex(fac["facility_id"].to_numpy())
    if "catchment_people" in table:
        out["步行范围内人口"] = table["catchment_people"].to_numpy(float)
        out["可服务人数"] = table["capacity_people"].to_numpy(float)
        out["可服务人数依据"] = table["capacity_basis"].map(CAPACITY_BASIS_ZH).fillna("").to_numpy(object)
        out["负荷率"] = table["load"].to_numpy(float)
        crowded = table["crowded"].astype("boolean")
        out["拥挤"] = np.where(crowded.isna(), "", np.where(crowded.fillna(False), "拥挤", "否"))
    if not availability.windows_note:
        states = [
            "；".join(
                f"{w.name_zh or w.key}：{WINDOW_STATE_ZH.get(str(row[f'open_{w.key}']), '')}"
                for w in availability.windows
            )
            for _, row in table.iterrows()
        ]
        out["分时段开放"] = np.array(states, dtype=object)
    return out


def _resources(
    residents: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    rules: Rules,
    notes: list[str],
    availability: Availability | None = None,
) -> pd.DataFrame:
    fac = facilities.reset_index(drop=True)

    tiers = {t.key: t for t in rules.tiers}
    tier_key = _text(fac, "tier")
    served = np.full(len(fac), np.nan)
    ids = fac["facility_id"].astype(str).to_numpy()
    pop = residents["population"].to_numpy(float)
    unknown: list[str] = []
    for key in tiers:
        mine = (tier_key == key).to_numpy()
        if not mine.any():
            continue
        column = col.nearest(key)
        if column not in residents:
            unknown.append(tiers[key].name_zh)
            continue
        nearest = residents[column]
        known = nearest.notna().to_numpy()
        per = pd.Series(pop[known]).groupby(nearest[known].astype(str).to_numpy()).sum()
        served[mine] = per.reindex(ids[mine]).fillna(0.0).to_numpy()
    if unknown:
        notes.append(
            f"资源清单：居民数据没有最近设施列（{col.nearest('<层级>')}），{'、'.join(unknown)}的服务人口与规模判定留空。"
        )
    band = np.full(len(fac), "", dtype=object)
    verdict = np.full(len(fac), "", dtype=object)
    for key, tier in tiers.items():
        mine = (tier_key == key).to_numpy()
        if tier.population_served is None or not mine.any():
            continue
        lo, hi = tier.population_served
        band[mine] = f"{lo:,}–{hi:,}"
        known = mine & np.isfinite(served)
        verdict[known] = np.select([served[known] < lo, served[known] > hi], ["低于", "高于"], "符合")
    flags = _text(fac, "position_flag").map(lambda f: POSITION_FLAGS_ZH.get(f, f))
    illustrative = fac["illustrative"].fillna(False).astype(bool) if "illustrative" in fac else False
    table = pd.DataFrame(
        {
            "编号": ids,
            "名称": _text(fac, "name"),
            "层级": tier_key.map(lambda k: tiers[k].name_zh if k in tiers else k),
            "服务": fac["services"].map(lambda v: _service_names(v, rules)) if "services" in fac else "",
            "地址": _text(fac, "address"),
            "服务人口": served,
            "人口规模（GB 50180）": band,
            "规模判定": verdict,
            "开放时间": _text(fac, "opening_hours"),
            "容量": _number(fac, "capacity"),
            "面积（平方米）": _number(fac, "floor_area_m2"),
            **_load_columns(fac, availability),
            "位置存疑": flags,
            "示意数据": np.where(illustrative, "是", "否"),
            "来源清单": _text(fac, "list").map(lambda name: _list_name(name, rules)),
        }
    )
    rank = {k: i for i, k in enumerate(tiers)}
    order = np.lexsort((np.arange(len(fac)), tier_key.map(lambda k: rank.get(k, len(rank))).to_numpy()))
    return table.iloc[order].reset_index(drop=True)[list(RESOURCES_COLUMNS)]


def _availability_notes(availability: Availability) -> list[str]:
    rule = (
        "拥挤：步行范围内人口（按层级步行目标、成人步速计）超过可服务人数即为拥挤；可服务人数取清单容量，"
        "否则按面积折算，否则取 GB 50180-2018 该层级人口规模上限。负荷率 = 步行范围内人口 / 可服务人数。"
    )
    out = [rule]
    if availability.crowding_note:
        out.append(f"拥挤{availability.crowding_note}")
    if availability.windows_note:
        out.append(f"分时段开放{availability.windows_note}")
    else:
        words = "；".join(f"{w.name_zh or w.key} {w.start}–{w.end}" for w in availability.windows)
        out.append(
            f"分时段开放：{words}；一个时段内开放时间不少于一半即为开放。未列开放时间的设施按开放计，"
            f"共 {availability.hours_listed} 处设施列有开放时间。"
        )
    return out


# --------------------------------------------------------------------------------------------- services
def _services(proposals: Sequence[Proposal], rules: Rules, notes: list[str]) -> pd.DataFrame:
    tiers = {t.key: t for t in rules.tiers}
    profiles = {p.key: p for p in rules.profiles}
    counter: Counter[str] = Counter()
    frames = []
    for proposal in proposals:
        sites = proposal.sites.sort_values("rank")
        if sites.empty:
            continue
        tier = str(proposal.tier)
        prefix = tiers[tier].short_zh if tier in tiers else tier
        numbers = [f"{prefix}{counter[tier] + i}" for i in range(1, len(sites) + 1)]
        counter[tier] += len(sites)
        lon, lat = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
        prof = profiles.get(str(proposal.profile))
        frames.append(
            pd.DataFrame(
                {
                    "序号": numbers,
                    "位置": sites["place"].astype(str).to_numpy() if "place" in sites else [""] * len(sites),
                    "层级": tiers[tier].name_zh if tier in tiers else tier,
                    "步行速度": (prof.name_zh or prof.key) if prof else str(proposal.profile),
                    "新增覆盖居民": sites["new_population"].to_numpy(float),
                    "新增覆盖老年人": sites["new_elderly"].to_numpy(float),
                    "覆盖率（累计）": sites["covered_share"].to_numpy(float),
                    "经度": np.round(lon, 6),
                    "纬度": np.round(lat, 6),
                    "候选点": sites["candidate_id"].astype(str).to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: [] for c in SERVICES_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(SERVICES_COLUMNS)]


def _source_notes(
    residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, rules: Rules, network: WalkNetwork | None
) -> list[str]:
    notes = []
    attrs = residents.attrs
    source = attrs.get("source")
    notes.append(
        f"居民数据：{Path(str(source)).name if source else '人口数据'}，按建筑或道路分布到居民点的估算值；"
        "人数保留小数，表中取整显示，合计与居民数据一致。"
    )
    share = attrs.get("elderly_share")
    if share is not None:
        notes.append(f"老年人数：按常住人口的 {100 * float(share):.1f}% 估算（未提供分年龄人口）。")
    if "illustrative" in facilities and facilities["illustrative"].fillna(False).astype(bool).any():
        shown = facilities[facilities["illustrative"].fillna(False).astype(bool)]
        lists = sorted({_list_name(name, rules) for name in _text(shown, "list")})
        notes.append(f"示意数据：{'、'.join(lists) or '设施清单'}为示意布局，不是实际设施位置，不能据此决策。")
    targets = "；".join(f"{t.name_zh} {t.minutes:g} 分钟" for t in rules.tiers)
    speeds = "；".join(f"{p.name_zh or p.key} {p.speed_mps * 3.6:.2f} km/h（{group_name(p)}）" for p in rules.profiles)
    notes.append(f"步行目标：{targets}。步行速度：{speeds}。")
    if network is not None:
        notes.append(
            "位置名称：取自 OpenStreetMap 道路名（© OpenStreetMap contributors，ODbL 1.0），"
            "“甲路近乙路”指在甲路上、靠近乙路。"
        )
    notes.append("人口规模：GB 50180-2018 各层级设施的服务人口规模；服务人口为以该设施为最近同层级设施的居民。")
    return notes
