"""Tiles on Dask against the single-process access and coverage (issue 19, part 5), and all of Shanghai projected.

    python -m benchmarks.tiles [--n 5] [--tiles 2] [--replicate 1] [--thin 1] [--workers 1,2] [--json out.json]
                               [--store DIR] [--no-single] [--no-dask]

Same work on every side: walking access of every tier and service and every resident's coverage, on the default
area (``--replicate R``: R x R copies of its streets, facilities and residents side by side, 200 m apart, as one
larger synthetic city; ``--thin F`` keeps one resident in F first, so that a network of ~10M nodes fits in memory).

- **single**: :func:`planner.access.compute_access` and :func:`planner.coverage.resident_coverage` in this process,
  the path :func:`planner.pipeline.run` takes (untouched by the tiles).
- **tiles here**: :func:`planner.tiles.tiled_coverage` with no client, the tiles one after another in this process.
- **dask W**: the same tiles as tasks on a local Dask cluster of W single-threaded worker processes (started once
  per W, its start-up reported apart); the driver (this process) holds the network and residents and cuts the jobs.
- **store here**, **store W** (``--store DIR``): the inputs written once as a tile store
  (:func:`planner.tile_store.write_tile_store`, its time and the peak of this process above the inputs it holds
  reported apart), then :func:`planner.tile_store.run_tile_store` in a *fresh driver process* that holds no network
  (``python -m benchmarks.tiles --drive STORE OUT [--scheduler ADDR]``), on the same W-worker cluster, each task
  reading its own partition; "here MB" is then that driver's peak, and "store here" runs the tiles in it in turn.
  Its time is the run's in the driver (its start-up and imports reported apart); the result is read back from the
  partitions and checked like the others.

The sides run interleaved round by round, ``n`` rounds; the median of each is printed with ``N``. Memory: the peak
resident memory of this process, and of each worker process (its ``VmHWM``, reset before each round), in MB. Every
round's result is checked equal to the first single run's. Load average and available memory are logged before,
after and between the sides (the machine is shared).

Projection for all of Shanghai (6,340 km2), from the measured rates, and its assumptions: ``--shanghai-edges``
edges (default 5M: "several million once footways are in"), nodes at the measured network's edges per node,
spread evenly over the area, residents per node as measured (with ``--thin``, as thinned); time and memory linear
in nodes for one process (memory above the default plan's, ``base_mb``); on tiles, each worker holds one tile with
its halo (the search horizon at the fastest profile) of at most ``--worker-gb`` above a worker's own start-up
memory, at the measured MB and seconds per tile node (1 worker), and W workers at the measured speed-up; the driver
holds the whole network and residents (its measured MB per node); from a store, the driver's measured peak (it
holds one row per tile) and the store's writer (the measured peak per node: it holds the inputs, as the build does).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import RunOptions, StudyArea, run
from planner.access import compute_access, search_horizon
from planner.coverage import resident_coverage
from planner.edge_index import EdgeIndex
from planner.multi_area import local_client
from planner.network import WalkNetwork
from planner.tiers import Rules
from planner.tile_jobs import TileGrid, halo_edges
from planner.tile_store import run_tile_store, write_tile_store
from planner.tiles import tiled_coverage

log = logging.getLogger("benchmarks.tiles")

COVERAGE = ("nearest_", "minutes_", "covered_", "missing_", "underserved_")


def _peak_mb(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process, MB."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(f"{field}:"):
            return float(row.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def replicate(
    net: WalkNetwork, facilities: pd.DataFrame, residents: gpd.GeoDataFrame, r: int
) -> tuple[WalkNetwork, pd.DataFrame, gpd.GeoDataFrame]:
    """``r`` x ``r`` copies of the streets, facilities and residents side by side (residents in the network CRS)."""
    pts = residents.geometry.to_crs(net.crs)
    if r == 1:
        return net, facilities, gpd.GeoDataFrame(residents.drop(columns="geometry"), geometry=pts, crs=net.crs)
    dx = float(net.x.max() - net.x.min()) + 200.0
    dy = float(net.y.max() - net.y.min()) + 200.0
    copies = [(i, j) for j in range(r) for i in range(r)]
    n, m = net.n_nodes, net.n_edges
    big = WalkNetwork(
        x=np.concatenate([net.x + i * dx for i, _ in copies]),
        y=np.concatenate([net.y + j * dy for _, j in copies]),
        lon=np.tile(net.lon, len(copies)),
        lat=np.tile(net.lat, len(copies)),
        osmid=np.arange(n * len(copies), dtype=np.int64),
        u=np.concatenate([net.u + k * n for k in range(len(copies))]).astype(np.int32),
        v=np.concatenate([net.v + k * n for k in range(len(copies))]).astype(np.int32),
        length=np.tile(net.length, len(copies)),
        crs=net.crs,
        meta={"replicated": r},
    )
    facs, res = [], []
    for k, (i, j) in enumerate(copies):
        f = facilities.copy()
        f["edge"] = f["edge"] + k * m
        f["facility_id"] = f["facility_id"].astype(str) + f"#{k}"
        facs.append(f)
        c = residents.drop(columns="geometry").copy()
        c["edge"] = np.where(c["edge"] >= 0, c["edge"] + k * m, -1)
        res.append(gpd.GeoDataFrame(c, geometry=gpd.points_from_xy(pts.x + i * dx, pts.y + j * dy), crs=net.crs))
    out = gpd.GeoDataFrame(pd.concat(res, ignore_index=True), crs=net.crs)
    return big, pd.concat(facs, ignore_index=True), out


def single(
    net: WalkNetwork, facilities: pd.DataFrame, residents: gpd.GeoDataFrame, rules: Rules, horizon: float
) -> gpd.GeoDataFrame:
    """What run() does for access and coverage."""
    access = compute_access(net, facilities, rules, horizon)
    return resident_coverage(
        net,
        residents,
        dict(access.tiers),
        rules,
        dict(access.services),
        facility_ids=facilities["facility_id"].to_numpy(),
    )


def _max_delta(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> float:
    worst = 0.0
    for c in a.columns:
        if c.startswith("minutes_"):
            x, y = a[c].to_numpy(float), b[c].to_numpy(float)
            if not (np.isnan(x) == np.isnan(y)).all():
                return float("inf")
            if (~np.isnan(x)).any():
                worst = max(worst, float(np.nanmax(np.abs(x - y))))
        elif c.startswith(COVERAGE) and not a[c].equals(b[c]):
            return float("inf")
    return worst


def _machine() -> str:
    """Load average and available memory now (the machine is shared)."""
    avail = next(
        (
            float(r.split()[1]) / 2**20
            for r in Path("/proc/meminfo").read_text().splitlines()
            if r.startswith("MemAvailable")
        ),
        float("nan"),
    )
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, {avail:.1f} GiB available"


def _largest_tile(net: WalkNetwork, tiles: tuple[int, int], halo_m: float) -> tuple[int, int]:
    """Nodes of the largest tile with its halo, and of all tiles together (the work the tiles do)."""
    grid = TileGrid.covering(net.x, net.y, *tiles)
    index = EdgeIndex(net)
    sizes = []
    for tile in range(len(grid)):
        x0, y0, x1, y1 = grid.cell(tile)
        edges = halo_edges(index, np.array([x0, x1]), np.array([y0, y1]), halo_m)
        sizes.append(len(np.unique(np.concatenate([net.u[edges], net.v[edges]]))))
    return max(sizes), sum(sizes)


def project(m: dict[str, Any], shanghai_edges: float, worker_gb: float) -> dict[str, Any]:
    """All of Shanghai from the measured rates (assumptions in the log and the module's note).

    ``m``: nodes, edges, km2, base_mb, halo_m, largest/total tile nodes, and per side seconds, here_mb, worker_mb.
    """
    km2, n_sh = 6340.0, shanghai_edges * m["nodes"] / m["edges"]
    density = n_sh / km2  # nodes per km2, spread evenly
    out: dict[str, Any] = {"nodes": round(n_sh), "edges": shanghai_edges, "km2": km2}
    if "single" in m:
        per_node_single = max(m["single"]["here_mb"] - m["base_mb"], 0.0) / m["nodes"]
        out["single"] = {
            "seconds": m["single"]["seconds"] / m["nodes"] * n_sh,
            "memory_gb": (m["base_mb"] + per_node_single * n_sh) / 1024,
        }
    dask = sorted((int(k.split()[1]), v) for k, v in m.items() if k.startswith("dask ") and k[5:].isdigit())
    stored = sorted((int(k.split()[1]), v) for k, v in m.items() if k.startswith("store ") and k[6:].isdigit())
    held = dask[0][1]["here_mb"] if dask else float("nan")  # a driver that holds the city (dask W sides only)
    dask = dask or stored  # the workers' figures: the same tiles either way
    if not dask:
        return out
    w1 = dask[0][1]
    mb_per_tile_node = max(w1["worker_mb"] - m["worker_base_mb"], 1.0) / m["largest_tile_nodes"]
    s_per_tile_node = w1["seconds"] * dask[0][0] / m["total_tile_nodes"]
    h_km = m["halo_m"] / 1000
    side = (
        (worker_gb * 1024 - m["worker_base_mb"]) / mb_per_tile_node / density
    ) ** 0.5 - 2 * h_km  # a tile with its halo fills a worker
    n_tiles = int(np.ceil(km2 / max(side, 0.5) ** 2))
    work = n_tiles * density * (max(side, 0.5) + 2 * h_km) ** 2
    speedup = {w: w1["seconds"] / v["seconds"] for w, v in dask}
    out["tiles"] = {
        "tile_side_km": round(side, 2),
        "tiles": n_tiles,
        "halo_km": h_km,
        "tile_nodes_with_halo": round(work / n_tiles),
        "worker_gb": worker_gb,
        "driver_gb": (m["base_mb"] + (held - m["base_mb"]) / m["nodes"] * n_sh) / 1024,
        "store_driver_gb": max((v["here_mb"] for _, v in stored), default=float("nan")) / 1024,
        "store_writer_gb": (m["base_mb"] + (m["store"]["peak_mb"] - m["base_mb"]) / m["nodes"] * n_sh) / 1024
        if m.get("store")
        else float("nan"),
        "seconds": {w: work * s_per_tile_node / speedup[w] for w, _ in dask},
    }
    return out


def drive(store: str, out: str, scheduler: str | None) -> dict[str, Any]:
    """A store's driver (run in a fresh process): every tile of ``store`` into ``out``; its time and peak memory."""
    start_mb = _peak_mb("VmRSS")  # Python, planner, geopandas, pyarrow, distributed imported
    t0 = time.perf_counter()
    client = local_client(scheduler=scheduler) if scheduler else None
    try:
        summary = run_tile_store(store, out, client=client, progress=False)
    finally:
        if client is not None:
            client.close()  # only the connection: the cluster is the benchmark's
    return {
        "seconds": time.perf_counter() - t0,
        "driver_mb": _peak_mb(),
        "start_mb": start_mb,
        "tiles": len(summary),
        "residents": int(summary["residents"].sum()),
        "largest_tile_s": float(summary["seconds"].max()),
    }


def _store_side(store: Path, out: Path, scheduler: str | None, check: bool) -> Callable[[], Any]:
    """A side that runs a store from a fresh driver process; returns the residents read back (when checked) and
    the driver's own figures."""

    def side() -> tuple[gpd.GeoDataFrame | None, dict[str, Any]]:
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "benchmarks.tiles", "--drive", str(store), str(out)]
        t0 = time.perf_counter()
        done = subprocess.run(cmd + (["--scheduler", scheduler] if scheduler else []), check=True, capture_output=True)
        figures: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
        figures["process_s"] = time.perf_counter() - t0
        back = gpd.read_parquet(out / "residents").sort_index() if check else None
        return back, figures

    return side


