"""The ``lifecircle`` command.

``lifecircle plan`` runs the planner on a study area and writes the results
to an output folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .area import DEFAULT_AREA, StudyArea
from .outputs import layer_descriptions, prepare_output_dir, write_geopackage, write_summary
from .isochrones import dissolve_isochrones
from .maps import plan_map, save_map
from .plan import Plan
from .report import write_report
from .tiers import SpeedProfile, parse_tier_overrides

log = logging.getLogger("planner")

_PLAN_HELP = """\
Compute walking access to community services for a study area and write:
  plan.gpkg     layers facilities, isochrones, service_areas, residents, units,
                and candidates with --sites/--cover (WGS-84)
  report.html   community check report (社区体检报告), readable offline
  map.html      interactive map for officials; works with no network (basemap tiles need one)
  summary.json  headline figures, network size, facilities per tier, rules, timings

Tiers (default walking targets): center 15 min (社区服务中心), station 10 min
(家门口服务站), point 5 min (家门口服务点). Speeds: adult 4.5 km/h, elderly 0.76 m/s.

examples:
  lifecircle plan                                   # the embedded central-Shanghai area
  lifecircle plan --area my-district/area.toml --out results/my-district
  lifecircle plan --tier station=8 --elderly-speed 0.7 --bands 5,10,15,20
  lifecircle plan --sites station=5,point=10          # best 5 new stations and 10 new points
  lifecircle plan --cover station=0.99 --site-weight elderly
"""


def _bands(text: str) -> tuple[float, ...]:
    try:
        bands = tuple(float(b) for b in text.split(",") if b.strip())
    except ValueError:
        msg = f"--bands {text!r}: give minutes separated by commas, e.g. 5,10,15"
        raise argparse.ArgumentTypeError(msg) from None
    if not bands or min(bands) <= 0 or max(bands) > 240:
        msg = f"--bands {text!r}: each band must be in (0, 240] minutes"
        raise argparse.ArgumentTypeError(msg)
    return bands


def _tier_values(kind):
    """Parser of ``"station=5,point=10"`` into ``{"station": 5, "point": 10}``."""
    def parse(text: str) -> dict:
        out = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            try:
                out[key.strip()] = kind(value)
            except ValueError:
                sep = ""
            if not sep or not key.strip():
                msg = f"{text!r}: expected TIER=VALUE[,TIER=VALUE...], e.g. station=5,point=10"
                raise argparse.ArgumentTypeError(msg) from None
        return out
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lifecircle`` command."""
    parser = argparse.ArgumentParser(prog="lifecircle",
                                     description="15-minute community life-circle planner (十五分钟社区生活圈)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="show warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="run the planner on a study area", description=_PLAN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--area", type=Path, default=DEFAULT_AREA,
                   help="study-area TOML file (default: the embedded central-Shanghai area)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: out/<area name>)")
    p.add_argument("--force", action="store_true", help="replace results already in the output folder")
    p.add_argument("--tier", action="append", default=[], metavar="TIER=MIN",
                   help="override a tier's walking target, e.g. --tier station=8 (repeatable)")
    p.add_argument("--adult-speed", type=float, metavar="KMH", help="adult walking speed in km/h (default 4.5)")
    p.add_argument("--elderly-speed", type=float, metavar="MPS",
                   help="elderly walking speed in m/s (default 0.76)")
    p.add_argument("--bands", type=_bands, help="isochrone bands in minutes, e.g. 5,10,15")
    p.add_argument("--method", choices=["edges", "hull"], help="isochrone shape: street-accurate or convex hull")
    p.add_argument("--corridor-m", type=float, help="walking corridor half-width around streets (default 50 m)")
    p.add_argument("--sites", type=_tier_values(int), default={}, metavar="TIER=K,...",
                   help="propose K new sites per tier that cover the most underserved residents (MCLP)")
    p.add_argument("--cover", type=_tier_values(float), default={}, metavar="TIER=SHARE,...",
                   help="propose the fewest new sites bringing a tier's coverage to SHARE, e.g. station=0.99 (LSCP)")
    p.add_argument("--site-weight", default="population",
                   help="whom new sites should reach: population, elderly or mix:<share of population>")
    p.add_argument("--site-profile", default=None, help="walking profile for new sites (default: adult)")
    p.add_argument("--site-method", choices=["exact", "greedy"], default="exact",
                   help="exact MILP (HiGHS) or greedy with swaps (large instances)")
    p.add_argument("--site-time-limit", type=float, default=60.0, metavar="S",
                   help="seconds per exact solve; the best solution found is kept with its gap (default 60)")
    p.add_argument("--capacity", type=_tier_values(float), default={}, metavar="TIER=PEOPLE,...",
                   help="most people one new site may serve, e.g. station=25000 (GB 50180's upper band)")
    p.add_argument("--basemap", choices=["osm", "light", "tianditu", "gaode", "none"], default="osm",
                   help="basemap shown first; gaode shifts overlays to GCJ-02; tianditu needs TIANDITU_KEY")
    p.add_argument("--map-cdn", action="store_true",
                   help="link the map's JavaScript/CSS from CDNs (smaller file, needs internet to open)")
    p.add_argument("--skip-invalid-facilities", action="store_true",
                   help="leave out bad facility rows (each is logged) instead of stopping")
    p.add_argument("--no-cache", action="store_true", help="rebuild the walk network instead of using the cache")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")

    area = sub.add_parser("area", help="bring your own district: validate inputs, or download streets")
    area_sub = area.add_subparsers(dest="area_command", required=True)
    init = area_sub.add_parser("init", help="validate a district's files and write its study-area TOML",
                               description="Checks the files (coordinate systems, columns, extents, facilities "
                                           "near streets), prints a validation report, and writes area.toml "
                                           "when nothing is wrong.")
    init.add_argument("--osm", type=Path, required=True, help="OSM XML street file (.osm, .osm.bz2)")
    init.add_argument("--facilities", type=Path, required=True, help="facility list: CSV, XLSX, GeoJSON, GPKG")
    init.add_argument("--population", type=Path, help="population grid, polygons or points")
    init.add_argument("--facilities-crs", default="wgs84", choices=["wgs84", "gcj02", "bd09"],
                      help="coordinate system of the facility list (default wgs84)")
    init.add_argument("--population-column", default="population")
    init.add_argument("--name", help="short name of the area (default: the output folder's name)")
    init.add_argument("--out", type=Path, default=Path("."), help="folder for area.toml (default: here)")
    init.add_argument("--force", action="store_true", help="replace an existing area.toml")
    fetch = area_sub.add_parser("fetch", help="download a district's walkable streets from OpenStreetMap (online)")
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", help='a place name, e.g. "松江区中山街道, 上海"')
    where.add_argument("--bbox", help="west,south,east,north in degrees")
    fetch.add_argument("--out", type=Path, required=True, help="OSM XML file to write")

    srv = sub.add_parser("serve", help="serve coverage checks over HTTP (FastAPI; docs at /docs)")
    srv.add_argument("--area", type=Path, default=DEFAULT_AREA, help="study-area TOML file")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    srv.add_argument("--workers", type=int, default=1, help="worker processes, e.g. one per core (default 1)")
    return parser


