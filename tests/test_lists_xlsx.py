"""一报告三清单: the needs, resources and services lists of a plan, checked against the residents layer, and
their workbook read back."""

from __future__ import annotations

import numpy as np
import openpyxl
import pandas as pd
import pytest

from planner import columns as col
from planner.area import StudyArea
from planner.errors import OutputError
from planner.lists import RESOURCES_COLUMNS, SERVICES_COLUMNS, SHEETS, ThreeLists, three_lists
from planner.lists_needs import NEEDS_COLUMNS, OUTSIDE_LIST, OUTSIDE_UNITS, PARTLY_ASSESSED, UNASSESSED
from planner.lists_xlsx import write_lists_xlsx
from planner.pipeline import RunOptions, run
from planner.plan import Plan


@pytest.fixture(scope="module")
def plan(area_toml) -> Plan:
    return run(StudyArea.from_toml(area_toml), RunOptions(isochrones="none", sites={"station": 2}))


def _lists(plan: Plan, **changes) -> ThreeLists:
    inputs = {
        "residents": plan.residents,
        "units": plan.units,
        "facilities": plan.facilities,
        "proposals": plan.proposals,
        "rules": plan.rules,
        "network": plan.network,
    }
    inputs.update(changes)
    return three_lists(**inputs)


@pytest.fixture(scope="module")
def lists(plan) -> ThreeLists:
    return _lists(plan)


# ---------------------------------------------------------------------------------------------- needs
def test_needs_totals_equal_the_residents_layer(plan, lists):
    res, needs = plan.residents, lists.needs
    assert list(needs.columns) == list(NEEDS_COLUMNS)
    assert OUTSIDE_UNITS not in set(needs["单元"])  # the grid covers the extract
    for tier in plan.rules.tiers:
        for prof in plan.rules.profiles:
            rows = needs[needs["数据列"] == col.covered(tier.key, prof.key)]
            assert len(rows) == len(plan.units)
            assert set(rows["名称"]) == {tier.name_zh} and set(rows["步行目标（分钟）"]) == {tier.minutes}
            assert set(rows["人群"]) == {"全体居民" if prof.group == "population" else "老年人"}
            weights = res[prof.group].to_numpy(float)
            lacking = ~res[col.covered(tier.key, prof.key)].to_numpy(bool)
            assert rows["未覆盖人数"].sum() == pytest.approx(weights[lacking].sum(), rel=1e-9)
            assert rows["人群人数"].sum() == pytest.approx(weights.sum(), rel=1e-9)
            assert (rows["评估人数"] == rows["人群人数"]).all()  # tiers are assessed everywhere
    # the services the fixture's list offers (elderly care, meals) are measured for the elderly only
    for key in ("elderly_care", "meals"):
        rule = plan.rules.service(key)
        rows = needs[needs["名称"] == rule.name_zh]
        assert set(rows["人群"]) == {"老年人"} and set(rows["说明"]) == {""}
        minutes = res[col.service_minutes(key, "elderly")].to_numpy(float)
        expected = res["elderly"].to_numpy(float)[~(minutes <= rule.minutes)].sum()
        assert rows["未覆盖人数"].sum() == pytest.approx(expected, rel=1e-9)


def test_needs_per_unit_agree_with_the_unit_table_and_a_hand_count(plan, lists):
    needs = lists.needs
    adult = needs[needs["数据列"] == col.covered("station", "adult")].set_index("单元")
    units = plan.units.set_index("unit")
    # unit_table assigns residents to cells with code of its own: same people per cell
    assert adult.loc[units.index, "人群人数"].to_numpy() == pytest.approx(units["population"].to_numpy(), rel=1e-9)
    # one cell by hand: the residents geopandas finds within its polygon
    cell = plan.units.iloc[0]
    inside = plan.residents[plan.residents.within(cell.geometry)]
    lacking = inside.loc[~inside["covered_station_adult"], "population"].sum()
    row = adult.loc[cell["unit"]]
    assert row["未覆盖人数"] == pytest.approx(lacking, rel=1e-9)
    assert row["占比"] == pytest.approx(lacking / inside["population"].sum(), rel=1e-9)
    elderly = needs[needs["数据列"] == col.covered("point", "elderly")].set_index("单元").loc[cell["unit"]]
    eld_lacking = inside.loc[~inside["covered_point_elderly"], "elderly"].sum()
    assert elderly["未覆盖人数"] == pytest.approx(eld_lacking, rel=1e-9)
    assert elderly["人群人数"] == pytest.approx(inside["elderly"].sum(), rel=1e-9)


