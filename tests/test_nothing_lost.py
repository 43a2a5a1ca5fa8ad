"""Nothing lost, nothing crashes: atomic outputs, self-healing caches, inputs checked before work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyogrio
import pytest

from conftest import YANGPU, write_osm
from planner.atomic import FolderSwap, recover
from planner.cache import cache_dir
from planner.cli import main
from planner.errors import NetworkError
from planner.network import load_network
from planner.osm import buildings_frame
from planner.outputs import OUTPUT_FILES

LIFECIRCLE = [sys.executable, "-c", "import sys; from planner.cli import main; sys.exit(main())"]


def _complete(out: Path) -> dict:
    """The folder holds one whole run: every layer readable, summary parseable."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    layers = {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert set(summary["outputs"]["plan.gpkg"]) <= layers
    assert (out / "map.html").stat().st_size > 100_000 and (out / "report.html").exists()
    return summary


@pytest.mark.slow
def test_a_kill_while_writing_leaves_the_previous_results(area_toml, yangpu_run, tmp_path):
    out = tmp_path / "out"
    # the previous results: those of `plan --area <area_toml> --out <out> --no-progress`, run once per session
    # (conftest CLI_RUNS) and copied here whole, since this test runs --force over them
    assert yangpu_run.returncode == 0, yangpu_run.stderr
    shutil.copytree(yangpu_run.out, out)
    (out / "my-notes.txt").write_text("keep me", encoding="utf-8")
    before = _complete(out)
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            *LIFECIRCLE,
            "-q",
            "plan",
            "--area",
            str(area_toml),
            "--out",
            str(out),
            "--force",
            "--no-progress",
            "--bands",
            "3,6",
        ],
        env=env,
    )
    new = tmp_path / ".out.new"
    deadline = time.time() + 120
    while not new.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert new.exists(), "the run never started writing"
    time.sleep(0.2)  # well inside the writing of report, map and GeoPackage
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _complete(out)["rules"] == before["rules"]  # the previous complete results, untouched
    assert (out / "my-notes.txt").read_text(encoding="utf-8") == "keep me"
    # the next run cleans up after the killed one and replaces the results whole
    assert (
        main(["-q", "plan", "--area", str(area_toml), "--out", str(out), "--force", "--no-progress", "--bands", "3,6"])
        == 0
    )
    assert _complete(out)["rules"]["bands_min"] == [3.0, 6.0] and not new.exists()
    assert (out / "my-notes.txt").read_text(encoding="utf-8") == "keep me"


def _folder(path: Path, tag: str) -> None:
    path.mkdir()
    for name in ("summary.json", "plan.gpkg"):
        (path / name).write_text(tag)


@pytest.mark.parametrize("moment", ["before_swap", "between_renames", "after_swap"])
def test_an_interrupted_swap_is_finished_or_undone(tmp_path, moment):
    out, new, old = tmp_path / "out", tmp_path / ".out.new", tmp_path / ".out.old"
    _folder(out, "old")
    (out / "notes.txt").write_text("mine")
    _folder(new, "new")
    (new / ".complete").touch()
    if moment in {"between_renames", "after_swap"}:
        os.replace(out, old)  # the kill came after the first rename of a commit
    if moment == "after_swap":
        os.replace(new, out)
    recover(out, OUTPUT_FILES)
    expected = "old" if moment == "before_swap" else "new"
    assert (out / "summary.json").read_text() == expected and (out / "plan.gpkg").read_text() == expected
    assert (out / "notes.txt").read_text() == "mine"  # the user's file is never lost
    assert not new.exists() and not old.exists()


def test_a_failed_write_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "out"
    _folder(out, "old")
    swap = FolderSwap(out, OUTPUT_FILES)
    (swap.folder / "summary.json").write_text("half")
    swap.abort()
    assert (out / "summary.json").read_text() == "old" and not swap.folder.exists()


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip"])
def test_a_damaged_network_cache_is_rebuilt(damage, caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path / "cache"))  # this test's own cache
    first = load_network(YANGPU)
    (entry,) = [p for p in cache_dir().glob("*.npz") if not p.name.startswith("buildings")]
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        for i in range(1000, len(data), 997):
            data[i] ^= 0xFF
    entry.write_bytes(bytes(data))
    caplog.clear()
    again = load_network(YANGPU)
    assert again.meta["cache"] == "miss" and again.n_edges == first.n_edges
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 1
    assert load_network(YANGPU).meta["cache"] == "hit"  # rewritten whole


def test_a_damaged_buildings_cache_is_rebuilt_and_no_cache_never_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path / "cache"))
    first = buildings_frame(YANGPU)
    (entry,) = cache_dir().glob("buildings-*.npz")
    entry.write_bytes(b"PK\x03\x04 broken")
    assert len(buildings_frame(YANGPU, use_cache=False)) == len(first)
    assert entry.read_bytes() == b"PK\x03\x04 broken"  # --no-cache neither reads nor writes it
    assert len(buildings_frame(YANGPU)) == len(first)
    assert entry.read_bytes() != b"PK\x03\x04 broken"


def test_nodes_at_zero_or_without_coordinates_are_refused(tmp_path):
    nodes = {i: (121.45 + i * 1e-3, 31.2) for i in range(1, 5)}
    nodes.update({90 + i: (0.0, 0.0) for i in range(85)})
    ways = [(1, [1, 2, 3, 4], {"highway": "residential"}), (2, [4, *range(90, 175)], {"highway": "residential"})]
    path = write_osm(tmp_path / "zero.osm", nodes, ways)
    with pytest.raises(NetworkError, match=r"85 node\(s\) have no valid coordinates .*e\.g\. node 90"):
        load_network(path, use_cache=False)
    text = path.read_text().replace('<node id="2" lon="121.452" lat="31.2"/>', '<node id="2" lon="121.452"/>')
    path.write_text(text)
    with pytest.raises(NetworkError, match=r"no valid coordinates"):
        load_network(path, use_cache=False)


def test_a_network_thousands_of_km_across_is_refused(tmp_path):
    nodes = {1: (121.45, 31.2), 2: (121.46, 31.2), 3: (116.40, 39.90), 4: (116.41, 39.90)}
    ways = [(1, [1, 2, 3, 4], {"highway": "residential"})]
    with pytest.raises(NetworkError, match=r"span 1,0\d\d km, more than a study area can \(150 km"):
        load_network(write_osm(tmp_path / "far.osm", nodes, ways), use_cache=False)


@pytest.mark.parametrize("where", ["file", "sys"])
def test_unwritable_output_folders_are_one_line(area_toml, tmp_path, capsys, where):
    if where == "file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "out"
    else:
        out = Path("/proc/lifecircle-out")
    assert main(["-q", "plan", "--area", str(area_toml), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lifecircle: error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_infinite_population_is_named(area_toml, tmp_path, capsys):
    root = tmp_path / "inf"
    shutil.copytree(area_toml.parent, root)
    text = (root / "pop.csv").read_text().replace(",12000", ",inf")
    (root / "pop.csv").write_text(text)
    assert main(["-q", "plan", "--area", str(root / "area.toml"), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "pop.csv: column 'population' must hold finite non-negative numbers; bad value(s) in row(s) 2" in err
    assert "'inf'" in err and "Traceback" not in err
