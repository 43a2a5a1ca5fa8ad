"""What-if scenarios: close facilities, open new sites, and compare coverage with the plan they came from.

A scenario never changes the plan it starts from: :func:`what_if` returns a
:class:`Scenario` holding both plans and the change between them.

>>> from planner import run, what_if
>>> plan = run()                                               # doctest: +SKIP
>>> scenario = what_if(plan, close=["S012"])                   # doctest: +SKIP
>>> scenario.change["station"]["adult"]["loss_people"]         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import pandas as pd

from . import columns as col
from .access import compute_access
from .coverage import equity_table, headline, resident_coverage
from .errors import ConfigError
from .plan import Plan

__all__ = ["Scenario", "what_if"]


@dataclass(frozen=True)
class Scenario:
    """A plan and a variant of it.

    Attributes
    ----------
    base : Plan
        The plan the scenario starts from (unchanged).
    plan : Plan
        The variant: facilities closed and opened, access and coverage recomputed.
    closed : tuple of str
        Facility ids closed.
    opened : geopandas.GeoDataFrame
        The new sites, snapped (EPSG:4326).
    change : dict
        Per tier and profile: ``gain_people``, ``gain_elderly``, ``loss_people``, ``loss_elderly``.
    """

    base: Plan
    plan: Plan
    closed: tuple[str, ...]
    opened: gpd.GeoDataFrame
    change: dict[str, dict[str, dict[str, int]]]

    @property
    def before(self) -> dict[str, Any]:
        """Headline figures of the base plan."""
        return headline(self.base.require_residents("a what-if comparison"), self.base.rules)

    @property
    def after(self) -> dict[str, Any]:
        """Headline figures of the variant."""
        return headline(self.plan.require_residents("a what-if comparison"), self.plan.rules)


def what_if(plan: Plan, *, close: Sequence[str] = (), open_sites: gpd.GeoDataFrame | None = None) -> Scenario:
    """Coverage before and after closing facilities and/or opening sites.

    Parameters
    ----------
    plan : Plan
        The starting point; it is not changed.
    close : sequence of str, optional
        Facility ids to close.
    open_sites : geopandas.GeoDataFrame, optional
        New facilities: points with ``tier`` and optionally ``facility_id``, ``services``.

    Returns
    -------
    Scenario

    Raises
    ------
    planner.errors.ConfigError
        For unknown facility ids or tiers, or a plan without residents.
    """
    residents = plan.require_residents("a what-if comparison")
    close = tuple(close)
    unknown = sorted(set(close) - set(plan.facilities["facility_id"]))
    if unknown:
        msg = f"cannot close unknown facility id(s): {', '.join(unknown)}"
        raise ConfigError(msg)
    facilities = plan.facilities[~plan.facilities["facility_id"].isin(close)]
    new = gpd.GeoDataFrame({"tier": [], "facility_id": []}, geometry=[], crs="EPSG:4326")
    if open_sites is not None and len(open_sites):
        new = open_sites.to_crs("EPSG:4326").copy()
        bad = sorted(set(new["tier"]) - {t.key for t in plan.rules.tiers})
        if bad:
            msg = f"new sites have unknown tier(s) {bad}; known: {', '.join(t.key for t in plan.rules.tiers)}"
            raise ConfigError(msg)
        if "facility_id" not in new.columns:
            new["facility_id"] = [f"NEW{i + 1}" for i in range(len(new))]
        if "services" not in new.columns:
            new["services"] = [[] for _ in range(len(new))]
        snap = plan.network.snap(new.geometry.x.to_numpy(), new.geometry.y.to_numpy())
        new["edge"], new["t"], new["snap_m"] = snap.edge, snap.t, snap.offset_m
        facilities = gpd.GeoDataFrame(pd.concat([facilities, new], ignore_index=True), crs="EPSG:4326")
    facilities = facilities.reset_index(drop=True)
    access = compute_access(plan.network, facilities, plan.rules, plan.area.settings.access.horizon_min)
    bare = residents[[c for c in residents.columns if not c.startswith(col.COVERAGE_PREFIXES)]]
    after = resident_coverage(
        plan.network,
        bare,
        dict(access.tiers),
        plan.rules,
        dict(access.services),
        facility_ids=facilities["facility_id"].to_numpy(),
    )
    variant = replace(
        plan,
        facilities=facilities,
        access=access,
        residents=after,
        equity=equity_table(after, plan.rules),
        units=None,
        isochrones=None,
        service_areas=None,
        proposals=(),
        timings={},
    )
    return Scenario(base=plan, plan=variant, closed=close, opened=new, change=coverage_change(plan, variant))


def coverage_change(before: Plan, after: Plan) -> dict[str, dict[str, dict[str, int]]]:
    """People and elderly gaining or losing each tier, per profile, between two plans of the same residents."""
    was_res, now_res = before.require_residents("a coverage change"), after.require_residents("a coverage change")
    pop = was_res["population"].to_numpy(float)
    eld = was_res["elderly"].to_numpy(float)
    change: dict[str, dict[str, dict[str, int]]] = {}
    for tier in before.rules.tiers:
        for prof in before.rules.profiles:
            c = col.covered(tier.key, prof.key)
            was, now = was_res[c].to_numpy(bool), now_res[c].to_numpy(bool)
            change.setdefault(tier.key, {})[prof.key] = {
                "gain_people": round(float(pop[now & ~was].sum())),
                "gain_elderly": round(float(eld[now & ~was].sum())),
                "loss_people": round(float(pop[was & ~now].sum())),
                "loss_elderly": round(float(eld[was & ~now].sum())),
            }
    return change
