"""A district with no street network: straight line x detour factor, checked by hand and against brute force,
and every figure said to be an estimate (估算) in the report, the lists, the map and the summary."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from planner import columns as col
from planner.area import StudyArea
from planner.cli import area_with_flags, build_parser
from planner.errors import ConfigError
from planner.outputs import write_outputs
from planner.pipeline import RunOptions, run
from planner.straight_line import DETOUR_FACTOR, StraightLine
from tests.conftest import ROOT

SONGJIANG = ROOT / "data" / "examples" / "songjiang" / "area.toml"


def _utm_metres(lon, lat):
    """Independent projection to UTM zone 51N (Shanghai), not through the planner."""
    return pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform(lon, lat)


def test_hand_worked_walk():
    model = StraightLine(shapely.box(121.20, 31.00, 121.30, 31.06))
    assert model.crs == "EPSG:32651"
    fx, fy = _utm_metres(121.25, 31.03)
    # a resident 300 m east and 400 m north of the facility: 500 m straight, 625 m walked, 500 s at 1.25 m/s
    lon, lat = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True).transform(fx + 300, fy + 400)
    near = model.nearest(np.array([121.25]), np.array([31.03]), np.array([7]), horizon_m=1000.0)
    metres, fac = near.distances([lon], [lat])
    assert DETOUR_FACTOR == 1.25
    assert metres[0] == pytest.approx(625.0, abs=1e-6)
    assert fac[0] == 7
    assert metres[0] / 1.25 / 60 == pytest.approx(500 / 60, abs=1e-8)
    # beyond the horizon: unreachable, never a number
    far = model.nearest(np.array([121.25]), np.array([31.03]), horizon_m=600.0)
    metres, fac = far.distances([lon], [lat])
    assert np.isinf(metres[0]) and fac[0] == -1


def test_cover_sets_match_brute_force():
    model = StraightLine(shapely.box(121.20, 31.00, 121.30, 31.06))
    rng = np.random.default_rng(5)
    plon, plat = rng.uniform(121.21, 121.29, 400), rng.uniform(31.01, 31.05, 400)
    slon, slat = rng.uniform(121.21, 121.29, 30), rng.uniform(31.01, 31.05, 30)
    cover = model.cover_sets(slon, slat, plon, plat, 900.0).toarray()
    px, py = _utm_metres(plon, plat)
    sx, sy = _utm_metres(slon, slat)
    brute = np.hypot(px[:, None] - sx[None, :], py[:, None] - sy[None, :]) * 1.25 <= 900.0
    assert cover.shape == (400, 30)
    assert (cover == brute).all()
    assert 0 < brute.sum() < brute.size


@pytest.fixture(scope="module")
def songjiang():
    return run(StudyArea.from_toml(SONGJIANG))


def test_songjiang_minutes_equal_brute_force(songjiang):
    plan = songjiang
    assert plan.estimated and plan.network is None
    res = plan.residents
    canteens = plan.facilities[plan.facilities["list"] == "services.meals"]
    assert len(canteens) >= 3
    rx, ry = _utm_metres(res.geometry.x.to_numpy(), res.geometry.y.to_numpy())
    cx, cy = _utm_metres(canteens.geometry.x.to_numpy(), canteens.geometry.y.to_numpy())
    straight = np.hypot(rx[:, None] - cx[None, :], ry[:, None] - cy[None, :]).min(axis=1)
    expected = straight * 1.25 / 0.76 / 60  # elderly at 0.76 m/s
    got = res[col.service_minutes("meals", "elderly")].to_numpy(float)
    reach = straight * 1.25 <= plan.horizon_min * 60 * max(p.speed_mps for p in plan.rules.profiles)
    assert np.allclose(got[reach], expected[reach], rtol=0, atol=1e-9)
    assert np.isnan(got[~reach]).all()
    # the population is kept whole and the canteens were read as GCJ-02 (moved ~300-500 m to WGS-84)
    source = pd.read_csv(SONGJIANG.parent / "pop_grid_1km.csv")["population"].sum()
    assert source == pytest.approx(324_720, abs=1) and res["population"].sum() == pytest.approx(source, rel=1e-12)
    shift = np.hypot(*np.subtract(_utm_metres(canteens["source_lon"], canteens["source_lat"]), (cx, cy)))
    assert (shift > 250).all() and (shift < 700).all()
    # no tier inventory: the tiers are not assessed, never "everyone within 15 minutes"
    head = plan.summary()["residents"]
    assert plan.rules.tiers == ()
    assert head["within_15min_all_tiers_share"] is None
    without = head["services"]["meals"]["profiles"]["elderly"]["without_share"]
    eld = res["elderly"].to_numpy(float)
    assert without == pytest.approx(eld[~(got <= 10)].sum() / eld.sum(), abs=5e-5)  # rounded to 4 places


def test_songjiang_outputs_say_estimate(songjiang, tmp_path):
    summary = write_outputs(songjiang, tmp_path / "out")
    out = tmp_path / "out"
    assert summary["network"]["mode"] == "none"
    assert summary["network"]["estimate"]["detour_factor"] == 1.25
    assert json.loads((out / "summary.json").read_text())["network"]["estimate"]["method"] == "straight_line"
    report = (out / "report.html").read_text(encoding="utf-8")
    findings = re.search(r"<ul class=findings>(.*?)</ul>", report, re.S).group(1)
    walking = [li for li in re.findall(r"<li>(.*?)</li>", findings, re.S) if "%" in li]
    assert walking and all("估算" in li for li in walking)
    assert "步行距离按直线距离×绕行系数 1.25 估算" in report
    assert "层级设施（社区服务中心、服务站、服务点）<b>未评估</b>" in report
    assert "沿街道计算" not in report  # no sentence claims walks along streets
    lists = songjiang.lists
    assert lists.notes[0].startswith("估算")
    measured = lists.needs[lists.needs["未覆盖人数"].notna()]
    assert len(measured) and measured["说明"].str.contains("估算").all()
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "居民步行时间 · 助餐服务 · 老年人 · 10 分钟目标（估算）" in page
    assert "OpenStreetMap contributors" not in page.split("来源 Sources")[1][:200]  # no OSM streets claimed


def test_default_area_without_streets_proposes_sites_whose_gains_recount():
    area = StudyArea.default().with_overrides(network={"mode": "none"})
    options = RunOptions(isochrones="none", sites={"station": 3}, site_method="greedy", site_time_limit=3)
    plan = run(area, options)
    assert plan.estimated
    res = plan.residents
    covered = res[col.covered("station", "adult")].to_numpy(bool).copy()
    rx, ry = _utm_metres(res.geometry.x.to_numpy(), res.geometry.y.to_numpy())
    pop = res["population"].to_numpy(float)
    sites = plan.proposals[0].sites.sort_values("rank")
    assert len(sites) == 3
    for _, site in sites.iterrows():  # each site's gain, recounted by brute force in rank order
        sx, sy = _utm_metres(site.geometry.x, site.geometry.y)
        reach = np.hypot(rx - sx, ry - sy) * 1.25 <= 10 * 4.5 / 3.6 * 60
        new = reach & ~covered
        assert site["new_population"] == pytest.approx(round(pop[new].sum(), 1), abs=0.06)
        covered |= reach
        assert re.search(r"^近.+|.+以.+约\d+\.\d公里", site["place"])  # named after a facility, not a code


def test_streets_mode_needs_a_file_and_the_flag_switches_it(tmp_path):
    with pytest.raises(ConfigError, match='mode = "none"'):
        StudyArea.from_dict({"network": {}}, tmp_path / "area.toml")
    args = build_parser().parse_args(["plan", "--network", "none", "--detour-factor", "1.4"])
    area = area_with_flags(StudyArea.default(), args)
    assert area.settings.network.mode == "none"
    assert area.settings.network.detour_factor == 1.4


def test_what_if_command_on_an_area_without_streets(songjiang, tmp_path, capsys):
    from planner.cli import main

    canteen = songjiang.facilities[songjiang.facilities["list"] == "services.meals"].iloc[0]
    path = tmp_path / "关闭食堂.toml"
    path.write_text(f'title = "关闭一处食堂"\nclose = ["{canteen["facility_id"]}"]\n', encoding="utf-8")
    out = tmp_path / "wi"
    assert main(["-q", "what-if", str(path), "--area", str(SONGJIANG), "--out", str(out)]) == 0
    data = json.loads((out / "scenario.json").read_text(encoding="utf-8"))
    assert data["estimate"] is True and data["closed"] == [{"id": canteen["facility_id"], "name": canteen["name"]}]
    loss = data["services"]["meals"]["elderly"]["loss_elderly"]
    # the loss, recounted: elderly within 10 min of the closed canteen and of no other
    res = songjiang.residents
    before = res[col.service_minutes("meals", "elderly")].to_numpy(float) <= 10
    rx, ry = _utm_metres(res.geometry.x.to_numpy(), res.geometry.y.to_numpy())
    others = songjiang.facilities[
        (songjiang.facilities["list"] == "services.meals")
        & (songjiang.facilities["facility_id"] != canteen["facility_id"])
    ]
    ox, oy = _utm_metres(others.geometry.x.to_numpy(), others.geometry.y.to_numpy())
    after = (np.hypot(rx[:, None] - ox, ry[:, None] - oy).min(axis=1) * 1.25 / 0.76 / 60) <= 10
    eld = res["elderly"].to_numpy(float)
    assert loss == round(eld[before & ~after].sum())
    assert (out / "lists.xlsx").is_file()
    # street edits need streets: refused with the reason, exit 2
    path.write_text("[[add_links]]\nfrom = [121.24, 31.02]\nto = [121.25, 31.02]\n", encoding="utf-8")
    assert main(["-q", "what-if", str(path), "--area", str(SONGJIANG), "--out", str(out), "--force"]) == 2
    assert "need a street network" in capsys.readouterr().err


def test_area_init_without_streets_writes_an_area_that_plans(tmp_path, capsys):
    """``area init --network none``: a district's canteen list (GCJ-02 headers) and grid, no street file."""
    from planner.cli import main

    src = SONGJIANG.parent
    out = tmp_path / "sj"
    args = ["area", "init", "--network", "none", "--facilities", str(src / "canteens_gcj02.csv")]
    args += ["--service", "meals", "--population", str(src / "pop_grid_1km.csv"), "--out", str(out)]
    assert main(["-q", *args]) == 0
    report = capsys.readouterr().out
    assert "streets: none" in report and "cannot be checked" in report and "declared gcj02" in report
    area = StudyArea.from_toml(out / "area.toml")
    assert area.settings.network.mode == "none" and area.settings.services["meals"].crs == "gcj02"
    assert main(["-q", "plan", "--area", str(out / "area.toml"), "--out", str(tmp_path / "plan")]) == 0
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text(encoding="utf-8"))
    assert summary["network"]["mode"] == "none" and summary["residents"]["services"]["meals"]["assessed"]
    # no street file and no --network none: one clear line
    assert main(["-q", "area", "init", "--facilities", str(src / "canteens_gcj02.csv"), "--out", str(out)]) == 2
    assert "--network none" in capsys.readouterr().err