def test_needs_are_ranked_by_people_lacking_with_unassessed_last(lists):
    people = lists.needs["未覆盖人数"].to_numpy(float)
    assessed = np.isfinite(people)
    first_unassessed = int(np.argmin(assessed))
    assert assessed[:first_unassessed].all() and not assessed[first_unassessed:].any()
    assert (np.diff(people[:first_unassessed]) <= 0).all()


def test_unassessed_services_say_so_and_never_zero(plan, lists):
    needs = lists.needs
    offered = {"elderly_care", "meals"}  # the only services of the fixture's facility list
    for rule in plan.rules.services:
        rows = needs[needs["名称"] == rule.name_zh]
        # one row per unit and profile the service is measured for
        assert len(rows) == len(plan.units) * len(plan.rules.service_profiles(rule.key))
        if rule.key in offered:
            assert rows["未覆盖人数"].notna().all()
            continue
        assert rows["未覆盖人数"].isna().all() and rows["占比"].isna().all()
        assert set(rows["说明"]) == {UNASSESSED}
        assert not (rows["未覆盖人数"] == 0).any()
    assert any("未评估" in note and "托育" in note for note in lists.notes)


def test_a_service_assessed_only_where_its_list_is_complete(plan):
    """As [services.meals.assessed_in] marks them: the canteen list is complete in cells 0 and 1 and the west
    half of cell 2; elsewhere the residents' minutes are NaN and they are not assessed, never "lacking"."""
    residents = plan.residents.copy()
    units = plan.units
    west = units.geometry.iloc[2].centroid.x
    in_cells = residents.intersects(units.geometry.iloc[:2].union_all())
    in_half = residents.within(units.geometry.iloc[2]) & (residents.geometry.x < west)
    assessed = (in_cells | in_half).to_numpy()
    assert 0 < in_half.sum() < residents.within(units.geometry.iloc[2]).sum()
    minutes_col = col.service_minutes("meals", "elderly")
    residents[col.service_assessed("meals")] = assessed
    residents.loc[~assessed, minutes_col] = np.nan  # what coverage does outside the area
    needs = _lists(plan, residents=residents).needs
    rows = needs[needs["数据列"] == minutes_col].set_index("单元")
    eld = residents["elderly"].to_numpy(float)
    lacking = assessed & ~(residents[minutes_col].to_numpy(float) <= 10.0)
    assert rows["未覆盖人数"].sum() == pytest.approx(eld[lacking].sum(), rel=1e-9)
    assert rows["评估人数"].sum() == pytest.approx(eld[assessed].sum(), rel=1e-9)
    names = list(units["unit"])
    assert list(rows.loc[names[:2], "说明"]) == ["", ""]
    assert rows.loc[names[2], "说明"] == PARTLY_ASSESSED
    half = residents.loc[in_half.to_numpy(), "elderly"].sum()
    assert rows.loc[names[2], "评估人数"] == pytest.approx(half, rel=1e-9)
    assert rows.loc[names[2], "人群人数"] > half
    outside = rows.loc[names[3:]]
    assert (outside["说明"] == OUTSIDE_LIST).all()
    assert outside["未覆盖人数"].isna().all() and outside["占比"].isna().all()  # not assessed: empty, never 0
    # the other service (elderly care) is assessed everywhere, as before
    care = needs[needs["数据列"] == col.service_minutes("elderly_care", "elderly")]
    assert set(care["说明"]) == {""} and care["未覆盖人数"].notna().all()


