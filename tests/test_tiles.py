"""Tiles with halos on Dask equal the single-machine run; many areas in one command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner import StudyArea
from planner.pipeline import RunOptions, run
from planner.tile_jobs import TileGrid
from planner.tiles import tiled_coverage

pytest.importorskip("distributed")

COVERAGE = ("nearest_", "minutes_", "covered_", "missing_", "underserved_")


@pytest.fixture(scope="module")
def plan(default_plan):
    return default_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client  # one cluster per session (conftest)


def _placed(plan):
    """The residents as placed, before coverage."""
    r = plan.residents
    return r[[c for c in r.columns if not c.startswith(COVERAGE)]]


def _compare(single, tiled) -> float:
    """Max |Δ minutes| (NaN where both are NaN); every other column identical."""
    assert list(tiled.columns) == list(single.columns)
    assert tiled.index.equals(single.index)
    worst = 0.0
    for c in single.columns:
        if c.startswith("minutes_"):
            a, b = single[c].to_numpy(float), tiled[c].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=c)
            if (~np.isnan(a)).any():
                worst = max(worst, float(np.nanmax(np.abs(a - b))))
        elif c != single.geometry.name:
            assert single[c].equals(tiled[c]), c
    assert tiled.geometry.equals(single.geometry)
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("tiles", [(2, 2), (3, 3)])
def test_tiles_equal_single_run(plan, tiles):
    r = plan.residents
    out, access = tiled_coverage(
        plan.network, plan.facilities, _placed(plan), plan.rules, plan.area.settings.access.horizon_min, tiles=tiles
    )
    assert _compare(r, out) <= 1e-9
    assert r["nearest_point"].isin(plan.facilities["facility_id"]).all()
    for kind in ("tiers", "services"):
        single, merged = getattr(plan.access, kind), getattr(access, kind)
        assert set(single) == set(merged)
        for key, nf in single.items():
            np.testing.assert_allclose(merged[key].distance_m, nf.distance_m, rtol=0, atol=1e-9)
            np.testing.assert_array_equal(merged[key].facility, nf.facility)
            np.testing.assert_array_equal(merged[key].ids, nf.ids)


@pytest.mark.slow
def test_tiles_equal_single_run_with_a_short_horizon(plan):
    """With the horizon at the largest target (15 min), many residents are beyond it: NaN in both runs."""
    from planner.access import compute_access
    from planner.coverage import resident_coverage

    facilities, rules = plan.facilities, plan.rules
    access = compute_access(plan.network, facilities, rules, 1.0)
    single = resident_coverage(
        plan.network,
        _placed(plan),
        dict(access.tiers),
        rules,
        dict(access.services),
        facility_ids=facilities["facility_id"].to_numpy(),
    )
    assert single["minutes_station_elderly"].isna().mean() > 0.05
    out, _ = tiled_coverage(plan.network, facilities, _placed(plan), rules, 1.0, tiles=(3, 3))
    assert _compare(single, out) <= 1e-9


@pytest.mark.slow
def test_tiles_on_dask_cluster(plan, client):
    out, _ = tiled_coverage(
        plan.network,
        plan.facilities,
        _placed(plan),
        plan.rules,
        plan.area.settings.access.horizon_min,
        tiles=(3, 3),
        client=client,
        progress=False,
    )
    assert _compare(plan.residents, out) <= 1e-9


@pytest.mark.slow
def test_a_halo_too_small_is_caught(plan, monkeypatch):
    """The comparison has teeth: tiles cut 3 km short of the horizon give other minutes."""
    import planner.tile_jobs

    monkeypatch.setattr(planner.tile_jobs, "_HALO_SLACK_M", -3000.0)
    out, _ = tiled_coverage(
        plan.network, plan.facilities, _placed(plan), plan.rules, plan.area.settings.access.horizon_min, tiles=(3, 3)
    )
    with pytest.raises(AssertionError):
        _compare(plan.residents, out)


def test_grid_owns_every_point_once():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, 500), rng.uniform(-50, 50, 500)
    grid = TileGrid.covering(x, y, 3, 2)
    tile = grid.tile_of(x, y)
    assert tile.min() >= 0 and tile.max() < 6
    for t in range(6):
        x0, y0, x1, y1 = grid.cell(t)
        mine = tile == t
        assert ((x[mine] >= x0 - 1e-9) & (x[mine] <= x1 + 1e-9) & (y[mine] >= y0 - 1e-9) & (y[mine] <= y1 + 1e-9)).all()
    with pytest.raises(ValueError, match="at least one tile"):
        TileGrid.covering(x, y, 0, 1)


@pytest.fixture
def two_areas(tmp_path, area_toml):
    import shutil

    from conftest import ROOT

    root = tmp_path / "areas"
    shutil.copytree(ROOT / "data" / "examples" / "songjiang", root / "songjiang")
    shutil.copytree(area_toml.parent, root / "yangpu")
    return root


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_many_areas_on_dask(two_areas, tmp_path, client):
    from planner.multi_area import run_areas

    out = tmp_path / "out"
    combined = run_areas(two_areas, out, options=RunOptions(isochrones="none"), client=client, progress=False)
    assert combined["ok"] == 2 and combined["failed"] == 0
    assert [e["folder"] for e in combined["areas"]] == ["songjiang", "yangpu"]
    for name in ("songjiang", "yangpu"):
        single = _json(out / name / "summary.json")
        assert (
            single["area"]["name"]
            == _json(out / "summary.json")["areas"][["songjiang", "yangpu"].index(name)]["summary"]["area"]["name"]
        )
        assert (out / name / "map.html").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index("多区域汇总") < index.index("all areas")  # Chinese first
    assert "yangpu/report.html" in index and "songjiang/map.html" in index
    assert "同济四平测试区" in index and "未评估" in index  # songjiang has no tiers: not assessed, never 0%


@pytest.mark.slow
def test_many_areas_reports_a_bad_area_and_goes_on(two_areas, tmp_path):
    import shutil

    from planner.multi_area import run_areas

    # one good area after the broken one is enough to show the run goes on (two areas: test_many_areas_on_dask)
    shutil.rmtree(two_areas / "yangpu")
    (two_areas / "broken").mkdir()
    (two_areas / "broken" / "area.toml").write_text('name = "broken"\nno_such_key = 1\n', encoding="utf-8")
    combined = run_areas(two_areas, tmp_path / "out", options=RunOptions(isochrones="none"), progress=False)
    assert combined["failed"] == 1 and combined["ok"] == 1
    assert [e["folder"] for e in combined["areas"]] == ["broken", "songjiang"]  # planned after the failure
    broken = combined["areas"][0]
    assert broken["folder"] == "broken" and "no_such_key" in broken["error"]
    assert "失败 failed" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_cli_plan_areas(two_areas, tmp_path):
    import shutil

    from planner.cli import main

    # the command line's path (flags, its own cluster, refusal, errors) with one area; two: test_many_areas_on_dask
    shutil.rmtree(two_areas / "songjiang")
    out = tmp_path / "cli"
    assert main(["plan", "--areas", str(two_areas), "--out", str(out), "--isochrones", "none", "--workers", "1"]) == 0
    assert _json(out / "summary.json")["ok"] == 1 and (out / "yangpu" / "map.html").exists()
    assert main(["plan", "--areas", str(two_areas), "--out", str(out), "--isochrones", "none"]) == 2  # no --force
    assert main(["plan", "--areas", str(tmp_path / "nothing"), "--out", str(out)]) == 2


@pytest.mark.slow
def test_tiles_as_geoparquet_partitions(plan, client, tmp_path):
    import dask_geopandas

    from planner.tiles import tiled_coverage_parquet

    access = tiled_coverage_parquet(
        plan.network,
        plan.facilities,
        _placed(plan),
        plan.rules,
        plan.area.settings.access.horizon_min,
        tmp_path / "residents",
        tiles=(2, 2),
        client=client,
        progress=False,
    )
    parts = dask_geopandas.read_parquet(tmp_path / "residents")
    assert parts.npartitions == 4
    back = parts.compute().sort_index()
    assert back.crs.equals(plan.residents.crs)
    back.index = plan.residents.index
    assert _compare(plan.residents, back) <= 1e-9
    np.testing.assert_array_equal(access.tiers["point"].facility, plan.access.tiers["point"].facility)


def test_a_tile_job_stays_picklable_after_it_ran(plan):
    """Dask may spill or move a job after its task ran: the search's cached graph and lock stay off it."""
    import pickle

    from planner.tile_jobs import iter_tile_jobs
    from planner.tiles import run_tile

    pts = plan.residents.geometry.to_crs(plan.network.crs)
    grid = TileGrid.covering(pts.x.to_numpy(), pts.y.to_numpy(), 2, 1)
    job = next(iter_tile_jobs(plan.network, plan.facilities, _placed(plan), plan.rules, 15.0, grid))
    run_tile(job)
    assert pickle.loads(pickle.dumps(job)).tile == job.tile


