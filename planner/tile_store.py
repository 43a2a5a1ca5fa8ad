"""A city's tiles written once as Parquet partitions, each task reading only its own (issue 19, part 2).

:func:`write_tile_store` cuts the inputs of access and coverage into the jobs :func:`planner.tile_jobs.iter_tile_jobs`
builds, one tile at a time, and writes each as partition ``k`` of four tables, so the folder holds exactly what
tile ``k``'s task needs and no process has to hold the city to run it:

============================  ==========================================================================
``nodes/part.<k>.parquet``    the halo's nodes: ``x``, ``y``, ``lon``, ``lat``, ``osmid``, ``node`` (full
                              index), ``owned`` (the tile owns it)
``edges/part.<k>.parquet``    the halo's edges: ``u``, ``v`` (tile nodes), ``length``, ``edge`` (full index)
``sources/part.<k>.parquet``  per ``key`` (``tier:<t>`` / ``service:<s>``) the facilities on those edges:
                              ``edge`` (tile edge), ``t``, ``offset_m``, ``row`` (in the full table),
                              ``facility_id``
``residents/part.<k>.parquet``  GeoParquet: the residents the tile owns (``edge`` a tile edge; index their
                              position in the full table); ``dask_geopandas.read_parquet`` reads the folder
``index.json``, ``rules.pickle``  the grid, CRS, horizon, keys and per-tile bounds and counts; the
                              :class:`~planner.tiers.Rules` (pickled: the store is a run's artefact, read by the
                              same version)
``facilities.parquet``        the facility table's ``facility_id``, ``edge``, ``t``, ``snap_m`` and, in
                              ``sets.parquet``, each key's rows: only :func:`read_access` reads them
============================  ==========================================================================

``index.json`` is written last: a folder without it is an unfinished store. :func:`run_tile_store` runs the tiles
as Dask tasks (or one after another here) that each get only the store's path and a tile number
(:func:`run_stored_tile`), read their partition, run :func:`planner.tiles.run_tile` and write their residents'
coverage (``<out>/residents/part.<k>.parquet``, GeoParquet, index: the position in the full table) and their owned
nodes' nearest facilities (``<out>/access/part.<k>.parquet``). The driver gets back one small row per tile.
:func:`read_access` merges the node access from those partitions when a whole :class:`~planner.access.Access` is
wanted (it holds every node, as the single run does). The folders must be on a disk every worker sees.

>>> from planner.tile_store import write_tile_store, run_tile_store      # doctest: +SKIP
>>> write_tile_store(net, facilities, residents, rules, 60, "store", tiles=(8, 8))
>>> summary = run_tile_store("store", "out", client=client)
>>> residents = dask_geopandas.read_parquet("out/residents")
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .access import Access, NearestFacility, keyed_facility_sets, search_horizon
from .network import WalkNetwork
from .tiers import Rules
from .tile_jobs import TileGrid, TileJob, iter_tile_jobs, tile_grid
from .tiles import run_tile

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["read_access", "read_tile_job", "run_stored_tile", "run_tile_store", "write_tile_store"]

log = logging.getLogger(__name__)

TABLES = ("nodes", "edges", "sources", "residents")
_VERSION = 1


def _part(folder: Path, table: str, tile: int) -> Path:
    return folder / table / f"part.{tile:05d}.parquet"


def write_tile_store(
    network: WalkNetwork,
    facilities: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    rules: Rules,
    horizon_min: float,
    folder: str | Path,
    *,
    tiles: tuple[int, int] = (2, 2),
) -> dict[str, Any]:
    """Write every tile's job as its own partition of ``folder`` (see the module's note for the layout).

    The jobs are cut one at a time and each is written and dropped before the next is cut, so beyond the inputs
    this process holds one tile's copies at a time.

    Parameters
    ----------
    network : WalkNetwork
    facilities : pandas.DataFrame
        Snapped facilities (``tier``, ``services``, ``edge``, ``t``, ``snap_m``, ``facility_id``).
    residents : geopandas.GeoDataFrame
        Placed residents (after :func:`~planner.coverage.mark_assessed`).
    rules : Rules
    horizon_min : float
        The area's ``[access] horizon_min``.
    folder : str or pathlib.Path
        A new or empty folder (one that already holds a store is refused).
    tiles : (int, int), default (2, 2)
        Tiles along x and y.

    Returns
    -------
    dict
        The index written to ``index.json``.
    """
    root = new_store(folder)
    grid = tile_grid(network, residents, tiles)
    t0 = time.perf_counter()
    entries = []
    for job in iter_tile_jobs(network, facilities, residents, rules, horizon_min, grid):
        entries.append(write_job(root, job))
        log.debug("tile %d written: %s", job.tile, entries[-1])
    index = finish_store(root, network, facilities, rules, horizon_min, grid, entries, len(residents))
    log.info(
        "tile store %s: %d tiles of %d x %d in %.1f s", root, len(entries), grid.nx, grid.ny, time.perf_counter() - t0
    )
    return index


def new_store(folder: str | Path) -> Path:
    """``folder`` made ready for a store's partitions (one that already holds a finished store is refused)."""
    root = Path(folder)
    if (root / "index.json").exists():
        msg = f"{root} already holds a tile store; write to a new folder"
        raise FileExistsError(msg)
    for table in TABLES:
        (root / table).mkdir(parents=True, exist_ok=True)
    return root


