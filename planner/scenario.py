"""What-if scenarios: close facilities, open sites, edit the streets, and compare with the plan they came from.

A scenario never changes the plan it starts from: :func:`what_if` returns a
:class:`Scenario` holding both plans and the change between them.

>>> from planner import run, what_if
>>> plan = run()                                               # doctest: +SKIP
>>> scenario = what_if(plan, close=["S012"])                   # doctest: +SKIP
>>> scenario.change["station"]["adult"]["loss_people"]         # doctest: +SKIP
>>> bridge = {"from": {"lon": 121.49, "lat": 31.25}, "to": {"lon": 121.50, "lat": 31.25}}
>>> what_if(plan, add_links=[bridge], close_links=[(121.47, 31.23)]).notes   # doctest: +SKIP

Street edits (``add_links``, ``close_links``; see :mod:`planner.street_edits`) give the variant an edited
network: residents and facilities on closed streets move to the nearest open street and every walk is measured
again (one search per tier and service over the whole network takes some 50 ms on the default area, so nothing
partial is needed). Each edit's own effect is proved nil from those searches or measured by leaving it out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .access import Access, compute_access, point_distances
from .coverage import assessed_mask, headline, resident_coverage
from .errors import ConfigError
from .lists import ThreeLists, three_lists
from .network import Snap, WalkNetwork
from .plan import Plan
from .straight_line import EstimatedAccess, StraightLine, estimate_access
from .street_edits import EditedNetwork, StreetEdits, apply_edits
from .units import area_units

__all__ = ["EditEffect", "Scenario", "what_if"]

log = logging.getLogger(__name__)

#: Minutes (and metres) closer than this are the same walk (rounding of split streets).
_SAME = 1e-6


@dataclass(frozen=True)
class EditEffect:
    """What one street edit changes, the other edits and facility changes staying as they are.

    ``residents`` resident points (``people``, ``elderly``) get other minutes to some tier or service with the
    edit than without it; ``proved`` says it was shown without a search (no shortest walk uses the link, or
    re-opening the street would shorten none).
    """

    label: str
    kind: str
    residents: int
    people: int
    elderly: int
    proved: bool = False

    @property
    def note(self) -> tuple[str, str]:
        """The sentence saying the edit changes nothing (Chinese, English), or empty strings."""
        if self.residents:
            return "", ""
        if self.kind == "add":
            return (
                f"{self.label}：这条连线不改变任何居民的步行时间。",
                f"{self.label}: this link changes no resident's minutes",
            )
        return (
            f"{self.label}：关闭这段街道不改变任何居民的步行时间。",
            f"{self.label}: closing this street changes no resident's minutes",
        )


@dataclass(frozen=True)
class Scenario:
    """A plan and a variant of it.

    Attributes
    ----------
    base : Plan
        The plan the scenario starts from (unchanged).
    plan : Plan
        The variant: facilities closed and opened, streets edited, access and coverage recomputed.
    closed : tuple of str
        Facility ids closed.
    opened : geopandas.GeoDataFrame
        The new sites, snapped (EPSG:4326).
    change : dict
        Per tier and profile: ``gain_people``, ``gain_elderly``, ``loss_people``, ``loss_elderly``.
    service_change : dict
        The same per service and profile (the profiles of the groups a service is for; residents where it is
        assessed).
    streets : EditedNetwork or None
        The street edits applied (``streets.network`` is ``plan.network``), None without edits.
    edit_effects : tuple of EditEffect
        Per street edit, what it changes by itself.
    minutes_changed : int
        Resident points whose minutes to some tier or service changed.
    notes, notes_en : tuple of str
        Sentences for people (Chinese; English): edits that change nothing, a scenario that changes nothing.
    """

    base: Plan
    plan: Plan
    closed: tuple[str, ...]
    opened: gpd.GeoDataFrame
    change: dict[str, dict[str, dict[str, int]]]
    service_change: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    streets: EditedNetwork | None = None
    edit_effects: tuple[EditEffect, ...] = ()
    minutes_changed: int = 0
    notes: tuple[str, ...] = ()
    notes_en: tuple[str, ...] = ()

    @property
    def before(self) -> dict[str, Any]:
        """Headline figures of the base plan."""
        return headline(self.base.require_residents("a what-if comparison"), self.base.rules)

    @property
    def after(self) -> dict[str, Any]:
        """Headline figures of the variant."""
        return headline(self.plan.require_residents("a what-if comparison"), self.plan.rules)

    def changed_minutes(self) -> gpd.GeoDataFrame:
        """The residents whose minutes changed, as a map layer (EPSG:4326): ``resident_id``, ``population``,
        ``elderly`` and, per minutes column, ``<column>_before`` and ``<column>_after``."""
        was, now = self.base.require_residents("a what-if"), self.plan.require_residents("a what-if")
        rows, cols = _changed_rows(was, now)
        keep = [c for c in ("resident_id", "zone_id", "population", "elderly") if c in was.columns]
        out = pd.DataFrame({c: was[c].to_numpy()[rows] for c in keep})
        for c in cols:
            out[f"{c}_before"] = was[c].to_numpy(float)[rows]
            out[f"{c}_after"] = now[c].to_numpy(float)[rows]
        return gpd.GeoDataFrame(out, geometry=was.geometry.to_crs("EPSG:4326").values[rows], crs="EPSG:4326")

    @cached_property
    def lists(self) -> ThreeLists | None:
        """The three lists of the variant (需求清单, 资源清单 after the changes; 服务清单 empty: the scenario's own
        sites are in ``opened``), with the scenario's changes as the first note. None without units."""
        if self.base.units is None:
            return None
        plan, residents = self.plan, self.plan.require_residents("the lists of a what-if")
        units = area_units(plan.area, plan.frame, residents, plan.facilities, plan.rules)
        how = plan.estimate.method_zh if plan.estimate is not None and plan.network is None else None
        lists = three_lists(residents, units, plan.facilities, (), plan.rules, network=plan.network, estimate=how)
        done = [
            f"关闭 {len(self.closed)} 处设施" if self.closed else "",
            f"新增 {len(self.opened)} 处" if len(self.opened) else "",
        ]
        if self.streets is not None:
            done.append(f"道路改动 {len(self.edit_effects) or 1} 项")
        head = f"情景：{'、'.join(d for d in done if d) or '无改动'}；以下为改动后的清单。"
        return replace(lists, notes=(head, *self.notes, *lists.notes))

    @cached_property
    def unit_change(self) -> pd.DataFrame | None:
        """Gains and losses per unit (街道 or grid cell) of the base plan, tier or service, and profile: rows
        with any change, columns ``unit``, ``kind`` (tier/service), ``key``, ``profile``, ``gain_people``,
        ``gain_elderly``, ``loss_people``, ``loss_elderly``. None when the plan has no units."""
        units = self.base.units
        if units is None:
            return None
        was, now = self.base.require_residents("a what-if"), self.plan.require_residents("a what-if")
        flags = _coverage_flags(self.base, was, now)
        moved = np.zeros(len(was), dtype=bool)
        for _, _, _, a, b in flags:
            moved |= a != b
        rows = np.flatnonzero(moved)
        pts = was.geometry.to_crs("EPSG:4326").values[rows]
        which = np.full(len(rows), -1, dtype=np.int64)
        p, g = shapely.STRtree(units.to_crs("EPSG:4326").geometry.values).query(pts, predicate="intersects")
        first = np.unique(p, return_index=True)[1]
        which[p[first]] = g[first]
        names = np.append(units["unit"].astype(str).to_numpy(), "（研究区外）")
        pop, eld = was["population"].to_numpy(float)[rows], was["elderly"].to_numpy(float)[rows]
        out = []
        for kind, key, prof, a, b in flags:
            gain, loss = b[rows] & ~a[rows], a[rows] & ~b[rows]
            for u in np.unique(which[gain | loss]):
                at = which == u
                out.append(
                    {"unit": names[u], "kind": kind, "key": key, "profile": prof}
                    | _gain_loss(pop[at], eld[at], gain[at], loss[at])
                )
        cols = ["unit", "kind", "key", "profile", "gain_people", "gain_elderly", "loss_people", "loss_elderly"]
        return pd.DataFrame(out, columns=cols)


