"""``lifecircle area``: bring your own district. ``area init`` checks a district's files (streets, or none;
facility lists in Chinese; population) and writes its study-area TOML; ``area fetch`` downloads walkable streets."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Literal

from .errors import ConfigError, OutputExistsError

__all__ = ["register", "run_area"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``area`` command (``init``, ``fetch``) to the ``lifecircle`` parser."""
    area = sub.add_parser("area", help="bring your own district: validate inputs, or download streets")
    area_sub = area.add_subparsers(dest="area_command", required=True)
    init = area_sub.add_parser(
        "init",
        help="validate a district's files and write its study-area TOML",
        description="Checks the files (coordinate systems, columns, extents, facilities "
        "near streets), prints a validation report, and writes area.toml "
        "when nothing is wrong.",
    )
    init.add_argument("--osm", type=Path, help="OSM XML street file (.osm, .osm.bz2); or --network none")
    init.add_argument(
        "--network",
        choices=["streets", "none"],
        default="streets",
        help="none: no street file; walking times will be straight-line estimates (估算)",
    )
    init.add_argument("--facilities", type=Path, required=True, help="facility list: CSV, XLSX, GeoJSON, GPKG")
    init.add_argument("--population", type=Path, help="population grid, polygons or points")
    init.add_argument(
        "--facilities-crs",
        default=None,
        choices=["wgs84", "gcj02", "bd09"],
        help="coordinate system of the facility list (default: what its headers say, e.g. lon_gcj02, 高德经度; "
        "else wgs84)",
    )
    init.add_argument("--sheet", help="Excel sheet of the facility list (name or 0-based number; default the first)")
    init.add_argument(
        "--service",
        metavar="KEY",
        help="the list is of one service with no tier, e.g. health for a list of 社区卫生服务中心",
    )
    init.add_argument("--population-column", default="population")
    init.add_argument("--name", help="short name of the area (default: the output folder's name)")
    init.add_argument("--out", type=Path, default=Path("."), help="folder for area.toml (default: here)")
    init.add_argument("--force", action="store_true", help="replace an existing area.toml")
    fetch = area_sub.add_parser("fetch", help="download a district's walkable streets from OpenStreetMap (online)")
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", help='a place name, e.g. "松江区中山街道, 上海"')
    where.add_argument("--bbox", help="west,south,east,north in degrees")
    fetch.add_argument("--out", type=Path, required=True, help="OSM XML file to write")
    area.set_defaults(handler=run_area)


def _sheet(text: str | None) -> str | int | None:
    """An Excel sheet given on the command line: a 0-based number or a name."""
    return int(text) if text is not None and text.isdigit() else text


def run_area(args: argparse.Namespace) -> int:
    """Run ``lifecircle area init`` or ``lifecircle area fetch``."""
    if args.area_command == "fetch":
        from .fetch import fetch_osm

        bbox = None
        if args.bbox:
            try:
                west, south, east, north = (float(v) for v in args.bbox.split(","))
            except ValueError:  # not a number, or not four of them
                msg = f"--bbox {args.bbox!r}: give west,south,east,north in degrees"
                raise ConfigError(msg, key="bbox") from None
            bbox = (west, south, east, north)
        out = fetch_osm(args.out, place=args.place, bbox=bbox)
        print(f"saved {out}; next: lifecircle area init --osm {out} --facilities ... --population ...")
        return 0
    from .area import write_area_toml
    from .population import read_population
    from .validate import check_inputs

    if (args.osm is None) == (args.network == "streets"):
        msg = "give --osm streets.osm, or --network none for an area without streets (straight-line estimates)"
        raise ConfigError(msg, key="osm")
    target = args.out / "area.toml"
    if target.exists() and not args.force:
        msg = f"{target} already exists; pass --force to replace it"
        raise OutputExistsError(msg)
    check, _ = check_inputs(
        args.osm,
        args.facilities,
        args.population,
        facilities_crs=args.facilities_crs,
        population_column=args.population_column,
        service=args.service,
        sheet=_sheet(args.sheet),
    )
    print(check.report())
    if not check.ok:
        return 2
    kind: Literal["grid", "polygons", "points"] = "grid"
    if args.population is not None:
        kind = (
            "points"
            if read_population(args.population, column=args.population_column).geom_type.eq("Point").all()
            else "grid"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_area_toml(
        target,
        name=args.name or args.out.resolve().name,
        osm=args.osm,
        facilities=args.facilities,
        facilities_crs=check.facilities_crs,
        population=args.population,
        population_kind=kind,
        population_column=args.population_column,
        service=args.service,
        sheet=_sheet(args.sheet),
        outside_km=1.5 if args.osm is None else None,  # without streets: a list reaching beyond the area
    )
    print(f"wrote {target}; run: lifecircle plan --area {target}")
    return 0
