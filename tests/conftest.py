"""Shared fixtures: small real extracts, hand-made networks, and an independent networkx reference."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

# CI services set CI (CI=true): browser tests then fail instead of skipping (tests/browser.py), and
# hypothesis runs derandomized.
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")

try:  # hypothesis comes with schemathesis (dev extra); test_api_fuzz.py skips without it
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover
    _hypothesis_settings = None
else:
    # Both on hypothesis' own defaults, never on whatever profile hypothesis auto-loaded (it loads its built-in
    # "ci" when it sees any of several CI variables, even CI set to "" or "false").
    _default = _hypothesis_settings.get_profile("default")
    # CI: the same examples on every run, so a failure is reproducible and not a flake; print_blob gives the
    # @reproduce_failure line for anything that fails.
    _hypothesis_settings.register_profile(
        "ci", _default, derandomize=True, deadline=None, print_blob=True, database=None
    )
    # locally: fresh random examples each run (hypothesis' defaults), to keep finding new cases
    _hypothesis_settings.register_profile("dev", _default)
    _hypothesis_settings.load_profile("ci" if IN_CI else "dev")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "data" / "fixtures"
YANGPU = FIXTURES / "shanghai_yangpu_tongji_siping.osm.bz2"
WANGJING = FIXTURES / "beijing_chaoyang_wangjing.osm.bz2"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session writes network caches to its own folder, never the user's: set for the whole session, so
    that session and module fixtures (built before any function-scoped fixture) and Dask workers use it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# Runs one notebook in a fresh kernel and writes it back executed; any cell's error exits non-zero with the cell and
# its traceback on standard error (nbclient's CellExecutionError). It first lowers its own priority (and so its
# kernel's, a child) by argv[4]: run beside the tests, it takes the CPU they leave idle, not theirs.
NOTEBOOK_EXECUTE = """
import os, sys
os.nice(int(sys.argv[4]))
import nbclient, nbformat
src, dst = sys.argv[1:3]
nb = nbformat.read(src, as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, dst)
"""


@pytest.fixture(scope="session", autouse=True)
def notebook_runs(request, tmp_path_factory, _isolated_cache):
    """When tests/test_notebooks.py::test_notebook_runs is selected, its notebooks start with the session, each in its
    own process and kernel at a lower priority, and run beside the other tests on the core they leave idle; each
    notebook test then waits for and checks its own (the same execution and checks as when they were started at that
    module). 01 and 02 start at once, and 03 when 02 is done, so that 03's ``run()`` mostly finds the service areas
    01 drew in the disk cache. They use the session's cache folder (``_isolated_cache``), as they did when started
    at their module: every cache file is written whole (atomic), so tests reading it beside them see whole files.

    Yields {notebook name: (process, executed copy, its standard error file)} and the thread that starts 03, or None
    when no notebook run is selected.
    """
    selected = any(
        item.path.name == "test_notebooks.py" and getattr(item, "originalname", "") == "test_notebook_runs"
        for item in request.session.items
    )
    if not selected:
        yield None
        return
    import subprocess
    import sys
    import threading

    folder = tmp_path_factory.mktemp("notebooks")
    # the kernel must be this environment's Python, whatever PATH the test runner was started with
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    def start(path):
        args = [sys.executable, "-c", NOTEBOOK_EXECUTE, str(path), str(folder / path.name), str(path.parent), "19"]
        err = folder / f"{path.stem}.stderr.txt"  # a file, not a pipe: nothing blocks however long it waits
        with err.open("w", encoding="utf-8") as fh:
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=fh, text=True)
        return proc, folder / path.name, err

    first, second, *rest = NOTEBOOKS
    procs = {p.name: start(p) for p in (first, second)}

    def then():
        procs[second.name][0].wait()
        procs.update({p.name: start(p) for p in rest})

    chain = threading.Thread(target=then, daemon=True)
    chain.start()
    yield procs, chain
    chain.join()
    for proc, _, _ in procs.values():  # a test stopped early leaves no kernel behind
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def default_plan():
    """The embedded default area planned without isochrones, once per session for every module that only reads it.

    A ``Plan`` is frozen and its queries return new objects; tests that change a table change a ``.copy()``.
    """
    from planner.area import StudyArea
    from planner.pipeline import RunOptions, run

    return run(StudyArea.default(), RunOptions(isochrones="none"))


@pytest.fixture(scope="session")
def default_report(default_plan):
    """``render_report(default_plan)``, the default area's Chinese report, rendered once per session (about 1.3 s)
    for every test that only reads it: ``render_report`` returns a new string from the frozen plan."""
    from planner.report import render_report

    return render_report(default_plan)


@pytest.fixture(scope="session")
def yangpu_plan(area_toml):
    """The Tongji/Siping test area (``area_toml``) planned without isochrones, once per session (read only)."""
    from planner.area import StudyArea
    from planner.pipeline import RunOptions, run

    return run(StudyArea.from_toml(area_toml), RunOptions(isochrones="none"))


@pytest.fixture(scope="session")
def yangpu_run(area_toml, tmp_path_factory):
    """``lifecircle plan --area <area_toml> --no-progress`` run once per session (a full run: plan.gpkg, summary,
    report.html and .pdf, map, lists; about 3.5 s), for the tests that start from its results. A test that changes
    the folder (writes into it, runs ``--force`` over it) works on its own copy: ``shutil.copytree(yangpu_run, ...)``.
    """
    from planner.cli import main

    out = tmp_path_factory.mktemp("yangpu-run") / "run"
    assert main(["-q", "plan", "--area", str(area_toml), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster of 2 worker processes for the whole session, instead of one per module or test (each
    start costs a few seconds: the cluster and the workers' imports). Tasks are pure functions of their inputs, so
    sharing the workers changes no result."""
    pytest.importorskip("distributed")
    from planner.multi_area import local_client

    with local_client(workers=2) as client:
        yield client