def what_if(
    plan: Plan,
    *,
    close: Sequence[str] = (),
    open_sites: gpd.GeoDataFrame | None = None,
    add_links: Iterable[Any] = (),
    close_links: Iterable[Any] = (),
    link_snap_m: float = 100.0,
    close_snap_m: float = 30.0,
) -> Scenario:
    """Coverage before and after closing facilities, opening sites and editing the streets.

    Parameters
    ----------
    plan : Plan
        The starting point; it is not changed.
    close : sequence of str, optional
        Facility ids to close.
    open_sites : geopandas.GeoDataFrame, optional
        New facilities: points with ``tier`` and optionally ``facility_id``, ``services``; snapped to the
        edited streets.
    add_links : iterable, optional
        New walking links (a gate, a footbridge): LineStrings in WGS-84, optionally with a length in metres
        (see :meth:`planner.street_edits.StreetEdits.parse` for every accepted form).
    close_links : iterable, optional
        Streets to close: points ``(lon, lat)`` (the nearest street segment) or OSM way ids (the whole way).
    link_snap_m, close_snap_m : float, default 100 and 30
        How far a link's end, or a point closing a street, may lie from the street (metres).

    Returns
    -------
    Scenario

    Raises
    ------
    planner.errors.ConfigError
        For unknown facility ids or tiers, a plan without residents, street edits on a plan without a
        street network, and edits that do not meet a street.
    """
    residents = plan.require_residents("a what-if comparison")
    close = tuple(close)
    unknown = sorted(set(close) - set(plan.facilities["facility_id"]))
    if unknown:
        msg = f"cannot close unknown facility id(s): {', '.join(unknown)}"
        raise ConfigError(msg)
    edits = StreetEdits.parse(add_links, close_links)
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
    kept = plan.facilities[~plan.facilities["facility_id"].isin(close)]
    horizon_min = plan.area.settings.access.horizon_min
    bare = residents[[c for c in residents.columns if not c.startswith(col.COVERAGE_PREFIXES)]]
    streets = None
    frame: WalkNetwork | StraightLine
    if plan.network is None:  # a straight-line estimate: facilities can change, streets cannot
        if len(edits):
            msg = "street edits (add_links, close_links) need a street network; this plan is a straight-line estimate"
            raise ConfigError(msg, key="network")
        if plan.estimate is None:
            msg = "a what-if needs a walk network or a straight-line estimate; this plan has neither"
            raise ConfigError(msg, key="network")
        frame, network = plan.estimate, None
        facilities, new = _with_sites(kept, new, None)
        access: Access | EstimatedAccess = estimate_access(frame, facilities, plan.rules, horizon_min)
    else:
        frame = network = plan.network
        facilities = kept
        if len(edits):
            streets = apply_edits(plan.network, edits, link_snap_m=link_snap_m, close_snap_m=close_snap_m)
            frame = network = streets.network
            facilities, bare = _moved(kept, streets, "snap_m"), _moved(bare, streets, "offset_m")
        facilities, new = _with_sites(facilities, new, network)
        access = compute_access(network, facilities, plan.rules, horizon_min)
    after = resident_coverage(
        frame,
        bare,
        dict(access.tiers),
        plan.rules,
        dict(access.services),
        facility_ids=facilities["facility_id"].to_numpy(),
    )
    variant = replace(
        plan,
        network=network,
        facilities=facilities,
        access=access,
        residents=after,
        equity=None,  # not recomputed for a what-if (70 ms of a click): equity_table(plan.residents, rules) gives it
        units=None,
        isochrones=None,
        service_areas=None,
        proposals=(),
        timings={},
    )
    rows = _changed_rows(residents, after)[0]
    n_changed = len(rows)
    effects: list[EditEffect] = []
    if streets is not None and len(edits) == 1 and not close and not len(new):  # the edit is the whole change
        pop, eld = (residents[c].to_numpy(float)[rows].sum() for c in ("population", "elderly"))
        effects = [
            EditEffect(edits.labels()[0], "add" if edits.add_links else "close", n_changed, round(pop), round(eld))
        ]
    elif streets is not None and isinstance(access, Access):
        effects = _edit_effects(plan, streets, kept, new, bare, access, facilities, (link_snap_m, close_snap_m))
    notes = [e.note for e in effects if not e.residents]
    if not n_changed:
        notes.append(("这一情景不改变任何居民的步行时间。", "this scenario changes no resident's minutes"))
    return Scenario(
        base=plan,
        plan=variant,
        closed=close,
        opened=new,
        change=coverage_change(plan, variant),
        service_change=service_change(plan, variant),
        streets=streets,
        edit_effects=tuple(effects),
        minutes_changed=n_changed,
        notes=tuple(zh for zh, _ in notes),
        notes_en=tuple(en for _, en in notes),
    )


