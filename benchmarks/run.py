"""Performance of the planner against the practical limit and against baselines, measured in the same run.

    python -m benchmarks.run [--quick] [--only SECTION ...] [--json PATH]
    python -m benchmarks.run --compare OLD.json NEW.json

Not part of the test suite: it prints times, ratios and checks, and writes them as JSON (default
``out/bench/<time>.json``) so that runs can be compared. How it measures (median of N with alternatives
interleaved, memory per section from a fresh baseline, CPU taken by other processes) is in
``benchmarks/measure.py``. Every comparison does the same work on both sides: the same sources, the same
cutoff, the same number of searches, on the same graph.

Sections
--------
area       Default area (central Shanghai): node distance to the nearest facility of every tier. The engine
           (``planner.access.nearest_facility``) against the practical limit, a bare
           ``scipy.sparse.csgraph.dijkstra(min_only=True)`` on the same CSR arrays, sources and limit; then
           against networkx ``multi_source_dijkstra_path_length`` and one ``ego_graph`` per facility.
grid       Synthetic street grid (1000 x 1000 nodes; 300 x 300 with --quick): engine against the limit.
grid_nx    The same grid: engine against networkx (ego graphs are estimated, not run: see the result).
isochrones Isochrones of every facility of the default area and dissolved service areas.
coverage   1,000,000 raw lon/lat points (100,000 with --quick): snapping to the nearest edge (our grid index
           against shapely's STRtree, which it replaced), then ``Plan.query_arrays`` end to end, cold and warm.
cli        ``lifecircle plan`` on the default area, cold and warm (separate processes; medians of 3 cold and 6 warm
           runs, 1 and 2 with --quick), and map.html in Chromium.
siting     MCLP: ours exact and greedy against spopt (``benchmarks/siting.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csgraph

from benchmarks.measure import ROOT, Report, Section, compare_files, fmt_s
from planner import Plan, RunOptions, run
from planner.access import augmented_graph, nearest_facility
from planner.network import WalkNetwork

SECTIONS = ("area", "grid", "grid_nx", "isochrones", "coverage", "cli", "siting")
GROUPS = {"engine": ("area", "grid", "grid_nx")}


# ------------------------------------------------------------------ the work compared
class SearchJob:
    """One multi-source search per tier: the facilities of the tier as sources, a cutoff in metres per tier."""

    def __init__(self, net: WalkNetwork, tiers: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], cutoffs):
        self.net, self.tiers, self.cutoffs = net, tiers, list(cutoffs)
        self.graphs = [augmented_graph(net, e, t, o) for _, e, t, o in tiers]  # the limit's input, built once

    def engine(self):
        return [nearest_facility(self.net, e, t, o, horizon_m=h) for (_, e, t, o), h in zip(self.tiers, self.cutoffs)]

    def raw(self):
        n = self.net.n_nodes
        return [
            csgraph.dijkstra(
                g, directed=True, indices=np.arange(n, g.shape[0]), limit=h, min_only=True, return_predecessors=True
            )
            for g, h in zip(self.graphs, self.cutoffs)
        ]

    def nx_graph(self) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(range(self.net.n_nodes))
        w = np.maximum(self.net.length, 1e-3).tolist()  # as the network's CSR
        g.add_weighted_edges_from(zip(self.net.u.tolist(), self.net.v.tolist(), w))
        return g

    def _with_sources(self, g: nx.Graph, i: int, search):
        """Add tier ``i``'s facility nodes with the engine's arcs, run ``search(sources, cutoff)``, remove them."""
        n, aug = self.net.n_nodes, self.graphs[i].tocoo()
        virtual = aug.row >= n
        g.add_weighted_edges_from(zip(aug.row[virtual].tolist(), aug.col[virtual].tolist(), aug.data[virtual].tolist()))
        sources = list(range(n, aug.shape[0]))
        try:
            return search(sources, self.cutoffs[i])
        finally:
            g.remove_nodes_from(sources)

    def nx_multi(self, g: nx.Graph):
        return [
            self._with_sources(g, i, lambda s, c: nx.multi_source_dijkstra_path_length(g, s, cutoff=c))
            for i in range(len(self.tiers))
        ]

    def nx_ego(self, g: nx.Graph, limit: int | None = None):
        def ego(sources, cutoff):
            return [nx.ego_graph(g, s, radius=cutoff, distance="weight") for s in sources[:limit]]

        return [self._with_sources(g, i, ego) for i in range(len(self.tiers))]

    def n_facilities(self) -> int:
        return sum(len(e) for _, e, _, _ in self.tiers)


def check_agreement(sec: Section, job: SearchJob, g: nx.Graph | None, ego: bool) -> None:
    n = job.net.n_nodes
    ours = job.engine()
    raw = job.raw()
    same = all(np.array_equal(a.distance_m, r[0][:n]) for a, r in zip(ours, raw))
    sec.check("raw_equal", f"raw scipy distances {'identical to' if same else 'DIFFER from'} the engine's", same)
    if g is None:
        return
    worst, reach_same = 0.0, True
    for a, d in zip(ours, job.nx_multi(g)):
        ref = np.full(n, np.inf)
        k = np.fromiter((k for k in d if k < n), np.int64)
        ref[k] = [d[i] for i in k]
        reach_same &= bool(np.array_equal(np.isfinite(ref), np.isfinite(a.distance_m)))
        both = np.isfinite(ref) & np.isfinite(a.distance_m)
        worst = max(worst, float(np.abs(ref[both] - a.distance_m[both]).max(initial=0.0)))
    sec.check(
        "networkx_max_abs_diff_m",
        f"networkx reaches the same nodes: {reach_same}; max |difference| {worst:.2e} m",
        {"same_nodes": reach_same, "max_abs_diff_m": worst},
    )
    if ego:
        sets_equal = all(
            {v for eg in egos for v in eg if v < n} == set(np.flatnonzero(np.isfinite(a.distance_m)).tolist())
            for a, egos in zip(ours, job.nx_ego(g))
        )
        sec.check("ego_same_nodes", f"ego graphs cover exactly the engine's reached nodes: {sets_equal}", sets_equal)


def plan_tiers(plan: Plan):
    fac = plan.facilities
    return [
        (t.key, fac.edge.to_numpy()[m], fac.t.to_numpy()[m], fac.snap_m.to_numpy()[m])
        for t in plan.rules.tiers
        for m in [(fac.tier == t.key).to_numpy()]
    ]


# ------------------------------------------------------------------ sections
def bench_area(rep: Report, quick: bool) -> Plan | None:
    plan = None
    with Section(rep, "area", "1. Default area: node distance to the nearest facility of every tier") as sec:
        t0 = time.perf_counter()
        plan = run(options=RunOptions(isochrones="none"))
        sec.note(f"setup: the default plan without isochrones, {time.perf_counter() - t0:.1f} s (not compared)")
        net, tiers = plan.network, plan_tiers(plan)
        fastest = max(p.metres_per_minute for p in plan.rules.profiles)
        target = SearchJob(net, tiers, (t.minutes * fastest for t in plan.rules.tiers))
        horizon = SearchJob(net, tiers, [plan.horizon_min * fastest] * len(tiers))
        sec.note(
            f"network {net.n_nodes:,} nodes / {net.n_edges:,} segments; facilities "
            + ", ".join(f"{k} {len(e)}" for k, e, _, _ in tiers)
            + f"; one search per tier ({len(tiers)}), the fastest profile's metres (every profile reads them)"
        )
        n = 15 if quick else 51
        for key, job, what in (
            ("target", target, "cutoff = each tier's target"),
            ("horizon", horizon, f"cutoff = the plan's {plan.horizon_min:g}-minute horizon, as compute_access"),
        ):
            m = sec.compare(
                f"engine against the practical limit, {what}",
                {
                    f"engine_{key}": ("engine: nearest_facility (graph with facility nodes + search)", job.engine),
                    f"raw_{key}": ("limit: bare csgraph.dijkstra(min_only=True), same CSR, sources, limit", job.raw),
                },
                n,
            )
            r = m[f"engine_{key}"] / m[f"raw_{key}"]
            sec.ratio(f"engine_over_raw_{key}", f"engine = {r:.2f} x the limit (goal: at most 1.2)", r)
        g = target.nx_graph()
        m = sec.compare(
            "engine against networkx: same graph with facility nodes, same sources and cutoffs (each tier's target)",
            {
                "engine": (f"engine ({len(tiers)} searches)", target.engine),
                "nx_multi": (
                    f"networkx multi_source_dijkstra_path_length ({len(tiers)} searches)",
                    lambda: target.nx_multi(g),
                ),
                "nx_ego": (
                    f"networkx ego_graph per facility ({target.n_facilities()} searches; answers within/not only)",
                    lambda: target.nx_ego(g),
                ),
            },
            5 if quick else 9,
        )
        for key in ("nx_multi", "nx_ego"):
            sec.ratio(
                f"{key}_over_engine", f"{key}: x{m[key] / m['engine']:,.0f} the engine's time", m[key] / m["engine"]
            )
        check_agreement(sec, target, g, ego=True)
    return plan


def grid_network(side: int, spacing: float = 100.0) -> WalkNetwork:
    """A side x side street grid with ``spacing`` metre blocks."""
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    idx = (ii * side + jj).ravel()
    x = (jj.ravel() * spacing).astype(float)
    y = (ii.ravel() * spacing).astype(float)
    right = idx.reshape(side, side)[:, :-1].ravel()
    down = idx.reshape(side, side)[:-1, :].ravel()
    u = np.concatenate([right, down]).astype(np.int32)
    v = np.concatenate([right + 1, down + side]).astype(np.int32)
    return WalkNetwork(
        x=x, y=y, lon=x, lat=y, osmid=idx.astype(np.int64), u=u, v=v, length=np.full(len(u), spacing), crs="EPSG:32651"
    )


def grid_job(quick: bool) -> SearchJob:
    side = 300 if quick else 1000
    net = grid_network(side)
    rng = np.random.default_rng(0)
    tiers = []
    for key, per_node in (("center", 2500), ("station", 400), ("point", 100)):
        k = max(1, side * side // per_node)
        tiers.append((key, rng.integers(0, net.n_edges, k), rng.random(k), rng.random(k) * 20))
    return SearchJob(net, tiers, (m * 75.0 for m in (15, 10, 5)))  # adult speed: 1.25 m/s


def grid_title(job: SearchJob, part: str) -> str:
    side = round(float(np.sqrt(job.net.n_nodes)))
    fac = ", ".join(f"{k} {len(e):,}" for k, e, _, _ in job.tiers)
    return f"{part} Synthetic grid {side} x {side} = {job.net.n_nodes:,} nodes, 100 m blocks ({fac} facilities)"


def bench_grid(rep: Report, quick: bool) -> None:
    job = grid_job(quick)
    job.net.csr  # noqa: B018  (the network's CSR is built once and cached, as for a loaded network)
    with Section(rep, "grid", grid_title(job, "2.")) as sec:
        m = sec.compare(
            "engine against the practical limit, cutoff = each tier's target at 1.25 m/s",
            {
                "engine": ("engine: nearest_facility", job.engine),
                "raw": ("limit: bare csgraph.dijkstra(min_only=True), same CSR, sources, limit", job.raw),
            },
            9 if quick else 7,
        )
        sec.ratio(
            "engine_over_raw",
            f"engine = {m['engine'] / m['raw']:.2f} x the limit (goal: at most 1.2)",
            m["engine"] / m["raw"],
        )
        check_agreement(sec, job, None, ego=False)


def bench_grid_nx(rep: Report, quick: bool) -> None:
    job = grid_job(quick)
    with Section(rep, "grid_nx", grid_title(job, "2b.") + ": against networkx") as sec:
        t0 = time.perf_counter()
        g = job.nx_graph()
        sec.note(f"networkx graph built in {time.perf_counter() - t0:.1f} s (not timed below)")
        m = sec.compare(
            "engine against networkx: same graph with facility nodes, same sources and cutoffs",
            {
                "engine": (f"engine ({len(job.tiers)} searches)", job.engine),
                "nx_multi": (
                    f"networkx multi_source_dijkstra_path_length ({len(job.tiers)} searches)",
                    lambda: job.nx_multi(g),
                ),
            },
            3,
        )
        sec.ratio(
            "nx_multi_over_engine",
            f"networkx: x{m['nx_multi'] / m['engine']:,.0f} the engine's time",
            m["nx_multi"] / m["engine"],
        )
        sample = 10
        t0 = time.perf_counter()
        job.nx_ego(g, limit=sample)
        per = (time.perf_counter() - t0) / (sample * len(job.tiers))
        total = job.n_facilities()
        sec.not_run(
            "nx_ego",
            f"networkx ego_graph per facility ({total:,} searches)",
            f"would take about {fmt_s(per * total)} ({sample} per tier took {fmt_s(per)} each); "
            "a sample is not the same work, so no ratio",
        )
        check_agreement(sec, job, g, ego=False)


def bench_isochrones(rep: Report, plan: Plan, quick: bool) -> None:
    from planner.isochrones import facility_isochrones

    n = 1 if quick else 3
    with Section(rep, "isochrones", f"3. Isochrones on the default area ({len(plan.facilities)} facilities)") as sec:
        bands = len(plan.rules.bands)
        for key, label, fn in (
            ("adult", f"edge-accurate, x {bands} bands, adult", lambda: plan.compute_isochrones(profiles=("adult",))),
            ("both", f"edge-accurate, x {bands} bands, both profiles", plan.compute_isochrones),
            (
                "hull",
                f"hull method, x {bands} bands, adult",
                lambda: facility_isochrones(
                    plan.network,
                    plan.facilities,
                    [plan.rules.profile("adult")],
                    plan.rules.bands,
                    method="hull",
                    progress=False,
                ),
            ),
            (
                "areas_adult",
                "dissolved service areas per tier and band, adult",
                lambda: plan.compute_service_areas(profiles=("adult",)),
            ),
            ("areas_both", "dissolved service areas per tier and band, both profiles", plan.compute_service_areas),
        ):
            out: list = []
            samples = [_timed(lambda fn=fn, out=out: out.append(fn())) for _ in range(n)]
            sec.measure(key, f"{label}: {len(out[-1]):,} polygons (N={n})", samples)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_coverage(rep: Report, plan: Plan, quick: bool) -> None:
    import geopandas as gpd

    from planner.coverage import resident_coverage

    n = 100_000 if quick else 1_000_000
    net = plan.network
    with Section(rep, "coverage", f"4. {n:,} raw lon/lat points on the default area: snapping and coverage") as sec:
        rng = np.random.default_rng(1)
        lon0, lat0, lon1, lat1 = net.bbox_wgs84()
        lon, lat = rng.uniform(lon0, lon1, n), rng.uniform(lat0, lat1, n)
        x, y = net.project(lon, lat)
        net._edge_tree  # noqa: B018  (both indexes built before the comparison; the grid's build is timed below)
        net.__dict__.pop("_edge_grid", None)
        sec.measure(
            "grid_build",
            "grid index build (once per network; KD-tree over edge samples)",
            [_timed(lambda: net._edge_grid)],
        )
        pts = shapely.points(x, y)
        grid = {}
        m = sec.compare(
            "nearest street edge within 500 m of every point, exact (same points, same limit)",
            {
                "snap_grid": (
                    "ours: grid of candidate edges, exact distance to each",
                    lambda: grid.update(e=net._edge_grid.nearest(x, y, 500.0)[0]),
                ),
                "snap_shapely": (
                    "shapely STRtree.query_nearest (the method before)",
                    lambda: net._edge_tree.query_nearest(pts, max_distance=500.0, all_matches=False),
                ),
            },
            3,
        )
        sec.ratio(
            "shapely_over_grid",
            f"shapely: x{m['snap_shapely'] / m['snap_grid']:,.1f} ours",
            m["snap_shapely"] / m["snap_grid"],
        )
        ref = net._edge_tree.query_nearest(pts, max_distance=500.0, all_matches=False, return_distance=True)
        mine = grid["e"]
        ref_edge = np.full(n, -1)
        ref_edge[ref[0][0]] = ref[0][1]
        hit = mine >= 0
        gap = np.abs(
            shapely.distance(pts[hit], net.edge_lines[mine[hit]])
            - shapely.distance(pts[hit], net.edge_lines[np.maximum(ref_edge[hit], 0)])
        )
        sec.check(
            "snap_exact",
            f"same points beyond 500 m: {np.array_equal(hit, ref_edge >= 0)}; "
            f"max |distance - shapely's| {gap.max(initial=0):.1e} m "
            f"({int((mine != ref_edge).sum()):,} ties resolved to another edge at the same distance)",
            {"same_unsnapped": bool(np.array_equal(hit, ref_edge >= 0)), "max_abs_diff_m": float(gap.max(initial=0))},
        )

        def cold():
            net.__dict__.pop("_edge_grid", None)
            plan.query_arrays(lon, lat)

        m = sec.compare(
            "Plan.query_arrays from raw lon/lat: projection, snapping, minutes and coverage of every tier and profile",
            {
                "query_cold": ("cold: the grid index built in the call", cold),
                "query_warm": (
                    "warm: the grid index already built (kept with the network)",
                    lambda: plan.query_arrays(lon, lat),
                ),
            },
            3,
        )
        sec.ratio(
            "query_warm_per_million",
            f"warm: {m['query_warm'] * 1e6 / n:.2f} s per million points (goal: under 1 s)",
            m["query_warm"] * 1e6 / n,
        )
        snap = net.snap(lon, lat, max_distance=500.0)
        res = gpd.GeoDataFrame(
            {
                "population": rng.random(n) * 10,
                "elderly": rng.random(n) * 3,
                "edge": snap.edge,
                "t": snap.t,
                "offset_m": snap.offset_m,
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs="EPSG:4326",
        )
        sec.compare(
            "resident_coverage of the same points, snapped already (every tier, profile and service)",
            {
                "resident_coverage": (
                    "resident_coverage",
                    lambda: resident_coverage(
                        net, res, dict(plan.access.tiers), plan.rules, dict(plan.access.services)
                    ),
                )
            },
            5 if quick else 3,
        )


def bench_cli(rep: Report, quick: bool) -> None:
    title = "5. lifecircle plan on the default area (separate processes), then map.html in Chromium"
    with Section(rep, "cli", title) as sec, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cache = Path(tmp) / "cache"
        peak = Path(tmp) / "peak"
        # the command's own peak memory, written when it exits: VmHWM, which starts afresh at exec (ru_maxrss
        # would carry over the peak of this benchmark process, which the child was forked from)
        code = (
            "import atexit, re, sys; from planner.cli import main; "
            f"atexit.register(lambda: open({str(peak)!r}, 'w').write(re.search(r'VmHWM:\\s+(\\d+)', "
            "open('/proc/self/status').read()).group(1))); sys.exit(main(sys.argv[1:]))"
        )
        cmd = [sys.executable, "-c", code, "-q", "plan", "--out", str(out), "--force", "--no-progress"]
        env = dict(os.environ, LIFECIRCLE_CACHE_DIR=str(cache))
        times: dict[str, list[float]] = {"cold": [], "warm": []}
        peaks: dict[str, list[float]] = {"cold": [], "warm": []}
        # rounds of one cold run (empty cache) and two warm ones (the cache it filled): medians of N
        for _ in range(1 if quick else 3):
            for key in ("cold", "warm", "warm"):
                if key == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                times[key].append(_timed(lambda: subprocess.run(cmd, check=True, env=env, stderr=subprocess.DEVNULL)))
                peaks[key].append(int(peak.read_text()) / 1024)
        for key, label in (
            ("cold", "cold: empty network, buildings and service-area cache"),
            ("warm", "warm: caches filled by the cold run"),
        ):
            n = len(times[key])
            sec.measure(key, f"{label} (N={n})", times[key], note=f"peak RSS {max(peaks[key]):,.0f} MB (main process)")
        size = (out / "map.html").stat().st_size / 1e6
        sec.check(
            "map_html_mb",
            f"map.html {size:.1f} MB, plan.gpkg {(out / 'plan.gpkg').stat().st_size / 1e6:.1f} MB",
            size,
        )
        _map_load(sec, out / "map.html")


def _map_load(sec: Section, path: Path) -> None:
    """Time until the Leaflet map exists in headless Chromium (no network)."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from browser import chromium_driver

        driver = chromium_driver(1280, 900)
    except BaseException as exc:  # pytest.skip (no Chromium) raises a BaseException outside pytest
        sec.not_run("map_load", "map.html interactive in headless Chromium", str(exc) or type(exc).__name__)
        return
    try:
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            driver.get(path.as_uri())
            driver.execute_script("return Object.keys(window).some(k => k.startsWith('map_'))")
            samples.append(time.perf_counter() - t0)
        sec.measure("map_load", "map.html interactive in headless Chromium (N=3)", samples)
    finally:
        driver.quit()


