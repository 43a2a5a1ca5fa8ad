"""The lifecircle command and the Plan object on a small real study area."""

from __future__ import annotations

import json
import re
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest

from planner.area import StudyArea
from planner.cli import main
from planner.coords import wgs84_to_gcj02
from planner.errors import ConfigError


def test_plan_writes_layers_and_summary(yangpu_run_isochrones_all):
    # `lifecircle -q plan --area <area_toml> --out <out> --no-progress --isochrones all`, run beside the tests as
    # the session starts (conftest CLI_RUNS): its exit status and its files, as when run here
    run = yangpu_run_isochrones_all
    assert run.returncode == 0, run.stderr
    out = run.out
    layers = dict(pyogrio.list_layers(out / "plan.gpkg"))
    assert set(layers) == {"facilities", "isochrones", "service_areas", "residents", "units", "layer_sources"}
    # every layer says where it comes from, and the illustrative/estimated ones say so
    described = {
        n: pyogrio.read_info(out / "plan.gpkg", layer=n)["layer_metadata"]["DESCRIPTION"]
        for n in layers
        if n != "layer_sources"
    }
    assert all("ILLUSTRATIVE" in d for d in described.values())
    assert "ESTIMATE" in described["residents"] and "OpenStreetMap" in described["isochrones"]
    sources = pyogrio.read_dataframe(out / "plan.gpkg", layer="layer_sources")
    assert set(sources["layer"]) == set(described)
    iso = gpd.read_file(out / "plan.gpkg", layer="isochrones")
    assert len(iso) == 7 * 2 * 2  # facilities x bands x profiles
    assert iso.crs.to_epsg() == 4326 and set(iso.band_min) == {5.0, 10.0}
    sa = gpd.read_file(out / "plan.gpkg", layer="service_areas")
    assert len(sa) == 3 * 2 * 2 and (sa.area_km2 > 0).all()
    fac = gpd.read_file(out / "plan.gpkg", layer="facilities")
    assert fac["illustrative"].all() and fac["services"].iloc[0] == "elderly_care;meals"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["facilities"]["per_tier"] == {"center": 1, "station": 2, "point": 4}
    assert summary["facilities"]["illustrative"] is True
    assert summary["network"]["licence"].startswith("ODbL")
    assert summary["outputs"]["isochrones"] == 28


def test_refuses_to_overwrite_without_force(area_toml, yangpu_run, tmp_path, capsys):
    out = tmp_path / "run"
    # the results of `plan --area <area_toml> --out <out> --no-progress`, run once per session (conftest CLI_RUNS)
    # and copied here whole, since this test writes into the folder and runs --force over it
    assert yangpu_run.returncode == 0, yangpu_run.stderr
    shutil.copytree(yangpu_run.out, out)
    (out / "my-notes.txt").write_text("keep me")
    assert main(["-q", "plan", "--area", str(area_toml), "--out", str(out)]) == 2
    assert "already holds plan.gpkg, summary.json" in capsys.readouterr().err
    assert (
        main(
            [
                "-q",
                "plan",
                "--area",
                str(area_toml),
                "--out",
                str(out),
                "--force",
                "--no-progress",
                "--tier",
                "station=8",
                "--elderly-speed",
                "0.7",
                "--bands",
                "3,6",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["rules"]["tiers"]["station"]["minutes"] == 8
    assert summary["rules"]["profiles"]["elderly"]["speed_mps"] == 0.7
    assert summary["rules"]["bands_min"] == [3.0, 6.0]
    # by default only the dissolved service areas the map draws (the profile measured for everyone), searched
    # directly; no per-facility isochrones
    assert "isochrones" not in gpd.list_layers(out / "plan.gpkg")["name"].tolist()
    areas = gpd.read_file(out / "plan.gpkg", layer="service_areas")
    assert len(areas) == 3 * 2 and set(areas["profile"]) == {"adult"}  # 3 tiers x bands 3, 6
    assert (out / "my-notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--area", "nowhere/area.toml"], "study-area file not found: nowhere/area.toml"),
        (["plan", "--tier", "kiosk=5"], "--tier 'kiosk=5': no tier 'kiosk'; the tiers are center, station, point"),
        (["plan", "--tier", "station=soon"], "--tier 'station=soon': 'soon' is not a number of minutes"),
        (["plan", "--tier", "station=500"], "[tiers.station] minutes: Input should be less than or equal to 240"),
    ],
)
def test_clear_errors(args, message, capsys, tmp_path):
    assert main(["-q", *args, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_area_toml(tmp_path):
    bad = tmp_path / "area.toml"
    bad.write_text('[network]\nosm = "x.osm"\nspeed = 3\n')
    with pytest.raises(ConfigError, match=r"area.toml: \[network\] speed: unknown key \(known: osm, "):
        StudyArea.from_toml(bad)
    bad.write_text('[network]\nosm = "x.osm"\nmin_component = 3\n[facilites]\nfile = "f.csv"\n')
    with pytest.raises(ConfigError) as info:
        StudyArea.from_toml(bad)
    text = str(info.value)  # every problem at once, each with a did-you-mean
    assert "[network] min_component: unknown key; did you mean 'min_component_km'?" in text
    assert "facilites: unknown key; did you mean 'facilities'?" in text
    bad.write_text('[network]\nosm = "x.osm"\n[facilities]\nfile = "f.csv"\nmax_snap_m = "far"\ncrs = "utm"\n')
    with pytest.raises(ConfigError) as info:
        StudyArea.from_toml(bad)
    assert "[facilities] max_snap_m: Input should be a valid number" in str(info.value)
    assert "[facilities] crs: unknown coordinate system 'utm'; use one of wgs84, gcj02, bd09" in str(info.value)
    bad.write_text('[network]\nosm = "x.osm"\n')
    with pytest.raises(FileNotFoundError, match=re.escape("osm = 'x.osm': file not found")):
        StudyArea.from_toml(bad)
    bad.write_text("[network\n")
    with pytest.raises(ValueError, match="not valid UTF-8 TOML"):
        StudyArea.from_toml(bad)


def test_help_is_for_planners(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = capsys.readouterr().out
    assert "center 15 min" in text and "--tier" in text and "--elderly-speed" in text


def test_plan_query_at_facilities_and_in_gcj02(yangpu_plan):
    plan = yangpu_plan
    fac = plan.facilities
    res = plan.query(fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    for i, tier in enumerate(fac["tier"]):
        assert res[f"minutes_{tier}_adult"].iat[i] == pytest.approx(0.0, abs=1e-6)
        assert res[f"nearest_{tier}"].iat[i] == fac["facility_id"].iat[i]
        assert bool(res[f"covered_{tier}_elderly"].iat[i])
    lon, lat = fac.geometry.x.to_numpy() + 0.001, fac.geometry.y.to_numpy()
    wgs = plan.query(lon, lat)
    gcj = plan.query(*wgs84_to_gcj02(lon, lat), crs="gcj02")
    np.testing.assert_allclose(wgs["minutes_center_adult"], gcj["minutes_center_adult"], atol=1e-6)
    # elderly minutes are adult minutes scaled by the speed ratio
    ratio = plan.rules.profile("adult").speed_mps / plan.rules.profile("elderly").speed_mps
    np.testing.assert_allclose(wgs["minutes_point_elderly"], wgs["minutes_point_adult"] * ratio)
    far = plan.query([116.4], [39.9])  # Beijing: nowhere near these streets
    assert np.isnan(far["minutes_center_adult"].iat[0]) and far["nearest_center"].iat[0] is None
