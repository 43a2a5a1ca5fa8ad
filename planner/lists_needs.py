"""The needs list (需求清单) of the community check report: per unit, the people of each group lacking each tier and
service within its walking target, ranked; a service not assessed says so (未评估) with its reason, never 0.

:func:`planner.lists.three_lists` puts it together with the resources and services lists.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .coverage import group_weights
from .tiers import GROUP_NAMES, Rules, ServiceRule, SpeedProfile

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "GROUP_NAMES_ZH",
    "NEEDS_COLUMNS",
    "NO_PROFILE",
    "OUTSIDE_LIST",
    "OUTSIDE_UNITS",
    "PARTLY_ASSESSED",
    "UNASSESSED",
    "group_name",
    "needs_list",
]

log = logging.getLogger(__name__)

#: The row of the needs list for residents in no unit.
OUTSIDE_UNITS = "（单元外）"
#: What the needs list says of a service no facility list offers (never 0 people without it).
UNASSESSED = "未评估：没有设施清单提供此项服务"
#: What it says of a unit where a service's list is incomplete (outside the service's ``assessed_in`` area).
OUTSIDE_LIST = "未评估：不在此项服务清单完整的范围内"
#: What it says of a unit only partly inside a service's ``assessed_in`` area.
PARTLY_ASSESSED = "部分评估：只计清单完整范围内的居民"
#: What it says of a service none of whose groups has a walking profile.
NO_PROFILE = "未评估：没有适用人群的步行速度设定"
#: Chinese names of the groups of residents a profile is measured for.
GROUP_NAMES_ZH: dict[str, str] = {key: zh for key, (zh, _) in GROUP_NAMES.items()}
NEEDS_COLUMNS = (
    "单元",
    "类别",
    "名称",
    "人群",
    "步行速度",
    "步行目标（分钟）",
    "人群人数",
    "评估人数",
    "未覆盖人数",
    "占比",
    "说明",
    "数据列",
)


def _unit_of(residents: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the unit polygon containing each resident (-1: none; on a shared edge: the first unit)."""
    crs = units.estimate_utm_crs() if units.crs is not None and units.crs.is_geographic else units.crs
    polygons = units.to_crs(crs).geometry.to_numpy()
    points = residents.to_crs(crs).geometry.to_numpy()
    out = np.full(len(points), -1, dtype=np.int64)
    p, g = shapely.STRtree(polygons).query(points, predicate="intersects")
    first = np.unique(p, return_index=True)[1]
    out[p[first]] = g[first]
    return out


def group_name(profile: SpeedProfile) -> str:
    """The Chinese name of the group of residents a profile is measured for (全体居民, 老年人)."""
    return GROUP_NAMES_ZH.get(profile.group, profile.group)


def needs_list(
    residents: gpd.GeoDataFrame, units: gpd.GeoDataFrame, rules: Rules, unit_column: str, notes: list[str]
) -> pd.DataFrame:
    units = units.reset_index(drop=True)
    which = _unit_of(residents, units)
    labels = units[unit_column].astype(str).tolist()
    outside = which < 0
    if outside.any():
        labels.append(OUTSIDE_UNITS)
        which = np.where(outside, len(labels) - 1, which)
        people = residents["population"].to_numpy(float)[outside].sum()
        notes.append(
            f"需求清单：{int(outside.sum())} 个居民点（{people:.0f} 人）不在任何单元内，"
            f"列为“{OUTSIDE_UNITS}”，使合计与居民数据一致。"
        )
    n = len(labels)

    def per_unit(weights: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        w = weights if mask is None else np.where(mask, weights, 0.0)
        return np.bincount(which, weights=w, minlength=n)

    frames = []

    def add(
        kind: str,
        name: str,
        prof: SpeedProfile,
        minutes: float,
        column: str,
        lacking: np.ndarray | None,
        assessed: np.ndarray | None = None,
    ) -> None:
        """One row per unit; ``lacking`` None: not assessed at all; ``assessed``: where the list is complete."""
        weights = group_weights(residents, prof)
        people = per_unit(weights)
        note = np.full(n, "", dtype=object)
        if lacking is None:
            counted = np.full(n, np.nan)
            without = np.full(n, np.nan)
            note[:] = UNASSESSED
        else:
            where = np.ones(len(weights), dtype=bool) if assessed is None else assessed
            counted = per_unit(weights, where)
            without = per_unit(weights, where & lacking)
            points = per_unit(np.ones(len(weights)))
            points_assessed = per_unit(where.astype(float))
            nowhere = (points > 0) & (points_assessed == 0)
            partly = (points_assessed > 0) & (points_assessed < points)
            without[nowhere] = np.nan
            counted[nowhere] = np.nan
            note[nowhere] = OUTSIDE_LIST
            note[partly] = PARTLY_ASSESSED
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(counted > 0, without / counted, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "单元": labels,
                    "类别": kind,
                    "名称": name,
                    "人群": group_name(prof),
                    "步行速度": prof.name_zh or prof.key,
                    "步行目标（分钟）": minutes,
                    "人群人数": people,
                    "评估人数": counted,
                    "未覆盖人数": without,
                    "占比": share,
                    "说明": note,
                    "数据列": column,
                }
            )
        )

    for tier in rules.tiers:
        for prof in rules.profiles:
            column = col.covered(tier.key, prof.key)
            add("层级", tier.name_zh, prof, tier.minutes, column, ~residents[column].to_numpy(bool))
    unassessed: list[ServiceRule] = []
    partial: list[ServiceRule] = []
    for rule in rules.services:
        profiles = rules.service_profiles(rule.key)
        if not profiles:
            log.info("service %s is for groups %s, which no walking profile is for", rule.key, rule.groups)
        assessed_col = col.service_assessed(rule.key)
        assessed = residents[assessed_col].to_numpy(bool) if assessed_col in residents.columns else None
        for prof in profiles:
            column = col.service_minutes(rule.key, prof.key)
            if column not in residents.columns:
                add("服务", rule.name_zh or rule.key, prof, rule.minutes, "", None)
                unassessed.append(rule)
                continue
            within = residents[column].to_numpy(float) <= rule.minutes
            add("服务", rule.name_zh or rule.key, prof, rule.minutes, column, ~within, assessed)
            if assessed is not None and not assessed.all():
                partial.append(rule)
    if partial:
        names = "、".join(dict.fromkeys(r.name_zh or r.key for r in partial))
        notes.append(
            f"需求清单：{names}的设施清单只在部分地区完整，只计这些地区的居民（评估人数）；"
            "其余地区未评估，不算作未覆盖。"
        )
    if unassessed:
        names = "、".join(dict.fromkeys(r.name_zh or r.key for r in unassessed))
        notes.append(f"需求清单：{names}没有设施清单提供，未评估（未覆盖人数留空，不是 0）。")
    missing = [r.name_zh or r.key for r in rules.services if not rules.service_profiles(r.key)]
    if missing:
        notes.append(f"需求清单：{'、'.join(missing)}{NO_PROFILE.removeprefix('未评估：')}，未评估，未列出。")
    table = pd.concat(frames, ignore_index=True)[list(NEEDS_COLUMNS)]
    # largest gaps first; not assessed last; ties keep the unit, tier/service and profile order
    order = np.lexsort((np.arange(len(table)), -table["未覆盖人数"].fillna(-1.0).to_numpy()))
    return table.iloc[order].reset_index(drop=True)
