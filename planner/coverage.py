"""Coverage: who can walk to which tier and which service, and how fair the minutes are.

The columns added to residents are named in :mod:`planner.columns`; every walking profile is
weighted by the count of its own group of residents (``population`` or ``elderly``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .access import NearestFacility, point_distances
from .area import StudyArea
from .errors import ConfigError, InputError
from .network import Snap, WalkNetwork
from .straight_line import NearestByLine, StraightLine
from .tiers import Rules, SpeedProfile

__all__ = [
    "coverage_totals",
    "equity_table",
    "gini",
    "group_weights",
    "headline",
    "lorenz_curve",
    "resident_coverage",
    "totals_headline",
    "weighted_quantile",
]

log = logging.getLogger(__name__)

#: Share of residents within 15 minutes of every tier asked by the national life-circle standard (GB 50180).
NATIONAL_TARGET_SHARE = 0.85
#: Share asked by Shanghai's 2035 master plan.
SHANGHAI_2035_TARGET_SHARE = 0.99


def group_weights(residents: pd.DataFrame, profile: SpeedProfile) -> np.ndarray:
    """Count of the profile's group of residents per row (``population``, ``elderly`` …)."""
    if profile.group not in residents.columns:
        msg = (
            f"profile {profile.key!r} is for group {profile.group!r}, but the residents have no such column "
            f"(columns: {', '.join(c for c in residents.columns if not c.startswith(col.COVERAGE_PREFIXES))})"
        )
        raise ConfigError(msg, key=f"profiles.{profile.key}.group")
    return residents[profile.group].to_numpy(float)


