"""Performance goals of the walking-time engine, measured against baselines in the same run.

Run with ``make bench`` (or ``python -m benchmarks.run [--quick]``). Not part of the test suite:
it prints times and ratios; nothing here passes or fails.

Cases
-----
1. Default area (central Shanghai), all tiers x both profiles:
   ours (one multi-source Dijkstra per tier over scipy CSR) against
   (a) the OSMnx example approach, one ``networkx.ego_graph`` per facility, tier and profile, and
   (b) ``networkx.multi_source_dijkstra_path_length`` per tier and profile.
2. Synthetic 1000 x 1000 grid (1,000,000 nodes), all tiers x both profiles: ours against (b);
   (a) is timed on a sample of facilities and extrapolated (said so in the output).
3. Isochrones of every facility of the default area (3 bands, edge-accurate and hull) and
   dissolved tier service areas.
4. Coverage of 1,000,000 resident points (all tiers x both profiles), after the network is built,
   on the default area's network with its facilities.
5. ``lifecircle plan`` on the default area, cold (empty network cache) and warm.
6. Location-allocation (MCLP): ours exact and greedy against spopt with PuLP/CBC
   (``benchmarks/siting.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import networkx as nx
import numpy as np

from planner import Plan, RunOptions, run
from planner.access import nearest_facility
from planner.network import WalkNetwork

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int = 1):
    """Best wall time of ``repeat`` calls, and the last result."""
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def ours_all_tiers(net: WalkNetwork, tiers: list[tuple], profiles_mpm: list[float], horizon_m: float):
    """Node minutes to the nearest facility for every tier and profile."""
    out = {}
    for key, edge, t, off in tiers:
        near = nearest_facility(net, edge, t, off, horizon_m=horizon_m)
        for mpm in profiles_mpm:
            out[key, mpm] = near.distance_m / mpm
    return out


def nx_graph(net: WalkNetwork) -> nx.Graph:
    g = nx.Graph()
    g.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length.tolist()), weight="length")
    return g


def nearest_nodes(net: WalkNetwork, edge: np.ndarray, t: np.ndarray) -> list[int]:
    """Facility nodes for the networkx baselines (which snap to nodes, as OSMnx examples do)."""
    return np.where(t < 0.5, net.u[edge], net.v[edge]).tolist()


def baseline_multi_source(g, tiers, net, profiles_mpm, tier_minutes):
    for (_key, edge, t, _), minutes in zip(tiers, tier_minutes):
        for mpm in profiles_mpm:
            nx.multi_source_dijkstra_path_length(g, nearest_nodes(net, edge, t), cutoff=minutes * mpm, weight="length")


def baseline_ego(g, tiers, net, profiles_mpm, tier_minutes, sample: int | None = None):
    """One ego_graph per facility, tier and profile; returns (seconds, graphs built, graphs in full job)."""
    total = sum(len(e) for _, e, _, _ in tiers) * len(profiles_mpm)
    built = 0
    t0 = time.perf_counter()
    for (_key, edge, t, _), minutes in zip(tiers, tier_minutes):
        nodes = nearest_nodes(net, edge, t)
        if sample:
            nodes = nodes[: max(1, sample // len(tiers))]
        for mpm in profiles_mpm:
            for node in nodes:
                nx.ego_graph(g, node, radius=minutes * mpm, distance="length")
                built += 1
    return time.perf_counter() - t0, built, total


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


def line(label: str, seconds: float, base: float | None = None, note: str = "") -> None:
    ratio = f"  x{base / seconds:,.0f} faster" if base else ""
    print(f"  {label:<58} {seconds:>10.4f} s{ratio}{('  ' + note) if note else ''}", flush=True)


def bench_default_area(quick: bool) -> Plan:
    print("\n1. Default area: node minutes to the nearest facility, all tiers x both profiles")
    plan = run(options=RunOptions(isochrones="none"))
    net = plan.network
    fac = plan.facilities
    tiers = [
        (t.key, fac.edge.to_numpy()[m], fac.t.to_numpy()[m], fac.snap_m.to_numpy()[m])
        for t in plan.rules.tiers
        for m in [(fac.tier == t.key).to_numpy()]
    ]
    mpm = [p.metres_per_minute for p in plan.rules.profiles]
    minutes = [t.minutes for t in plan.rules.tiers]
    print(
        f"   network {net.n_nodes:,} nodes / {net.n_edges:,} segments; facilities "
        + ", ".join(f"{k} {len(e)}" for k, e, _, _ in tiers)
    )
    ours_60, _ = timed(lambda: ours_all_tiers(net, tiers, mpm, plan.horizon_min * max(mpm)), repeat=5)
    ours, _ = timed(
        lambda: [nearest_facility(net, e, t, o, horizon_m=m * max(mpm)) for (_, e, t, o), m in zip(tiers, minutes)],
        repeat=5,
    )
    g = nx_graph(net)
    multi, _ = timed(lambda: baseline_multi_source(g, tiers, net, mpm, minutes))
    ego_s, built, total = baseline_ego(g, tiers, net, mpm, minutes, sample=60 if quick else None)
    ego_full = ego_s * total / built
    line(f"ours, {plan.horizon_min:g}-minute horizon (full minutes, as plan runs)", ours_60)
    line("ours, horizon = each tier's target (the baselines' cutoff; ratios below)", ours)
    line("(b) networkx multi_source_dijkstra_path_length", multi, None, f"ours x{multi / ours:,.0f} faster")
    note = "" if built == total else f"(extrapolated from {built} of {total} ego graphs)"
    line(
        f"(a) networkx ego_graph per facility ({total} graphs)",
        ego_full,
        None,
        f"ours x{ego_full / ours:,.0f} faster {note}",
    )
    print(f"   peak memory so far: {peak_rss_mb():,.0f} MB")
    return plan


def bench_isochrones(plan: Plan) -> None:
    print("\n3. Isochrones on the default area (every facility, bands 5/10/15)")
    n = len(plan.facilities)
    for profiles in (("adult",), ("adult", "elderly")):
        s, iso = timed(partial(plan.compute_isochrones, profiles=profiles))
        line(f"edge-accurate, {n} facilities x 3 bands x {len(profiles)} profile(s) = {len(iso)} polygons", s)
    from planner.isochrones import facility_isochrones

    s, iso = timed(
        lambda: facility_isochrones(
            plan.network,
            plan.facilities,
            [plan.rules.profile("adult")],
            plan.rules.bands,
            method="hull",
            progress=False,
        )
    )
    line(f"hull method, {len(iso)} polygons", s)
    s, sa = timed(lambda: plan.compute_service_areas(profiles=("adult",)))
    line(f"dissolved service areas, 3 tiers x 3 bands x adult = {len(sa)}", s)
    s, sa = timed(plan.compute_service_areas)
    line(f"dissolved service areas, both profiles = {len(sa)}", s)
    print(f"   peak memory so far: {peak_rss_mb():,.0f} MB")


def bench_grid(quick: bool) -> None:
    side = 300 if quick else 1000
    print(f"\n2. Synthetic grid {side} x {side} = {side * side:,} nodes, all tiers x both profiles")
    net = grid_network(side)
    rng = np.random.default_rng(0)
    tiers = []
    for key, per_node, _minutes in (("center", 2500, 15), ("station", 400, 10), ("point", 100, 5)):
        k = max(1, side * side // per_node)
        edge = rng.integers(0, net.n_edges, k)
        tiers.append((key, edge, rng.random(k), rng.random(k) * 20))
    mpm = [75.0, 45.6]
    minutes = [15, 10, 5]
    net.csr  # noqa: B018  (build the CSR once, as a cached network would have it)
    rss0 = peak_rss_mb()
    ours_60, _ = timed(lambda: ours_all_tiers(net, tiers, mpm, 60 * 75.0), repeat=3)
    line(f"ours, horizon 60 min ({sum(len(e) for _, e, _, _ in tiers):,} facilities)", ours_60)
    ours, _ = timed(
        lambda: [nearest_facility(net, e, t, o, horizon_m=m * 75.0) for (_, e, t, o), m in zip(tiers, minutes)],
        repeat=3,
    )
    line("ours, horizon = each tier's target (the baselines' cutoff; ratios below)", ours)
    print(f"   peak memory: {peak_rss_mb():,.0f} MB ({peak_rss_mb() - rss0:,.0f} MB above the network itself)")
    g = nx_graph(net)
    multi, _ = timed(lambda: baseline_multi_source(g, tiers, net, mpm, minutes))
    line("(b) networkx multi_source_dijkstra_path_length", multi, None, f"ours x{multi / ours:,.0f} faster")
    ego_s, built, total = baseline_ego(g, tiers, net, mpm, minutes, sample=30)
    line(
        f"(a) networkx ego_graph per facility ({total:,} graphs)",
        ego_s * total / built,
        None,
        f"ours x{ego_s * total / built / ours:,.0f} faster (extrapolated from {built} graphs)",
    )


def bench_coverage(plan: Plan, n: int) -> None:
    import pandas as pd

    from planner.coverage import resident_coverage

    print(f"\n4. Coverage of {n:,} resident points on the default area (all tiers x both profiles, services)")
    rng = np.random.default_rng(1)
    res = pd.DataFrame(
        {
            "population": rng.random(n) * 10,
            "elderly": rng.random(n) * 3,
            "edge": rng.integers(0, plan.network.n_edges, n),
            "t": rng.random(n),
            "offset_m": rng.random(n) * 30,
        }
    )
    s, _ = timed(
        lambda: resident_coverage(plan.network, res, dict(plan.access.tiers), plan.rules, dict(plan.access.services)),
        repeat=3,
    )
    line("resident_coverage (points already on their edges)", s)
    lon0, lat0, lon1, lat1 = plan.network.bbox_wgs84()
    lon, lat = rng.uniform(lon0, lon1, n), rng.uniform(lat0, lat1, n)
    s, _ = timed(lambda: plan.query(lon, lat))
    line("Plan.query from raw lon/lat (snapping to the nearest edge included)", s)
    print(f"   peak memory so far: {peak_rss_mb():,.0f} MB")


def bench_cli() -> None:
    print("\n5. lifecircle plan on the default area (separate processes), then map.html in headless Chromium")
    exe = Path(sys.executable).parent / "lifecircle"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LIFECIRCLE_CACHE_DIR=str(Path(tmp) / "cache"))
        out = Path(tmp) / "out"
        for label in ("cold (empty network cache)", "warm (cached network)"):
            t0 = time.perf_counter()
            subprocess.run(
                [str(exe), "-q", "plan", "--out", str(out), "--force", "--no-progress"],
                check=True,
                env=env,
                stderr=subprocess.DEVNULL,
            )
            line(label, time.perf_counter() - t0)
        print(f"   map.html {(out / 'map.html').stat().st_size / 1e6:.1f} MB (limit 15 MB)")
        bench_map_load(out / "map.html")


def bench_map_load(path: Path) -> None:
    """Time until the map is interactive (load event, Leaflet map built) in headless Chromium, no network."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from browser import chromium_driver

        driver = chromium_driver(1280, 900)
    except Exception as exc:  # pytest.skip raises a BaseException subclass outside pytest too
        print(f"   map load: skipped ({exc})")
        return
    except BaseException as exc:
        print(f"   map load: skipped ({exc})")
        return
    try:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            driver.get(path.as_uri())
            driver.execute_script("return Object.keys(window).some(k => k.startsWith('map_'))")
            times.append(time.perf_counter() - t0)
        line("map.html interactive in headless Chromium (best of 3, limit 3 s)", min(times))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grid and sampled ego graphs")
    parser.add_argument("--only", choices=["engine", "siting"], help="run only one part")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"lifecircle benchmarks on {os.cpu_count()} cores (python {sys.version.split()[0]})")
    if args.only != "siting":
        plan = bench_default_area(args.quick)
        bench_isochrones(plan)
        bench_coverage(plan, 100_000 if args.quick else 1_000_000)
        bench_grid(args.quick)
        bench_cli()
    if args.only != "engine":
        from benchmarks.siting import bench

        print("\n6. Location-allocation against spopt")
        bench(line, quick=args.quick)


if __name__ == "__main__":
    main()
