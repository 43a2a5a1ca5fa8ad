"""/docs and /redoc work on an intranet: their pages reference only the service's own URLs, and the Swagger UI and
ReDoc files they load are served from the fastapi-offline package."""

from __future__ import annotations

import re
from pathlib import Path

import fastapi_offline
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

STATIC = Path(fastapi_offline.__file__).parent / "static"


@pytest.fixture(scope="module")
def client(area_toml):
    return TestClient(create_app(Settings(area=area_toml)))  # the docs need no built area


def _references(html: str) -> list[str]:
    """Every URL the page names: src/href attributes, url: '…' in scripts, spec-url."""
    return re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize(("page", "assets"), [("/docs", 3), ("/redoc", 2)])
def test_docs_pages_reference_no_external_url(client, page, assets):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not re.search(r"https?:|//[a-z0-9]", html, re.IGNORECASE), "an external URL in " + page
    refs = [a or b for a, b in _references(html)]
    local = [u for u in refs if u.startswith("/static-offline-docs/")]
    assert len(local) == assets and "/openapi.json" in refs
    for url in local:  # each served, byte for byte the package's file
        got = client.get(url)
        assert got.status_code == 200
        assert got.content == (STATIC / url.rsplit("/", 1)[1]).read_bytes()


def test_swagger_ui_asks_no_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs").text


def test_a_missing_asset_is_a_problem_not_a_page(client):
    r = client.get("/static-offline-docs/nothing.js")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
