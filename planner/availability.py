"""When facilities are open, and how crowded they are: the stage after coverage that a planner reads before choosing
where to open the next site.

Two questions the seeds of the programme name:

- **Opening hours** (错时/延时开放): residents who work cannot use a station that closes when they finish work. For
  every named time window (weekday daytime, weekday evening, weekend daytime by default; ``[hours] windows``), the
  facilities open in it (:func:`planner.hours.window_states`) are searched again, and coverage is measured on them:
  "the share of residents under 60 with an open station within 10 minutes on weekday evenings". A facility that
  lists no hours counts as open, and the lists and report say so. When no facility lists hours at all, the
  windows are **not assessed** (未评估), because they would only repeat the base figures.
- **Crowding** (供需): people within each facility's catchment against what it can serve
  (:func:`planner.crowding.crowding_table`, two-step floating catchment on walking times). A facility with more
  people in reach than capacity is flagged 拥挤.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import columns as col
from .access import Access, compute_access, facility_sets, search_horizon
from .area import StudyArea
from .coverage import assessed_mask, resident_coverage
from .crowding import DEFAULT_DECAY, crowding_table, facility_capacity
from .hours import DEFAULT_WINDOWS, TimeWindow, open_mask, window_states
from .network import Snap, WalkNetwork
from .straight_line import EstimatedAccess, StraightLine, estimate_access
from .tiers import GROUP_NAMES, Rules

__all__ = ["Availability", "area_windows", "assess_availability"]

log = logging.getLogger(__name__)

#: The groups each window's coverage is given for: (key, Chinese, English). ``under60`` is population − elderly,
#: the nearest the data comes to working age (children included).
WINDOW_GROUPS: tuple[tuple[str, str, str], ...] = tuple(
    (k, *GROUP_NAMES[k]) for k in ("population", "under60", "elderly")
)


@dataclass(frozen=True)
class Availability:
    """Opening hours and crowding of a plan's facilities.

    Attributes
    ----------
    facilities : pandas.DataFrame
        One row per facility (``facility_id``): ``opening_hours``, ``open_<window>`` (open/closed/unknown),
        ``hours_note``; and for the tiers (and services whose list gives a capacity) ``crowding_key``,
        ``catchment_people``, ``capacity_people``, ``capacity_basis``, ``load``, ``crowded``.
    windows : tuple of TimeWindow
    coverage : pandas.DataFrame
        Per window, tier or service, and group: ``covered_share``, ``people_without``, ``open_facilities``;
        empty when the windows are not assessed.
    window_access : mapping of str to Access or EstimatedAccess
        Per window key, the searches on the facilities open in it (empty when not assessed).
    hours_listed : int
        Facilities that list opening hours.
    windows_note, crowding_note : str
        Why the windows or the crowding are not assessed ("" when they are), in Chinese.
    """

    facilities: pd.DataFrame
    windows: tuple[TimeWindow, ...]
    coverage: pd.DataFrame
    window_access: Mapping[str, Access | EstimatedAccess] = field(default_factory=dict)
    hours_listed: int = 0
    windows_note: str = ""
    crowding_note: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: hours listed, windows (or why not assessed), crowded facilities per tier/service."""
        fac = self.facilities
        crowd: dict[str, Any] = {}
        if "crowded" in fac:
            for key, group in fac[fac["crowding_key"].notna()].groupby("crowding_key"):
                flags = group["crowded"].astype("boolean")
                crowd[str(key)] = {
                    "facilities": len(group),
                    "crowded": int(flags.sum()),
                    "assessed": int(flags.notna().sum()),
                    "capacity_basis": {str(k): int(v) for k, v in group["capacity_basis"].value_counts().items()},
                }
        windows: dict[str, Any] = {}
        for w in self.windows:
            rows = self.coverage[self.coverage["window"] == w.key] if len(self.coverage) else self.coverage
            windows[w.key] = {
                "name_zh": w.name_zh,
                "name_en": w.name_en,
                "days": list(w.days),
                "start": w.start,
                "end": w.end,
                "open_facilities": int((fac[f"open_{w.key}"] == "open").sum()),
                "coverage": rows.drop(columns=["window"]).to_dict(orient="records") if len(rows) else None,
            }
        return {
            "hours_listed": self.hours_listed,
            "windows_assessed": not self.windows_note,
            "windows_note": self.windows_note,
            "windows": windows,
            "crowding_note": self.crowding_note,
            "crowding": crowd,
        }


