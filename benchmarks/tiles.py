"""Tiles on Dask against the single-process access and coverage (issue 19, part 5).

    python -m benchmarks.tiles [--n 5] [--tiles 2] [--replicate 1] [--workers 1,2]

Same work on every side: walking access of every tier and service and every resident's coverage, on the default
area (``--replicate R``: R x R copies of its streets, facilities and residents side by side, 200 m apart, as one
larger synthetic city).

- **single**: :func:`planner.access.compute_access` and :func:`planner.coverage.resident_coverage` in this process,
  the path :func:`planner.pipeline.run` takes (untouched by the tiles).
- **tiles here**: :func:`planner.tiles.tiled_coverage` with no client, the tiles one after another in this process.
- **dask W**: the same tiles as tasks on a local Dask cluster of W single-threaded worker processes (started once
  per W, its start-up reported apart).

The sides run interleaved round by round, ``n`` rounds; the median of each is printed with ``N``. Memory: the peak
resident memory of this process, and of each worker process (its ``VmHWM``, reset before each round), in MB.
Every round's result is checked equal to the single run's.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import RunOptions, StudyArea, run
from planner.access import compute_access
from planner.coverage import resident_coverage
from planner.multi_area import local_client
from planner.network import WalkNetwork
from planner.tiers import Rules
from planner.tiles import tiled_coverage

log = logging.getLogger("benchmarks.tiles")

COVERAGE = ("nearest_", "minutes_", "covered_", "missing_", "underserved_")


def _peak_mb() -> float:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
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


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and log the medians."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--tiles", type=int, default=2, help="tiles along each axis (default 2)")
    ap.add_argument("--replicate", type=int, default=1, help="R x R copies of the default area (default 1)")
    ap.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    ap.add_argument(
        "--horizon", type=float, default=None, help="search horizon in minutes (default: the area's, 60); the halo"
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")  # read when the workers start: quiet scheduler
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("planner").setLevel(logging.WARNING)

    plan = run(StudyArea.default(), RunOptions(isochrones="none"))
    assert plan.network is not None and plan.residents is not None
    placed = plan.residents[[c for c in plan.residents.columns if not c.startswith(COVERAGE)]]
    net, facilities, residents = replicate(plan.network, plan.facilities, placed, args.replicate)
    rules = plan.rules
    horizon = args.horizon if args.horizon is not None else plan.area.settings.access.horizon_min
    tiles = (args.tiles, args.tiles)
    log.info(
        "network %d nodes, %d edges; %d facilities; %d residents; %d x %d tiles; horizon %g min; N = %d rounds",
        net.n_nodes,
        net.n_edges,
        len(facilities),
        len(residents),
        *tiles,
        horizon,
        args.n,
    )
    reference = single(net, facilities, residents, rules, horizon)
    sides: dict[str, Callable[[], gpd.GeoDataFrame]] = {
        "single": lambda: single(net, facilities, residents, rules, horizon),
        "tiles here": lambda: tiled_coverage(net, facilities, residents, rules, horizon, tiles=tiles)[0],
    }
    clients: dict[str, Any] = {}
    for w in (int(x) for x in args.workers.split(",")):
        t0 = time.perf_counter()
        client = local_client(workers=w)
        clients[f"dask {w}"] = client
        log.info("dask %d: local cluster started in %.1f s", w, time.perf_counter() - t0)
        sides[f"dask {w}"] = lambda c=client: tiled_coverage(
            net, facilities, residents, rules, horizon, tiles=tiles, client=c, progress=False
        )[0]
    times: dict[str, list[float]] = {k: [] for k in sides}
    peaks: dict[str, list[float]] = {k: [] for k in sides}
    worker_peaks: dict[str, list[float]] = {k: [] for k in sides}
    worst = dict.fromkeys(sides, 0.0)
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
                per_worker = list(client.run(_peak_mb).values()) if client is not None else []
                peaks[name].append(here)
                worker_peaks[name].append(max(per_worker, default=float("nan")))
                worst[name] = max(worst[name], _max_delta(reference, out))
                if client is not None:
                    log.debug("%s: this process %.0f MB, workers %s MB", name, here, [round(p) for p in per_worker])
    finally:
        for client in clients.values():
            client.close()
    base = statistics.median(times["single"])
    log.info("%-11s %10s %8s %10s %12s %12s", "side", "median s", "x single", "here MB", "per worker", "max |Δmin|")
    for name in sides:
        med = statistics.median(times[name])
        log.info(
            "%-11s %10.3f %8.2f %10.0f %12.0f %12.3g   (N = %d)",
            name,
            med,
            med / base,
            statistics.median(peaks[name]),
            statistics.median(worker_peaks[name]),
            worst[name],
            len(times[name]),
        )
    log.info("here MB: peak RSS of this process; per worker: the largest worker's peak RSS (medians of N rounds)")


if __name__ == "__main__":
    main()
