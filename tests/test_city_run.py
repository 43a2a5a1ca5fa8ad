"""A city run from the tile store (``plan --tiles NxM --tile-store``): the coverage added up from the tiles equals the
run in one piece, the partitions hold every resident once, and the folder is replaced only with --force."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from planner import columns as col
from planner.area import StudyArea
from planner.city_run import plan_city
from planner.cli import main

pytest.importorskip("pyarrow")  # the dask extra: Parquet partitions


@pytest.fixture(scope="module")
def whole(default_plan):
    return default_plan  # one per session (conftest)


def test_the_city_summary_equals_the_run_in_one_piece(whole, tmp_path):
    summary = plan_city(StudyArea.default(), tmp_path / "city", tiles=(3, 2))
    ours, theirs = summary["residents"], whole.summary()["residents"]
    for key in ("population", "elderly", "resident_points"):
        assert ours[key] == theirs[key]
    assert ours["tiers"] == theirs["tiers"]  # every share, count and group, per tier and profile
    assert ours["underserved"] == theirs["underserved"]
    parts = gpd.read_parquet(tmp_path / "city" / "results" / "residents")
    assert len(parts) == len(whole.residents) and parts.index.is_unique  # each resident in exactly one tile
    parts = parts.sort_index()
    everyone = whole.rules.everyone.key
    for tier in whole.rules.tiers:
        name = col.minutes(tier.key, everyone)
        np.testing.assert_allclose(parts[name], whole.residents[name], rtol=0, atol=1e-9)
    written = json.loads((tmp_path / "city" / "summary.json").read_text(encoding="utf-8"))
    assert written["residents"] == json.loads(json.dumps(ours)) and written["tiles"] == [3, 2]


def test_cli_refuses_to_replace_a_city_run_without_force(tmp_path, capsys):
    out = tmp_path / "city"
    assert main(["plan", "--tiles", "2x1", "--tile-store", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["plan", "--tiles", "2x1", "--tile-store", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["plan", "--tiles", "1x2", "--tile-store", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["tiles"] == [1, 2]
    assert (out / "notes.txt").read_text() == "mine"  # the user's own file is kept
    assert not (out / "map.html").exists()  # a city run writes no map
