"""Shared fixtures: small real extracts, hand-made networks, and an independent networkx reference."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
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


# -- full command-line runs whose results tests only read, run beside the tests -----------------------------------

RURAL = ROOT / "data" / "examples" / "rural" / "area.toml"
LISTS = ROOT / "tests" / "data" / "lists"


def lists_district(root: Path, health_crs: str) -> Path:
    """A district on the default area's streets and grid with a street office's lists: the facilities in an Excel
    sheet (GCJ-02) and the health centres in a GBK CSV declared ``health_crs``; its area.toml."""
    import shutil

    from planner.resources import DEFAULT_AREA

    root = root / "district"
    root.mkdir(parents=True)
    for name in ("roads.osm.bz2", "pop_grid_1km.csv"):
        shutil.copy(DEFAULT_AREA.parent / name, root / name)
    shutil.copy(LISTS / "服务设施清单.xlsx", root / "facilities.xlsx")
    shutil.copy(LISTS / "社区卫生服务中心_gbk.csv", root / "health.csv")
    (root / "area.toml").write_text(
        'name = "静安测试"\n[network]\nosm = "roads.osm.bz2"\n'
        '[facilities]\nfile = "facilities.xlsx"\nsheet = "设施"\ncrs = "gcj02"\nillustrative = true\n'
        f'[services.health]\nfile = "health.csv"\ncrs = "{health_crs}"\n'
        '[population]\ngrid = "pop_grid_1km.csv"\n',
        encoding="utf-8",
    )
    return root / "area.toml"


def _on_area_toml(*flags: str):
    def spec(request, folder: Path) -> tuple[list[str], Path]:
        area, out = request.getfixturevalue("area_toml"), folder / "run"
        return ["-q", "plan", "--area", str(area), "--out", str(out), "--no-progress", *flags], out

    return spec


def _rural(request, folder: Path) -> tuple[list[str], Path]:
    out = folder / "rural"
    return ["-q", "plan", "--area", str(RURAL), "--out", str(out), "--no-progress", "--sites", "village=2"], out


def _lists(request, folder: Path) -> tuple[list[str], Path]:
    """The district with its lists declared right (GCJ-02 health list declared gcj02)."""
    area, out = lists_district(folder / "a", "gcj02"), folder / "out"
    return ["-q", "plan", "--area", str(area), "--out", str(out), "--no-progress", "--isochrones", "none"], out


CHILD_PROFILE = '\n[profiles.child]\nspeed_mps = 1.0\nname_zh = "儿童"\nname_en = "Child"\ngroup = "population"\n'


def child_area_toml(area_toml: Path) -> Path:
    """The test area with a third walking profile (children, 1.0 m/s): area_child.toml beside area_toml. Written
    only when missing or different, so that a command reading it is never shown a half-written file."""
    path = area_toml.parent / "area_child.toml"
    text = area_toml.read_text(encoding="utf-8") + CHILD_PROFILE
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _child(request, folder: Path) -> tuple[list[str], Path]:
    area, out = child_area_toml(request.getfixturevalue("area_toml")), folder / "run"
    return ["-q", "plan", "--area", str(area), "--out", str(out), "--no-progress", "--isochrones", "all"], out


# fixture name -> (request, its own folder) -> (the arguments of `lifecircle`, its output folder). Each is a whole
# command a test used to run itself with planner.cli.main and then only read: exit status and files.
CLI_RUNS = {
    # `plan --area <area_toml>` with the defaults: test_cli, test_nothing_lost and test_report start from it
    "yangpu_run": _on_area_toml(),
    "yangpu_run_isochrones_all": _on_area_toml("--isochrones", "all"),  # test_cli
    "yangpu_run_two_stations": _on_area_toml("--sites", "station=2"),  # test_maps
    "yangpu_run_sites_and_cover": _on_area_toml(  # test_sites
        "--sites", "station=2,point=3", "--cover", "center=0.95", "--site-time-limit", "20"
    ),
    "rural_run": _rural,  # test_rural
    "lists_run": _lists,  # test_lists
    "child_run_isochrones_all": _child,  # test_profiles
}  # fmt: skip

# `lifecircle ARGS` as a command (sys.exit(main()) reads sys.argv), first lowering its priority by argv's NICE
LIFECIRCLE = [sys.executable, "-c", "import os, sys; os.nice(19); from planner.cli import main; sys.exit(main())"]


@dataclass(frozen=True)
class CliRun:
    """A finished `lifecircle` command: its output folder, exit status and standard error."""

    out: Path
    returncode: int
    stderr: str


class _CliQueue:
    """Runs commands one after another, each its own process at the lowest priority, in a thread beside the tests."""

    def __init__(self, jobs: list[tuple[str, list[str], Path, Path]], env: dict[str, str]):
        import threading

        self.jobs, self.env, self.proc, self.stopped = jobs, env, None, False
        self.done = {name: threading.Event() for name, *_ in jobs}
        self.results: dict[str, CliRun] = {}
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        import subprocess

        for name, args, out, log in self.jobs:
            try:
                if self.stopped:
                    break
                with log.open("w", encoding="utf-8") as fh:
                    self.proc = subprocess.Popen(
                        [*LIFECIRCLE, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=fh
                    )
                code = self.proc.wait()
                self.results[name] = CliRun(out, code, log.read_text(encoding="utf-8"))
            except OSError as exc:  # pragma: no cover - reported by the test that waits for it
                self.results[name] = CliRun(out, -1, f"{type(exc).__name__}: {exc}")
            finally:
                self.done[name].set()

    def result(self, name: str) -> CliRun:
        self.done[name].wait()
        return self.results[name]

    def stop(self) -> None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.thread.join()


@pytest.fixture(scope="session", autouse=True)
def cli_runs(request, tmp_path_factory, _isolated_cache):
    """The CLI_RUNS that some selected test uses start with the session, in the order the tests first need them,
    one after another and each at the lowest priority: they take the core the single-process tests leave idle.
    A test asks for one by its fixture name and gets a CliRun once it is done; it checks its exit status (the
    standard error its message) exactly as it checked ``main(...) == 0``, then reads its files. The commands use the
    session's cache folder as the tests' own runs did (every cache file is written whole)."""
    order = []
    for item in request.session.items:
        order += [n for n in item.fixturenames if n in CLI_RUNS and n not in order]
    jobs = []
    for name in order:
        folder = tmp_path_factory.mktemp(name)
        args, out = CLI_RUNS[name](request, folder)
        jobs.append((name, args, out, folder / "stderr.txt"))
    queue = _CliQueue(jobs, dict(os.environ))
    yield queue
    queue.stop()


def _cli_run_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(cli_runs) -> CliRun:
        return cli_runs.result(name)

    return fixture


for _name in CLI_RUNS:
    globals()[f"_fixture_{_name}"] = _cli_run_fixture(_name)


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


def planar_network(x, y, u, v):
    """A WalkNetwork in metres (EPSG:32651) from node coordinates and edge ends, each street as long as its straight
    line (lon/lat are the metres too: for tests of the network's own arithmetic)."""
    from planner.network import WalkNetwork

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    u, v = np.asarray(u, dtype=np.int32), np.asarray(v, dtype=np.int32)
    length = np.hypot(x[u] - x[v], y[u] - y[v])
    return WalkNetwork(x=x, y=y, lon=x, lat=y, osmid=np.arange(len(x)), u=u, v=v, length=length, crs="EPSG:32651")


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
