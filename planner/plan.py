"""The result of one planning run: an immutable record that maps, report, API and notebooks read.

Build one with :func:`planner.pipeline.run`; nothing in a :class:`Plan` changes after it is
built. Methods that answer new questions (:meth:`Plan.query`, :meth:`Plan.propose_sites`,
:meth:`Plan.isochrones`) return new objects; a what-if returns a new plan
(:func:`planner.scenario.what_if`).

>>> from planner import run
>>> plan = run()                                         # the default area  # doctest: +SKIP
>>> plan.query([121.4737], [31.2304])                    # minutes per tier  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import columns as col
from .access import Access, point_distances
from .area import StudyArea
from .area_cache import cached_service_areas
from .availability import Availability
from .coords import to_wgs84
from .coverage import headline
from .errors import ConfigError
from .hours import open_mask
from .isochrones import dissolve_isochrones, facility_isochrones, service_areas
from .lists import ThreeLists
from .network import WalkNetwork
from .population_check import PopulationCheck
from .sites import Proposal, area_candidates, crowding_relief, propose
from .straight_line import EstimatedAccess, NearestByLine, StraightLine, disc_isochrones
from .tiers import Rules

__all__ = ["Plan"]

log = logging.getLogger(__name__)

#: None as numpy.where takes it (numpy's stubs do not accept a bare None for the other branch)
_NONE = np.array(None)


@dataclass(frozen=True)
class Plan:
    """Walking access to every tier and service of a study area, and what follows from it.

    Attributes
    ----------
    area : StudyArea
        The settings the plan was built with (overrides applied).
    network : WalkNetwork or None
        None when the area was assessed without streets (``estimate`` is then set).
    facilities : geopandas.GeoDataFrame
        Validated and snapped, EPSG:4326.
    access : Access or EstimatedAccess
        Node distances to the nearest facility of every tier and service (straight-line searches without streets).
    residents : geopandas.GeoDataFrame or None
        Resident points with the coverage columns of :mod:`planner.columns`; None without population data.
    units : geopandas.GeoDataFrame or None
        Figures per administrative unit or grid cell.
    equity : pandas.DataFrame or None
        Distribution of minutes per tier and profile.
    isochrones, service_areas : geopandas.GeoDataFrame or None
        Per facility × band × profile, and dissolved per tier; None when not computed.
    proposals : tuple of Proposal
        New sites proposed in the run.
    lists : ThreeLists or None
        The three lists of the community check report (需求清单, 资源清单, 服务清单), with residents.
    population_check : PopulationCheck or None
        The population estimate against compound households per unit, when the area has such a list.
    context : mapping of str to geopandas.GeoDataFrame
        Context layers that are not life-circle services (hospitals, 120 ambulance stations), by key: points in
        EPSG:4326 with ``name`` and the list's other columns; ``attrs`` hold ``name_zh``, ``name_en``,
        ``source`` and ``licence``.
    timings : mapping of str to float
        Seconds spent in each stage.
    estimate : StraightLine or None
        Set when there is no street network: every walking figure is a straight-line estimate (估算).
    availability : Availability or None
        Opening hours per time window and crowding per facility (with residents).
    """

    area: StudyArea
    network: WalkNetwork | None
    facilities: gpd.GeoDataFrame
    access: Access | EstimatedAccess
    residents: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    equity: pd.DataFrame | None = None
    isochrones: gpd.GeoDataFrame | None = None
    service_areas: gpd.GeoDataFrame | None = None
    proposals: tuple[Proposal, ...] = ()
    context: Mapping[str, gpd.GeoDataFrame] = field(default_factory=dict)
    population_check: PopulationCheck | None = None
    lists: ThreeLists | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    estimate: StraightLine | None = None
    availability: Availability | None = None

    @property
    def rules(self) -> Rules:
        """Tiers, profiles, bands and service targets in force."""
        return self.area.rules

    def require_residents(self, purpose: str) -> gpd.GeoDataFrame:
        """The residents, or a :class:`~planner.errors.ConfigError` saying that ``purpose`` needs them."""
        if self.residents is None:
            msg = f"{purpose} needs residents: the study area has no [population] source"
            raise ConfigError(msg, key="population")
        return self.residents

    @property
    def frame(self) -> WalkNetwork | StraightLine:
        """What the plan was measured on: the walk network, or the straight-line estimate's frame (its ``crs``,
        ``project``, ``unproject``, ``bbox_wgs84`` and ``boundary_wgs84`` serve both)."""
        if self.network is not None:
            return self.network
        if self.estimate is None:
            msg = "a plan needs a walk network or a straight-line estimate"
            raise ConfigError(msg, key="network")
        return self.estimate

    @property
    def estimated(self) -> bool:
        """True when every walking figure is a straight-line estimate (估算): the area has no street network."""
        return self.network is None

    def require_network(self, purpose: str) -> WalkNetwork:
        """The walk network, or a :class:`~planner.errors.ConfigError` saying that ``purpose`` needs streets."""
        if self.network is None:
            msg = f"{purpose} needs a street network: this area is a straight-line estimate ([network] mode = none)"
            raise ConfigError(msg, key="network.mode")
        return self.network

    @property
    def horizon_min(self) -> float:
        """Search horizon in minutes."""
        return self.access.horizon_min

    def node_minutes(self, tier: str, profile: str | None = None) -> np.ndarray:
        """Minutes from every network node to the nearest facility of a tier (NaN if unreachable)."""
        prof = self.rules.profile(profile) if profile else self.rules.everyone
        self.require_network("minutes per street node")
        found = self.access.tiers[self.rules.tier(tier).key]
        assert not isinstance(found, NearestByLine)
        d = found.distance_m
        with np.errstate(invalid="ignore"):
            return np.where(np.isfinite(d), d / prof.metres_per_minute, np.nan)

    def query(self, lon: Any, lat: Any, *, crs: str = "wgs84", max_snap_m: float = 500.0) -> pd.DataFrame:
        """Walking minutes from points to the nearest facility of every tier, for every profile.

        Parameters
        ----------
        lon, lat : array-like
            Coordinates in degrees.
        crs : {"wgs84", "gcj02", "bd09"}, default "wgs84"
        max_snap_m : float, default 500
            Points farther than this from every street get NaN minutes.

        Returns
        -------
        pandas.DataFrame
            ``lon``, ``lat`` (WGS-84), ``snap_distance_m``, then the :mod:`planner.columns`
            ``minutes_<tier>_<profile>``, ``covered_<tier>_<profile>`` and ``nearest_<tier>``.
        """
        return pd.DataFrame(self.query_arrays(lon, lat, crs=crs, max_snap_m=max_snap_m))

    def query_arrays(
        self, lon: Any, lat: Any, *, crs: str = "wgs84", max_snap_m: float = 500.0, window: str | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`query` as a dict of arrays (no DataFrame: the fast path for single-point services).

        With ``window`` (a time window such as ``weekday_evening``), the minutes, coverage and nearest facility
        are those of the facilities open in it (``availability.window_access``); a
        :class:`~planner.errors.ConfigError` says when the window is not assessed, and why.
        """
        lon, lat = to_wgs84(
            np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float)), crs
        )
        if self.network is not None:
            snap = self.network.snap(lon, lat, max_distance=max_snap_m)
            offset = snap.offset_m
        else:  # no streets: the distance to the area's outline instead (0 inside); beyond max_snap_m, NaN
            frame = self.frame
            x, y = frame.project(lon, lat)
            outline = gpd.GeoSeries([frame.boundary_wgs84()], crs="EPSG:4326").to_crs(frame.crs).iloc[0]
            offset = shapely.distance(outline, shapely.points(x, y))
        out: dict[str, np.ndarray] = {"lon": lon, "lat": lat, "snap_distance_m": offset}
        access, ids = self._window_access(window)
        for tier in self.rules.tiers:
            found = access.tiers[tier.key]
            if isinstance(found, NearestByLine):
                dist, fac = found.distances(lon, lat)
                dist = np.where(offset <= max_snap_m, dist, np.inf)
            else:
                assert self.network is not None
                dist, fac = point_distances(self.network, found, snap)
            for prof in self.rules.profiles:
                with np.errstate(invalid="ignore"):
                    minutes = np.where(np.isfinite(dist), dist / prof.metres_per_minute, np.nan)
                out[col.minutes(tier.key, prof.key)] = minutes
                out[col.covered(tier.key, prof.key)] = minutes <= tier.minutes
            out[col.nearest(tier.key)] = np.where(fac >= 0, ids[np.maximum(fac, 0)], _NONE)
        return out

    @cached_property
    def _facility_ids(self) -> np.ndarray:
        """The facility id of each row (kept: converting the column is a tenth of a single-point query's time)."""
        return self.facilities["facility_id"].to_numpy()

    def _window_access(self, window: str | None) -> tuple[Access | EstimatedAccess, np.ndarray]:
        """The searches to answer from, and the facility id of each of their rows: the plan's own, or those on
        the facilities open in a time window."""
        if window is None:
            return self.access, self._facility_ids
        av = self.availability
        if av is None or window not in av.window_access:
            known = ", ".join(w.key for w in av.windows) if av is not None else ""
            why = (av.windows_note if av is not None else "") or f"not one of the area's windows ({known})"
            msg = f"time window {window!r} is not assessed: {why}"
            raise ConfigError(msg, key="window")
        ids = av.facilities["facility_id"].to_numpy(object)[open_mask(av.facilities, window)]
        return av.window_access[window], ids

    def propose_sites(
        self,
        tier: str,
        *,
        k: int | None = None,
        target_share: float | None = None,
        profile: str | None = None,
        weight: str | None = None,
        candidates: gpd.GeoDataFrame | None = None,
        capacity: float | None = None,
        method: str | None = None,
        time_limit: float | None = None,
        relieve_crowding: bool | float = False,
    ) -> Proposal:
        """New sites for a tier that cover the most underserved residents (see :func:`planner.sites.propose`).

        Give ``k`` (maximal covering: the best ``k`` sites) or ``target_share`` (set covering: the fewest
        sites bringing the tier's coverage to that share; 1.0 = every reachable resident). Unset options
        come from the area's ``[sites]`` settings. ``relieve_crowding`` (``k`` only) also counts residents whose
        nearest facility of the tier is crowded, at the share of its catchment beyond capacity (True) or at a
        given factor in (0, 1) (:func:`planner.sites.crowding_relief`).
        """
        residents = self.require_residents("proposing sites")
        cfg = self.area.settings.sites
        t = self.rules.tier(tier)
        prof = self.rules.profile(profile) if profile else self.rules.everyone
        cands = candidates if candidates is not None else area_candidates(self.area, self.frame, tier=t.key)
        return propose(
            self.frame,
            residents,
            cands,
            tier=t.key,
            minutes=t.minutes,
            speed_mps=prof.speed_mps,
            profile=prof.key,
            covered_column=col.covered(t.key, prof.key),
            k=k,
            target_share=target_share,
            weight=weight or cfg.weight,
            capacity=capacity if capacity is not None else cfg.capacity.get(t.key),
            method=method or cfg.method,
            time_limit=time_limit or cfg.time_limit_s,
            landmarks=self.facilities,
            relieve=self._relief(t.key, relieve_crowding),
        )

    def _relief(self, tier: str, relieve: bool | float) -> dict[str, float] | None:
        """Per crowded facility of a tier, the weight of its residents as demand (None: not asked, or no stage)."""
        if not relieve or self.availability is None or "crowded" not in self.availability.facilities:
            return None
        factor = None if relieve is True else float(relieve)
        return crowding_relief(self.availability.facilities, tier, factor=factor)

    def compute_isochrones(
        self, bands: Sequence[float] | None = None, *, profiles: Sequence[str] | None = None, progress: bool = False
    ) -> gpd.GeoDataFrame:
        """Isochrone polygons of every facility, computed anew (see :func:`planner.isochrones.facility_isochrones`)."""
        cfg = self.area.settings.isochrones
        profs = [self.rules.profile(p) for p in profiles] if profiles else list(self.rules.profiles)
        if self.estimate is not None and self.network is None:
            return disc_isochrones(self.estimate, self.facilities, profs, tuple(bands or self.rules.bands))
        return facility_isochrones(
            self.require_network("isochrones on streets"),
            self.facilities,
            profs,
            tuple(bands or self.rules.bands),
            method=cfg.method,
            corridor_m=cfg.corridor_m,
            progress=progress,
        )

    def compute_service_areas(
        self, bands: Sequence[float] | None = None, *, profiles: Sequence[str] | None = None, use_cache: bool = False
    ) -> gpd.GeoDataFrame:
        """Dissolved service area per tier, band and profile (see :func:`planner.isochrones.service_areas`); with
        ``use_cache``, read from the on-disk cache when the same inputs were drawn before
        (:func:`planner.area_cache.cached_service_areas`)."""
        cfg = self.area.settings.isochrones
        profs = [self.rules.profile(p) for p in profiles] if profiles else list(self.rules.profiles)
        if self.network is None or isinstance(self.access, EstimatedAccess):
            iso = self.compute_isochrones(bands, profiles=[p.key for p in profs])
            return dissolve_isochrones(iso[iso["tier"].isin([t.key for t in self.rules.tiers])], self.frame.crs)
        return (cached_service_areas if use_cache else service_areas)(
            self.network,
            self.facilities,
            dict(self.access.tiers),
            profs,
            tuple(bands or self.rules.bands),
            method=cfg.method,
            corridor_m=cfg.corridor_m,
        )

    def summary(self) -> dict[str, Any]:
        """Headline facts of the run, JSON-ready."""
        area = self.area
        pop = area.settings.population
        summary: dict[str, Any] = {
            "area": {
                "name": area.name,
                "title_zh": area.title_zh,
                "title_en": area.title_en,
                "bbox_wgs84": [round(v, 6) for v in self.frame.bbox_wgs84()],
            },
            "network": self._network_summary(),
            "facilities": {
                "per_tier": {t.key: int((self.facilities["tier"] == t.key).sum()) for t in self.rules.tiers},
                "illustrative": area.facilities_illustrative,
                "source": self.facilities.attrs.get("source"),
                "skipped_rows": self.facilities.attrs.get("skipped_rows", []),
                "lists": self.facilities.attrs.get("lists", {}),
            },
            "context": {
                key: {
                    "name_zh": layer.attrs.get("name_zh"),
                    "name_en": layer.attrs.get("name_en"),
                    "points": len(layer),
                    "source": layer.attrs.get("source"),
                    "licence": layer.attrs.get("licence"),
                }
                for key, layer in self.context.items()
            },
            "rules": {
                "preset": self.area.settings.preset,
                "tiers": {
                    t.key: {
                        "minutes": t.minutes,
                        "name_zh": t.name_zh,
                        "name_en": t.name_en,
                        **({"source": t.source} if t.source else {}),
                    }
                    for t in self.rules.tiers
                },
                "profiles": {
                    p.key: {
                        "speed_mps": round(p.speed_mps, 4),
                        "speed_kmh": round(p.speed_mps * 3.6, 3),
                        "group": p.group,
                    }
                    for p in self.rules.profiles
                },
                "bands_min": list(self.rules.bands),
                "horizon_min": self.horizon_min,
            },
            "residents": None,
            "sites": [p.summary() for p in self.proposals],
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.residents is not None:
            attrs = self.residents.attrs
            summary["residents"] = {
                **headline(self.residents, self.rules),
                "source": attrs.get("source"),
                "population_in_source": round(attrs.get("population_in_source", 0)),
                "elderly_share_assumed": attrs.get("elderly_share"),
                "elderly_share_source": pop.elderly_share_source if pop else None,
                "note": pop.note if pop else None,
            }
            if self.population_check is not None:
                summary["residents"]["population_check"] = self.population_check.summary()
            for key, entry in summary["residents"]["services"].items():
                entry["basis"] = self.service_basis(key)
        if self.availability is not None:
            summary["availability"] = self.availability.summary()
        return summary

    def _network_summary(self) -> dict[str, Any]:
        net = self.network
        if net is None:  # a straight-line estimate: no streets, every figure 估算
            how = self.estimate.summary() if self.estimate else None
            return {"mode": "none", "crs": self.frame.crs, "estimate": how}
        return {
            "mode": "streets",
            "nodes": net.n_nodes,
            "edges": net.n_edges,
            "km": round(net.total_km, 1),
            "crs": net.crs,
            "source": net.meta.get("source_name"),
            "sha256": net.meta.get("sha256"),
            "osm_timestamp": net.meta.get("osm_timestamp"),
            "ways_dropped": net.meta.get("ways_dropped"),
            "components": net.meta.get("components", {}),
            "cache": net.meta.get("cache"),
            "licence": "ODbL 1.0, © OpenStreetMap contributors",
        }

    def service_basis(self, service: str) -> dict[str, Any]:
        """Which facilities a service was measured on: its own list, or the tier facilities listing it, and
        whether those are illustrative (then every figure of the service is illustrative too)."""
        fac = self.facilities
        own = fac["list"] == f"services.{service}" if "list" in fac.columns else pd.Series(False, index=fac.index)
        used = fac[own] if own.any() else fac[fac["services"].map(lambda listed: service in listed)]
        spec = self.area.settings.services.get(service)
        return {
            "list": f"services.{service}" if own.any() else "facilities",
            "facilities": len(used),
            "illustrative": bool(len(used)) and bool(used["illustrative"].all()) if "illustrative" in used else False,
            "note": spec.note if spec else "",
        }
