"""The structure keeps its shape: layer order, no planner -> api import, a light ``import planner``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# The children this module checks, each a fresh interpreter: the import contracts, and the modules some imports
# load. They are independent, so the `children` fixture starts them all at once (on two cores they take about half
# their sum) and each test waits for and checks its own.
IMPORT_LINTER = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))"
)
LOADED_AFTER = {
    "planner": "import planner",
    "pipeline": "from planner import run, StudyArea, what_if; run, StudyArea, what_if",
    "cli": "from planner.cli import build_parser; build_parser()",
}


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def children():
    started = {
        key: _start([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"])
        for key, code in LOADED_AFTER.items()
    }
    if importlib.util.find_spec("importlinter") is not None:
        started["contracts"] = _start([sys.executable, "-c", IMPORT_LINTER, str(ROOT / "pyproject.toml")])
    yield started
    for proc in started.values():  # a test stopped early leaves no child behind
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_import_contracts_are_kept(children):
    pytest.importorskip("importlinter")
    # the contracts live in pyproject.toml [tool.importlinter]. In a child process: lint_imports configures
    # logging with dictConfig, which disables every logger that exists already (later caplog tests saw nothing).
    stdout, stderr = children["contracts"].communicate()
    assert children["contracts"].returncode == 0, stdout + stderr


def _loaded_after(children, key: str) -> set[str]:
    """The modules loaded once LOADED_AFTER[key] ran in a fresh interpreter (check=True: a failure raises)."""
    proc = children[key]
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, stdout, stderr)
    return set(json.loads(stdout.strip().splitlines()[-1]))


def test_import_planner_is_light(children):
    heavy = {"fastapi", "folium", "matplotlib", "geopandas", "scipy", "osmnx", "api"}
    assert not heavy & _loaded_after(children, "planner")  # import planner
    # the pipeline needs the geometry stack, but never the faces built on it
    loaded = _loaded_after(children, "pipeline")  # from planner import run, StudyArea, what_if; ...
    assert "geopandas" in loaded and not {"fastapi", "folium", "matplotlib", "api"} & loaded


def test_the_command_line_lists_serve_without_loading_the_service(children):
    loaded = _loaded_after(children, "cli")  # from planner.cli import build_parser; build_parser()
    assert "api.commands" in loaded and not {"fastapi", "api.app", "folium", "matplotlib"} & loaded


def test_the_public_names_are_the_lazy_exports():
    import planner

    # __all__ is spelled out for linters and type checkers; every name in it is loaded on first use
    assert planner.__all__ == sorted(planner._EXPORTS)
    for name in planner.__all__:
        assert getattr(planner, name) is not None
