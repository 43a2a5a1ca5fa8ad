"""The planning run, stage by stage: one function that the command line, the service and notebooks call.

Data flows one way, each stage reading only the results of the ones before it::

    StudyArea ─▶ network ─▶ facilities ─▶ access ─▶ residents, coverage, units ─▶ isochrones ─▶ sites ─▶ Plan

>>> from planner import StudyArea, run
>>> plan = run(StudyArea.default())                      # doctest: +SKIP
>>> plan.summary()["residents"]["tiers"]["station"]      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import geopandas as gpd

from .access import Access, compute_access
from .area import StudyArea
from .area_cache import service_areas_beside
from .availability import assess_availability
from .coverage import equity_table, mark_assessed, resident_coverage
from .errors import ConfigError
from .facilities import area_context, area_facilities
from .forked import Beside
from .isochrones import dissolve_isochrones, facility_isochrones
from .lists import three_lists
from .network import WalkNetwork, load_network
from .plan import Plan
from .population import estimate_outline
from .population_check import check_population
from .residents import place_residents
from .straight_line import EstimatedAccess, StraightLine, estimate_access
from .units import area_units

__all__ = ["Inputs", "RunOptions", "load_inputs", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What a run computes beyond walking access and coverage (the study area holds the rules).

    Attributes
    ----------
    isochrones : {"areas", "drawn", "all", "none"}, default "areas"
        ``areas``: the dissolved service area of every tier and band for the profile the map draws (everyone),
        searched directly; ``drawn``: also every facility's own isochrones for that profile; ``all``: every
        facility's isochrones for every profile; ``none``: neither.
    sites : mapping of str to int
        Per tier, the number of new sites to propose (maximal covering).
    cover : mapping of str to float
        Per tier, the coverage share new sites should reach with as few sites as possible (set covering).
    site_weight, site_profile, site_method, site_time_limit : optional
        Override the area's ``[sites]`` settings for the proposals.
    capacity : mapping of str to float
        Per tier, the most people one new site may serve.
    relieve_crowding : bool, default False
        New sites (``sites``) also count residents whose nearest facility of the tier is crowded, weighted by the
        share of its catchment beyond capacity (:meth:`Plan.propose_sites`).
    skip_invalid_facilities : bool, default False
        Leave out bad facility rows (logged) instead of stopping.
    use_cache : bool, default True
        Read and write the on-disk network cache.
    progress : bool, default False
        Show progress bars (on a terminal).
    tiles : (int, int), optional
        Compute access and coverage tile by tile (:func:`planner.tiles.tiled_coverage`, equal to the whole-network
        run), as tasks on ``client`` when one is given.
    client : distributed.Client, optional
        The Dask client the tiles run on (``tiles`` default (2, 2) when only a client is given).
    """

    isochrones: Literal["areas", "drawn", "all", "none"] = "areas"
    sites: Mapping[str, int] = field(default_factory=dict)
    cover: Mapping[str, float] = field(default_factory=dict)
    site_weight: str | None = None
    site_profile: str | None = None
    site_method: str | None = None
    site_time_limit: float | None = None
    capacity: Mapping[str, float] = field(default_factory=dict)
    relieve_crowding: bool = False
    skip_invalid_facilities: bool = False
    use_cache: bool = True
    progress: bool = False
    tiles: tuple[int, int] | None = None
    client: Any = None


@dataclass(frozen=True)
class Inputs:
    """What a run measures on: the walk network (or the straight-line frame of an area without streets), the
    snapped facilities and the placed residents (None without a population source), with the seconds each took.
    """

    network: WalkNetwork | None
    estimate: StraightLine | None
    facilities: gpd.GeoDataFrame
    placed: gpd.GeoDataFrame | None
    timings: Mapping[str, float]

    @property
    def frame(self) -> WalkNetwork | StraightLine:
        """Where positions and walks are measured: the network, or the straight-line estimate."""
        return self.network if self.network is not None else self.estimate  # type: ignore[return-value]