def _rules(area: StudyArea, args: argparse.Namespace):
    rules = area.rules
    tiers = parse_tier_overrides(args.tier, rules.tiers)
    profiles = list(rules.profiles)
    for key, value, mps in (("adult", args.adult_speed, False), ("elderly", args.elderly_speed, True)):
        if value is None:
            continue
        speed = value if mps else value / 3.6
        profiles = [replace(p, speed_mps=speed) if p.key == key else p for p in profiles]
        if key not in {p.key for p in profiles}:
            profiles.append(SpeedProfile(key, speed, key, key))
    return replace(rules, tiers=tiers, profiles=tuple(profiles), bands=args.bands or rules.bands)


def _proposals(plan: Plan, args: argparse.Namespace) -> list:
    """Site proposals asked for with --sites and --cover."""
    asked = [(tier, {"k": k}) for tier, k in args.sites.items()]
    asked += [(tier, {"target_share": share}) for tier, share in args.cover.items()]
    if not asked:
        return []
    if plan.residents is None:
        msg = "--sites/--cover need residents: the study area has no [population] source"
        raise ValueError(msg)
    t0 = time.perf_counter()
    out = [plan.propose_sites(tier, weight=args.site_weight, profile=args.site_profile, method=args.site_method,
                              capacity=args.capacity.get(tier), time_limit=args.site_time_limit, **kw)
           for tier, kw in asked]
    plan.timings["sites_s"] = time.perf_counter() - t0
    return out