@pytest.fixture(scope="session")
def area_toml(tmp_path_factory):
    """A study area on the Tongji/Siping extract: 7 facilities of every tier and a 2 x 2 population grid."""
    import shutil

    from planner.network import WalkNetwork

    root = tmp_path_factory.mktemp("yangpu")
    shutil.copy(YANGPU, root / "streets.osm.bz2")
    net = WalkNetwork.from_osm_file(YANGPU)
    rng = np.random.default_rng(1)
    nodes = rng.choice(net.n_nodes, 7, replace=False)
    tiers = ["center", "station", "station", "point", "point", "point", "point"]
    lines = ["id,name,tier,lon,lat,services"] + [
        f"X{i},设施{i},{t},{net.lon[n]:.7f},{net.lat[n]:.7f},elderly_care;meals"
        for i, (t, n) in enumerate(zip(tiers, nodes))
    ]
    (root / "facilities.csv").write_text("\n".join(lines), encoding="utf-8")
    x0, y0, x1, y1 = net.meta["bounds"]
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    cells = [
        "cell_id,minlon,minlat,maxlon,maxlat,population",
        f"1,{x0},{y0},{xm},{ym},12000",
        f"2,{xm},{y0},{x1},{ym},8000",
        f"3,{x0},{ym},{xm},{y1},15000",
        f"4,{xm},{ym},{x1},{y1},5000",
    ]
    (root / "pop.csv").write_text("\n".join(cells), encoding="utf-8")
    (root / "area.toml").write_text(
        'name = "yangpu-test"\ntitle_zh = "同济四平测试区"\ntitle_en = "Tongji Siping test area"\n'
        '[network]\nosm = "streets.osm.bz2"\n'
        '[facilities]\nfile = "facilities.csv"\nillustrative = true\n[isochrones]\nbands = [5, 10]\n'
        '[population]\ngrid = "pop.csv"\nelderly_share = 0.3\n[units]\ngrid_km = 0.5\n',
        encoding="utf-8",
    )
    return root / "area.toml"


def write_osm(
    path: Path,
    nodes: dict[int, tuple[float, float]],
    ways: list[tuple[int, list[int], dict]],
    bounds: tuple[float, float, float, float] | None = None,
) -> Path:
    """Write a tiny OSM XML file: nodes {id: (lon, lat)}, ways [(id, refs, tags)]."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    if bounds:
        w, s, e, n = bounds
        lines.append(f'<bounds minlon="{w}" minlat="{s}" maxlon="{e}" maxlat="{n}"/>')
    for nid, (lon, lat) in nodes.items():
        lines.append(f'<node id="{nid}" lon="{lon}" lat="{lat}"/>')
    for wid, refs, tags in ways:
        lines.append(f'<way id="{wid}">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# Metres per degree near 31 N (used to lay out hand-made networks in real coordinates).
LAT0, LON0 = 31.2, 121.45
M_PER_DEG_LAT = 110_900.0
M_PER_DEG_LON = 95_300.0


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """Local metres east/north of (LON0, LAT0) to approximate degrees."""
    return LON0 + x_m / M_PER_DEG_LON, LAT0 + y_m / M_PER_DEG_LAT


def reference_distances(net, fac_edge, fac_t, fac_off, pt_edge, pt_t, pt_off, cutoff=None) -> np.ndarray:
    """Independent reference: split every edge at the facilities and points on it, build a
    networkx graph of the pieces plus straight stubs, and run networkx's multi-source Dijkstra.

    Shares no code with planner.access.
    """
    g = nx.Graph()
    for a, b, length in zip(net.u.tolist(), net.v.tolist(), net.length.tolist()):
        g.add_edge(("n", a), ("n", b), w=length)
    cuts: dict[int, list[tuple[float, object]]] = {}
    for i, (e, t) in enumerate(zip(fac_edge, fac_t)):
        cuts.setdefault(int(e), []).append((float(t), ("fs", i)))
    for j, (e, t) in enumerate(zip(pt_edge, pt_t)):
        cuts.setdefault(int(e), []).append((float(t), ("ps", j)))
    for e, marks in cuts.items():
        a, b, length = int(net.u[e]), int(net.v[e]), float(net.length[e])
        if g.has_edge(("n", a), ("n", b)):
            g.remove_edge(("n", a), ("n", b))
        chain = [(0.0, ("n", a)), *sorted(marks, key=lambda m: m[0]), (1.0, ("n", b))]
        for (t0, p), (t1, q) in pairwise(chain):
            w = (t1 - t0) * length
            if g.has_edge(p, q):
                w = min(w, g[p][q]["w"])
            g.add_edge(p, q, w=max(w, 0.0))
    for i, off in enumerate(fac_off):
        g.add_edge(("f", i), ("fs", i), w=float(off))
    for j, off in enumerate(pt_off):
        g.add_edge(("p", j), ("ps", j), w=float(off))
    # facilities may not be passed through: sources only, so add them last and run from them
    dist = nx.multi_source_dijkstra_path_length(g, [("f", i) for i in range(len(fac_edge))], cutoff=cutoff, weight="w")
    return np.array([dist.get(("p", j), np.inf) for j in range(len(pt_edge))])