def test_a_run_with_tiles_equals_the_run_in_one_piece(area_toml):
    """``RunOptions(tiles=...)`` (``plan --tiles``, or ``--workers`` on Dask) goes through the same pipeline."""
    area = StudyArea.from_toml(area_toml)
    whole = run(area, RunOptions(isochrones="none"))
    tiled = run(area, RunOptions(isochrones="none", tiles=(2, 2)))
    cols = [c for c in whole.residents.columns if c.startswith(("minutes_", "covered_", "missing_", "nearest_"))]
    for c in cols:
        a, b = whole.residents[c], tiled.residents[c]
        assert a.equals(b), c
    assert whole.summary()["residents"] == tiled.summary()["residents"]


def test_halo_edges_keep_every_edge_within_reach(plan):
    """The sub-network of a tile: every edge within ``reach`` of the points' box (checked edge by edge)."""
    import shapely

    from planner.edge_index import EdgeIndex
    from planner.tile_jobs import halo_edges, sub_network

    net = plan.network
    lines = net.edge_lines
    xs, ys = np.array([net.x.min() + 500.0, net.x.min() + 900.0]), np.array([net.y.min() + 700.0, net.y.min() + 800])
    edges = halo_edges(EdgeIndex(net), xs, ys, 300.0)
    near = shapely.distance(lines, shapely.box(xs.min(), ys.min(), xs.max(), ys.max())) <= 300.0
    assert set(np.flatnonzero(near)) <= set(edges.tolist())
    sub, nodes = sub_network(net, edges, 0)
    assert sub.n_edges == len(edges)
    np.testing.assert_array_equal(nodes[sub.u], net.u[edges])
    np.testing.assert_array_equal(sub.length, net.length[edges])