def area_windows(area: StudyArea) -> tuple[TimeWindow, ...]:
    """The time windows of an area's ``[hours]`` table (default :data:`planner.hours.DEFAULT_WINDOWS`)."""
    given = area.settings.hours.windows
    if not given:
        return DEFAULT_WINDOWS
    return tuple(TimeWindow(w.key, tuple(w.days), w.start, w.end, w.name_zh, w.name_en) for w in given)


def _hours(area: StudyArea, facilities: gpd.GeoDataFrame, windows: tuple[TimeWindow, ...]) -> pd.DataFrame:
    """Window states per facility, one call per list so a bad cell names its own file."""
    sources: dict[str, str] = facilities.attrs.get("sources", {})
    lists = facilities["list"] if "list" in facilities else pd.Series("facilities", index=facilities.index)
    parts = []
    for name, rows in facilities.groupby(lists, sort=False):
        path = sources.get(str(name))
        parts.append(window_states(rows, windows, min_share=area.settings.hours.min_share, path=path))
    return pd.concat(parts).loc[facilities.index] if parts else pd.DataFrame(index=facilities.index)


def _crowding(
    network: WalkNetwork | None,
    facilities: gpd.GeoDataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    area: StudyArea,
) -> tuple[pd.DataFrame, str]:
    cfg = area.settings.crowding
    if not cfg.enabled:
        return pd.DataFrame(index=facilities.index), "未评估：研究区设置关闭了拥挤度评估。"
    if network is None:
        return pd.DataFrame(index=facilities.index), "未评估：没有道路网，服务范围内人口无法按步行时间计算。"
    bands = DEFAULT_DECAY if cfg.decay is None else (tuple(cfg.decay) or None)
    capacity = facility_capacity(facilities, rules, people_per_unit=cfg.people_per_unit)
    tiers, services = facility_sets(facilities, rules)
    everyone = rules.everyone
    points = Snap.of(residents)  # one snap for every table: its order along the streets is worked out once
    parts = []
    for tier in rules.tiers:
        sel = tiers[tier.key]
        if not sel.any():
            continue
        table, _ = crowding_table(
            network,
            facilities[sel],
            residents,
            capacity[sel],
            limit_min=tier.minutes,
            metres_per_minute=everyone.metres_per_minute,
            group="population",
            bands=bands,
            points=points,
        )
        parts.append(table.assign(crowding_key=tier.key))
    done = np.zeros(len(facilities), dtype=bool)
    for part in parts:
        done[facilities.index.get_indexer(part.index)] = True
    for rule in rules.services:  # a service list counts only where it gives a capacity (seats, beds …)
        offered = services.get(rule.key)
        if offered is None or not (offered & ~done).any():
            continue
        sel = offered & ~done
        if not (capacity["capacity_basis"][sel] == "capacity").any():
            continue
        prof = next(iter(rules.service_profiles(rule.key)), everyone)
        table, _ = crowding_table(
            network,
            facilities[sel],
            residents,
            capacity[sel],
            limit_min=rule.minutes,
            metres_per_minute=prof.metres_per_minute,
            group=prof.group,
            bands=bands,
            points=points,
        )
        parts.append(table.assign(crowding_key=rule.key))
    if not parts:
        return pd.DataFrame(index=facilities.index), "未评估：没有可评估容量的设施。"
    return pd.concat(parts).reindex(facilities.index), ""


