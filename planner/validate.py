"""Checking a new district's inputs before a study area is written (``lifecircle area init``).

The checks a planner would otherwise discover one failed run at a time: that
the street file builds a walk network, that facility rows are complete and in
range, that facility points sit on the streets (and whether they would if read
as GCJ-02 or BD-09: web-map coordinates declared as WGS-84 are the usual
mistake), and that the population covers the same place as the streets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from .errors import InputError
from .facilities import load_facilities
from .network import WalkNetwork, load_network
from .population import PopulationError, population_outline, read_population
from .positions import check_list_crs, crs_fit
from .tiers import DEFAULT_TIERS, Rules

__all__ = ["AreaCheck", "check_inputs"]

log = logging.getLogger(__name__)

_ON_STREET_M = 60.0  # a facility's median distance to a street above this is suspicious


@dataclass
class AreaCheck:
    """What :func:`check_inputs` found: errors stop ``area init``, warnings do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    facilities_crs: str = "wgs84"
    outside: int = 0  # facility rows beyond the area's outline (without streets: left out and counted)

    @property
    def ok(self) -> bool:
        """True when nothing stops the study area from being written."""
        return not self.errors

    def report(self) -> str:
        """A short report for the terminal."""
        lines = ["Validation report 输入检查"]
        lines += [f"  ok    {f}" for f in self.facts]
        lines += [f"  WARN  {w}" for w in self.warnings]
        lines += [f"  ERROR {e}" for e in self.errors]
        lines.append("  -> inputs are usable" if self.ok else "  -> fix the errors above; nothing was written")
        return "\n".join(lines)


def _median_snap(net: WalkNetwork, lon: np.ndarray, lat: np.ndarray) -> float:
    return float(np.nanmedian(net.snap(lon, lat).offset_m)) if len(lon) else float("nan")


def check_inputs(
    osm: Path | None,
    facilities: Path,
    population: Path | None = None,
    *,
    facilities_crs: str | None = None,
    population_column: str = "population",
    service: str | None = None,
    sheet: str | int | None = None,
) -> tuple[AreaCheck, WalkNetwork | None]:
    """Validate a district's street, facility and population files.

    Parameters
    ----------
    osm, facilities, population : pathlib.Path
        The files (population optional). ``osm`` None: an area without streets (a straight-line estimate); its
        population is then needed (it gives the area's outline), and the list's coordinate system cannot be
        checked against streets (the report says so).
    facilities_crs : {"wgs84", "gcj02", "bd09"}, optional
        What the facility coordinates are declared to be; unset: the column names' hint, else WGS-84.
    population_column : str, default "population"
    service : str, optional
        The list is of one service with no tier (e.g. ``health`` for a list of 社区卫生服务中心).
    sheet : str or int, optional
        The Excel sheet of the facility list (default: the first).

    Returns
    -------
    (AreaCheck, WalkNetwork or None)
    """
    check = AreaCheck(facilities_crs=facilities_crs or "wgs84")
    if osm is None:  # no streets: a straight-line estimate
        return _check_without_streets(facilities, population, check, facilities_crs, population_column, service, sheet)
    try:
        net = load_network(osm)
    except (OSError, ValueError) as exc:
        check.errors.append(f"streets: {exc}")
        return check, None
    comps = net.meta.get("components", {})
    check.facts.append(
        f"streets: {net.n_nodes:,} nodes, {net.total_km:,.1f} km walkable ({osm.name}); "
        f"{comps.get('fragments', 0)} small fragments dropped"
    )
    boundary = net.boundary_wgs84()

    fac = None
    try:  # once, keeping bad rows aside: each is reported once, then the good ones are checked
        fac = load_facilities(
            facilities, Rules(), crs=facilities_crs, skip_invalid=True, log_skipped=False, service=service, sheet=sheet
        )
        problems = fac.attrs.get("problems", [])
        check.errors += [f"facilities: {p}" for p in problems[:20]]
        if len(problems) > 20:
            check.errors.append(f"facilities: ... and {len(problems) - 20} more rows")
    except (ValueError, FileNotFoundError) as exc:
        check.errors.append(f"facilities: {exc}")
    if fac is not None and len(fac):
        _check_facility_positions(net, fac, facilities, str(fac["source_crs"].iloc[0]), check)
    if population is not None:
        _check_population(population, population_column, boundary, check)
    return check, net