def _with_sites(
    facilities: gpd.GeoDataFrame, new: gpd.GeoDataFrame, network: WalkNetwork | None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The facilities with the new sites after them, and the new sites, snapped to ``network`` (no street for a
    straight-line estimate)."""
    if network is None:
        new = new.assign(edge=-1, t=np.nan, snap_m=0.0)
    elif len(new):
        snap = network.snap(new.geometry.x.to_numpy(), new.geometry.y.to_numpy())
        new = new.assign(edge=snap.edge, t=snap.t, snap_m=snap.offset_m)
    if not len(new):
        return facilities.reset_index(drop=True), new
    return gpd.GeoDataFrame(pd.concat([facilities, new], ignore_index=True), crs="EPSG:4326"), new


def _moved(frame: gpd.GeoDataFrame, streets: EditedNetwork, offset: str) -> gpd.GeoDataFrame:
    """``frame`` with its (edge, t, offset) moved onto the edited network (a copy)."""
    edge, t, off = streets.remap(*_positions(frame, offset))
    return frame.assign(**{"edge": edge, "t": t, offset: off})


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: not the same walk (inf and NaN equal themselves)."""
    with np.errstate(invalid="ignore"):
        return ~((np.abs(a - b) <= _SAME) | (a == b) | (np.isnan(a) & np.isnan(b)))


def _metres(
    network: WalkNetwork, access: Access, pos: tuple[np.ndarray, ...], assessed: dict[str, np.ndarray]
) -> np.ndarray:
    """Residents' walking metres (positions ``pos`` = edge, t, offset) to every tier and service (rows), NaN
    where a service is not assessed."""
    snap = Snap(pos[0], pos[1], pos[2], np.empty(0), np.empty(0))
    rows = [point_distances(network, near, snap)[0] for near in access.tiers.values()]
    for key, near in access.services.items():
        m = point_distances(network, near, snap)[0]
        m[~assessed[key]] = np.nan
        rows.append(m)
    return np.array(rows)


def _positions(frame: gpd.GeoDataFrame, offset: str) -> tuple[np.ndarray, ...]:
    """Edge, t, offset and the WGS-84 lon, lat of a frame's rows."""
    geom = frame.geometry if frame.crs is not None and frame.crs.equals("EPSG:4326") else frame.geometry.to_crs(4326)
    cols = (frame["edge"].to_numpy(np.int64), frame["t"].to_numpy(float), frame[offset].to_numpy(float))
    return (*cols, shapely.get_x(geom.values), shapely.get_y(geom.values))


def _edit_effects(
    plan: Plan,
    streets: EditedNetwork,
    kept: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    bare: gpd.GeoDataFrame,
    access: Access,
    facilities: gpd.GeoDataFrame,
    snap_m: tuple[float, float],
) -> list[EditEffect]:
    """Each edit's own effect: proved nil from the searches already run where possible, else measured by
    running the scenario without it and comparing every resident's walks (arrays only: no frame copies)."""
    base, rules = streets.base, plan.rules
    dists = [near.distance_m for near in (*access.tiers.values(), *access.services.values())]
    res = plan.require_residents("a what-if")
    assessed = {r.key: assessed_mask(res, r.key) for r in rules.services}
    pos, fac_pos = _positions(res, "offset_m"), _positions(kept, "snap_m")
    pop, eld = res["population"].to_numpy(float), res["elderly"].to_numpy(float)
    on_edge = np.zeros(base.n_edges, dtype=bool)
    new_xy = (new.geometry.x.to_numpy(), new.geometry.y.to_numpy())
    for e in (pos[0], fac_pos[0], base.snap(*new_xy).edge if len(new) else pos[0]):
        on_edge[e[e >= 0]] = True  # residents, facilities and new sites on a street re-opened
    full = None
    out = []
    n_links = len(streets.edits.add_links)
    for i, label in enumerate(streets.edits.labels()):
        if i < n_links:
            kind, (a, b) = "add", streets.link_ends[i]
            hosts = bool(np.isin(facilities["edge"].to_numpy(), streets.link_edges[i]).any())
            ends = (np.array([a]), np.array([b]), np.maximum(streets.link_length_m[i : i + 1], 2e-3))
            unused = not hosts and not any(_shortens(d, *ends, strict=True) for d in dists)
        else:
            kind, hit = "close", streets.closed_by[i - n_links]
            ends = (base.u[hit], base.v[hit], np.maximum(base.length[hit], 1e-3))
            unused = not on_edge[hit].any() and not any(_shortens(d, *ends, strict=False) for d in dists)
        if unused:
            out.append(EditEffect(label, kind, 0, 0, 0, proved=True))
            continue
        if full is None:
            full = _metres(streets.network, access, _positions(bare, "offset_m"), assessed)
        rest = streets.edits.without(i)
        network, r, f = base, pos, fac_pos
        if len(rest):
            other = apply_edits(base, rest, link_snap_m=snap_m[0], close_snap_m=snap_m[1])
            network, r, f = other.network, other.remap(*pos), other.remap(*fac_pos)
        fac = kept.assign(edge=f[0], t=f[1], snap_m=f[2])
        acc = compute_access(network, _with_sites(fac, new, network)[0], rules, plan.area.settings.access.horizon_min)
        changed = _differs(_metres(network, acc, r, assessed), full).any(axis=0)
        people, elderly = round(float(pop[changed].sum())), round(float(eld[changed].sum()))
        out.append(EditEffect(label, kind, int(changed.sum()), people, elderly))
    return out


def _shortens(d: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray, *, strict: bool) -> bool:
    """Whether a walk of the search ``d`` may use some edge (u, v, w metres): one is on a shortest walk
    (``strict``, for an edge present: removing others leaves the distances) or would shorten one (re-added)."""
    op = np.less_equal if strict else np.less
    du, dv = d[u], d[v]
    with np.errstate(invalid="ignore"):
        return bool((np.isfinite(du) & op(du + w, dv) | np.isfinite(dv) & op(dv + w, du)).any())


def _changed_rows(was: pd.DataFrame, now: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Rows whose minutes to some tier or service differ, and the minutes columns compared."""
    cols = [c for c in was.columns if c.startswith("minutes_") and c in now.columns]
    changed = np.zeros(len(was), dtype=bool)
    for c in cols:
        changed |= _differs(was[c].to_numpy(float), now[c].to_numpy(float))
    return np.flatnonzero(changed), cols


def _gain_loss(pop: np.ndarray, eld: np.ndarray, gain: np.ndarray, loss: np.ndarray) -> dict[str, int]:
    return {
        "gain_people": round(float(pop[gain].sum())),
        "gain_elderly": round(float(eld[gain].sum())),
        "loss_people": round(float(pop[loss].sum())),
        "loss_elderly": round(float(eld[loss].sum())),
    }


def _coverage_flags(
    plan: Plan, was: pd.DataFrame, now: pd.DataFrame
) -> list[tuple[str, str, str, np.ndarray, np.ndarray]]:
    """(kind, key, profile, covered before, covered after) per tier and profile, then per service and profile."""
    out = []
    for tier in plan.rules.tiers:
        for prof in plan.rules.profiles:
            c = col.covered(tier.key, prof.key)
            out.append(("tier", tier.key, prof.key, was[c].to_numpy(bool), now[c].to_numpy(bool)))
    for rule in plan.rules.services:
        assessed = assessed_mask(was, rule.key)
        for prof in plan.rules.service_profiles(rule.key):
            c = col.service_minutes(rule.key, prof.key)
            if c in was.columns and c in now.columns:
                a = assessed & (was[c].to_numpy(float) <= rule.minutes)
                b = assessed & (now[c].to_numpy(float) <= rule.minutes)
                out.append(("service", rule.key, prof.key, a, b))
    return out


def coverage_change(before: Plan, after: Plan) -> dict[str, dict[str, dict[str, int]]]:
    """People and elderly gaining or losing each tier, per profile, between two plans of the same residents."""
    return _change(before, after, "tier")


def service_change(before: Plan, after: Plan) -> dict[str, dict[str, dict[str, int]]]:
    """People and elderly gaining or losing each service within its minutes, per profile it is measured on."""
    return _change(before, after, "service")


def _change(before: Plan, after: Plan, kind: str) -> dict[str, dict[str, dict[str, int]]]:
    was, now = before.require_residents("a coverage change"), after.require_residents("a coverage change")
    pop, eld = was["population"].to_numpy(float), was["elderly"].to_numpy(float)
    change: dict[str, dict[str, dict[str, int]]] = {}
    for k, key, prof, a, b in _coverage_flags(before, was, now):
        if k == kind:
            change.setdefault(key, {})[prof] = _gain_loss(pop, eld, b & ~a, a & ~b)
    return change
