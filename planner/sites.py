"""Where to build next: candidate sites, proposals per tier, and what-if comparisons.

Glue between the plan (network, facilities, residents) and the array-level
models of :mod:`planner.siting`: candidates come from a file of available
sites (idle buildings, 闲置场所) or from street intersections thinned to a
spacing; demand is the residents an existing facility of the tier leaves
uncovered; a candidate covers a resident within the tier's walking target.

Siting can weigh crowding (issue 18): with ``relieve`` (crowded facility -> factor, e.g. from
:func:`crowding_relief`), residents who are covered but whose nearest facility of the tier is crowded count as
demand too, at their weight times the factor (< 1: they have a facility, only a crowded one), so a site within
their reach relieves it. Without ``relieve`` the proposal is exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import columns as col
from .access import coverage_sets
from .area import StudyArea
from .errors import ConfigError
from .facilities import load_facilities
from .naming import name_by_landmarks, place_name
from .network import Snap, WalkNetwork
from .siting import CoverageProblem, SitingResult
from .straight_line import StraightLine, lattice_candidates

__all__ = [
    "Proposal",
    "area_candidates",
    "candidates_from_file",
    "crowding_relief",
    "intersection_candidates",
    "parse_weight",
    "propose",
]

log = logging.getLogger(__name__)


def intersection_candidates(network: WalkNetwork, *, spacing_m: float = 150.0) -> gpd.GeoDataFrame:
    """Street intersections (3 or more streets meet), thinned to about one per ``spacing_m`` square.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id, source, edge, t, offset_m`` and point geometry (EPSG:4326).
    """
    if spacing_m <= 0:
        msg = f"candidate spacing must be positive, got {spacing_m}"
        raise ConfigError(msg)
    degree = np.bincount(network.u, minlength=network.n_nodes) + np.bincount(network.v, minlength=network.n_nodes)
    nodes = np.flatnonzero(degree >= 3)
    cells = np.stack([np.floor(network.x[nodes] / spacing_m), np.floor(network.y[nodes] / spacing_m)], axis=1)
    _, first = np.unique(cells, axis=0, return_index=True)
    nodes = nodes[np.sort(first)]
    # each node as a position on one of its edges (t = 0 at u, 1 at v)
    as_u = np.full(network.n_nodes, -1, dtype=np.int64)
    as_u[network.u[::-1]] = np.arange(network.n_edges)[::-1]
    as_v = np.full(network.n_nodes, -1, dtype=np.int64)
    as_v[network.v[::-1]] = np.arange(network.n_edges)[::-1]
    edge = np.where(as_u[nodes] >= 0, as_u[nodes], as_v[nodes])
    t = np.where(as_u[nodes] >= 0, 0.0, 1.0)
    return gpd.GeoDataFrame(
        {
            "candidate_id": [f"N{n}" for n in network.osmid[nodes]],
            "source": "intersection",
            "edge": edge,
            "t": t,
            "offset_m": 0.0,
        },
        geometry=gpd.points_from_xy(network.lon[nodes], network.lat[nodes]),
        crs="EPSG:4326",
    )


def candidates_from_file(
    network: WalkNetwork | StraightLine, path: str | Path, *, crs: str | None = None, max_snap_m: float = 300.0
) -> gpd.GeoDataFrame:
    """Available sites from a file (CSV/XLSX/GeoJSON/GeoPackage with lon/lat or points; a tier column is optional).

    Sites farther than ``max_snap_m`` from any walkable street cannot be reached on
    foot: they are reported (logged, and listed in ``attrs["unreachable"]``), not silently dropped. Without a
    street network (a straight-line estimate) every site is kept.
    """
    sites = load_facilities(path, ("any", "center", "station", "point"), crs=crs, default_tier="any")
    if isinstance(network, StraightLine):
        out = gpd.GeoDataFrame(
            {"candidate_id": sites["facility_id"].to_numpy(), "source": f"file:{Path(path).name}"},
            geometry=sites.geometry.values,
            crs="EPSG:4326",
        )
        out["tier"] = sites["tier"].to_numpy()
        out.attrs["unreachable"] = []
        return out
    snap = network.snap(sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
    far = snap.offset_m > max_snap_m
    unreachable = [
        {"candidate_id": i, "row": int(r), "distance_m": round(float(d))}
        for i, r, d in zip(sites["facility_id"][far], sites["source_row"][far], snap.offset_m[far])
    ]
    for u in unreachable:
        log.warning(
            "%s: site %s (row %d) is %d m from the nearest walkable street: not reachable on foot, "
            "left out of the proposal",
            Path(path).name,
            u["candidate_id"],
            u["row"],
            u["distance_m"],
        )
    out = gpd.GeoDataFrame(
        {
            "candidate_id": sites["facility_id"].to_numpy(),
            "source": f"file:{Path(path).name}",
            "tier": sites["tier"].to_numpy(),
            "edge": snap.edge,
            "t": snap.t,
            "offset_m": snap.offset_m,
        },
        geometry=sites.geometry.values,
        crs="EPSG:4326",
    )[~far]
    out.attrs["unreachable"] = unreachable
    return out.reset_index(drop=True)


def parse_weight(spec: str) -> tuple[float, float]:
    """``"population"``, ``"elderly"`` or ``"mix:0.7"`` (0.7 x population + 0.3 x elderly) as two factors."""
    if spec == "population":
        return 1.0, 0.0
    if spec == "elderly":
        return 0.0, 1.0
    if spec.startswith("mix:"):
        try:
            a = float(spec[4:])
        except ValueError:
            a = -1.0
        if 0.0 <= a <= 1.0:
            return a, 1.0 - a
    msg = f"site weight {spec!r}: use population, elderly or mix:<share of population, 0..1>"
    raise ConfigError(msg)


def crowding_relief(crowding: pd.DataFrame, key: str, *, factor: float | None = None) -> dict[str, float]:
    """Relief factors (facility id -> factor) of a tier's crowded facilities, for :func:`propose`'s ``relieve``.

    ``crowding`` has per facility ``facility_id, crowding_key, load, crowded`` (``Plan.availability.facilities``).
    The factor is ``factor`` if given (in (0, 1)), else ``1 - 1 / load``: the share of the people within the
    facility's catchment beyond its capacity (load 1.5: a third), so a site near a badly crowded facility counts
    for more, and a resident of one never as much as a resident with no facility.
    """
    mine = crowding[(crowding["crowding_key"] == key) & crowding["crowded"].fillna(False).astype(bool)]
    load = mine["load"].to_numpy(float)
    excess = np.where(np.isfinite(load), 1.0 - 1.0 / load, 0.99)  # no capacity at all: nearly an uncovered one
    values = np.full(len(mine), factor) if factor is not None else excess
    return {str(f): float(v) for f, v in zip(mine["facility_id"], values)}


@dataclass
class Proposal:
    """Proposed new sites for one tier and profile.

    Attributes
    ----------
    sites : geopandas.GeoDataFrame
        Ranked sites: ``rank, tier, profile, candidate_id, source, new_population, new_elderly,
        cumulative_population, covered_share`` (share of all residents covered for the tier
        after adding sites 1..rank).
    result : SitingResult
        The solver's answer (objective, bound, gap, timing).
    before_share : float
        Covered share of residents for the tier before any new site.
    scale : dict
        For sites chosen tile by tile (:mod:`planner.city_siting`): the tiles, the bound and gap over the whole
        city, and what is exact and what approximate; they replace the solver's figures in :meth:`summary`.
    """

    sites: gpd.GeoDataFrame
    result: SitingResult
    tier: str
    profile: str
    model: str
    before_share: float
    candidates: int
    unreachable: list
    scale: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready description."""
        r = self.result
        return {
            "tier": self.tier,
            "profile": self.profile,
            "model": self.model,
            "candidates": self.candidates,
            "unreachable_candidates": self.unreachable,
            "sites": len(self.sites),
            "new_population": round(float(self.sites["new_population"].sum())),
            "new_elderly": round(float(self.sites["new_elderly"].sum())),
            **(
                {"relieved_population": round(float(self.sites["relieved_population"].sum()))}
                if "relieved_population" in self.sites
                else {}
            ),
            "covered_share_before": round(self.before_share, 4),
            "covered_share_after": round(float(self.sites["covered_share"].iloc[-1]), 4)
            if len(self.sites)
            else round(self.before_share, 4),
            "objective": r.objective,
            "bound": r.bound,
            "gap": round(r.gap, 6),
            "solver": r.solver,
            "status": r.status,
            "seconds": round(r.seconds, 3),
            "target_capped": bool(r.extra.get("target_capped", False)),
        } | self.scale


