"""The ``lifecircle`` command.

``lifecircle plan`` runs the planner on a study area and writes the results
to an output folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path

from . import area_cli, whatif_cli
from .area import StudyArea
from .city_run import CITY_FILES, plan_city
from .errors import ConfigError, LifecircleError
from .outputs import prepare_output_dir, write_outputs
from .pipeline import RunOptions, run
from .resources import DEFAULT_AREA

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


def _tiles(text: str) -> tuple[int, int]:
    nx_, sep, ny_ = text.lower().partition("x")
    if not sep or not nx_.strip().isdigit() or not ny_.strip().isdigit() or int(nx_) < 1 or int(ny_) < 1:
        msg = f"--tiles {text!r}: expected NxM, e.g. 3x3"
        raise argparse.ArgumentTypeError(msg)
    return int(nx_), int(ny_)


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
    parser = argparse.ArgumentParser(
        prog="lifecircle", description="15-minute community life-circle planner (十五分钟社区生活圈)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="show warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "plan",
        help="run the planner on a study area",
        description=_PLAN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--area",
        type=Path,
        default=DEFAULT_AREA,
        help="study-area TOML file (default: the embedded central-Shanghai area)",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default: out/<area name>)")
    p.add_argument("--force", action="store_true", help="replace results already in the output folder")
    p.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="TIER=MIN",
        help="override a tier's walking target, e.g. --tier station=8 (repeatable)",
    )
    p.add_argument(
        "--network",
        choices=["streets", "none"],
        default=None,
        help="streets: walk the OSM streets (default); none: straight line x detour factor, every figure an estimate",
    )
    p.add_argument(
        "--detour-factor",
        type=float,
        metavar="F",
        help="walking metres per straight-line metre with --network none (default 1.25)",
    )
    p.add_argument("--adult-speed", type=float, metavar="KMH", help="adult walking speed in km/h (default 4.5)")
    p.add_argument("--elderly-speed", type=float, metavar="MPS", help="elderly walking speed in m/s (default 0.76)")
    p.add_argument("--bands", type=_bands, help="isochrone bands in minutes, e.g. 5,10,15")
    p.add_argument("--method", choices=["edges", "hull"], help="isochrone shape: street-accurate or convex hull")
    p.add_argument("--corridor-m", type=float, help="walking corridor half-width around streets (default 50 m)")
    p.add_argument(
        "--sites",
        type=_tier_values(int),
        default={},
        metavar="TIER=K,...",
        help="propose K new sites per tier that cover the most underserved residents (MCLP)",
    )
    p.add_argument(
        "--cover",
        type=_tier_values(float),
        default={},
        metavar="TIER=SHARE,...",
        help="propose the fewest new sites bringing a tier's coverage to SHARE, e.g. station=0.99 (LSCP)",
    )
    p.add_argument(
        "--site-weight",
        default=None,
        help="whom new sites should reach: population, elderly or mix:<share of population>",
    )
    p.add_argument("--site-profile", default=None, help="walking profile for new sites (default: adult)")
    p.add_argument(
        "--relieve-crowding",
        action="store_true",
        help="with --sites: new sites also count residents of crowded facilities (by the share beyond capacity)",
    )
    p.add_argument(
        "--site-method",
        choices=["exact", "greedy"],
        default=None,
        help="exact MILP (HiGHS) or greedy with swaps (large instances)",
    )
    p.add_argument(
        "--site-time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds per exact solve; the best solution found is kept with its gap (default 60)",
    )
    p.add_argument(
        "--capacity",
        type=_tier_values(float),
        default={},
        metavar="TIER=PEOPLE,...",
        help="most people one new site may serve, e.g. station=25000 (GB 50180's upper band)",
    )
    p.add_argument(
        "--basemap",
        choices=["streets", "osm", "light", "tianditu", "gaode", "none"],
        default="streets",
        help="basemap shown first (default: the area's own streets, works offline; tiles need a network); "
        "gaode shifts overlays to GCJ-02; tianditu needs TIANDITU_KEY",
    )
    p.add_argument(
        "--map-cdn",
        action="store_true",
        help="link the map's JavaScript/CSS from CDNs (smaller file, needs internet to open)",
    )
    p.add_argument(
        "--skip-invalid-facilities",
        action="store_true",
        help="leave out bad facility rows (each is logged) instead of stopping",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="rebuild the walk network, service areas and report maps instead of using the cache",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the report (default zh)")
    p.add_argument(
        "--isochrones",
        choices=["areas", "drawn", "all", "none"],
        default="areas",
        help="areas (default): each tier's dissolved service area for the profile the map draws; drawn: also every "
        "facility's isochrones for it; all: every facility's isochrones for every profile; none",
    )
    p.add_argument(
        "--areas",
        type=Path,
        metavar="DIR",
        help="run one plan per DIR/*/area.toml (one Dask task each): OUT/<name>/ per area, "
        "OUT/summary.json and OUT/index.html over all (default OUT: out/<DIR name>)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes: the tiles of one area, or the areas of --areas",
    )
    p.add_argument(
        "--tiles",
        type=_tiles,
        metavar="NxM",
        help="access and coverage tile by tile (NxM tiles; 2x2 with --workers or --scheduler), equal to one piece",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a running Dask scheduler, e.g. tcp://host:8786 (its dashboard shows progress)",
    )
    p.add_argument(
        "--tile-store",
        action="store_true",
        help="a city: write the tiles' inputs and results as Parquet partitions under OUT (store/, results/) and "
        "the coverage added up from the tiles (summary.json); each task reads only its own tile; no map or report",
    )

    p.set_defaults(handler=run_plan)
    area_cli.register(sub)
    whatif_cli.register(sub)
    # more commands (``serve`` from the api package) plug in through the "lifecircle.commands" entry points,
    # so the planner never imports the faces built on it
    for ep in sorted(entry_points(group="lifecircle.commands"), key=lambda e: e.name):
        ep.load()(sub)
    return parser


def area_with_flags(area: StudyArea, args: argparse.Namespace) -> StudyArea:
    """The study area with the command line's overrides applied (checked like the file)."""
    tiers = {}
    known = [t.key for t in area.rules.tiers]
    for item in args.tier:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep:
            msg = f"--tier {item!r}: expected <tier>=<minutes>, e.g. station=8"
        elif key not in known:
            msg = f"--tier {item!r}: no tier {key!r}; the tiers are {', '.join(known)}"
        else:
            try:
                tiers[key] = {"minutes": float(value)}
                continue
            except ValueError:
                msg = f"--tier {item!r}: {value!r} is not a number of minutes"
        raise ConfigError(msg, key="tiers")
    profiles = {}
    if args.adult_speed is not None:
        profiles["adult"] = {"speed_kmh": args.adult_speed, "speed_mps": None}
    if args.elderly_speed is not None:
        profiles["elderly"] = {"speed_mps": args.elderly_speed, "speed_kmh": None}
    iso = {
        k: v
        for k, v in (("bands", args.bands), ("method", args.method), ("corridor_m", args.corridor_m))
        if v is not None
    }
    network = {k: v for k, v in (("mode", args.network), ("detour_factor", args.detour_factor)) if v is not None}
    sections = {
        k: v for k, v in (("tiers", tiers), ("profiles", profiles), ("isochrones", iso), ("network", network)) if v
    }
    return area.with_overrides(**sections) if sections else area


