"""Candidate sites, proposals on a real extract, the CLI, and what-if comparisons."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pytest

from planner.area import StudyArea
from planner.cli import main
from planner.pipeline import RunOptions, run
from planner.scenario import what_if
from planner.sites import intersection_candidates, parse_weight

if TYPE_CHECKING:
    from planner.plan import Plan


@pytest.fixture(scope="module")
def plan(area_toml) -> Plan:
    return run(StudyArea.from_toml(area_toml), RunOptions(isochrones="none"))


def test_intersection_candidates_are_thinned_intersections(plan):
    net = plan.network
    cands = intersection_candidates(net, spacing_m=100)
    degree = np.bincount(net.u, minlength=net.n_nodes) + np.bincount(net.v, minlength=net.n_nodes)
    assert 0 < len(cands) <= (degree >= 3).sum()
    x, y = net.project(cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy())
    cells = {(int(a // 100), int(b // 100)) for a, b in zip(x, y)}
    assert len(cells) == len(cands)  # one per 100 m square
    # the candidate's position on its edge is the intersection itself
    e, t = cands["edge"].to_numpy(), cands["t"].to_numpy()
    node = np.where(t == 0, net.u[e], net.v[e])
    np.testing.assert_allclose(net.lon[node], cands.geometry.x)


def test_proposal_covers_what_it_says(plan):
    prop = plan.propose_sites("station", k=2)
    sites = prop.sites
    assert list(sites["rank"]) == [1, 2] and prop.result.optimal
    # independent check: add the proposed sites as stations and recount coverage with the engine
    new = gpd.GeoDataFrame({"tier": ["station", "station"]}, geometry=sites.geometry.values, crs="EPSG:4326")
    after = what_if(plan, open_sites=new)
    gained = after.change["station"]["adult"]["gain_people"]
    assert gained == pytest.approx(sites["new_population"].sum(), abs=1.0)
    assert after.change["station"]["adult"]["gain_elderly"] == pytest.approx(sites["new_elderly"].sum(), abs=1.0)
    greedy = plan.propose_sites("station", k=2, method="greedy")
    assert greedy.result.objective <= prop.result.objective + 1e-6
    assert greedy.result.bound >= prop.result.objective - 1e-6


def test_set_covering_reaches_the_target(plan):
    before = plan.residents["covered_point_adult"].to_numpy(bool)
    pop = plan.residents["population"].to_numpy(float)
    target = min(0.9, pop[before].sum() / pop.sum() + 0.2)
    prop = plan.propose_sites("point", target_share=target)
    assert prop.sites["covered_share"].iloc[-1] >= target - 1e-6
    if len(prop.sites) > 1:  # one site fewer would not do (ranked: dropping the last loses its gain)
        assert prop.sites["covered_share"].iloc[-2] < target or not prop.result.optimal


def test_elderly_weight_and_bad_weights(plan):
    prop = plan.propose_sites("point", k=1, weight="elderly")
    assert prop.result.objective == pytest.approx(prop.sites["new_elderly"].iloc[0], abs=0.1)
    assert parse_weight("mix:0.25") == (0.25, 0.75)
    with pytest.raises(ValueError, match="use population, elderly or mix"):
        parse_weight("children")
    with pytest.raises(ValueError, match="give either k"):
        plan.propose_sites("point")


def test_what_if_close_a_facility(plan):
    fid = plan.facilities.loc[plan.facilities["tier"] == "center", "facility_id"].iloc[0]
    out = what_if(plan, close=[fid])
    pop = plan.residents["population"].to_numpy(float)
    lost = out.change["center"]["adult"]["loss_people"]
    # the only center closes: everyone it covered loses the tier
    assert lost == pytest.approx(pop[plan.residents["covered_center_adult"].to_numpy(bool)].sum(), abs=1)
    assert out.after["tiers"]["center"]["adult"]["people_without"] == round(pop.sum())
    assert out.base is plan and fid not in set(out.plan.facilities["facility_id"])
    assert plan.residents["covered_center_adult"].any()  # the plan itself is unchanged
    with pytest.raises(ValueError, match="cannot close unknown facility id"):
        what_if(plan, close=["nope"])


def test_sites_from_file_report_unreachable(plan, tmp_path):
    net = plan.network
    path = tmp_path / "idle.csv"
    path.write_text(
        f"id,name,lon,lat\nS1,闲置1,{net.lon[5]},{net.lat[5]}\nS2,far,{net.lon[5] + 0.05},{net.lat[5]}\n",
        encoding="utf-8",
    )
    from planner.sites import candidates_from_file

    cands = candidates_from_file(net, path)
    assert list(cands["candidate_id"]) == ["S1"]
    assert cands.attrs["unreachable"][0]["candidate_id"] == "S2" and cands.attrs["unreachable"][0]["row"] == 3


def test_cli_sites_and_cover(area_toml, tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "-q",
                "plan",
                "--area",
                str(area_toml),
                "--out",
                str(out),
                "--no-progress",
                "--sites",
                "station=2,point=3",
                "--cover",
                "center=0.95",
                "--site-time-limit",
                "20",
            ]
        )
        == 0
    )
    cands = gpd.read_file(out / "plan.gpkg", layer="candidates")
    assert set(cands["tier"]) == {"station", "point", "center"}
    assert (cands[cands.tier == "point"]["rank"].tolist()) == [1, 2, 3]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [s["model"] for s in summary["sites"]] == ["MCLP", "MCLP", "LSCP"]
    html = (out / "report.html").read_text(encoding="utf-8")
    s = summary["sites"][0]
    assert f"新增 <b>{s['sites']}</b> 处家门口服务站，可使 <b>{s['new_population']:,}</b> 名居民" in html
    assert "<td>站1</td>" in html and "<td>点1</td>" in html  # numbered per tier, named by streets


def test_cli_bad_sites_argument(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--sites", "station:5"])
    assert "expected TIER=VALUE" in capsys.readouterr().err
