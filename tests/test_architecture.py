"""The structure keeps its shape: layer order, no planner -> api import, a light ``import planner``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    # the contracts live in pyproject.toml [tool.importlinter]. In a child process: lint_imports configures
    # logging with dictConfig, which disables every logger that exists already (later caplog tests saw nothing).
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_planner_is_light():
    heavy = {"fastapi", "folium", "matplotlib", "geopandas", "scipy", "osmnx", "api"}
    assert not heavy & _loaded_after("import planner")
    # the pipeline needs the geometry stack, but never the faces built on it
    loaded = _loaded_after("from planner import run, StudyArea, what_if; run, StudyArea, what_if")
    assert "geopandas" in loaded and not {"fastapi", "folium", "matplotlib", "api"} & loaded


def test_the_command_line_lists_serve_without_loading_the_service():
    loaded = _loaded_after("from planner.cli import build_parser; build_parser()")
    assert "api.commands" in loaded and not {"fastapi", "api.app", "folium", "matplotlib"} & loaded


def test_the_public_names_are_the_lazy_exports():
    import planner

    # __all__ is spelled out for linters and type checkers; every name in it is loaded on first use
    assert planner.__all__ == sorted(planner._EXPORTS)
    for name in planner.__all__:
        assert getattr(planner, name) is not None
