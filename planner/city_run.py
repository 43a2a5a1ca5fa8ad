"""A city's plan as Parquet partitions: the tiles' inputs written once (:mod:`planner.tile_store`), each tile run as
a task that reads only its own partition and writes its results, and the city's coverage added up from the tiles.

``lifecircle plan --tiles NxM --tile-store`` (with ``--workers N`` or ``--scheduler ADDR`` for Dask) writes, under
the output folder::

    store/       the tiles' inputs (index.json and one partition per tile and table)
    results/     residents/part.<k>.parquet (GeoParquet: every resident with its minutes and coverage flags) and
                 access/part.<k>.parquet (each owned node's nearest facility per tier and service)
    tiles.csv    per tile: residents, nodes, edges, seconds and its coverage sums
    summary.json the city's headline coverage, added up from the tiles (equal to the run in one piece)

The store is written a few zones at a time (:mod:`planner.city_store`): the writer holds the city's walk network
as flat arrays and its facility list, never every resident or footprint; the tasks and the process that runs them
hold one tile each. There is no map or report: a city's residents do not fit
one page. Plan each district with ``--areas`` for those. Read the results with ``dask_geopandas.read_parquet``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .area import StudyArea
from .atomic import FolderSwap
from .city_store import write_city_store
from .coverage import totals_headline
from .pipeline import RunOptions
from .tile_store import run_tile_store

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CITY_FILES", "plan_city"]

#: What a city run writes in its output folder (swapped in when complete; the user's other files are kept).
CITY_FILES = ("store", "results", "tiles.csv", "summary.json")

log = logging.getLogger(__name__)


def plan_city(
    area: StudyArea,
    out: str | Path,
    *,
    tiles: tuple[int, int],
    options: RunOptions | None = None,
    client: Client | None = None,
) -> dict[str, Any]:
    """Write a city's tile store, run its tiles (on Dask with ``client``) and add up the city's coverage.

    Parameters
    ----------
    area : StudyArea
        An area with streets and a population source.
    out : str or pathlib.Path
        The output folder, on a disk every worker can write (see the module's note for what it holds). The run
        writes beside it and swaps its results in when complete, so a failed run leaves earlier results as
        they were.
    tiles : (int, int)
        Tiles along x and y.
    options : RunOptions, optional
        ``use_cache``, ``skip_invalid_facilities`` and ``progress`` are read.
    client : distributed.Client, optional
        Run the tiles as tasks on this client; without one they run one after another here.

    Returns
    -------
    dict
        The summary written to ``summary.json``.

    Raises
    ------
    planner.errors.ConfigError
        When the area has no streets or no population source.
    """
    options = options or RunOptions()
    swap = FolderSwap(out, CITY_FILES)
    try:
        summary = _plan_city(area, swap.folder, tiles, options, client)
        swap.commit()
    except BaseException:
        swap.abort()
        raise
    return summary


def _plan_city(
    area: StudyArea, out: Path, tiles: tuple[int, int], options: RunOptions, client: Client | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    rules = area.rules
    index, network = write_city_store(
        area,
        out / "store",
        tiles=tiles,
        use_cache=options.use_cache,
        skip_invalid_facilities=options.skip_invalid_facilities,
        progress=options.progress,
    )
    n_nodes, n_residents = network.n_nodes, index["n_residents"]
    del network  # the tasks read the store; this process needs none of it any more
    t1 = time.perf_counter()
    table = run_tile_store(out / "store", out / "results", client=client, progress=options.progress)
    t2 = time.perf_counter()
    sums = [c for c in table.columns if c not in ("tile", "residents", "nodes", "edges", "owned_nodes", "seconds")]
    totals = {str(k): float(v) for k, v in table[sums].sum().items()}
    table.to_csv(out / "tiles.csv", index=False)
    summary: dict[str, Any] = {
        "area": {"name": area.name, "title_zh": area.title_zh, "title_en": area.title_en},
        "tiles": list(tiles),
        "tiles_with_work": len(table),
        "network_nodes": n_nodes,
        "resident_points": n_residents,
        "residents": totals_headline(totals, rules),
        "results": {"residents": "results/residents", "access": "results/access", "store": "store"},
        "note": "coverage added up from the tiles' residents; equal to the run in one piece (tests/test_city_run.py)",
        "timings_s": {"store_s": round(t1 - t0, 3), "tiles_s": round(t2 - t1, 3)},
        "store": {k: index[k] for k in ("grid", "horizon_m") if k in index},
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    everyone = rules.everyone.key
    for tier in rules.tiers:
        t = summary["residents"]["tiers"][tier.key][everyone]
        log.info(
            "%-8s %5.1f%% covered; %s residents cannot walk to one in %g min",
            tier.key,
            100 * (t["covered_share"] or 0),
            f"{t['people_without']:,}",
            tier.minutes,
        )
    return summary