def propose(
    network: WalkNetwork | StraightLine,
    residents: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    tier: str,
    minutes: float,
    speed_mps: float,
    profile: str,
    covered_column: str,
    k: int | None = None,
    target_share: float | None = None,
    weight: str = "population",
    capacity: float | None = None,
    method: str = "exact",
    time_limit: float = 60.0,
    landmarks: gpd.GeoDataFrame | None = None,
    relieve: Mapping[str, float] | None = None,
) -> Proposal:
    """Propose new sites for one tier: ``k`` sites (MCLP) or enough for ``target_share`` (LSCP).

    Parameters
    ----------
    network : WalkNetwork or StraightLine
        The walk network; or the frame of a straight-line estimate (a site then covers the residents within
        ``minutes`` of estimated walking, and is named after its nearest landmark).
    residents : geopandas.GeoDataFrame
        With ``population``, ``elderly``, ``edge``, ``t``, ``offset_m`` and ``covered_column``.
    candidates : geopandas.GeoDataFrame
        From :func:`intersection_candidates` or :func:`candidates_from_file`.
    tier, profile : str
    minutes, speed_mps : float
        Walking target and speed: a site covers residents within ``minutes`` at ``speed_mps``.
    covered_column : str
        Residents' flag of being covered by existing facilities (they are not demand).
    k : int, optional
        Number of new sites (maximal covering).
    target_share : float, optional
        Share of all residents' weight to reach (set covering); 1.0 = every reachable resident.
    weight : str, default "population"
        ``population``, ``elderly`` or ``mix:<a>``.
    capacity : float, optional
        Most people one new site may serve (exact MCLP only).
    method : {"exact", "greedy"}, default "exact"
    time_limit : float, default 60
    landmarks : geopandas.GeoDataFrame, optional
        Named points (``name``) that name the sites of a straight-line estimate (no street names).
    relieve : mapping of str to float, optional
        Crowded facilities of the tier (id -> factor in (0, 1), :func:`crowding_relief`): covered residents whose
        ``nearest_<tier>`` is one of them are demand at their weight times its factor; the sites then also list
        ``relieved_population`` and ``relieved_elderly`` (people of crowded facilities newly within reach of
        another). Maximal covering only; with ``capacity`` a site's load counts them at their factor.
    """
    if (k is None) == (target_share is None):
        msg = "give either k (number of sites) or target_share (coverage to reach), not both"
        raise ConfigError(msg)
    if target_share is not None and not 0 < target_share <= 1:
        msg = f"target share must be in (0, 1], got {target_share}"
        raise ConfigError(msg)
    a, b = parse_weight(weight)
    pop = residents["population"].to_numpy(float)
    eld = residents["elderly"].to_numpy(float)
    w_all = a * pop + b * eld
    covered = residents[covered_column].to_numpy(bool)
    estimate = isinstance(network, StraightLine)
    placed = np.ones(len(residents), bool) if estimate else residents["edge"].to_numpy() >= 0
    relieved, w_dem = _relief(residents, tier, relieve, covered & placed & (w_all > 0), w_all, k)
    demand = np.flatnonzero((~covered | relieved) & placed & (w_all > 0))
    if isinstance(network, StraightLine):
        cover = network.cover_sets(
            candidates.geometry.x.to_numpy(),
            candidates.geometry.y.to_numpy(),
            residents.geometry.x.to_numpy()[demand],
            residents.geometry.y.to_numpy()[demand],
            minutes * speed_mps * 60.0,
        )
    else:
        pts = Snap.of(residents, rows=demand)
        cover = coverage_sets(
            network,
            candidates["edge"].to_numpy(),
            candidates["t"].to_numpy(),
            candidates["offset_m"].to_numpy(),
            pts,
            minutes * speed_mps * 60.0,
        )
    problem = CoverageProblem(w_dem[demand], cover)
    unreachable = list(candidates.attrs.get("unreachable", []))
    if k is not None:
        result = problem.mclp(k, method=method, capacity=capacity, time_limit=time_limit)
        model = "MCLP"
    else:
        target = target_share * w_all.sum() - w_all[covered].sum()
        result = problem.lscp(max(target, 0.0), time_limit=time_limit)
        model = "LSCP"
    # newly covered people per ranked site, in people and elderly whatever the weight
    remaining = np.ones(len(demand), dtype=bool)
    csc = cover.tocsc()
    new_pop, new_eld, rel_pop, rel_eld = [], [], [], []
    eased = relieved[demand]
    for j in result.sites:
        hit = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        hit = hit[remaining[hit]]
        remaining[hit] = False
        new_pop.append(pop[demand][hit[~eased[hit]]].sum())
        new_eld.append(eld[demand][hit[~eased[hit]]].sum())
        rel_pop.append(pop[demand][hit[eased[hit]]].sum())
        rel_eld.append(eld[demand][hit[eased[hit]]].sum())
    before = pop[covered].sum() / pop.sum() if pop.sum() else 0.0
    chosen = candidates.iloc[result.sites]
    sites = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(result.sites) + 1),
            "tier": tier,
            "profile": profile,
            "model": model,
            "candidate_id": chosen["candidate_id"].to_numpy(),
            "source": chosen["source"].to_numpy(),
            "new_population": np.round(new_pop, 1),
            "new_elderly": np.round(new_eld, 1),
            "cumulative_population": np.round(np.cumsum(new_pop), 1),
            "covered_share": (pop[covered].sum() + np.cumsum(new_pop)) / pop.sum() if len(new_pop) else [],
        },
        geometry=chosen.geometry.values,
        crs="EPSG:4326",
    )
    if relieve:
        sites["relieved_population"] = np.round(rel_pop, 1)
        sites["relieved_elderly"] = np.round(rel_eld, 1)
    # named as planners name places: by the nearest street and its cross street (国顺路近政立路)
    sites["place"] = _place_names(network, sites, landmarks) if len(sites) else []
    log.info(
        "%s %s (%s): %d sites cover %.0f more residents (%.0f elderly); gap %.2g%% (%s, %.2f s)",
        model,
        tier,
        profile,
        len(sites),
        sum(new_pop),
        sum(new_eld),
        100 * result.gap,
        result.solver,
        result.seconds,
    )
    return Proposal(sites, result, tier, profile, model, float(before), len(candidates), unreachable)