def resident_coverage(
    network: WalkNetwork | StraightLine,
    residents: gpd.GeoDataFrame,
    nearest: Mapping[str, NearestFacility | NearestByLine],
    rules: Rules,
    service_nearest: Mapping[str, NearestFacility | NearestByLine] | None = None,
    facility_ids: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Minutes to every tier for every profile, coverage flags and missing tiers and services.

    Parameters
    ----------
    network : WalkNetwork or StraightLine
        The walk network, or the frame of a straight-line estimate (then every minute is an estimate).
    residents : geopandas.GeoDataFrame
        From :mod:`planner.residents` (with ``edge``, ``t``, ``offset_m``).
    nearest : mapping of str to NearestFacility or NearestByLine
        Per tier.
    rules : Rules
    service_nearest : mapping of str to NearestFacility or NearestByLine, optional
        Per service category.
    facility_ids : numpy.ndarray, optional
        Facility id per row of the facility table the searches ran on; with it, ``nearest_<tier>`` names each
        resident's nearest facility of every tier (None where none is reachable).

    Returns
    -------
    geopandas.GeoDataFrame
        ``residents`` with the coverage columns added.
    """
    snap = Snap.of(residents)
    out = residents.copy()
    lon, lat = residents.geometry.x.to_numpy(), residents.geometry.y.to_numpy()

    def metres(found: NearestFacility | NearestByLine) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(found, NearestByLine):
            return found.distances(lon, lat)
        assert isinstance(network, WalkNetwork)
        return point_distances(network, found, snap)

    tier_hits = {tier.key: metres(nearest[tier.key]) for tier in rules.tiers}
    tier_m = {key: hit[0] for key, hit in tier_hits.items()}
    if facility_ids is not None:
        for key, (_, fac) in tier_hits.items():
            out[col.nearest(key)] = np.where(fac >= 0, facility_ids[np.maximum(fac, 0)], None)
    service_nearest = service_nearest or {}
    services = [rule for rule in rules.services if rule.key in service_nearest]
    service_m = {rule.key: metres(service_nearest[rule.key])[0] for rule in services}
    for prof in rules.profiles:
        gaps = []
        for tier in rules.tiers:
            minutes = tier_m[tier.key] / prof.metres_per_minute
            minutes[~np.isfinite(minutes)] = np.nan
            covered = minutes <= tier.minutes
            out[col.minutes(tier.key, prof.key)] = minutes
            out[col.covered(tier.key, prof.key)] = covered
            gaps.append(~covered)
        out[col.missing_tiers(prof.key)] = _join_flags([t.key for t in rules.tiers], gaps, len(out))
        # lacking some tier (False for every resident when the area has no tier inventory: nothing assessed)
        out[col.underserved(prof.key)] = np.logical_or.reduce(gaps) if gaps else np.zeros(len(out), dtype=bool)
        mine = [r for r in services if prof.group in r.groups]  # each service for its own groups only
        missing = []
        for r in mine:
            minutes = service_m[r.key] / prof.metres_per_minute
            minutes[~np.isfinite(minutes)] = np.nan
            assessed = assessed_mask(residents, r.key)
            minutes[~assessed] = np.nan  # where the list is incomplete: not assessed, never "missing"
            out[col.service_minutes(r.key, prof.key)] = minutes
            missing.append(assessed & ~(minutes <= r.minutes))
        if mine:
            out[col.missing_services(prof.key)] = _join_flags([r.key for r in mine], missing, len(out))
    return out


def assessed_mask(residents: pd.DataFrame, service: str) -> np.ndarray:
    """Where a service is assessed: its ``assessed_service_<key>`` column when the residents carry one, else all."""
    name = col.service_assessed(service)
    if name in residents.columns:
        return residents[name].to_numpy(bool)
    return np.ones(len(residents), dtype=bool)


def mark_assessed(area: StudyArea, residents: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``assessed_service_<key>`` for every service whose list is complete only in some polygons."""
    out = residents
    for key, spec in area.settings.services.items():
        where = spec.assessed_in
        if where is None:
            continue
        polygons = gpd.read_file(area.path(where.file))
        if where.column not in polygons.columns:
            msg = (
                f"{where.file}: no column {where.column!r} (columns: {', '.join(map(str, polygons.columns))}); "
                f"fix [services.{key}.assessed_in] column"
            )
            raise InputError(msg, path=area.path(where.file), field=where.column)
        unknown = sorted(set(where.values) - set(polygons[where.column].astype(str)))
        if unknown:
            msg = f"{where.file}: no {where.column} named {', '.join(unknown)}; fix [services.{key}.assessed_in] values"
            raise InputError(msg, path=area.path(where.file), field=where.column)
        inside = polygons[polygons[where.column].astype(str).isin(where.values)].to_crs("EPSG:4326").union_all()
        out = out.copy() if out is residents else out
        pts = out.geometry.to_crs("EPSG:4326")
        out[col.service_assessed(key)] = shapely.contains_xy(inside, pts.x.to_numpy(), pts.y.to_numpy())
    return out


def _join_flags(keys: list[str], flags: list[np.ndarray], n: int) -> np.ndarray:
    """Comma-joined keys whose flag is set, per row of ``n`` (vectorised through a bit mask)."""
    if not keys:
        return np.full(n, "", dtype=object)
    mask = np.zeros(n, dtype=np.int64)
    for bit, flag in enumerate(flags):
        mask |= flag.astype(np.int64) << bit
    codes, inverse = np.unique(mask, return_inverse=True)
    labels = np.array([",".join(k for b, k in enumerate(keys) if code >> b & 1) for code in codes], dtype=object)
    return labels[inverse]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` (0..1) of ``values`` where each value counts ``weights`` times (NaNs ignored)."""
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), cum, v))


def lorenz_curve(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative population share against cumulative share of ``values`` (sorted ascending)."""
    ok = np.isfinite(values) & (weights > 0)
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    pop = np.concatenate([[0.0], np.cumsum(w) / w.sum()]) if len(w) else np.array([0.0, 1.0])
    total = (v * w).sum()
    val = np.concatenate([[0.0], np.cumsum(v * w) / total]) if len(w) and total > 0 else pop
    return pop, val


def gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Population-weighted Gini coefficient of ``values`` (0 = everyone equal)."""
    pop, val = lorenz_curve(values, weights)
    return float(1.0 - np.sum(np.diff(pop) * (val[1:] + val[:-1])))


def equity_table(residents: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Distribution of walking minutes per tier and profile, each weighted by the profile's group.

    Unreachable residents are not in the statistics; their share is given apart.
    """
    rows = []
    for tier in rules.tiers:
        for prof in rules.profiles:
            m = residents[col.minutes(tier.key, prof.key)].to_numpy(float)
            w = group_weights(residents, prof)
            reach = np.isfinite(m)
            rows.append(
                {
                    "tier": tier.key,
                    "group": prof.group,
                    "profile": prof.key,
                    "people": w.sum(),
                    "mean_min": float(np.average(m[reach], weights=w[reach])) if w[reach].sum() else np.nan,
                    "median_min": weighted_quantile(m, w, 0.5),
                    "p90_min": weighted_quantile(m, w, 0.9),
                    "gini": gini(m, w),
                    "unreachable_share": float(w[~reach].sum() / w.sum()) if w.sum() else 0,
                    "covered_share": float(w[m <= tier.minutes].sum() / w.sum()) if w.sum() else 0,
                }
            )
    return pd.DataFrame(rows)


def headline(residents: pd.DataFrame, rules: Rules) -> dict:
    """Headline figures: population, elderly, coverage per tier and profile, underserved, services.

    Per tier and profile: ``covered_share`` and ``people_without`` (all residents),
    ``elderly_covered_share`` and ``elderly_without``, and ``group_covered_share`` for the
    profile's own group.
    """
    pop = residents["population"].to_numpy(float)
    sums = totals_headline(coverage_totals(residents, rules), rules)
    out: dict = {key: sums[key] for key in ("population", "elderly", "resident_points", "tiers")}
    out["services"] = {}
    out["underserved"] = sums["underserved"]
    within = np.ones(len(residents), dtype=bool)
    for tier in rules.tiers:
        within &= residents[col.minutes(tier.key, rules.everyone.key)].to_numpy(float) <= 15.0
    # no tier inventory: not assessed (never 100%); a tier with a longer target (rural): not applicable (never 0%)
    share = _share(pop, within) if rules.fifteen_minute_measure else None
    out["within_15min_all_tiers_share"] = share
    if share is None:
        out["within_15min_note"] = (
            "未评估：没有层级设施清单" if not rules.tiers else "不适用：有层级的步行目标超过 15 分钟（如乡村生活圈）"
        )
    out["targets"] = {
        "national_85": share >= NATIONAL_TARGET_SHARE if share is not None else None,
        "shanghai_2035_99": share >= SHANGHAI_2035_TARGET_SHARE if share is not None else None,
    }
    if not rules.tiers:
        out["underserved"] = {p.key: None for p in rules.profiles}
    for rule in rules.services:
        out["services"][rule.key] = service_headline(residents, rules, rule.key)
    return out


def service_headline(residents: pd.DataFrame, rules: Rules, service: str) -> dict:
    """Whether a service was assessed and, per profile it is for, the share of that group without it.

    A service is assessed when some facility list offers it; it is measured only on the profiles of the
    groups it is for (meals and elderly care: the elderly). ``people_without_share`` and
    ``elderly_without_share`` are None where not measured.
    """
    rule = rules.service(service)
    entry: dict = {
        "minutes": rule.minutes,
        "name_zh": rule.name_zh,
        "name_en": rule.name_en,
        "groups": list(rule.groups),
        "assessed": False,
        "profiles": {},
        "people_without_share": None,
        "elderly_without_share": None,
    }
    measured = [p for p in rules.service_profiles(service) if col.service_minutes(service, p.key) in residents]
    if not measured:
        entry["reason"] = (
            "no facility list offers this service"
            if rules.service_profiles(service)
            else "no walking profile is for the groups this service is for"
        )
        entry["reason_zh"] = (
            "没有设施清单提供此项服务" if rules.service_profiles(service) else "没有适用人群的步行速度设定"
        )
        return entry
    entry["assessed"] = True
    assessed = assessed_mask(residents, service)
    if not assessed.all():
        entry["assessed_population"] = round(float(residents["population"].to_numpy(float)[assessed].sum()))
        entry["assessed_elderly"] = round(float(residents["elderly"].to_numpy(float)[assessed].sum()))
        entry["assessed_share"] = _share(residents["population"].to_numpy(float), assessed)
    for prof in measured:
        weights = group_weights(residents, prof) * assessed  # shares of the residents where it was assessed
        minutes = residents[col.service_minutes(service, prof.key)].to_numpy(float)
        without = assessed & ~(minutes <= rule.minutes)
        entry["profiles"][prof.key] = {"group": prof.group, "without_share": _share(weights, without)}
        if prof.group == "population" and entry["people_without_share"] is None:
            entry["people_without_share"] = _share(weights, without)
        if prof.group == "elderly" and entry["elderly_without_share"] is None:
            entry["elderly_without_share"] = _share(weights, without)
    return entry


def coverage_totals(residents: pd.DataFrame, rules: Rules) -> dict[str, float]:
    """The sums behind :func:`headline`'s tier and underserved figures, which add up over parts of an area (the
    tiles of a city): ``population``, ``elderly``; per tier and profile ``covered|<tier>|<profile>|population``,
    ``…|elderly`` and ``…|group``, and ``uncovered|…`` for the first two; per profile ``underserved|<profile>|…``."""
    pop = residents["population"].to_numpy(float)
    eld = residents["elderly"].to_numpy(float)
    out = {"population": float(pop.sum()), "elderly": float(eld.sum()), "resident_points": float(len(residents))}
    for prof in rules.profiles:
        if rules.tiers:
            grp = group_weights(residents, prof)
            out[f"group|{prof.key}"] = float(grp.sum())
        for tier in rules.tiers:
            cov = residents[col.covered(tier.key, prof.key)].to_numpy(bool)
            for name, w in (("population", pop), ("elderly", eld), ("group", grp)):
                out[f"covered|{tier.key}|{prof.key}|{name}"] = float(w[cov].sum())
            for name, w in (("population", pop), ("elderly", eld)):
                out[f"uncovered|{tier.key}|{prof.key}|{name}"] = float(w[~cov].sum())
        under = residents[col.underserved(prof.key)].to_numpy(bool)
        out[f"underserved|{prof.key}|population"] = float(pop[under].sum())
        out[f"underserved|{prof.key}|elderly"] = float(eld[under].sum())
    return out


def totals_headline(totals: Mapping[str, float], rules: Rules) -> dict:
    """The population, tier and underserved figures of :func:`headline` (which reads them from here) from
    :func:`coverage_totals`, of one area or added up over its parts."""

    def share(part: float, whole: float) -> float | None:
        return round(part / whole, 4) if whole else None

    pop, eld = totals["population"], totals["elderly"]
    out: dict = {"population": round(pop), "elderly": round(eld), "resident_points": round(totals["resident_points"])}
    out["tiers"] = {
        tier.key: {
            prof.key: {
                "group": prof.group,
                "covered_share": share(totals[f"covered|{tier.key}|{prof.key}|population"], pop),
                "people_without": round(totals[f"uncovered|{tier.key}|{prof.key}|population"]),
                "elderly_without": round(totals[f"uncovered|{tier.key}|{prof.key}|elderly"]),
                "elderly_covered_share": share(totals[f"covered|{tier.key}|{prof.key}|elderly"], eld),
                "group_covered_share": share(
                    totals[f"covered|{tier.key}|{prof.key}|group"], totals[f"group|{prof.key}"]
                ),
            }
            for prof in rules.profiles
        }
        for tier in rules.tiers
    }
    out["underserved"] = {
        prof.key: {
            "people": round(totals[f"underserved|{prof.key}|population"]),
            "elderly": round(totals[f"underserved|{prof.key}|elderly"]),
            "share": share(totals[f"underserved|{prof.key}|population"], pop),
        }
        for prof in rules.profiles
    }
    return out


def _share(weights: np.ndarray, mask: np.ndarray) -> float | None:
    """Weighted share of rows in ``mask`` (rounded to 4 places; None when there is no weight)."""
    total = float(weights.sum())
    return round(float(weights[mask].sum()) / total, 4) if total else None