def _check_facility_positions(net: WalkNetwork, fac, path: Path, crs: str, check: AreaCheck) -> None:
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    inside = shapely.contains_xy(net.boundary_wgs84(), lon, lat)
    as_given = _median_snap(net, lon, lat)
    counts = fac["tier"].value_counts().to_dict()
    check.facts.append(
        f"facilities: {len(fac)} read ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
        f"declared {crs}; median {as_given:,.0f} m from a street"
    )
    if "position_flag" in fac.columns:  # upstream's own doubts about positions: kept, and listed here
        flags = fac["position_flag"].fillna("").astype(str).replace("nan", "")
        for _, row in fac[flags != ""].iterrows():
            check.warnings.append(
                f"facilities: row {row['source_row']} {row['name']}: position doubtful "
                f"({row['position_flag']}); kept and shown as uncertain"
            )
    for tier in DEFAULT_TIERS if not (fac["tier"] == "").all() else ():
        if tier.key not in counts:
            check.warnings.append(
                f"facilities: no {tier.key} ({tier.name_en}) in the list: every resident will lack it"
            )
    if not inside.any():
        check.errors.append(
            f"facilities: none of the {len(fac)} points lies in the street data's area "
            f"{tuple(round(v, 4) for v in net.boundary_wgs84().bounds)}: another city, or swapped "
            "longitude/latitude?"
        )
        return
    kinds = set(fac["source_crs"])
    if len(kinds) != 1:
        return
    declared = kinds.pop()
    check.facilities_crs = declared
    try:
        fits = check_list_crs(
            net, fac["source_lon"].to_numpy(float), fac["source_lat"].to_numpy(float), fac["address"], declared, path
        )
    except InputError as exc:
        fits = crs_fit(net, fac["source_lon"].to_numpy(float), fac["source_lat"].to_numpy(float), fac["address"])
        best = min(fits.values(), key=lambda f: f.evidence if np.isfinite(f.evidence) else np.inf)
        check.errors.append(
            f"facilities: {str(exc).removeprefix(f'{path}: ')}; the coordinates look like "
            f"{best.crs.upper()} (--facilities-crs {best.crs})"
        )
        check.facilities_crs = best.crs
        return
    mine = fits[declared]
    if mine.address_rows:
        check.facts.append(
            f"facilities: {mine.address_rows} rows name a street of the network; a median "
            f"{mine.address_m:,.0f} m from it as {declared}"
        )
    if as_given > _ON_STREET_M:
        check.warnings.append(f"facilities: a median {as_given:,.0f} m from the nearest street; check positions")


def _check_without_streets(
    facilities: Path,
    population: Path | None,
    check: AreaCheck,
    facilities_crs: str | None,
    population_column: str,
    service: str | None,
    sheet: str | int | None,
) -> tuple[AreaCheck, None]:
    """The checks of an area without a street network: rows, the list against the population's outline."""
    check.facts.append("streets: none; walking times will be straight line x 1.25, every figure 估算 (estimate)")
    if population is None:
        check.errors.append("population: without streets the population is needed: it gives the area's outline")
        return check, None
    try:
        pop = read_population(population, column=population_column)
    except (PopulationError, FileNotFoundError, ValueError) as exc:
        check.errors.append(f"population: {exc}")
        return check, None
    outline = population_outline(pop)
    people = pop[population_column].sum()
    check.facts.append(f"population: {len(pop)} features, {people:,.0f} people ({population.name})")
    try:
        fac = load_facilities(
            facilities, Rules(), crs=facilities_crs, skip_invalid=True, log_skipped=False, service=service, sheet=sheet
        )
    except (ValueError, FileNotFoundError) as exc:
        check.errors.append(f"facilities: {exc}")
        return check, None
    problems = fac.attrs.get("problems", [])
    check.errors += [f"facilities: {p}" for p in problems[:20]]
    if not len(fac):
        return check, None
    kinds = set(fac["source_crs"])
    check.facilities_crs = kinds.pop() if len(kinds) == 1 else check.facilities_crs
    near = shapely.dwithin(outline, shapely.points(fac.geometry.x, fac.geometry.y), 0.015)  # ~1.5 km
    check.facts.append(f"facilities: {len(fac)} read, {int(near.sum())} within ~1.5 km of the population's outline")
    check.outside = int((~near).sum())
    if check.outside:
        check.warnings.append(
            f"facilities: {check.outside} rows lie farther out; the area is written to leave them out and count them"
        )
    check.warnings.append(
        f"facilities: declared {check.facilities_crs}; without streets this cannot be checked (a GCJ-02 list "
        "read as WGS-84 lands ~500 m off): give --facilities-crs as the list's source says"
    )
    if not near.any():
        check.errors.append(
            f"facilities: none of the {len(fac)} points lies near the population "
            f"{tuple(round(v, 4) for v in outline.bounds)}: another city, or swapped longitude/latitude?"
        )
    return check, None


def _check_population(path: Path, column: str, boundary, check: AreaCheck) -> None:
    try:
        pop = read_population(path, column=column)
    except (PopulationError, FileNotFoundError, ValueError) as exc:
        check.errors.append(f"population: {exc}")
        return
    extent = shapely.box(*pop.total_bounds)
    overlap = extent.intersection(boundary).area / boundary.area if boundary.area else 0.0
    check.facts.append(
        f"population: {len(pop)} features, {pop[column].sum():,.0f} people ({path.name}); "
        f"covers {100 * overlap:.0f}% of the street area"
    )
    if overlap == 0:
        check.errors.append(
            f"population: covers {tuple(round(v, 4) for v in pop.total_bounds)}, which does not "
            f"overlap the streets {tuple(round(v, 4) for v in boundary.bounds)}: another city?"
        )
    elif overlap < 0.5:
        check.warnings.append(f"population: covers only {100 * overlap:.0f}% of the street area")
