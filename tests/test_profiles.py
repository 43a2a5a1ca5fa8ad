"""Walking profiles are data: a third profile (children, 1.0 m/s) reaches every layer, the report and the API."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

from conftest import child_area_toml
from planner import columns as col
from planner.area import StudyArea
from planner.pipeline import RunOptions, run


@pytest.fixture(scope="module")
def child_area(area_toml):
    # area_child.toml: the test area plus [profiles.child] speed_mps = 1.0, name_zh "儿童", group "population"
    return StudyArea.from_toml(child_area_toml(area_toml))


def test_the_third_profile_is_in_every_layer(child_area, child_run_isochrones_all):
    assert [p.key for p in child_area.rules.profiles] == ["adult", "elderly", "child"]
    # `lifecircle -q plan --area <child_area.file> --out <out> --no-progress --isochrones all`, run beside the tests
    # as the session starts (conftest CLI_RUNS)
    cli = child_run_isochrones_all
    assert cli.returncode == 0, cli.stderr
    out = cli.out
    res = gpd.read_file(out / "plan.gpkg", layer="residents")
    units = gpd.read_file(out / "plan.gpkg", layer="units")
    iso = gpd.read_file(out / "plan.gpkg", layer="isochrones")
    for tier in ("center", "station", "point"):
        assert {col.minutes(tier, "child"), col.covered(tier, "child")} <= set(res.columns)
        assert col.covered(tier, "child") in units.columns
        # hand check: minutes scale with the speed; adult is 4.5 km/h = 1.25 m/s
        m_child, m_adult = res[col.minutes(tier, "child")], res[col.minutes(tier, "adult")]
        np.testing.assert_allclose(m_child, m_adult * 1.25 / 1.0)
        covered = (m_child <= {"center": 15, "station": 10, "point": 5}[tier]).to_numpy()
        assert (res[col.covered(tier, "child")].to_numpy(bool) == covered).all()
    assert {col.missing_tiers("child"), col.underserved("child")} <= set(res.columns)
    assert set(iso["profile"]) == {"adult", "elderly", "child"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    child = summary["residents"]["tiers"]["station"]["child"]
    pop = res["population"].to_numpy(float)
    assert child["group"] == "population"
    assert child["covered_share"] == round(
        pop[res[col.covered("station", "child")].to_numpy(bool)].sum() / pop.sum(), 4
    )
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "儿童 1.00 m/s" in report
    assert pyogrio.list_layers(out / "plan.gpkg") is not None


def test_the_api_takes_its_profiles_from_the_area(child_area):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    plan = run(child_area, RunOptions(isochrones="none"))
    client = TestClient(create_app(Settings(area=child_area.file), plan=plan))
    assert [p["key"] for p in client.get("/tiers").json()["profiles"]] == ["adult", "elderly", "child"]
    schema = client.get("/openapi.json").json()
    prop = schema["components"]["schemas"]["CoverageRequest"]["properties"]["profile"]
    assert ["adult", "elderly", "child"] in [b.get("enum") for b in prop.get("anyOf", [prop])]
    node = plan.network
    lon, lat = float(node.lon[10]), float(node.lat[10])
    body = client.post("/coverage", json={"points": [{"lon": lon, "lat": lat}], "profile": "child"}).json()
    expected = plan.query([lon], [lat])
    assert body["profile"] == "child"
    assert body["results"][0]["minutes"]["station"] == pytest.approx(
        round(float(expected[col.minutes("station", "child")].iat[0]), 2)
    )
    bad = client.post("/coverage", json={"points": [{"lon": lon, "lat": lat}], "profile": "toddler"})
    assert bad.status_code == 422 and "'toddler' is not one of adult, elderly, child" in bad.text


def test_a_profile_for_a_group_the_residents_lack_is_a_clear_error(area_toml, tmp_path):
    text = area_toml.read_text(encoding="utf-8") + '\n[profiles.wheelchair]\nspeed_mps = 0.9\ngroup = "disabled"\n'
    path = area_toml.parent / "area_wheel.toml"
    path.write_text(text, encoding="utf-8")
    from planner.errors import ConfigError

    with pytest.raises(ConfigError, match="profile 'wheelchair' is for group 'disabled', but the residents have no"):
        run(StudyArea.from_toml(path), RunOptions(isochrones="none"))