def _relief(
    residents: pd.DataFrame,
    tier: str,
    relieve: Mapping[str, float] | None,
    served: np.ndarray,
    w_all: np.ndarray,
    k: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which ``served`` residents a crowded facility serves (``relieve``), and the demand weights with theirs scaled."""
    if not relieve:
        return np.zeros(len(residents), dtype=bool), w_all
    bad = {f: v for f, v in relieve.items() if not 0 < v < 1}
    if k is None or bad or col.nearest(tier) not in residents:
        msg = (
            f"relieving crowded facilities needs k sites (maximal covering), factors in (0, 1) (bad: {bad}) and "
            f"the residents' {col.nearest(tier)} column"
        )
        raise ConfigError(msg)
    factor = residents[col.nearest(tier)].map(dict(relieve)).to_numpy(float)
    relieved = served & np.isfinite(factor)
    return relieved, np.where(relieved, w_all * np.nan_to_num(factor), w_all)


def _place_names(
    network: WalkNetwork | StraightLine, sites: gpd.GeoDataFrame, landmarks: gpd.GeoDataFrame | None
) -> list[str]:
    """Street names (国顺路近政立路), or without streets the nearest landmark (近XX食堂, XX以南约1.2公里)."""
    lon, lat = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    if isinstance(network, WalkNetwork):
        return list(place_name(network, lon, lat))
    named = landmarks[landmarks["name"].astype(str).str.strip() != ""] if landmarks is not None else None
    x, y = network.project(lon, lat)
    if named is None or named.empty:
        return name_by_landmarks(x, y, np.zeros(0), np.zeros(0), [])
    lx, ly = network.project(named.geometry.x.to_numpy(), named.geometry.y.to_numpy())
    return name_by_landmarks(x, y, lx, ly, named["name"].astype(str).tolist())


def area_candidates(
    area: StudyArea,
    network: WalkNetwork | StraightLine,
    *,
    use: str | None = None,
    spacing_m: float | None = None,
    tier: str | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites of a study area: its ``[sites] file`` of available sites, street intersections, or both.

    Parameters
    ----------
    area : StudyArea
    network : WalkNetwork or StraightLine
        Without streets, "intersections" are the points of a lattice every ``spacing_m`` metres
        (:func:`planner.straight_line.lattice_candidates`).
    use : {"intersections", "file", "both"}, optional
        Default: ``[sites] use``, else "file" when a file is given, else "intersections".
    spacing_m : float, optional
        Thinning of intersections (default ``[sites] spacing_m``).
    tier : str, optional
        Keep the sites for this tier: those the file gives no tier, ``any``, or this one.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326; ``attrs["unreachable"]`` lists file sites too far from any street.
    """
    cfg = area.settings.sites
    use = use or cfg.use or ("file" if cfg.file is not None else "intersections")
    if use not in {"intersections", "file", "both"}:
        msg = f"[sites] use = {use!r}: choose intersections, file or both"
        raise ConfigError(msg, key="sites.use")
    parts = []
    if use in {"file", "both"}:
        if cfg.file is None:
            msg = 'candidate sites from a file need [sites] file = "<sites.csv>" in the study area'
            raise ConfigError(msg, path=area.file, key="sites.file")
        parts.append(candidates_from_file(network, area.path(cfg.file), crs=cfg.crs))
    if use in {"intersections", "both"}:
        if isinstance(network, StraightLine):
            parts.append(lattice_candidates(network, spacing_m or max(cfg.spacing_m, 200.0)))
        else:
            parts.append(intersection_candidates(network, spacing_m=spacing_m or cfg.spacing_m))
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    if tier is not None and "tier" in out.columns:
        out = out[out["tier"].isna() | out["tier"].isin(["any", tier])].reset_index(drop=True)
    out.attrs["unreachable"] = [u for part in parts for u in part.attrs.get("unreachable", [])]
    return out