def assess_availability(
    area: StudyArea,
    frame: WalkNetwork | StraightLine,
    facilities: gpd.GeoDataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
) -> Availability:
    """Opening hours per time window and crowding per facility, and coverage in each window.

    Parameters
    ----------
    area : StudyArea
        Its ``[hours]`` and ``[crowding]`` settings.
    frame : WalkNetwork or StraightLine
        The walk network (or a straight-line estimate: crowding is then not assessed).
    facilities : geopandas.GeoDataFrame
        The plan's facilities.
    residents : geopandas.GeoDataFrame
        The residents with their coverage columns.
    rules : Rules

    Returns
    -------
    Availability
    """
    windows = area_windows(area)
    states = _hours(area, facilities, windows)
    listed = int((states["opening_hours"] != "").sum()) if "opening_hours" in states else 0
    network = frame if isinstance(frame, WalkNetwork) else None
    crowd, crowd_note = _crowding(network, facilities, residents, rules, area)
    table = pd.concat([facilities[["facility_id"]], states, crowd], axis=1)
    coverage = pd.DataFrame(
        columns=["window", "kind", "key", "group", "covered_share", "people_without", "open_facilities"]
    )
    access: dict[str, Access | EstimatedAccess] = {}
    note = "" if listed else "未评估：设施清单未列开放时间（各时段覆盖与全天相同）。"
    if listed:
        horizon, _ = search_horizon(rules, area.settings.access.horizon_min)
        rows = []
        for w in windows:
            mask = open_mask(states, w.key)
            open_fac = facilities[mask].reset_index(drop=True)
            found = (
                compute_access(network, open_fac, rules, horizon)
                if network is not None
                else estimate_access(frame, open_fac, rules, horizon)  # type: ignore[arg-type]
            )
            access[w.key] = found
            cov = resident_coverage(
                frame,
                residents,
                dict(found.tiers),
                rules,
                dict(found.services),
                facility_ids=open_fac["facility_id"].to_numpy(),
            )
            rows += _window_rows(w, cov, rules, open_fac)
        coverage = pd.DataFrame(rows, columns=coverage.columns)
        log.info("coverage in %d time windows (%d facilities list their hours)", len(windows), listed)
    return Availability(table, windows, coverage, MappingProxyType(access), listed, note, crowd_note)


def _window_rows(w: TimeWindow, cov: pd.DataFrame, rules: Rules, open_fac: pd.DataFrame) -> list[dict[str, Any]]:
    pop = cov["population"].to_numpy(float)
    eld = cov["elderly"].to_numpy(float)
    weights = {"population": pop, "under60": np.maximum(pop - eld, 0.0), "elderly": eld}
    rows = []
    for tier in rules.tiers:
        n_open = int((open_fac["tier"] == tier.key).sum())
        for group, _, _ in WINDOW_GROUPS:
            prof = rules.everyone if group != "elderly" else _profile_for(rules, "elderly")
            covered = cov[col.covered(tier.key, prof.key)].to_numpy(bool)
            rows.append(_row(w, "tier", tier.key, group, weights[group], covered, n_open))
    for rule in rules.services:
        for prof in rules.service_profiles(rule.key):
            name = col.service_minutes(rule.key, prof.key)
            if name not in cov:
                continue
            where = assessed_mask(cov, rule.key)
            covered = cov[name].to_numpy(float) <= rule.minutes
            group = prof.group if prof.group in weights else "population"
            rows.append(_row(w, "service", rule.key, group, weights[group] * where, covered, None))
    return rows


def _profile_for(rules: Rules, group: str) -> Any:
    return next((p for p in rules.profiles if p.group == group), rules.everyone)


def _row(
    w: TimeWindow, kind: str, key: str, group: str, weight: np.ndarray, covered: np.ndarray, n_open: int | None
) -> dict[str, Any]:
    total = float(weight.sum())
    return {
        "window": w.key,
        "kind": kind,
        "key": key,
        "group": group,
        "covered_share": float(weight[covered].sum() / total) if total > 0 else None,
        "people_without": round(float(weight[~covered].sum())),
        "open_facilities": n_open,
    }