def finish_store(
    root: Path,
    network: WalkNetwork,
    facilities: pd.DataFrame,
    rules: Rules,
    horizon_min: float,
    grid: TileGrid,
    entries: list[dict[str, Any]],
    n_residents: int,
) -> dict[str, Any]:
    """After the tiles' partitions: the facility table, each key's rows, the rules and, last, ``index.json``."""
    sets = keyed_facility_sets(facilities, rules)
    pd.DataFrame({c: facilities[c].to_numpy() for c in ("facility_id", "edge", "t", "snap_m")}).to_parquet(
        root / "facilities.parquet"
    )
    keys = list(sets)
    pd.DataFrame(
        {
            "key": np.repeat(keys, [int(s.sum()) for s in sets.values()]),
            "row": np.concatenate([np.flatnonzero(s) for s in sets.values()]).astype(np.int64),
        }
    ).to_parquet(root / "sets.parquet")
    (root / "rules.pickle").write_bytes(pickle.dumps(rules))
    horizon_min_used, horizon_m = search_horizon(rules, horizon_min)
    index = {
        "version": _VERSION,
        "crs": network.crs,
        "grid": asdict(grid),
        "horizon_min": horizon_min_used,
        "horizon_m": horizon_m,
        "keys": keys,
        "n_nodes": network.n_nodes,
        "n_edges": network.n_edges,
        "n_residents": n_residents,
        "n_facilities": len(facilities),
        "tiles": entries,
    }
    (root / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")  # last: the store is complete
    return index


def write_job(root: Path, job: TileJob) -> dict[str, Any]:
    """One tile's four partitions; its entry in the index."""
    net = job.network
    owned = np.zeros(net.n_nodes, dtype=bool)
    owned[job.owned] = True
    pd.DataFrame(
        {"x": net.x, "y": net.y, "lon": net.lon, "lat": net.lat, "osmid": net.osmid, "node": job.nodes, "owned": owned}
    ).to_parquet(_part(root, "nodes", job.tile))
    pd.DataFrame({"u": net.u, "v": net.v, "length": net.length, "edge": job.edges}).to_parquet(
        _part(root, "edges", job.tile)
    )
    keys = list(job.sources)
    cols = [np.concatenate([job.sources[k][i] for k in keys]) if keys else np.empty(0) for i in range(4)]
    pd.DataFrame(
        {
            "key": np.repeat(keys, [len(job.sources[k][0]) for k in keys]).astype(object),
            "edge": cols[0].astype(np.int64),
            "t": cols[1].astype(float),
            "offset_m": cols[2].astype(float),
            "row": cols[3].astype(np.int64),
            "facility_id": job.facility_ids[cols[3].astype(np.int64)],
        }
    ).to_parquet(_part(root, "sources", job.tile))
    job.residents.to_parquet(_part(root, "residents", job.tile))
    xs, ys = net.x[job.owned], net.y[job.owned]
    return {
        "tile": job.tile,
        "residents": len(job.residents),
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "owned_nodes": len(job.owned),
        "sources": len(cols[0]),
        "owned_bounds": [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())] if len(xs) else None,
    }


