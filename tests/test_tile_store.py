"""A tile store: each tile's inputs as its own Parquet partition, each task reading only its own; results equal the
single-machine run."""

from __future__ import annotations

import pickle
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

from planner.tile_store import (  # after the skip
    TABLES,
    read_access,
    read_tile_job,
    run_stored_tile,
    run_tile_store,
    write_tile_store,
)
from test_tiles import _compare, _placed


@pytest.fixture(scope="module")
def plan(default_plan):
    return default_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def store(plan, tmp_path_factory):
    """The default area's store of 2 x 2 tiles."""
    folder = tmp_path_factory.mktemp("store") / "store"
    horizon = plan.area.settings.access.horizon_min
    index = write_tile_store(plan.network, plan.facilities, _placed(plan), plan.rules, horizon, folder, tiles=(2, 2))
    return folder, index


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client  # one cluster per session (conftest)


def _read_back(plan, out):
    back = gpd.read_parquet(out / "residents").sort_index()
    assert (back.index == np.arange(len(plan.residents))).all(), "every resident written once"
    back.index = plan.residents.index
    return back


def _same_access(single, merged):
    for kind in ("tiers", "services"):
        a, b = getattr(single, kind), getattr(merged, kind)
        assert list(a) == list(b)
        for key, nf in a.items():
            np.testing.assert_array_equal(np.isinf(b[key].distance_m), np.isinf(nf.distance_m))
            finite = np.isfinite(nf.distance_m)
            np.testing.assert_allclose(b[key].distance_m[finite], nf.distance_m[finite], rtol=0, atol=1e-9)
            np.testing.assert_array_equal(b[key].facility, nf.facility)
            np.testing.assert_array_equal(b[key].ids, nf.ids)
            np.testing.assert_array_equal(b[key].edge, nf.edge)
    assert merged.horizon_min == single.horizon_min


def test_store_index_counts_every_resident_and_node_once(plan, store):
    _, index = store
    assert index["n_nodes"] == plan.network.n_nodes and len(index["tiles"]) == 4
    assert sum(e["residents"] for e in index["tiles"]) == len(plan.residents)
    assert sum(e["owned_nodes"] for e in index["tiles"]) == plan.network.n_nodes
    assert all(e["nodes"] < plan.network.n_nodes for e in index["tiles"])  # a tile holds part of the city


def test_store_run_in_turn_equals_single_run(plan, store, tmp_path):
    folder, _ = store
    summary = run_tile_store(folder, tmp_path, progress=False)
    assert list(summary["tile"]) == [0, 1, 2, 3]
    assert _compare(plan.residents, _read_back(plan, tmp_path)) <= 1e-9
    _same_access(plan.access, read_access(folder, tmp_path))


@pytest.mark.slow
def test_store_run_on_dask_equals_single_run(plan, store, client, tmp_path):
    import dask_geopandas

    folder, _ = store
    summary = run_tile_store(folder, tmp_path, client=client, progress=False)
    assert summary["residents"].sum() == len(plan.residents)
    parts = dask_geopandas.read_parquet(tmp_path / "residents")
    assert parts.npartitions == 4
    assert parts.crs.equals(plan.residents.crs)
    assert _compare(plan.residents, _read_back(plan, tmp_path)) <= 1e-9
    _same_access(plan.access, read_access(folder, tmp_path))


def test_a_task_reads_only_its_own_partition(plan, store, tmp_path):
    """Tile 2's task runs from a folder holding only tile 2's partitions (and the small index and rules) and writes
    what it writes from the whole store; the driver hands it a path and a number."""
    folder, _ = store
    alone = tmp_path / "alone"
    for table in TABLES:
        (alone / table).mkdir(parents=True)
        shutil.copy(folder / table / "part.00002.parquet", alone / table)
    for name in ("index.json", "rules.pickle"):
        shutil.copy(folder / name, alone)
    args = (str(alone), 2, str(tmp_path / "a"))
    assert len(pickle.dumps(args)) < 500
    for out in ("a", "b"):
        (tmp_path / out / "residents").mkdir(parents=True)
        (tmp_path / out / "access").mkdir()
    row = run_stored_tile(*args)
    run_stored_tile(str(folder), 2, str(tmp_path / "b"))
    assert row["tile"] == 2 and row["nodes"] < plan.network.n_nodes
    for table in ("residents", "access"):
        read = gpd.read_parquet if table == "residents" else pd.read_parquet
        left, right = (read(tmp_path / side / table / "part.00002.parquet") for side in ("a", "b"))
        assert left.equals(right), table
    with pytest.raises(FileNotFoundError):
        read_tile_job(alone, 1)


def test_a_store_is_written_once_and_read_only_when_finished(plan, store, tmp_path):
    folder, _ = store
    with pytest.raises(FileExistsError):
        write_tile_store(plan.network, plan.facilities, _placed(plan), plan.rules, 60.0, folder)
    with pytest.raises(FileNotFoundError, match="not a finished tile store"):
        run_tile_store(tmp_path, tmp_path / "out")