def run_many(args: argparse.Namespace) -> int:
    """Run ``lifecircle plan --areas DIR`` (on Dask with ``--workers`` or ``--scheduler``)."""
    from functools import partial

    from .multi_area import local_client, run_areas

    if args.workers is not None and args.workers < 1:
        msg = f"--workers {args.workers}: give at least one worker"
        raise ConfigError(msg, key="workers")
    out = args.out or Path("out") / args.areas.resolve().name
    options = replace(run_options(args), progress=False)  # the areas' own bars would interleave: Dask's bar instead
    write = {"basemap": args.basemap, "embed_assets": not args.map_cdn, "lang": args.lang}
    client = None
    if args.workers is not None or args.scheduler is not None:
        client = local_client(args.workers, args.scheduler)
    try:
        combined = run_areas(
            args.areas,
            out,
            options=options,
            client=client,
            force=args.force,
            prepare=partial(area_with_flags, args=args),
            write=write,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    finally:
        if client is not None:
            client.close()
    log.info("%d areas planned, %d failed: %s", combined["ok"], combined["failed"], out / "index.html")
    return 2 if combined["failed"] else 0


def run_city(args: argparse.Namespace, area: StudyArea, out: Path, options: RunOptions) -> int:
    """Run ``lifecircle plan --tile-store``: a city's tiles from Parquet partitions (:mod:`planner.city_run`)."""
    from .multi_area import local_client  # the dask extra: only with --workers or --scheduler

    if args.workers is not None and args.workers < 1:
        msg = f"--workers {args.workers}: give at least one worker"
        raise ConfigError(msg, key="workers")
    client = local_client(args.workers, args.scheduler) if args.workers or args.scheduler else None
    try:
        plan_city(area, out, tiles=args.tiles or (2, 2), options=options, client=client)
    finally:
        if client is not None:
            client.close()
    log.info("tiles' results under %s (results/residents, results/access) and summary.json", out)
    return 0


def run_options(args: argparse.Namespace) -> RunOptions:
    """The run options the ``plan`` flags ask for."""
    return RunOptions(
        isochrones=args.isochrones,
        sites=args.sites,
        cover=args.cover,
        site_weight=args.site_weight,
        site_profile=args.site_profile,
        site_method=args.site_method,
        site_time_limit=args.site_time_limit,
        capacity=args.capacity,
        relieve_crowding=args.relieve_crowding,
        skip_invalid_facilities=args.skip_invalid_facilities,
        use_cache=not args.no_cache,
        progress=not args.no_progress and sys.stderr.isatty(),
    )


def run_plan(args: argparse.Namespace) -> int:
    """Run ``lifecircle plan``."""
    if args.areas is not None:
        return run_many(args)
    t_start = time.perf_counter()
    area = area_with_flags(StudyArea.from_toml(args.area), args)
    files = CITY_FILES if args.tile_store else None
    out = prepare_output_dir(args.out or Path("out") / area.name, force=args.force, files=files)
    log.info("study area %s (%s); output folder %s", area.title_en, area.title_zh, out)
    if area.facilities_illustrative:
        log.warning("the facility inventory of %s is ILLUSTRATIVE, not real positions", area.name)
    options = run_options(args)
    if args.tile_store:
        return run_city(args, area, out, options)
    client = None
    if args.workers is not None or args.scheduler is not None:  # access and coverage tile by tile, on Dask
        from .multi_area import local_client

        if args.workers is not None and args.workers < 1:
            msg = f"--workers {args.workers}: give at least one worker"
            raise ConfigError(msg, key="workers")
        client = local_client(args.workers, args.scheduler)
        options = replace(options, client=client, tiles=args.tiles or (2, 2))
    elif args.tiles is not None:
        options = replace(options, tiles=args.tiles)
    try:
        plan = run(area, options)
    finally:
        if client is not None:
            client.close()
    per_tier = ", ".join(f"{t.key} {int((plan.facilities['tier'] == t.key).sum())}" for t in plan.rules.tiers)
    if plan.network is not None:
        net = plan.network
        log.info(
            "walk network: %d nodes, %d segments, %.0f km (%s); facilities: %s",
            net.n_nodes,
            net.n_edges,
            net.total_km,
            net.meta.get("cache"),
            per_tier,
        )
    else:
        log.info("no street network: every walking figure is a straight-line estimate; facilities: %s", per_tier)
    summary = write_outputs(
        plan, out, basemap=args.basemap, embed_assets=not args.map_cdn, lang=args.lang, use_cache=not args.no_cache
    )
    if summary["residents"] is not None:
        everyone = plan.rules.everyone.key
        for tier in plan.rules.tiers:
            t = summary["residents"]["tiers"][tier.key][everyone]
            log.info(
                "%-8s %5.1f%% covered; %s residents (%s elderly) cannot walk to one in %g min",
                tier.key,
                100 * t["covered_share"],
                f"{t['people_without']:,}",
                f"{t['elderly_without']:,}",
                tier.minutes,
            )
    log.info("done in %.1f s: %s", time.perf_counter() - t_start, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lifecircle`` command.

    Returns
    -------
    int
        0 on success; 2 when the input, settings or environment is at fault (one or two lines on
        standard error say what to do); 1 for a bug (its traceback is shown).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except LifecircleError as exc:
        sys.stderr.write(f"lifecircle: error: {exc}\n")
        return 2
    except OSError as exc:  # the environment (permissions, a full disk, a path under a file), not a bug
        where = f" {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"lifecircle: error:{where}: {exc.strerror or exc}; check the path and its permissions\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("lifecircle: interrupted\n")
        return 130
    except Exception:  # noqa: BLE001 - the last resort: any other error is a bug, shown with its traceback
        traceback.print_exc()
        sys.stderr.write(
            "lifecircle: this is a bug in lifecircle, not in your input; please report it with the traceback above\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
