"""One study area's planning run: network, facilities and walking access, built once.

>>> from planner import Plan
>>> plan = Plan.build()                                  # the default area  # doctest: +SKIP
>>> plan.query([121.4737], [31.2304])                    # minutes per tier  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import NearestFacility, nearest_facility, point_distances
from .area import StudyArea
from .coords import to_wgs84
from .coverage import equity_table, headline, regular_grid, resident_coverage, unit_table
from .facilities import load_facilities, snap_facilities
from .isochrones import facility_isochrones, service_areas
from .network import WalkNetwork
from .osm import buildings_frame
from .residents import DEFAULT_ELDERLY_SHARE, read_population, residents_from_points, residents_from_zones
from .sites import Proposal, candidates_from_file, intersection_candidates, propose
from .tiers import Rules

__all__ = ["Plan", "minutes_column"]

log = logging.getLogger(__name__)


def minutes_column(tier: str, profile: str, rules: Rules) -> str:
    """Column name for minutes to a tier: ``minutes_station`` for the first (reference) profile,
    ``minutes_station_elderly`` for the others."""
    return f"minutes_{tier}" if profile == rules.profiles[0].key else f"minutes_{tier}_{profile}"


@dataclass
class Plan:
    """Walking access to every tier of a study area.

    Build with :meth:`build`; then :meth:`query` points, draw
    :meth:`isochrones` and :meth:`service_areas`.

    Attributes
    ----------
    area : StudyArea
    rules : Rules
        Tiers, profiles and bands in force (the area's, possibly overridden).
    network : WalkNetwork
    facilities : geopandas.GeoDataFrame
        Validated and snapped, EPSG:4326.
    nearest : dict of str to NearestFacility
        Per tier, node distances to the nearest facility.
    service_nearest : dict of str to NearestFacility
        Per service category, node distances to the nearest facility offering it.
    residents : geopandas.GeoDataFrame or None
        Resident points with coverage columns, when the area has population data.
    timings : dict of str to float
        Seconds spent in each step.
    """

    area: StudyArea
    rules: Rules
    network: WalkNetwork
    facilities: gpd.GeoDataFrame
    nearest: dict[str, NearestFacility]
    horizon_min: float
    service_nearest: dict[str, NearestFacility] = field(default_factory=dict)
    residents: gpd.GeoDataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, area: StudyArea | None = None, *, rules: Rules | None = None, skip_invalid: bool = False,
              use_cache: bool = True) -> "Plan":
        """Load the network and facilities and compute node access for every tier.

        Parameters
        ----------
        area : StudyArea, optional
            Default: the embedded central-Shanghai area.
        rules : Rules, optional
            Override the area's tiers, profiles and bands.
        skip_invalid : bool, default False
            Leave out bad facility rows (logged) instead of failing.
        use_cache : bool, default True
            Use the on-disk network cache.

        Returns
        -------
        Plan
        """
        area = area or StudyArea.default()
        rules = rules or area.rules
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        network = area.load_network(use_cache=use_cache)
        timings["network_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        fac_cfg = area.section("facilities")
        if "file" not in fac_cfg:
            msg = f"{area.root / 'area.toml'}: [facilities] file is not set"
            raise ValueError(msg)
        tier_keys = [t.key for t in rules.tiers]
        facilities = load_facilities(area.path(fac_cfg["file"]), tier_keys, crs=fac_cfg.get("crs"),
                                     skip_invalid=skip_invalid)
        facilities = snap_facilities(facilities, network, max_snap_m=float(fac_cfg.get("max_snap_m", 300.0)),
                                     skip_invalid=skip_invalid)
        facilities["illustrative"] = area.facilities_illustrative
        timings["facilities_s"] = time.perf_counter() - t0

        horizon_min = float(area.section("access").get("horizon_min", 60.0))
        horizon_min = max(horizon_min, max(rules.bands), max(t.minutes for t in rules.tiers))
        plan = cls(area=area, rules=rules, network=network, facilities=facilities, nearest={},
                   horizon_min=horizon_min, timings=timings)
        t0 = time.perf_counter()
        plan.nearest = plan.compute_access(facilities)
        plan.service_nearest = plan.compute_service_access(facilities)
        timings["access_s"] = time.perf_counter() - t0
        if area.section("population"):
            t0 = time.perf_counter()
            plan.residents = plan.cover(plan.place_residents())
            timings["residents_s"] = time.perf_counter() - t0
        return plan

    @property
    def horizon_m(self) -> float:
        """Search horizon in metres (the horizon in minutes at the fastest profile)."""
        return self.horizon_min * max(p.metres_per_minute for p in self.rules.profiles)

    def compute_access(self, facilities: gpd.GeoDataFrame) -> dict[str, NearestFacility]:
        """Node distances to the nearest facility of each tier, one multi-source search per tier.

        Parameters
        ----------
        facilities : geopandas.GeoDataFrame
            Snapped facilities (any set: the plan's own, or a what-if variant).
        """
        out = {}
        for tier in self.rules.tiers:
            sel = (facilities["tier"] == tier.key).to_numpy()
            if not sel.any():
                log.warning("no facilities of tier %r (%s): every resident lacks it", tier.key, tier.name_en)
            out[tier.key] = nearest_facility(self.network, facilities["edge"].to_numpy()[sel],
                                             facilities["t"].to_numpy()[sel], facilities["snap_m"].to_numpy()[sel],
                                             ids=np.flatnonzero(sel), horizon_m=self.horizon_m)
        return out

    def compute_service_access(self, facilities: gpd.GeoDataFrame) -> dict[str, NearestFacility]:
        """Node distances to the nearest facility offering each service category (any tier)."""
        out = {}
        offers = facilities["services"]
        for rule in self.rules.services:
            sel = offers.map(lambda listed, k=rule.key: k in listed).to_numpy(bool)
            out[rule.key] = nearest_facility(self.network, facilities["edge"].to_numpy()[sel],
                                             facilities["t"].to_numpy()[sel], facilities["snap_m"].to_numpy()[sel],
                                             ids=np.flatnonzero(sel), horizon_m=self.horizon_m)
        return out

    def place_residents(self) -> gpd.GeoDataFrame:
        """Resident points from the area's ``[population]`` source (grid, polygons or points)."""
        cfg = self.area.section("population")
        column = cfg.get("column", "population")
        share = float(cfg.get("elderly_share", DEFAULT_ELDERLY_SHARE))
        elderly_col = cfg.get("elderly_column")
        weights = cfg.get("weights", "auto")
        if weights not in {"auto", "streets", "buildings"}:
            msg = f"[population] weights = {weights!r}: use auto, streets or buildings"
            raise ValueError(msg)
        for key in ("grid", "polygons"):
            if key in cfg:
                zones = read_population(self.area.path(cfg[key]), column=column)
                buildings = None
                if weights != "streets":
                    buildings = buildings_frame(self.area.path(self.area.section("network")["osm"]))
                    if weights == "buildings" and buildings.empty:
                        msg = "[population] weights = \"buildings\", but the OSM file has no building footprints"
                        raise ValueError(msg)
                return residents_from_zones(self.network, zones, population_col=column, elderly_col=elderly_col,
                                            elderly_share=share, spacing_m=float(cfg.get("spacing_m", 50.0)),
                                            buildings=buildings)
        if "points" in cfg:
            pts = read_population(self.area.path(cfg["points"]), column=column)
            return residents_from_points(self.network, pts, population_col=column, elderly_col=elderly_col,
                                         elderly_share=share)
        msg = f"{self.area.root}: [population] needs grid, polygons or points"
        raise ValueError(msg)

    def cover(self, residents: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Add coverage columns to resident points (see :func:`planner.coverage.resident_coverage`)."""
        return resident_coverage(self.network, residents, self.nearest, self.rules, self.service_nearest)

    def units(self) -> gpd.GeoDataFrame:
        """Statistics per administrative unit (``[units] file``) or per regular grid cell."""
        if self.residents is None:
            msg = "the study area has no [population] source, so there are no residents to count"
            raise ValueError(msg)
        cfg = self.area.section("units")
        if "file" in cfg:
            units = gpd.read_file(self.area.path(cfg["file"]))
            name = cfg.get("name_column", "name")
            if name not in units.columns:
                msg = f"{cfg['file']}: no unit name column {name!r} (columns: {', '.join(units.columns)})"
                raise ValueError(msg)
        else:
            units = regular_grid(self.network.boundary_wgs84(), self.network.crs, float(cfg.get("grid_km", 1.0)))
            name = "unit"
        return unit_table(self.residents, self.facilities, units, self.rules, name_column=name)

    def equity(self) -> pd.DataFrame:
        """Distribution of minutes per tier, everyone and elderly (see :func:`planner.coverage.equity_table`)."""
        if self.residents is None:
            msg = "the study area has no [population] source"
            raise ValueError(msg)
        return equity_table(self.residents, self.rules)

    def candidates(self, *, use: str | None = None, spacing_m: float | None = None) -> gpd.GeoDataFrame:
        """Candidate sites: ``[sites] file`` of available sites, street intersections, or both.

        Parameters
        ----------
        use : {"intersections", "file", "both"}, optional
            Default: ``[sites] use``, else "file" when a file is given, else "intersections".
        spacing_m : float, optional
            Thinning of intersections (default ``[sites] spacing_m`` or 150 m).
        """
        cfg = self.area.section("sites")
        use = use or cfg.get("use") or ("file" if "file" in cfg else "intersections")
        if use not in {"intersections", "file", "both"}:
            msg = f"[sites] use = {use!r}: choose intersections, file or both"
            raise ValueError(msg)
        parts = []
        if use in {"file", "both"}:
            if "file" not in cfg:
                msg = "candidate sites from a file need [sites] file = \"<sites.csv>\" in the study area"
                raise ValueError(msg)
            parts.append(candidates_from_file(self.network, self.area.path(cfg["file"]), crs=cfg.get("crs")))
        if use in {"intersections", "both"}:
            parts.append(intersection_candidates(self.network, spacing_m=float(spacing_m or cfg.get("spacing_m", 150))))
        out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
        out.attrs["unreachable"] = [u for p in parts for u in p.attrs.get("unreachable", [])]
        return out

    def propose_sites(self, tier: str, *, k: int | None = None, target_share: float | None = None,
                      profile: str | None = None, weight: str = "population", candidates: gpd.GeoDataFrame | None = None,
                      capacity: float | None = None, method: str = "exact", time_limit: float = 60.0) -> Proposal:
        """New sites for a tier that cover the most underserved residents (see :func:`planner.sites.propose`).

        Give ``k`` (maximal covering: the best ``k`` sites) or ``target_share`` (set covering: the fewest
        sites bringing the tier's coverage to that share; 1.0 = every reachable resident).
        """
        if self.residents is None:
            msg = "proposing sites needs residents: the study area has no [population] source"
            raise ValueError(msg)
        t = self.rules.tier(tier)
        prof = self.rules.profile(profile or self.rules.profiles[0].key)
        cands = candidates if candidates is not None else self.candidates()
        if candidates is None and "tier" in cands.columns:
            cands = cands[cands["tier"].isna() | cands["tier"].isin(["any", t.key])].reset_index(drop=True)
        column = minutes_column(t.key, prof.key, self.rules).replace("minutes_", "covered_", 1)
        return propose(self.network, self.residents, cands, tier=t.key, minutes=t.minutes, speed_mps=prof.speed_mps,
                       profile=prof.key, covered_column=column, k=k, target_share=target_share, weight=weight,
                       capacity=capacity, method=method, time_limit=time_limit)

    def what_if(self, *, close: list[str] | None = None, open_sites: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
        """Coverage before and after closing facilities and/or opening sites; the plan itself is unchanged.

        Parameters
        ----------
        close : list of str, optional
            Facility ids to close.
        open_sites : geopandas.GeoDataFrame, optional
            New facilities: points (EPSG:4326) with ``tier`` and optionally ``facility_id``, ``services``.

        Returns
        -------
        dict
            ``before`` and ``after`` headline figures, ``change`` per tier and profile
            (people and elderly gaining or losing coverage), and ``residents`` after.
        """
        if self.residents is None:
            msg = "a what-if comparison needs residents: the study area has no [population] source"
            raise ValueError(msg)
        close = list(close or [])
        unknown = sorted(set(close) - set(self.facilities["facility_id"]))
        if unknown:
            msg = f"cannot close unknown facility id(s): {', '.join(unknown)}"
            raise ValueError(msg)
        facilities = self.facilities[~self.facilities["facility_id"].isin(close)]
        if open_sites is not None and len(open_sites):
            new = open_sites.to_crs("EPSG:4326").copy()
            bad = sorted(set(new["tier"]) - {t.key for t in self.rules.tiers})
            if bad:
                msg = f"new sites have unknown tier(s) {bad}; known: {', '.join(t.key for t in self.rules.tiers)}"
                raise ValueError(msg)
            if "facility_id" not in new.columns:
                new["facility_id"] = [f"NEW{i + 1}" for i in range(len(new))]
            if "services" not in new.columns:
                new["services"] = [[] for _ in range(len(new))]
            snap = self.network.snap(new.geometry.x.to_numpy(), new.geometry.y.to_numpy())
            new["edge"], new["t"], new["snap_m"] = snap.edge, snap.t, snap.offset_m
            facilities = gpd.GeoDataFrame(pd.concat([facilities, new], ignore_index=True), crs="EPSG:4326")
        facilities = facilities.reset_index(drop=True)
        trial = Plan(area=self.area, rules=self.rules, network=self.network, facilities=facilities,
                     nearest={}, horizon_min=self.horizon_min)
        trial.nearest = trial.compute_access(facilities)
        trial.service_nearest = trial.compute_service_access(facilities)
        base_cols = [c for c in self.residents.columns if not c.startswith(("minutes_", "covered_", "missing_",
                                                                               "underserved"))]
        after = trial.cover(self.residents[base_cols])
        pop = self.residents["population"].to_numpy(float)
        eld = self.residents["elderly"].to_numpy(float)
        change = {}
        for tier in self.rules.tiers:
            for prof in self.rules.profiles:
                col = minutes_column(tier.key, prof.key, self.rules).replace("minutes_", "covered_", 1)
                was, now = self.residents[col].to_numpy(bool), after[col].to_numpy(bool)
                change[col] = {"gain_people": round(float(pop[now & ~was].sum())),
                               "gain_elderly": round(float(eld[now & ~was].sum())),
                               "loss_people": round(float(pop[was & ~now].sum())),
                               "loss_elderly": round(float(eld[was & ~now].sum()))}
        return {"closed": close, "opened": 0 if open_sites is None else len(open_sites),
                "before": headline(self.residents, self.rules), "after": headline(after, self.rules),
                "change": change, "residents": after}

    def node_minutes(self, tier: str, profile: str | None = None) -> np.ndarray:
        """Minutes from every network node to the nearest facility of a tier (NaN if unreachable)."""
        prof = self.rules.profile(profile or self.rules.profiles[0].key)
        d = self.nearest[self.rules.tier(tier).key].distance_m
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
            ``lon``, ``lat`` (WGS-84), ``snap_distance_m``, then per tier
            ``minutes_<tier>[_<profile>]``, ``covered_<tier>[_<profile>]`` and
            ``nearest_<tier>`` (facility id of the nearest one).
        """
        return pd.DataFrame(self.query_arrays(lon, lat, crs=crs, max_snap_m=max_snap_m))

    def query_arrays(self, lon: Any, lat: Any, *, crs: str = "wgs84", max_snap_m: float = 500.0
                     ) -> dict[str, np.ndarray]:
        """:meth:`query` as a dict of arrays (no DataFrame: the fast path for single-point services)."""
        lon, lat = to_wgs84(np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float)),
                            crs)
        snap = self.network.snap(lon, lat, max_distance=max_snap_m)
        out: dict[str, np.ndarray] = {"lon": lon, "lat": lat, "snap_distance_m": snap.offset_m}
        ids = self.facilities["facility_id"].to_numpy()
        for tier in self.rules.tiers:
            dist, fac = point_distances(self.network, self.nearest[tier.key], snap)
            for prof in self.rules.profiles:
                col = minutes_column(tier.key, prof.key, self.rules)
                with np.errstate(invalid="ignore"):
                    minutes = np.where(np.isfinite(dist), dist / prof.metres_per_minute, np.nan)
                out[col] = minutes
                out[col.replace("minutes_", "covered_", 1)] = minutes <= tier.minutes
            out[f"nearest_{tier.key}"] = np.where(fac >= 0, ids[np.maximum(fac, 0)], None)
        return out

    def isochrones(self, bands: tuple[float, ...] | None = None, *, method: str | None = None,
                   corridor_m: float | None = None, profiles: tuple[str, ...] | None = None,
                   progress: bool = True) -> gpd.GeoDataFrame:
        """Isochrone polygons of every facility (see :func:`planner.isochrones.facility_isochrones`)."""
        cfg = self.area.section("isochrones")
        profs = [self.rules.profile(p) for p in profiles] if profiles else list(self.rules.profiles)
        return facility_isochrones(self.network, self.facilities, profs, bands or self.rules.bands,
                                   method=method or cfg.get("method", "edges"),
                                   corridor_m=float(corridor_m if corridor_m is not None else cfg.get("corridor_m", 50)),
                                   progress=progress)

    def service_areas(self, bands: tuple[float, ...] | None = None, *, method: str | None = None,
                      corridor_m: float | None = None, profiles: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
        """Dissolved service area per tier, band and profile (see :func:`planner.isochrones.service_areas`)."""
        cfg = self.area.section("isochrones")
        profs = [self.rules.profile(p) for p in profiles] if profiles else list(self.rules.profiles)
        return service_areas(self.network, self.facilities, self.nearest, profs, bands or self.rules.bands,
                             method=method or cfg.get("method", "edges"),
                             corridor_m=float(corridor_m if corridor_m is not None else cfg.get("corridor_m", 50)))

    def summary(self) -> dict[str, Any]:
        """Headline facts of the run, JSON-ready."""
        net = self.network
        comps = net.meta.get("components", {})
        return {
            "area": {"name": self.area.name, "title_zh": self.area.title_zh, "title_en": self.area.title_en,
                     "bbox_wgs84": [round(v, 6) for v in net.bbox_wgs84()]},
            "network": {"nodes": net.n_nodes, "edges": net.n_edges, "km": round(net.total_km, 1), "crs": net.crs,
                        "source": net.meta.get("source_name"), "sha256": net.meta.get("sha256"),
                        "osm_timestamp": net.meta.get("osm_timestamp"), "ways_dropped": net.meta.get("ways_dropped"),
                        "components": comps, "cache": net.meta.get("cache"),
                        "licence": "ODbL 1.0, © OpenStreetMap contributors"},
            "facilities": {
                "per_tier": {t.key: int((self.facilities["tier"] == t.key).sum()) for t in self.rules.tiers},
                "illustrative": self.area.facilities_illustrative,
                "source": self.facilities.attrs.get("source"),
                "skipped_rows": self.facilities.attrs.get("skipped_rows", []),
            },
            "rules": {
                "tiers": {t.key: {"minutes": t.minutes, "name_zh": t.name_zh, "name_en": t.name_en}
                          for t in self.rules.tiers},
                "profiles": {p.key: {"speed_mps": round(p.speed_mps, 4), "speed_kmh": round(p.speed_mps * 3.6, 3)}
                             for p in self.rules.profiles},
                "bands_min": list(self.rules.bands),
                "horizon_min": self.horizon_min,
            },
            "residents": self._residents_summary(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def _residents_summary(self) -> dict[str, Any] | None:
        if self.residents is None:
            return None
        attrs = self.residents.attrs
        cfg = self.area.section("population")
        return {**headline(self.residents, self.rules),
                "source": attrs.get("source"), "population_in_source": round(attrs.get("population_in_source", 0)),
                "elderly_share_assumed": attrs.get("elderly_share"),
                "elderly_share_source": cfg.get("elderly_share_source"), "note": cfg.get("note")}