def test_residents_outside_every_unit_get_their_own_row(plan):
    units = plan.units.iloc[1:]  # drop the first cell: its residents are in no unit
    lists = _lists(plan, units=units)
    needs = lists.needs
    outside = needs[(needs["单元"] == OUTSIDE_UNITS) & (needs["数据列"] == col.covered("station", "adult"))]
    assert len(outside) == 1
    assert outside["人群人数"].iloc[0] == pytest.approx(plan.units["population"].iloc[0], rel=1e-9)
    rows = needs[needs["数据列"] == col.covered("station", "adult")]
    lacking = plan.residents.loc[~plan.residents["covered_station_adult"], "population"].sum()
    assert rows["未覆盖人数"].sum() == pytest.approx(lacking, rel=1e-9)  # totals still match
    assert any(OUTSIDE_UNITS in note for note in lists.notes)


# ------------------------------------------------------------------------------------------ resources
def test_resources_one_row_per_facility(plan, lists):
    res = lists.resources
    assert list(res.columns) == list(RESOURCES_COLUMNS)
    assert len(res) == len(plan.facilities) and set(res["编号"]) == set(plan.facilities["facility_id"])
    by_id = res.set_index("编号")
    for _, fac in plan.facilities.iterrows():
        row = by_id.loc[fac["facility_id"]]
        assert row["名称"] == fac["name"] and row["层级"] == plan.rules.tier(fac["tier"]).name_zh
        assert row["服务"] == "养老、助餐"  # elderly_care;meals in the fixture's list
        assert row["示意数据"] == "是"  # the fixture's list is illustrative
    # the tiers in order: center, then stations, then points
    assert list(res["层级"]) == ["社区服务中心"] + ["家门口服务站"] * 2 + ["家门口服务点"] * 4
    # the plan's residents carry nearest_<tier> (coverage stage): the served population is filled in and, for
    # every tier, adds up to the residents who reach some facility of it (checked against plan.query below)
    assert res["服务人口"].notna().all()
    for tier in plan.rules.tiers:
        reach = plan.residents[col.nearest(tier.key)].notna().to_numpy()
        served = res.loc[res["层级"] == tier.name_zh, "服务人口"].sum()
        assert served == pytest.approx(plan.residents["population"].to_numpy(float)[reach].sum())


def test_served_population_and_the_gb50180_band(plan):
    residents = plan.residents.drop(columns=[col.nearest(t.key) for t in plan.rules.tiers])
    nearest = plan.query(residents.geometry.x, residents.geometry.y)
    for tier in plan.rules.tiers:
        residents[col.nearest(tier.key)] = nearest[col.nearest(tier.key)].to_numpy()
    facilities = plan.facilities.copy()
    facilities["opening_hours"] = ["08:00-20:00", None, "", None, None, None, "周一至周五 9:00-17:00"]
    facilities["position_flag"] = ["", "street_far", "district_mismatch", "shared_point", "", "", ""]
    res = _lists(plan, residents=residents, facilities=facilities).resources.set_index("编号")
    pop = residents["population"].to_numpy(float)
    for tier in plan.rules.tiers:
        ids = facilities.loc[facilities["tier"] == tier.key, "facility_id"]
        lo, hi = tier.population_served
        for fid in ids:
            expected = pop[(residents[col.nearest(tier.key)] == fid).to_numpy()].sum()
            assert res.loc[fid, "服务人口"] == pytest.approx(expected, rel=1e-9)
            assert res.loc[fid, "规模判定"] == ("低于" if expected < lo else "高于" if expected > hi else "符合")
            assert res.loc[fid, "人口规模（GB 50180）"] == f"{lo:,}–{hi:,}"
        # every resident with a facility of the tier is served by exactly one of them
        reached = residents[col.nearest(tier.key)].notna().to_numpy()
        assert res.loc[list(ids), "服务人口"].sum() == pytest.approx(pop[reached].sum(), rel=1e-9)
    assert list(res["开放时间"]) == ["08:00-20:00", "", "", "", "", "", "周一至周五 9:00-17:00"]
    assert list(res["位置存疑"])[:4] == ["", "与地址所在道路相距超过500米", "所在区与清单不符", "与其他记录坐标相同"]


