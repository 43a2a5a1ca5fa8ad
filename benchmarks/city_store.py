"""Writing a city's tile store: a few zones at a time against the whole run's inputs (issue 19), and Shanghai projected.

    python -m benchmarks.city_store [--side 700] [--tiles 8] [--n 3] [--json out.json] [--keep DIR]

Both sides write the same store of the same synthetic city from its files, each run in a fresh process with an
empty cache (so each reads the OSM file, as a first run does):

- **whole**: :func:`planner.pipeline.load_inputs` (the network, the facilities and every resident placed at once)
  then :func:`planner.tile_store.write_tile_store` (how ``plan --tile-store`` wrote its store before);
- **by tiles**: :func:`planner.city_store.write_city_store` (what it does now).

The city, written once into a temporary folder: a ``side`` x ``side`` grid of streets 76 m x 78 m apart (every other
block with a four-cornered footprint), a population grid of 0.01-degree cells (about 1 km; random people, seed 1)
and facilities of every tier at random points. It is a grid, not a real city: its streets are regular and every
footprint is a rectangle; what it measures is memory and time in proportion to nodes.

The sides run interleaved round by round, ``n`` rounds; medians are printed with ``N``. Memory: each run's peak
resident memory (``VmHWM`` of its process) and its peak above the imports both sides share. Every store is checked
equal to the first whole-run store (its index and every resident partition). The projection for all of Shanghai
scales the measured peak above imports per node to ``--shanghai-nodes`` (default 4M: about 5M edges at this grid's
two edges per node; "several million once footways are in", issue 19).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import fmt_s

_LON0, _LAT0, _DLON, _DLAT = 121.3, 31.1, 0.0008, 0.0007


def write_city(folder: Path, side: int, seed: int = 1) -> dict[str, int]:
    """The synthetic city of the module's note; counts of what it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    footprints = 0
    with open(folder / "streets.osm", "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for i in range(side):
            f.writelines(
                f'<node id="{i * side + j + 1}" lon="{_LON0 + j * _DLON:.7f}" lat="{_LAT0 + i * _DLAT:.7f}"/>\n'
                for j in range(side)
            )
        way = 1
        for i in range(side):
            refs = "".join(f'<nd ref="{i * side + j + 1}"/>' for j in range(side))
            f.write(f'<way id="{way}">{refs}<tag k="highway" v="residential"/></way>\n')
            way += 1
        for j in range(side):
            refs = "".join(f'<nd ref="{i * side + j + 1}"/>' for i in range(side))
            f.write(f'<way id="{way}">{refs}<tag k="highway" v="footway"/></way>\n')
            way += 1
        node = side * side + 1
        for i in range(0, side - 1, 2):
            for j in range(0, side - 1, 2):
                lo, la = _LON0 + j * _DLON + 0.0002, _LAT0 + i * _DLAT + 0.0002
                corners = [(lo, la), (lo + 0.0003, la), (lo + 0.0003, la + 0.0002), (lo, la + 0.0002)]
                ids = list(range(node, node + 4))
                f.writelines(f'<node id="{n}" lon="{x:.7f}" lat="{y:.7f}"/>\n' for n, (x, y) in zip(ids, corners))
                refs = "".join(f'<nd ref="{n}"/>' for n in [*ids, ids[0]])
                f.write(f'<way id="{way}">{refs}<tag k="building" v="yes"/></way>\n')
                node, way, footprints = node + 4, way + 1, footprints + 1
        f.write("</osm>\n")
    rng = random.Random(seed)
    lon1, lat1 = _LON0 + (side - 1) * _DLON, _LAT0 + (side - 1) * _DLAT
    rows = ["id,name,tier,lon,lat,services"]
    for tier, count in (("center", side // 20), ("station", side // 5), ("point", side // 2)):
        for _ in range(count):
            k = len(rows) - 1
            lon, lat = rng.uniform(_LON0, lon1), rng.uniform(_LAT0, lat1)
            rows.append(f"F{k},设施{k},{tier},{lon:.6f},{lat:.6f},elderly_care;meals")
    (folder / "facilities.csv").write_text("\n".join(rows), encoding="utf-8")
    cells = ["cell_id,minlon,minlat,maxlon,maxlat,population"]
    step, y = 0.01, _LAT0 - 0.005
    while y < lat1:
        x = _LON0 - 0.005
        while x < lon1:
            cells.append(f"{len(cells) - 1},{x:.4f},{y:.4f},{x + step:.4f},{y + step:.4f},{rng.randint(0, 30000)}")
            x += step
        y += step
    (folder / "pop.csv").write_text("\n".join(cells), encoding="utf-8")
    (folder / "area.toml").write_text(
        'name = "synthetic"\ntitle_zh = "合成网格城市（示意）"\ntitle_en = "Synthetic grid city (illustrative)"\n'
        '[network]\nosm = "streets.osm"\nmax_extent_km = 400\n'
        '[facilities]\nfile = "facilities.csv"\nillustrative = true\n[population]\ngrid = "pop.csv"\n',
        encoding="utf-8",
    )
    return {"street_nodes": side * side, "footprints": footprints, "facilities": len(rows) - 1, "cells": len(cells) - 1}


def _status_mb(field: str) -> float:
    found = re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())
    return float(found.group(1)) / 1024 if found else float("nan")


def drive(side: str, area_path: str, store: str, tiles: int) -> None:
    """One side in this (fresh) process; prints one JSON line."""
    import geopandas  # noqa: F401  (the imports both sides share, before the baseline)
    import pyarrow.parquet  # noqa: F401
    import pyproj  # noqa: F401
    import scipy.sparse.csgraph
    import scipy.spatial  # noqa: F401
    import shapely  # noqa: F401
    import tqdm  # noqa: F401

    from planner.area import StudyArea
    from planner.city_store import write_city_store
    from planner.pipeline import RunOptions, load_inputs
    from planner.tile_store import write_tile_store

    base = _status_mb("VmRSS")
    t0 = time.perf_counter()
    area = StudyArea.from_toml(area_path)
    if side == "whole":
        inputs = load_inputs(area, RunOptions())
        index = write_tile_store(
            inputs.network,
            inputs.facilities,
            inputs.placed,
            area.rules,
            area.settings.access.horizon_min,
            store,
            tiles=(tiles, tiles),
        )
    else:
        index, _ = write_city_store(area, store, tiles=(tiles, tiles))
    seconds = time.perf_counter() - t0
    peak = _status_mb("VmHWM")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak,
                "peak_above_imports_mb": peak - base,
                "n_nodes": index["n_nodes"],
                "n_edges": index["n_edges"],
                "n_residents": index["n_residents"],
            }
        )
    )


