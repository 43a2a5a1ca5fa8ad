"""Candidate sites, proposals on a real extract, the CLI, and what-if comparisons."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.cli import main
from planner.errors import ConfigError
from planner.scenario import what_if
from planner.sites import area_candidates, crowding_relief, intersection_candidates, parse_weight, propose
from planner.straight_line import StraightLine

if TYPE_CHECKING:
    from planner.plan import Plan


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


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


def test_cli_sites_and_cover(yangpu_run_sites_and_cover):
    # `lifecircle -q plan --area <area_toml> --out <out> --no-progress --sites station=2,point=3 --cover center=0.95
    # --site-time-limit 20`, run beside the tests as the session starts (conftest CLI_RUNS)
    run = yangpu_run_sites_and_cover
    assert run.returncode == 0, run.stderr
    out = run.out
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


# ---------------------------------------------------------------- siting weighs crowding (issue 18 item 2)


def _crowded_case():
    """West: 100 people with no station. East, 1,000 m away: 300 people covered by station S1, which is crowded.
    Candidates every 100 m on the line between them; a site covers people within 600 m straight (750 m walked at
    1.25 m/s in 10 minutes)."""
    frame = StraightLine(shapely.box(121.20, 31.00, 121.30, 31.06))
    x0, y0 = frame.project(121.24, 31.03)
    rx, ry = np.array([x0, x0 + 1000.0]), np.array([y0, y0])
    lon, lat = frame.unproject(rx, ry)
    residents = gpd.GeoDataFrame(
        {
            "population": [100.0, 300.0],
            "elderly": [20.0, 90.0],
            "edge": -1,
            "t": np.nan,
            "offset_m": 0.0,
            "covered_station_adult": [False, True],
            "nearest_station": [None, "S1"],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    cx = x0 + np.arange(0.0, 1001.0, 100.0)
    clon, clat = frame.unproject(cx, np.full(len(cx), y0))
    cands = gpd.GeoDataFrame(
        {"candidate_id": [f"C{int(d)}" for d in cx - x0], "source": "test"},
        geometry=gpd.points_from_xy(clon, clat),
        crs="EPSG:4326",
    )
    return frame, residents, cands, cx - x0


def _propose_station(frame, residents, cands, k, **kw):
    return propose(
        frame,
        residents,
        cands,
        tier="station",
        minutes=10.0,
        speed_mps=1.25,
        profile="adult",
        covered_column="covered_station_adult",
        k=k,
        **kw,
    )


def test_relief_pulls_the_site_toward_a_crowded_station():
    frame, residents, cands, offset = _crowded_case()
    plain = _propose_station(frame, residents, cands, 1)
    assert "relieved_population" not in plain.sites and "relieved_population" not in plain.summary()
    assert plain.result.objective == pytest.approx(100.0)
    # with relief, only a site within 600 m of both groups scores best: 100 + 0.5 x 300
    eased = _propose_station(frame, residents, cands, 1, relieve={"S1": 0.5})
    where = offset[cands["candidate_id"].tolist().index(eased.sites["candidate_id"].iloc[0])]
    assert 400 <= where <= 600 and eased.result.objective == pytest.approx(250.0)
    # the gains recounted from distances, not from the solver: new people and relieved people apart
    assert eased.sites["new_population"].iloc[0] == 100 and eased.sites["relieved_population"].iloc[0] == 300
    assert eased.sites["relieved_elderly"].iloc[0] == 90 and eased.sites["covered_share"].iloc[0] == 1.0
    assert eased.summary()["relieved_population"] == 300


def test_relief_alone_can_outweigh_uncovered_people():
    frame, residents, cands, offset = _crowded_case()
    far = cands[(offset <= 200) | (offset >= 900)].reset_index(drop=True)  # no site reaches both groups
    x_of = dict(zip(cands["candidate_id"], offset))
    assert x_of[_propose_station(frame, residents, far, 1).sites["candidate_id"].iloc[0]] <= 200
    strong = _propose_station(frame, residents, far, 1, relieve={"S1": 0.5})  # 150 > 100
    assert x_of[strong.sites["candidate_id"].iloc[0]] >= 900
    assert strong.sites["new_population"].iloc[0] == 0 and strong.sites["relieved_population"].iloc[0] == 300
    weak = _propose_station(frame, residents, far, 1, relieve={"S1": 0.25})  # 75 < 100
    assert x_of[weak.sites["candidate_id"].iloc[0]] <= 200
    two = _propose_station(frame, residents, far, 2, relieve={"S1": 0.5})
    assert two.sites["new_population"].tolist() == [0, 100] and two.sites["relieved_population"].tolist() == [300, 0]
    assert two.sites["covered_share"].tolist() == [0.75, 1.0]  # coverage counts only the newly covered


def test_relief_factors_and_refusals():
    table = pd.DataFrame(
        {
            "facility_id": ["S1", "S2", "S3", "P1"],
            "crowding_key": ["station", "station", "station", "point"],
            "load": [2.0, 0.8, np.nan, 4.0],
            "crowded": pd.array([True, False, pd.NA, True], dtype="boolean"),
        }
    )
    assert crowding_relief(table, "station") == {"S1": 0.5}  # 1 - 1/load: half its people are beyond capacity
    assert crowding_relief(table, "point", factor=0.3) == {"P1": 0.3}
    frame, residents, cands, _ = _crowded_case()
    for bad in ({"S1": 1.0}, {"S1": 0.0}):
        with pytest.raises(ConfigError, match="factors in"):
            _propose_station(frame, residents, cands, 1, relieve=bad)
    with pytest.raises(ConfigError, match="maximal covering"):
        propose(
            frame,
            residents,
            cands,
            tier="station",
            minutes=10.0,
            speed_mps=1.25,
            profile="adult",
            covered_column="covered_station_adult",
            target_share=0.9,
            relieve={"S1": 0.5},
        )


def test_relief_on_streets_recounts(plan):
    res = plan.residents
    busiest = res.loc[res["covered_station_adult"].astype(bool), "nearest_station"].value_counts().index[0]
    cands = area_candidates(plan.area, plan.network)
    kw = {
        "tier": "station",
        "minutes": plan.rules.tier("station").minutes,
        "speed_mps": plan.rules.everyone.speed_mps,
        "profile": "adult",
        "covered_column": "covered_station_adult",
        "k": 2,
    }
    plain = propose(plan.network, res, cands, **kw)
    again = plan.propose_sites("station", k=2)
    assert plain.sites["candidate_id"].tolist() == again.sites["candidate_id"].tolist()  # default unchanged
    eased = propose(plan.network, res, cands, relieve={busiest: 0.5}, **kw)
    assert eased.sites["relieved_population"].sum() > 0
    # the solver's objective is what the recount says: newly covered plus half the relieved (rounded to 0.1)
    recount = eased.sites["new_population"].sum() + 0.5 * eased.sites["relieved_population"].sum()
    assert eased.result.objective == pytest.approx(recount, abs=0.2)
    assert eased.result.objective >= plain.result.objective - 1e-6