# ------------------------------------------------------------------------------------------- services
def test_services_list_the_proposed_sites_in_order(plan, lists):
    svc = lists.services
    assert list(svc.columns) == list(SERVICES_COLUMNS)
    (proposal,) = plan.proposals
    sites = proposal.sites.sort_values("rank")
    assert list(svc["序号"]) == ["站1", "站2"]
    assert set(svc["层级"]) == {"家门口服务站"} and set(svc["步行速度"]) == {"成人"}
    assert svc["新增覆盖居民"].tolist() == pytest.approx(sites["new_population"].tolist())
    assert svc["新增覆盖老年人"].tolist() == pytest.approx(sites["new_elderly"].tolist())
    assert svc["覆盖率（累计）"].tolist() == pytest.approx(sites["covered_share"].tolist())
    assert svc["覆盖率（累计）"].is_monotonic_increasing
    streets = set(plan.network.meta["way_names"].values())
    for place in svc["位置"]:
        assert place and set(place.split("近")) <= streets  # real street names of the extract
    # the names come with the proposed sites; the OSM attribution of street names goes with the network
    no_network = _lists(plan, network=None)
    assert no_network.services["位置"].tolist() == sites["place"].tolist()
    assert not any("OpenStreetMap 道路名" in n for n in no_network.notes)
    assert any("OpenStreetMap 道路名" in n for n in lists.notes)


def test_sites_are_numbered_per_tier(plan):
    point = plan.propose_sites("point", k=3)
    lists = _lists(plan, proposals=(*plan.proposals, point))
    assert list(lists.services["序号"]) == ["站1", "站2", "点1", "点2", "点3"]
    assert list(_lists(plan, proposals=()).services.columns) == list(SERVICES_COLUMNS)


# ------------------------------------------------------------------------------------------- workbook
def test_the_workbook_round_trips(plan, lists, tmp_path):
    path = write_lists_xlsx(lists, tmp_path / "三清单.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(SHEETS)
    for name, frame in zip(SHEETS, (lists.needs, lists.resources, lists.services)):
        sheet = book[name]
        assert [c.value for c in sheet[1]] == list(frame.columns)
        assert sheet.max_row == len(frame) + 1
        assert sheet.freeze_panes == "A2"
    needs = book["需求清单"]
    header = [c.value for c in needs[1]]
    rows = pd.DataFrame(list(needs.iter_rows(min_row=2, values_only=True)), columns=header)
    # the cells keep the exact figures: the totals still equal the residents layer
    station = rows[rows["数据列"] == col.covered("station", "adult")]
    lacking = plan.residents.loc[~plan.residents["covered_station_adult"], "population"].sum()
    assert station["未覆盖人数"].sum() == pytest.approx(lacking, rel=1e-9)
    # not assessed: an empty cell, never 0
    unassessed = rows[rows["说明"] == UNASSESSED]
    assert len(unassessed) and unassessed["未覆盖人数"].isna().all()
    count_col = header.index("未覆盖人数") + 1
    assert needs.cell(row=2, column=count_col).number_format == "#,##0"
    assert needs.cell(row=2, column=header.index("占比") + 1).number_format == "0.0%"
    # the resources list's crowding figures read as people and a share, not as 56745.07520158929
    res = book["资源清单"]
    res_header = [c.value for c in res[1]]
    for name, fmt in (("步行范围内人口", "#,##0"), ("可服务人数", "#,##0"), ("负荷率", "0.0%")):
        assert res.cell(row=2, column=res_header.index(name) + 1).number_format == fmt, name
    # the unit names and the Chinese headers fit their columns
    assert needs.column_dimensions["C"].width >= 2 * len("家门口服务站")
    notes = [c.value for c in book["说明"]["A"]]
    assert notes[0] == "说明" and notes[1:] == list(lists.notes)
    assert any("示意" in n for n in notes[1:])
    assert [c.value for c in book["服务清单"]["A"]][1:] == ["站1", "站2"]


def test_an_unwritable_path_is_an_output_error(lists, tmp_path):
    with pytest.raises(OutputError, match="cannot write the lists workbook"):
        write_lists_xlsx(lists, tmp_path)  # a folder in the way