def bench_siting(rep: Report, quick: bool) -> None:
    from benchmarks.siting import bench

    with Section(rep, "siting", "6. Location-allocation (MCLP): ours against spopt, same instance") as sec:
        bench(sec, quick=quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid and point set, fewer repetitions")
    parser.add_argument("--only", nargs="+", choices=[*SECTIONS, *GROUPS], help="run only these sections")
    parser.add_argument("--json", type=Path, help="where to write the results (default out/bench/<time>.json)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"), help="compare two result files")
    args = parser.parse_args(argv)
    if args.compare:
        compare_files(*args.compare)
        return 0
    logging.basicConfig(level=logging.ERROR)
    only = {s for name in (args.only or SECTIONS) for s in GROUPS.get(name, (name,))}
    path = args.json or ROOT / "out" / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    rep = Report({"quick": args.quick, "only": sorted(only)})
    m = rep.meta
    print(
        f"lifecircle benchmarks: {m['cores']} cores, python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}; "
        f"git {m['git']}\nstatistic: median of N runs (N printed), alternatives interleaved round by round; "
        "memory per section from its own start; CPU of other processes sampled throughout"
    )
    t0 = time.perf_counter()
    plan = None
    steps = [
        ("area", lambda: bench_area(rep, args.quick)),
        ("grid", lambda: bench_grid(rep, args.quick)),
        ("grid_nx", lambda: bench_grid_nx(rep, args.quick)),
        ("isochrones", lambda: bench_isochrones(rep, plan, args.quick)),
        ("coverage", lambda: bench_coverage(rep, plan, args.quick)),
        ("cli", lambda: bench_cli(rep, args.quick)),
        ("siting", lambda: bench_siting(rep, args.quick)),
    ]
    for key, step in steps:
        if key not in only:
            continue
        if key in ("isochrones", "coverage") and plan is None:
            plan = run(options=RunOptions(isochrones="none"))
        out = step()
        if key == "area":
            plan = out
        rep.write(path)
    rep.meta["total_s"] = round(time.perf_counter() - t0, 1)
    rep.write(path)
    print(f"\nwhole run {rep.meta['total_s'] / 60:.1f} min; results in {path}")
    failed = [key for key, data in rep.sections.items() if data["status"] == "failed"]
    if failed:
        print(f"failed sections: {', '.join(failed)} (their reasons are above and in the JSON)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