def read_index(folder: str | Path) -> dict[str, Any]:
    """The store's ``index.json`` (a folder without one is not a finished store)."""
    path = Path(folder) / "index.json"
    if not path.exists():
        msg = f"{folder} is not a finished tile store (no index.json)"
        raise FileNotFoundError(msg)
    index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if index.get("version") != _VERSION:
        msg = f"{folder}: tile store version {index.get('version')}, this code reads {_VERSION}"
        raise ValueError(msg)
    return index


def read_tile_job(folder: str | Path, tile: int, parquet: str | None = None) -> TileJob:
    """Tile ``tile``'s job from its own partitions (and the small ``index.json`` and ``rules.pickle``) only.

    Parameters
    ----------
    folder : str or pathlib.Path
        The store.
    tile : int
    parquet : str, optional
        See :attr:`planner.tile_jobs.TileJob.parquet`.
    """
    root = Path(folder)
    index = read_index(root)
    rules: Rules = pickle.loads((root / "rules.pickle").read_bytes())  # our own file
    nodes = pd.read_parquet(_part(root, "nodes", tile))
    edges = pd.read_parquet(_part(root, "edges", tile))
    src = pd.read_parquet(_part(root, "sources", tile))
    residents = gpd.read_parquet(_part(root, "residents", tile))
    network = WalkNetwork(
        x=nodes["x"].to_numpy(),
        y=nodes["y"].to_numpy(),
        lon=nodes["lon"].to_numpy(),
        lat=nodes["lat"].to_numpy(),
        osmid=nodes["osmid"].to_numpy(),
        u=edges["u"].to_numpy(np.int32),
        v=edges["v"].to_numpy(np.int32),
        length=edges["length"].to_numpy(),
        crs=index["crs"],
        meta={"tile": tile},
    )
    key = src["key"].to_numpy(object)
    sources = {}
    for k in index["keys"]:
        sel = key == k
        sources[k] = tuple(src.loc[sel, c].to_numpy() for c in ("edge", "t", "offset_m", "row"))
    facility_ids = np.full(index["n_facilities"], None, dtype=object)  # only the rows this tile can reach
    facility_ids[src["row"].to_numpy()] = src["facility_id"].to_numpy(object)
    return TileJob(
        tile,
        network,
        nodes["node"].to_numpy(np.int64),
        np.flatnonzero(nodes["owned"].to_numpy()),
        sources,
        residents,
        rules,
        float(index["horizon_m"]),
        facility_ids,
        edges["edge"].to_numpy(np.int64),
        parquet,
    )


def run_stored_tile(folder: str, tile: int, out: str) -> dict[str, Any]:
    """One tile's task: read its partition of the store, measure access and coverage, write its results.

    Writes ``<out>/residents/part.<tile>.parquet`` (GeoParquet: the residents with their coverage columns, ``edge``
    in the full network) and ``<out>/access/part.<tile>.parquet`` (per owned node: ``node`` and, per key,
    ``<key>|m`` and ``<key>|facility``: metres to and row of its nearest facility).

    Returns
    -------
    dict
        ``tile``, ``residents``, ``nodes``, ``edges``, ``owned_nodes``, ``seconds``, and the coverage sums of
        the tile's residents (:func:`planner.coverage.coverage_totals`), which add up to the city's.
    """
    t0 = time.perf_counter()
    job = read_tile_job(folder, tile, str(Path(out) / "residents"))
    result = run_tile(job)
    access = {"node": result.nodes} | {f"{k}|m": v for k, v in result.distance_m.items()}
    access |= {f"{k}|facility": v for k, v in result.facility.items()}
    pd.DataFrame(access).to_parquet(_part(Path(out), "access", tile))
    return {
        "tile": tile,
        "residents": len(job.residents),
        "nodes": job.network.n_nodes,
        "edges": job.network.n_edges,
        "owned_nodes": len(job.owned),
        "seconds": time.perf_counter() - t0,
    } | dict(result.totals)