def load_inputs(area: StudyArea, options: RunOptions | None = None, *, place: bool = True) -> Inputs:
    """The first stages of :func:`run`: the walk network (from the cache when it can), the facilities snapped to
    it and the residents placed on it (marked where each service's list is complete).

    Parameters
    ----------
    area : StudyArea
    options : RunOptions, optional
        Only ``use_cache`` and ``skip_invalid_facilities`` are read.
    place : bool, default True
        Place the residents too (:func:`run` places them once the service areas are being drawn beside it).

    Returns
    -------
    Inputs
    """
    options = options or RunOptions()
    rules = area.rules
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    net_cfg = area.settings.network
    network: WalkNetwork | None = None
    estimate: StraightLine | None = None
    if net_cfg.mode == "none":  # no streets: straight line x detour factor, every figure an estimate (估算)
        estimate = StraightLine(estimate_outline(area), net_cfg.detour_factor)
        log.warning(
            "%s: no street network; walking distance estimated as straight line x %g (估算)",
            area.name,
            net_cfg.detour_factor,
        )
    else:
        assert net_cfg.osm is not None  # the settings require it with streets
        network = load_network(
            area.path(net_cfg.osm),
            clip_to_bounds=net_cfg.clip_to_bounds,
            min_component_km=net_cfg.min_component_km,
            keep_fragments=net_cfg.keep_fragments,
            use_cache=options.use_cache,
            max_extent_km=net_cfg.max_extent_km,
        )
    frame: WalkNetwork | StraightLine = network if network is not None else estimate  # type: ignore[assignment]
    timings["network_s"], t0 = time.perf_counter() - t0, time.perf_counter()
    facilities = area_facilities(area, frame, rules, skip_invalid=options.skip_invalid_facilities)
    timings["facilities_s"] = time.perf_counter() - t0
    placed = _place(area, frame, options, timings) if place else None
    return Inputs(network, estimate, facilities, placed, timings)


def _place(
    area: StudyArea, frame: WalkNetwork | StraightLine, options: RunOptions, timings: dict[str, float]
) -> gpd.GeoDataFrame | None:
    """The residents placed on the frame and marked where each service's list is complete (timed)."""
    t0 = time.perf_counter()
    placed = place_residents(area, frame, use_cache=options.use_cache)
    if placed is not None:
        placed = mark_assessed(area, placed)
    timings["placement_s"] = time.perf_counter() - t0
    return placed