def _same_store(a: Path, b: Path) -> bool:
    import geopandas as gpd
    import pandas as pd

    ia, ib = (json.loads((s / "index.json").read_text(encoding="utf-8")) for s in (a, b))
    if json.dumps(ia, sort_keys=True) != json.dumps(ib, sort_keys=True):
        return False
    x, y = gpd.read_parquet(a / "residents"), gpd.read_parquet(b / "residents")
    return bool(
        x.geometry.geom_equals_exact(y.geometry, 0).all()
        and pd.DataFrame(x.drop(columns="geometry")).equals(pd.DataFrame(y.drop(columns="geometry")))
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=700, help="streets along each side of the grid (nodes: side^2)")
    ap.add_argument("--tiles", type=int, default=8, help="tiles along each side")
    ap.add_argument("--n", type=int, default=3, help="rounds")
    ap.add_argument("--shanghai-nodes", type=float, default=4e6)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="write the city here and keep it")
    ap.add_argument("--drive", nargs=4, metavar=("SIDE", "AREA", "STORE", "TILES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.drive:
        drive(args.drive[0], args.drive[1], args.drive[2], int(args.drive[3]))
        return
    work = Path(tempfile.mkdtemp(prefix="city-store-"))
    city = args.keep or work / "city"
    t0 = time.perf_counter()
    counts = write_city(city, args.side)
    print(
        f"synthetic city {args.side} x {args.side}: {counts['street_nodes']:,} street nodes, "
        f"{counts['footprints']:,} footprints, {counts['facilities']:,} facilities, {counts['cells']:,} population "
        f"cells (written in {time.perf_counter() - t0:.0f} s); {args.tiles} x {args.tiles} tiles; load "
        f"{os.getloadavg()[0]:.2f}",
        flush=True,
    )
    runs: dict[str, list[dict[str, Any]]] = {"whole": [], "tiles": []}
    first: Path | None = None
    same = True
    try:
        for r in range(args.n):
            for side in runs:
                store, cache = work / f"store-{side}-{r}", work / f"cache-{side}-{r}"
                env = dict(os.environ, LIFECIRCLE_CACHE_DIR=str(cache))
                cmd = [sys.executable, "-m", "benchmarks.city_store", "--drive", side, str(city / "area.toml")]
                done = subprocess.run(
                    [*cmd, str(store), str(args.tiles)], env=env, capture_output=True, text=True, check=True
                )
                runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
                if first is None:
                    first = store
                else:
                    same &= _same_store(store, first)
                    shutil.rmtree(store)
                shutil.rmtree(cache, ignore_errors=True)
                print(f"  round {r + 1} {side}: {fmt_s(runs[side][-1]['seconds'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n_nodes = runs["whole"][0]["n_nodes"]
    print(f"\nwriting the tile store, cold (empty cache), median of N={args.n}; nodes {n_nodes:,}")
    result: dict[str, Any] = {"args": vars(args) | {"keep": str(args.keep), "json": str(args.json)}, "city": counts}
    for side, label in (("whole", "whole run's inputs, then cut"), ("tiles", "a few zones at a time")):
        sec = statistics.median(r["seconds"] for r in runs[side])
        above = statistics.median(r["peak_above_imports_mb"] for r in runs[side])
        peak = statistics.median(r["peak_mb"] for r in runs[side])
        per_node = above * 1024 * 1024 / n_nodes
        print(
            f"  {label:<32} {fmt_s(sec):>9}   peak {peak:,.0f} MB ({above:,.0f} above imports, "
            f"{per_node:,.0f} bytes per node)   Shanghai ({args.shanghai_nodes / 1e6:g}M nodes): "
            f"{per_node * args.shanghai_nodes / 2**30:,.1f} GB above imports"
        )
        result[side] = {"median_s": sec, "peak_mb": peak, "peak_above_imports_mb": above, "runs": runs[side]}
    print(
        f"  check: every store equal to the first whole-run store (index and resident partitions): {same}; "
        f"residents {runs['whole'][0]['n_residents']:,}"
    )
    result["same_store"] = same
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