def run_tile_store(
    folder: str | Path, out: str | Path, *, client: Client | None = None, progress: bool | None = None
) -> pd.DataFrame:
    """Run every tile of a store, each task reading its own partition and writing its results (see the module's note).

    Parameters
    ----------
    folder : str or pathlib.Path
        A store written by :func:`write_tile_store`.
    out : str or pathlib.Path
        Where the tasks write ``residents/`` and ``access/`` (a folder every worker can write).
    client : distributed.Client, optional
        Run each tile as a task on this Dask client; without one the tiles run one after another here.
    progress : bool, optional
        Show a bar of the tiles done (default: when standard error is a terminal).

    Returns
    -------
    pandas.DataFrame
        One row per tile: ``tile``, ``residents``, ``nodes``, ``edges``, ``owned_nodes``, ``seconds``.
    """
    store, dest = str(Path(folder).resolve()), Path(out).resolve()
    index = read_index(store)
    for table in ("residents", "access"):
        (dest / table).mkdir(parents=True, exist_ok=True)
    tiles = [e["tile"] for e in index["tiles"]]
    from tqdm import tqdm

    show = progress if progress is not None else sys.stderr.isatty()
    rows: list[dict[str, Any]] = []
    with tqdm(total=len(tiles), desc="tiles", unit="tile", disable=not show) as bar:
        if client is None:
            for tile in tiles:
                rows.append(run_stored_tile(store, tile, str(dest)))
                bar.update()
        else:
            from distributed import as_completed

            # each task gets a path and a number: the driver sends no data and gathers only these rows
            futures = client.map(run_stored_tile, [store] * len(tiles), tiles, [str(dest)] * len(tiles), pure=False)
            for future in as_completed(futures):
                rows.append(future.result())
                bar.update()
    log.info("%d tiles of %s run into %s", len(rows), store, dest)
    return pd.DataFrame(rows).sort_values("tile", ignore_index=True)


def read_access(folder: str | Path, out: str | Path) -> Access:
    """The node access of the whole network from the tiles' ``access`` partitions, equal to the single run's.

    This holds a distance and a facility per node and key (as :func:`planner.access.compute_access` does); a city
    that needs less reads the partitions it wants with ``pandas.read_parquet``.
    """
    root = Path(folder)
    index = read_index(root)
    n = index["n_nodes"]
    facilities = pd.read_parquet(root / "facilities.parquet")
    edge, t, off = (facilities[c].to_numpy() for c in ("edge", "t", "snap_m"))
    sets = pd.read_parquet(root / "sets.parquet")
    dist = {k: np.full(n, np.inf) for k in index["keys"]}
    fac = {k: np.full(n, -1, dtype=np.int64) for k in index["keys"]}
    for entry in index["tiles"]:
        part = pd.read_parquet(_part(Path(out), "access", entry["tile"]))
        nodes = part["node"].to_numpy()
        for k in index["keys"]:
            dist[k][nodes] = part[f"{k}|m"].to_numpy()
            fac[k][nodes] = part[f"{k}|facility"].to_numpy()

    def merged(key: str) -> NearestFacility:
        rows = sets.loc[sets["key"] == key, "row"].to_numpy(np.int64)
        return NearestFacility(dist[key], fac[key], edge[rows], t[rows], off[rows], rows, index["horizon_m"])

    def kind(prefix: str) -> Mapping[str, NearestFacility]:
        return MappingProxyType({k.partition(":")[2]: merged(k) for k in index["keys"] if k.startswith(prefix)})

    return Access(kind("tier:"), kind("service:"), index["horizon_min"])