def run(area: StudyArea | None = None, options: RunOptions | None = None) -> Plan:
    """Run every stage of the planner on a study area.

    Parameters
    ----------
    area : StudyArea, optional
        Default: the embedded central-Shanghai area.
    options : RunOptions, optional
        Isochrones, site proposals, caching.

    Returns
    -------
    Plan
        The immutable result.

    Raises
    ------
    planner.errors.LifecircleError
        On bad input files or settings (the message names the file, row and field).
    """
    area = area or StudyArea.default()
    options = options or RunOptions()
    rules = area.rules
    t_start = time.perf_counter()
    inputs = load_inputs(area, options, place=False)
    network, estimate, frame = inputs.network, inputs.estimate, inputs.frame
    facilities, timings = inputs.facilities, dict(inputs.timings)
    horizon = area.settings.access.horizon_min
    tiles = options.tiles or ((2, 2) if options.client is not None else None)
    access: Access | EstimatedAccess
    residents = units = equity = availability = None
    pending_areas: Beside | None = None  # the service areas, drawn beside the stages that follow the search
    try:
        placed = _place(area, frame, options, timings) if tiles is not None else None
        t0 = time.perf_counter()
        if tiles is not None and network is not None and placed is not None:  # tile by tile, on Dask with a client
            from .tiles import tiled_coverage  # the dask extra, only when asked

            residents, access = tiled_coverage(
                network,
                facilities,
                placed,
                rules,
                horizon,
                tiles=tiles,
                client=options.client,
                progress=options.progress,
            )
            timings["access_s"], t0 = time.perf_counter() - t0, time.perf_counter()
        else:
            if network is not None:
                access = compute_access(network, facilities, rules, horizon)
                if (
                    options.isochrones == "areas"
                ):  # drawn beside placement and the residents' stages (a child on a miss)
                    cfg = area.settings.isochrones
                    pending_areas = service_areas_beside(
                        network,
                        facilities,
                        dict(access.tiers),
                        [rules.everyone],
                        tuple(rules.bands),
                        method=cfg.method,
                        corridor_m=cfg.corridor_m,
                        use_cache=options.use_cache,
                    )
            else:
                assert estimate is not None
                access = estimate_access(estimate, facilities, rules, horizon)
            timings["access_s"] = time.perf_counter() - t0
            placed = _place(area, frame, options, timings)  # while the service areas are drawn beside
            t0 = time.perf_counter()
            if placed is not None:
                residents = resident_coverage(
                    frame,
                    placed,
                    dict(access.tiers),
                    rules,
                    dict(access.services),
                    facility_ids=facilities["facility_id"].to_numpy(),
                )
        if residents is not None:
            units = area_units(area, frame, residents, facilities, rules)
            equity = equity_table(residents, rules)
            availability = assess_availability(area, frame, facilities, residents, rules)
            timings["residents_s"], t0 = time.perf_counter() - t0, time.perf_counter()

        plan = Plan(
            area=area,
            network=network,
            facilities=facilities,
            access=access,
            residents=residents,
            units=units,
            equity=equity,
            estimate=estimate,
            availability=availability,
        )
        iso = areas = None
        if pending_areas is not None:
            pass  # taken at the end, once every other stage is done
        elif options.isochrones == "areas":  # the dissolved areas only: one search per tier, no per-facility polygons
            areas = plan.compute_service_areas(profiles=[rules.everyone.key], use_cache=options.use_cache)
            timings["service_areas_s"], t0 = time.perf_counter() - t0, time.perf_counter()
        elif options.isochrones != "none":
            profiles = list(rules.profiles) if options.isochrones == "all" else [rules.everyone]
            cfg = area.settings.isochrones
            if network is None:
                iso = plan.compute_isochrones(profiles=[p.key for p in profiles])
            else:
                iso = facility_isochrones(
                    network,
                    facilities,
                    profiles,
                    rules.bands,
                    method=cfg.method,
                    corridor_m=cfg.corridor_m,
                    progress=options.progress,
                )
            timings["isochrones_s"], t0 = time.perf_counter() - t0, time.perf_counter()
            areas = dissolve_isochrones(iso, frame.crs)  # the union of the facilities' isochrones
            timings["service_areas_s"], t0 = time.perf_counter() - t0, time.perf_counter()

        proposals = []
        # (tier, k, target_share): the best k sites, or the fewest sites reaching a share
        asked: list[tuple[str, int | None, float | None]] = [(tier, k, None) for tier, k in options.sites.items()]
        asked += [(tier, None, share) for tier, share in options.cover.items()]
        if asked and residents is None:
            msg = "proposing sites needs residents: the study area has no [population] source"
            raise ConfigError(msg, path=area.file, key="population")
        for tier, k, share in asked:
            if tiles is not None and k is not None and network is not None:  # chosen tile by tile, a city's way
                from .city_siting import propose_city

                city = propose_city(plan, tier, k=k, tiles=tiles, client=options.client)
                keys = (
                    "tiles",
                    "objective",
                    "bound",
                    "bound_tiles",
                    "bound_lp",
                    "gap",
                    "solver",
                    "exact",
                    "approximate",
                )
                scale = {key: value for key, value in city.summary().items() if key in keys}
                proposals.append(replace(city.proposal, scale=scale))
                continue
            proposals.append(
                plan.propose_sites(
                    tier,
                    k=k,
                    target_share=share,
                    weight=options.site_weight,
                    profile=options.site_profile,
                    method=options.site_method,
                    capacity=options.capacity.get(tier),
                    time_limit=options.site_time_limit,
                    relieve_crowding=options.relieve_crowding and k is not None,
                )
            )
        if proposals:
            timings["sites_s"] = time.perf_counter() - t0
        timings["run_s"] = time.perf_counter() - t_start
        context = area_context(area)
        check = check_population(area, units, frame.boundary_wgs84()) if units is not None else None
        lists = None
        if residents is not None and units is not None:
            how = estimate.method_zh if estimate is not None else None
            lists = three_lists(
                residents, units, facilities, proposals, rules, network=network, estimate=how, availability=availability
            )
        if pending_areas is not None:
            t0 = time.perf_counter()
            areas = pending_areas.result()
            timings["service_areas_wait_s"] = time.perf_counter() - t0
    except BaseException:
        if pending_areas is not None:
            pending_areas.cancel()  # the run failed: its service areas will not be used
        raise
    return replace(
        plan,
        isochrones=iso,
        service_areas=areas,
        proposals=tuple(proposals),
        context=context,
        population_check=check,
        lists=lists,
        timings=timings,
    )
