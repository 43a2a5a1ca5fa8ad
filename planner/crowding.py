"""Supply and demand: the two-step floating catchment (2SFCA) and its enhanced form (E2SFCA) on network times.

A station within ten minutes is no use to a resident when 30,000 people share it. The floating catchment
methods weigh each facility's supply against the people who can reach it:

1. for every facility ``j``, the demand in its catchment ``D_j = sum_i W(c_ij) P_i`` and the supply-to-demand ratio
   ``R_j = S_j / D_j``;
2. for every resident point ``i``, the accessibility ``A_i = sum_j W(c_ij) R_j``,

where ``c_ij`` is the walking time in minutes, ``P_i`` the people at the point (everyone, or the elderly),
``S_j`` the facility's supply and both sums run over the pairs within the catchment (``c_ij <= max_minutes``).
Plain 2SFCA (Luo and Wang 2003) has ``W = 1``; E2SFCA (Luo and Qi 2009) has a step weight per time band.
The results equal PySAL ``access`` (``Access.two_stage_fca`` / ``enhanced_two_stage_fca``) on the same inputs and
cost matrix (tests/test_crowding.py), with two documented differences at the edges: a resident who reaches no
facility has ``A_i = 0`` (``access`` leaves it out, NaN), and a facility with nobody in its catchment has
``R_j = NaN`` and adds nothing to anyone's ``A_i`` (``access`` gives ``inf`` when the people there weigh zero).

The formulas are in :mod:`planner.fca` (on a cost matrix, as PySAL ``access`` takes them). The plan measures on the
walk network with :func:`planner.catchment_sums.catchment_sums`: one bounded Dijkstra per facility on the same
edge-snapped walk as :func:`planner.access.point_distances`, and the sums by street edge without the residents x
facilities matrix; :func:`catchment_minutes` gives that matrix when it is wanted.

Supply is measured in people a facility can serve (:func:`facility_capacity`): the list's 容量/capacity column,
else its 面积/floor area scaled from a reference area, else the upper end of the tier's GB 50180-2018 population
band (``Tier.population_served``; ``shared/docs/standards.md``, "Tiers used by the planner"). A facility is
**crowded** when more people live within its catchment than it can serve (``people > capacity``, the unweighted
count of the first step, so a flag does not depend on the decay weights).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .catchment import catchment_minutes
from .catchment_sums import catchment_sums
from .fca import DEFAULT_DECAY, Catchment, decay_weights, floating_catchment
from .network import Snap, WalkNetwork
from .tables import find_column
from .tiers import Rules

__all__ = [
    "DEFAULT_DECAY",
    "REFERENCE_AREA_M2",
    "Catchment",
    "catchment_minutes",
    "crowding_table",
    "decay_weights",
    "facility_capacity",
    "floating_catchment",
]

log = logging.getLogger(__name__)

#: Floor area (m²) at which a facility of a tier serves the upper end of its population band, for lists that give
#: an area and no capacity. From GB 50180-2018 appendix B as secondary sources quote it [check]: 社区服务中心
#: (街道级) 700-1,500 m², 社区服务站 600-1,000 m² (the five-minute level, our ``point``); GB 50180 names no
#: ten-minute station, so the station takes the point's figure [check]. Configurable per call.
REFERENCE_AREA_M2: Mapping[str, float] = {"center": 1500.0, "station": 1000.0, "point": 1000.0}


def facility_capacity(
    facilities: pd.DataFrame,
    rules: Rules,
    *,
    reference_area_m2: Mapping[str, float] = REFERENCE_AREA_M2,
    people_per_unit: float = 1.0,
) -> pd.DataFrame:
    """The people each facility can serve, and where the figure comes from.

    In this order: the list's capacity column (any header :data:`planner.tables.COLUMN_ALIASES` reads as
    ``capacity``: 容量, 服务人数 … ; times ``people_per_unit`` when it counts beds or seats), else its floor area
    (``floor_area_m2``: 面积, 建筑面积 …) as ``band × area / reference area`` of its tier,
    else the upper end of its tier's GB 50180-2018 population band (``Tier.population_served``). A facility of no
    tier with neither column (a service list) has no capacity (NaN) and is not assessed for crowding. Cells that
    are not positive numbers are logged and skipped.

    Parameters
    ----------
    facilities : pandas.DataFrame
        The facility table (``tier``; optionally capacity and area columns under any of their headers,
        ``source_row``).
    rules : Rules
    reference_area_m2 : mapping of str to float
        Per tier key, the floor area serving the band's upper end (:data:`REFERENCE_AREA_M2`).
    people_per_unit : float, default 1.0
        People per unit of the capacity column.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``facilities``: ``capacity_people`` (float) and ``capacity_basis`` (``capacity``, ``area``,
        ``band`` or ``none``).
    """
    n = len(facilities)
    band = np.full(n, np.nan)
    ref = np.full(n, np.nan)
    tiers = facilities["tier"].fillna("").astype(str).to_numpy() if "tier" in facilities else np.full(n, "")
    for tier in rules.tiers:
        sel = tiers == tier.key
        if tier.population_served is not None:
            band[sel] = float(tier.population_served[1])
        ref[sel] = reference_area_m2.get(tier.key, np.nan)
    given = _positive(facilities, "capacity") * people_per_unit
    area = _positive(facilities, "floor_area_m2") * band / ref
    capacity = np.where(np.isfinite(given), given, np.where(np.isfinite(area), area, band))
    basis = np.select([np.isfinite(given), np.isfinite(area), np.isfinite(band)], ["capacity", "area", "band"], "none")
    if (basis == "none").any():
        log.info(
            "%d facilities have no capacity (no tier band, no 容量 or 面积): not assessed", (basis == "none").sum()
        )
    return pd.DataFrame({"capacity_people": capacity, "capacity_basis": basis}, index=facilities.index)


def _positive(facilities: pd.DataFrame, key: str) -> np.ndarray:
    """Per facility, the first positive number among the columns that name ``key`` (``容量``, ``床位`` … for
    ``capacity``: lists merged from several files keep each file's header); NaN where none, with a warning naming
    the rows whose cell is neither blank nor a positive number."""
    out = np.full(len(facilities), np.nan)
    for column in [c for c in facilities.columns if find_column([str(c)], key)]:
        raw = facilities[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
        blank = raw.isna().to_numpy() | raw.astype(str).str.strip().isin(["", "nan", "None"]).to_numpy()
        good = np.isfinite(values) & (values > 0)
        if (bad := ~blank & ~good).any():
            rows = facilities["source_row"].to_numpy()[bad] if "source_row" in facilities else np.flatnonzero(bad)
            log.warning("%s: not a positive number in row(s) %s; left out", column, ", ".join(map(str, rows[:20])))
        out = np.where(np.isnan(out) & good, values, out)
    return out


def crowding_table(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: pd.DataFrame,
    capacity: pd.DataFrame,
    *,
    limit_min: float,
    metres_per_minute: float,
    group: str = "population",
    bands: Sequence[tuple[float, float]] | None = DEFAULT_DECAY,
    points: Snap | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """People, supply ratio and the crowded flag of one set of facilities (a tier or a service), and ``A_i``.

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        The facilities of one tier or service (``edge``, ``t``, ``snap_m``).
    residents : pandas.DataFrame
        Resident points (``edge``, ``t``, ``offset_m`` and the ``group`` column of people).
    capacity : pandas.DataFrame
        :func:`facility_capacity` of these facilities (same index).
    limit_min : float
        Catchment in minutes (the tier's or service's target).
    metres_per_minute : float
        Walking speed of the profile measured for ``group``.
    group : str, default "population"
        The residents' column of people: ``population`` or ``elderly``. The GB 50180 bands count residents of
        all ages: measure a tier against them with ``population`` (and the everyone profile's speed); ``elderly``
        suits a capacity in elderly places (seats of a canteen, beds of day care).
    bands : sequence of (float, float), optional
        E2SFCA step weights (default :data:`DEFAULT_DECAY`); None for plain 2SFCA.
    points : Snap, optional
        ``Snap.of(residents)``, given to reuse across calls: the residents' order along their streets is worked
        out once per snap (2 s for a million residents).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        Per facility (indexed like ``facilities``): ``catchment_people``, ``catchment_demand`` (weighted),
        ``capacity_people``, ``capacity_basis``, ``supply_ratio`` (``R_j``), ``load`` (people per capacity) and
        ``crowded`` (nullable boolean: people > capacity; NA without a capacity). Per resident: ``A_i``.
    """
    supply = capacity["capacity_people"].to_numpy(float)
    if group != "population" and (capacity["capacity_basis"] == "band").any():
        log.warning("crowding of %s against GB 50180 bands, which count residents of all ages", group)
    result = catchment_sums(
        network,
        facilities["edge"].to_numpy(np.int64),
        facilities["t"].to_numpy(float),
        facilities["snap_m"].to_numpy(float),
        Snap.of(residents) if points is None else points,
        np.nan_to_num(residents[group].to_numpy(float)),
        supply,
        limit_min,
        metres_per_minute,
        max_minutes=limit_min,
        bands=bands,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        load = result.people / supply
    crowded = pd.array(np.where(np.isfinite(supply), result.people > supply, False), dtype="boolean")
    crowded[~np.isfinite(supply)] = pd.NA
    table = pd.DataFrame(
        {
            "catchment_people": result.people,
            "catchment_demand": result.demand,
            "capacity_people": supply,
            "capacity_basis": capacity["capacity_basis"].to_numpy(),
            "supply_ratio": result.ratio,
            "load": load,
            "crowded": crowded,
        },
        index=facilities.index,
    )
    n_crowded = int(table["crowded"].sum())
    log.info("%d of %d facilities crowded within %g min (%s)", n_crowded, len(table), limit_min, group)
    return table, result.access