def run_plan(args: argparse.Namespace) -> int:
    """Run ``lifecircle plan``."""
    t_start = time.perf_counter()
    area = StudyArea.from_toml(args.area)
    rules = _rules(area, args)
    out = prepare_output_dir(args.out or Path("out") / area.name, force=args.force)
    log.info("study area %s (%s); output folder %s", area.title_en, area.title_zh, out)
    if area.facilities_illustrative:
        log.warning("the facility inventory of %s is ILLUSTRATIVE, not real positions", area.name)

    plan = Plan.build(area, rules=rules, skip_invalid=args.skip_invalid_facilities, use_cache=not args.no_cache)
    log.info("walk network: %d nodes, %d segments, %.0f km (%s); facilities: %s",
             plan.network.n_nodes, plan.network.n_edges, plan.network.total_km, plan.network.meta.get("cache"),
             ", ".join(f"{k} {v}" for k, v in plan.summary()["facilities"]["per_tier"].items()))

    t0 = time.perf_counter()
    iso = plan.isochrones(method=args.method, corridor_m=args.corridor_m, progress=not args.no_progress)
    plan.timings["isochrones_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    areas = dissolve_isochrones(iso, plan.network.crs)  # the union of the facilities' isochrones
    plan.timings["service_areas_s"] = time.perf_counter() - t0

    layers = {"facilities": plan.facilities.drop(columns=["edge", "t"]), "isochrones": iso, "service_areas": areas}
    proposals = _proposals(plan, args)
    if proposals:
        layers["candidates"] = gpd.GeoDataFrame(pd.concat([p.sites for p in proposals], ignore_index=True),
                                                crs="EPSG:4326")
    t0 = time.perf_counter()
    if plan.residents is not None:
        units = plan.units()
        layers["residents"] = plan.residents.drop(columns=["edge", "t"])
        layers["units"] = units
        write_report(out / "report.html", plan, units, plan.equity(), proposals)
    plan.timings["report_s"] = time.perf_counter() - t0
    t_map = time.perf_counter()
    ref = plan.rules.profiles[0].key
    the_map = plan_map(plan, units=layers.get("units"), proposals=proposals, basemap=args.basemap,
                       isochrones=iso[iso["profile"] == ref], service_areas=areas[areas["profile"] == ref])
    save_map(the_map, out / "map.html", embed_assets=not args.map_cdn)
    plan.timings["map_s"] = time.perf_counter() - t_map
    t0 = time.perf_counter()
    write_geopackage(out / "plan.gpkg", layers,
                     layer_descriptions(plan.summary(), area.section("population").get("note")))
    plan.timings["write_s"] = time.perf_counter() - t0
    plan.timings["total_s"] = time.perf_counter() - t_start
    summary = plan.summary()
    summary["sites"] = [p.summary() for p in proposals]
    summary["outputs"] = {"plan.gpkg": list(layers), "isochrones": len(iso), "service_areas": len(areas),
                          "report.html": plan.residents is not None, "map.html": {
                              "basemap": args.basemap, "assets_embedded": not args.map_cdn,
                              "mb": round((out / "map.html").stat().st_size / 1e6, 2)}}
    write_summary(out / "summary.json", summary)
    if plan.residents is not None:
        head = summary["residents"]
        for tier in plan.rules.tiers:
            t = head["tiers"][tier.key][plan.rules.profiles[0].key]
            log.info("%-8s %5.1f%% covered; %s residents (%s elderly) cannot walk to one in %g min", tier.key,
                     100 * t["covered_share"], f"{t['people_without']:,}", f"{t['elderly_without']:,}", tier.minutes)
    log.info("done in %.1f s: %s", plan.timings["total_s"], out)
    return 0


def run_area(args: argparse.Namespace) -> int:
    """Run ``lifecircle area init`` or ``lifecircle area fetch``."""
    if args.area_command == "fetch":
        from .fetch import fetch_osm

        bbox = None
        if args.bbox:
            try:
                bbox = tuple(float(v) for v in args.bbox.split(","))
            except ValueError:
                bbox = ()
            if len(bbox) != 4:
                msg = f"--bbox {args.bbox!r}: give west,south,east,north in degrees"
                raise ValueError(msg)
        out = fetch_osm(args.out, place=args.place, bbox=bbox)
        print(f"saved {out}; next: lifecircle area init --osm {out} --facilities ... --population ...")
        return 0
    from .residents import read_population
    from .validate import check_inputs, write_area_toml

    target = args.out / "area.toml"
    if target.exists() and not args.force:
        msg = f"{target} already exists; pass --force to replace it"
        raise FileExistsError(msg)
    check, _ = check_inputs(args.osm, args.facilities, args.population, facilities_crs=args.facilities_crs,
                            population_column=args.population_column)
    print(check.report())
    if not check.ok:
        return 2
    kind = "grid"
    if args.population is not None:
        kind = "points" if read_population(args.population, column=args.population_column).geom_type.eq(
            "Point").all() else "grid"
    args.out.mkdir(parents=True, exist_ok=True)
    write_area_toml(target, name=args.name or args.out.resolve().name, osm=args.osm, facilities=args.facilities,
                    facilities_crs=args.facilities_crs, population=args.population, population_kind=kind,
                    population_column=args.population_column)
    print(f"wrote {target}; run: lifecircle plan --area {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lifecircle`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        if args.command == "plan":
            return run_plan(args)
        if args.command == "area":
            return run_area(args)
        if args.command == "serve":
            StudyArea.from_toml(args.area)  # fail fast, with a clear message, on a bad area file
            from api.server import serve  # the HTTP face is loaded only by this entry point

            serve(args.area, args.host, args.port, workers=args.workers,
                  log_level="debug" if args.verbose else "warning" if args.quiet else "info")
            return 0
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        sys.stderr.write(f"lifecircle: error: {text}\n")
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