def _write_store(
    net: WalkNetwork, facilities: pd.DataFrame, residents: gpd.GeoDataFrame, rules: Rules, horizon: float,
    store: Path, tiles: tuple[int, int],
) -> dict[str, Any]:  # fmt: skip
    """Write the store once; its time and what it costs this process above the inputs it holds."""
    held = _peak_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    index = write_tile_store(net, facilities, residents, rules, horizon, store, tiles=tiles)
    seconds, peak = time.perf_counter() - t0, _peak_mb()
    disk = sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 2**20
    log.info(
        "store: %d tiles written in %.1f s (%.0f MB on disk); this process holds %.0f MB with the inputs, peak %.0f MB"
        " while writing (+%.0f MB for the tiles' copies and the edge index)",
        len(index["tiles"]), seconds, disk, held, peak, peak - held,
    )  # fmt: skip
    return {"seconds": seconds, "inputs_mb": held, "peak_mb": peak, "disk_mb": disk, "tiles": len(index["tiles"])}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, log the medians and the projection for all of Shanghai."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--tiles", type=int, default=2, help="tiles along each axis (default 2)")
    ap.add_argument("--replicate", type=int, default=1, help="R x R copies of the default area (default 1)")
    ap.add_argument("--thin", type=int, default=1, help="keep one resident in F before replicating (default 1: all)")
    ap.add_argument("--workers", default="1,2", help="worker counts (default 1,2; empty: none)")
    ap.add_argument("--no-tiles-here", action="store_true", help="leave out the tiles run one after another here")
    ap.add_argument(
        "--horizon", type=float, default=None, help="search horizon in minutes (default: the area's, 60); the halo"
    )
    ap.add_argument("--shanghai-edges", type=float, default=5e6, help="edges of all of Shanghai (default 5e6)")
    ap.add_argument("--worker-gb", type=float, default=4.0, help="memory of one worker, projection (default 4)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures and the projection here")
    ap.add_argument("--store", type=Path, default=None, help="also run from a tile store written in a new folder here")
    ap.add_argument("--no-single", action="store_true", help="leave out the single run (a city too large for it)")
    ap.add_argument("--no-dask", action="store_true", help="leave out the dask W sides (driver holding the city)")
    ap.add_argument("--no-check", action="store_true", help="store sides: do not read the residents back to check")
    ap.add_argument("--drive", nargs=2, metavar=("STORE", "OUT"), help=argparse.SUPPRESS)  # a store side's driver
    ap.add_argument("--scheduler", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.drive:
        print(json.dumps(drive(*args.drive, args.scheduler)))  # read by the benchmark's process
        return
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")  # read when the workers start: quiet scheduler
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("planner").setLevel(logging.WARNING)
    log.info("start: %s", _machine())

    plan = run(StudyArea.default(), RunOptions(isochrones="none"))
    assert plan.network is not None and plan.residents is not None
    placed = plan.residents[[c for c in plan.residents.columns if not c.startswith(COVERAGE)]].iloc[:: args.thin]
    base_mb = _peak_mb("VmRSS")  # the default plan, before the copies
    km2 = float(np.ptp(plan.network.x) * np.ptp(plan.network.y)) / 1e6 * args.replicate**2
    net, facilities, residents = replicate(plan.network, plan.facilities, placed, args.replicate)
    rules, horizon = plan.rules, args.horizon if args.horizon is not None else plan.area.settings.access.horizon_min
    del plan, placed
    tiles = (args.tiles, args.tiles)
    halo_m = search_horizon(rules, horizon)[1]
    largest, total = _largest_tile(net, tiles, halo_m)
    log.info(
        "network %d nodes, %d edges (%.0f km2); %d facilities; %d residents; %d x %d tiles (largest with its halo of "
        "%.1f km: %d nodes; all: %d); horizon %g min; N = %d rounds",
        net.n_nodes, net.n_edges, km2, len(facilities), len(residents), *tiles, halo_m / 1000, largest, total,
        horizon, args.n,
    )  # fmt: skip
    sides: dict[str, Callable[[], Any]] = {}
    if not args.no_single:
        sides["single"] = lambda: single(net, facilities, residents, rules, horizon)
    if not args.no_tiles_here:
        sides["tiles here"] = lambda: tiled_coverage(net, facilities, residents, rules, horizon, tiles=tiles)[0]
    work = Path(tempfile.mkdtemp(prefix="tile-store-", dir=args.store)) if args.store else None
    store_figures: dict[str, Any] = {}
    if work is not None:
        store_figures = _write_store(net, facilities, residents, rules, horizon, work / "store", tiles)
        if not args.no_tiles_here:
            sides["store here"] = _store_side(work / "store", work / "out", None, not args.no_check)
    clients: dict[str, Any] = {}
    worker_base = 0.0  # a worker's memory before it runs a tile (Python, Dask, numpy, geopandas)
    for w in (int(x) for x in args.workers.split(",") if x):
        t0 = time.perf_counter()
        client = local_client(workers=w)
        clients[f"dask {w}"] = client
        log.info("dask %d: local cluster started in %.1f s", w, time.perf_counter() - t0)
        worker_base = max(worker_base, *client.run(_peak_mb, "VmRSS").values())
        if not args.no_dask:
            sides[f"dask {w}"] = lambda c=client: tiled_coverage(
                net, facilities, residents, rules, horizon, tiles=tiles, client=c, progress=False
            )[0]
        if work is not None:
            clients[f"store {w}"] = client
            sides[f"store {w}"] = _store_side(work / "store", work / "out", client.scheduler.address, not args.no_check)
    times: dict[str, list[float]] = {k: [] for k in sides}
    peaks: dict[str, list[float]] = {k: [] for k in sides}
    worker_peaks: dict[str, list[float]] = {k: [] for k in sides}
    worst = dict.fromkeys(sides, 0.0)
    reference = None  # the first single run's result (single runs first in every round)
    drivers: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}  # a store side's driver process: its figures
    try:
        for _ in range(args.n):
            for name, fn in sides.items():
                client = clients.get(name)
                if client is not None:
                    client.run(_reset_peak)
                _reset_peak()
                t0 = time.perf_counter()
                out = fn()
                times[name].append(time.perf_counter() - t0)
                here = _peak_mb()
                if isinstance(out, tuple):  # a store side: the driver is the fresh process, its own time and peak
                    out, driver = out
                    drivers[name].append(driver)
                    times[name][-1], here = driver["seconds"], driver["driver_mb"]
                per_worker = list(client.run(_peak_mb).values()) if client is not None else []
                peaks[name].append(here)
                worker_peaks[name].append(max(per_worker, default=float("nan")))
                reference = out if reference is None else reference
                if out is None:
                    worst[name] = float("nan")
                else:
                    out.index = reference.index  # a store's residents come back indexed by their positions
                    worst[name] = max(worst[name], _max_delta(reference, out))
                del out
                log.info("%s: %.1f s, this process %.0f MB, workers %s MB; %s", name, times[name][-1], here,
                         [round(p) for p in per_worker], _machine())  # fmt: skip
    finally:
        for client in set(clients.values()):
            client.close()
        if work is not None:
            shutil.rmtree(work)
    base = statistics.median(times["single"]) if "single" in times else float("nan")
    log.info("%-11s %10s %8s %10s %12s %12s", "side", "median s", "x single", "here MB", "per worker", "max |Δmin|")
    figures: dict[str, Any] = {
        "nodes": net.n_nodes, "edges": net.n_edges, "residents": len(residents), "km2": km2, "base_mb": base_mb,
        "halo_m": halo_m, "worker_base_mb": worker_base, "largest_tile_nodes": largest, "total_tile_nodes": total,
        "tiles": list(tiles), "store": store_figures,
    }  # fmt: skip
    for name in sides:
        med = statistics.median(times[name])
        figures[name] = {
            "seconds": med,
            "here_mb": statistics.median(peaks[name]),
            "worker_mb": statistics.median(worker_peaks[name]),
            "max_delta_min": worst[name],
            "n": len(times[name]),
        }
        if drivers[name]:
            figures[name]["driver_start_mb"] = statistics.median(d["start_mb"] for d in drivers[name])
            figures[name]["process_s"] = statistics.median(d["process_s"] for d in drivers[name])
        log.info("%-11s %10.3f %8.2f %10.0f %12.0f %12.3g   (N = %d)", name, med, med / base,
                 figures[name]["here_mb"], figures[name]["worker_mb"], worst[name], len(times[name]))  # fmt: skip
    log.info(
        "here MB: peak RSS of this process (store sides: of the fresh driver process); per worker: the largest "
        "worker's peak RSS (medians of N rounds)"
    )
    for name in sides:
        if drivers[name]:
            log.info("%s: the driver process started at %.0f MB (imports), ran %.1f s in all with its start-up",
                     name, figures[name]["driver_start_mb"], figures[name]["process_s"])  # fmt: skip
    log.info("end: %s", _machine())
    figures["shanghai"] = shanghai = project(figures, args.shanghai_edges, args.worker_gb)
    one = shanghai.get("single", {"seconds": float("nan"), "memory_gb": float("nan")})
    log.info(
        "Shanghai (%.0f km2, %.2g edges -> %.2g nodes, at the measured area's edges per node, spread evenly): "
        "one process %.0f s, %.1f GB",
        shanghai["km2"], shanghai["edges"], shanghai["nodes"], one["seconds"], one["memory_gb"],
    )  # fmt: skip
    if "tiles" in shanghai:
        t = shanghai["tiles"]
        log.info(
            "Shanghai on tiles: %d tiles of %.1f km (halo %.1f km, %d nodes each with it) so that one fills a %.0f GB"
            " worker; %s; a driver holding the network and residents: %.1f GB; from a tile store: the driver %.2f GB"
            " (measured, not growing with the city), the store's writer (holding the inputs) %.1f GB",
            t["tiles"], t["tile_side_km"], t["halo_km"], t["tile_nodes_with_halo"], t["worker_gb"],
            ", ".join(f"{w} workers {sec / 60:.1f} min" for w, sec in t["seconds"].items()), t["driver_gb"],
            t["store_driver_gb"], t["store_writer_gb"],
        )  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
