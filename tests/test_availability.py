"""Opening hours per time window and crowding per facility, in a plan: checked against plans of the open facilities
alone, and against the people in each catchment counted by hand."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from planner import columns as col
from planner.area import StudyArea
from planner.errors import InputError
from planner.pipeline import RunOptions, run

HOURS = {  # by facility: X1 (a station) closes at five; X3 (a point) is open in the evening only
    "X1": "Mo-Fr 09:00-17:00",
    "X3": "Mo-Su 18:00-21:30",
    "X4": "24/7",
}


@pytest.fixture(scope="module")
def hours_area(area_toml, tmp_path_factory):
    root = tmp_path_factory.mktemp("hours")
    for f in area_toml.parent.iterdir():
        shutil.copy(f, root / f.name)
    fac = pd.read_csv(root / "facilities.csv")
    fac["开放时间"] = fac["id"].map(HOURS).fillna("")
    fac["容量"] = np.where(fac["id"] == "X2", 500, np.nan)  # one station says what it can serve
    fac.to_csv(root / "facilities.csv", index=False)
    return root


@pytest.fixture(scope="module")
def hours_plan(hours_area):
    return run(StudyArea.from_toml(hours_area / "area.toml"), RunOptions(isochrones="none"))


def _plan_without(root, tmp_path, drop):
    """The same area with some facilities removed from its list: the reference for a time window."""
    for f in root.iterdir():
        shutil.copy(f, tmp_path / f.name)
    fac = pd.read_csv(tmp_path / "facilities.csv")
    fac[~fac["id"].isin(drop)].to_csv(tmp_path / "facilities.csv", index=False)
    return run(StudyArea.from_toml(tmp_path / "area.toml"), RunOptions(isochrones="none"))


def test_window_states_follow_the_hours(hours_plan):
    av = hours_plan.availability
    assert av is not None and av.hours_listed == 3 and not av.windows_note
    states = av.facilities.set_index("facility_id")
    assert states.loc["X1", ["open_weekday_day", "open_weekday_evening", "open_weekend_day"]].tolist() == [
        "open",
        "closed",
        "closed",
    ]
    assert states.loc["X3", ["open_weekday_day", "open_weekday_evening", "open_weekend_day"]].tolist() == [
        "closed",
        "open",
        "closed",
    ]
    assert (states.loc["X4", [f"open_{w}" for w in ("weekday_day", "weekday_evening", "weekend_day")]] == "open").all()
    # no hours: open, with the note (never silently)
    assert states.loc["X0", "open_weekday_evening"] == "open" and states.loc["X0", "hours_note"]
    resources = hours_plan.lists.resources.set_index("编号")
    assert resources.loc["X1", "分时段开放"] == "工作日白天：开放；工作日晚间：关闭；周末白天：关闭"
    assert any("共 3 处设施列有开放时间" in n for n in hours_plan.lists.notes)


@pytest.mark.parametrize(("window", "closed"), [("weekday_evening", ["X1"]), ("weekend_day", ["X1", "X3"])])
def test_window_coverage_equals_a_plan_of_the_open_facilities(hours_plan, hours_area, tmp_path, window, closed):
    reference = _plan_without(hours_area, tmp_path, closed)
    res = reference.residents
    pop = res["population"].to_numpy(float)
    eld = res["elderly"].to_numpy(float)
    cov = hours_plan.availability.coverage
    for tier in ("station", "point"):
        covered = res[col.covered(tier, "adult")].to_numpy(bool)
        row = cov[(cov["window"] == window) & (cov["key"] == tier) & (cov["group"] == "population")].iloc[0]
        assert row["covered_share"] == pytest.approx(pop[covered].sum() / pop.sum(), abs=1e-12)
        under = cov[(cov["window"] == window) & (cov["key"] == tier) & (cov["group"] == "under60")].iloc[0]
        young = pop - eld
        assert under["covered_share"] == pytest.approx(young[covered].sum() / young.sum(), abs=1e-12)
        elderly = res[col.covered(tier, "elderly")].to_numpy(bool)
        old = cov[(cov["window"] == window) & (cov["key"] == tier) & (cov["group"] == "elderly")].iloc[0]
        assert old["covered_share"] == pytest.approx(eld[elderly].sum() / eld.sum(), abs=1e-12)
    # the evening loses the station that closes at five: fewer covered than in the day
    day = cov[(cov["window"] == "weekday_day") & (cov["key"] == "station") & (cov["group"] == "population")]
    evening = cov[(cov["window"] == "weekday_evening") & (cov["key"] == "station") & (cov["group"] == "population")]
    assert evening["covered_share"].iloc[0] <= day["covered_share"].iloc[0]


def test_crowding_counts_the_people_in_each_catchment(hours_plan):
    plan = hours_plan
    table = plan.availability.facilities.set_index("facility_id")
    res = plan.residents
    pop = res["population"].to_numpy(float)
    # a catchment is everyone within the tier's minutes of the facility: with one facility of a tier (the center),
    # that is exactly the residents its tier covers
    center = table[table["crowding_key"] == "center"]
    assert len(center) == 1
    covered = res[col.covered("center", "adult")].to_numpy(bool)
    assert center["catchment_people"].iloc[0] == pytest.approx(pop[covered].sum(), rel=1e-9)
    # the station with a 容量 uses it; the others their GB 50180 band's upper end
    assert table.loc["X2", "capacity_people"] == 500 and table.loc["X2", "capacity_basis"] == "capacity"
    assert table.loc["X1", "capacity_basis"] == "band"
    assert bool(table.loc["X2", "crowded"]) == (table.loc["X2", "catchment_people"] > 500)
    resources = plan.lists.resources.set_index("编号")
    assert resources.loc["X2", "可服务人数依据"] == "清单容量"
    assert resources.loc["X2", "拥挤"] == ("拥挤" if table.loc["X2", "crowded"] else "否")
    summary = plan.summary()["availability"]
    assert summary["crowding"]["station"]["facilities"] == 2


def test_no_hours_anywhere_means_windows_not_assessed(yangpu_plan):
    plan = yangpu_plan  # the test area (no hours listed) planned without isochrones, once per session (conftest)
    av = plan.availability
    assert av.hours_listed == 0 and av.windows_note.startswith("未评估") and av.coverage.empty
    assert plan.summary()["availability"]["windows_assessed"] is False


def test_a_bad_hours_cell_is_named_by_file_row_and_field(hours_area, tmp_path):
    for f in hours_area.iterdir():
        shutil.copy(f, tmp_path / f.name)
    fac = pd.read_csv(tmp_path / "facilities.csv")
    fac.loc[fac["id"] == "X5", "开放时间"] = "早上八点到晚上"
    fac.to_csv(tmp_path / "facilities.csv", index=False)
    with pytest.raises(InputError, match=r"(?s)facilities\.csv.*row 7, 开放时间"):
        run(StudyArea.from_toml(tmp_path / "area.toml"), RunOptions(isochrones="none"))


def test_the_map_shows_crowding_and_hours_in_popups(hours_plan):
    from planner.maps import plan_map

    page = plan_map(hours_plan).get_root().render()
    table = hours_plan.availability.facilities.set_index("facility_id")
    people = table.loc["X2", "catchment_people"]
    assert f"步行范围内 {people:,.0f} 人，可服务 500 人" in page
    assert "开放：工作日白天开放，工作日晚间关闭，周末白天关闭" in page  # X1, Mo-Fr 09:00-17:00
    crowded = int(table["crowded"].astype("boolean").sum())
    assert (f"拥挤（步行范围内人口超过可服务人数，{crowded} 处" in page) == (crowded > 0)


def test_proposals_can_relieve_crowded_facilities(hours_plan):
    crowded = hours_plan.availability.facilities
    crowded = crowded[(crowded["crowding_key"] == "station") & crowded["crowded"].fillna(False).astype(bool)]
    plain = hours_plan.propose_sites("station", k=1, method="greedy")
    assert "relieved_population" not in plain.sites
    relieved = hours_plan.propose_sites("station", k=1, method="greedy", relieve_crowding=0.5)
    if len(crowded):
        assert "relieved_population" in relieved.sites
    else:  # nothing crowded: the same proposal
        assert relieved.sites["candidate_id"].tolist() == plain.sites["candidate_id"].tolist()


def test_query_in_a_window_equals_a_plan_of_the_open_facilities(hours_plan, hours_area, tmp_path, yangpu_plan):
    from planner.errors import ConfigError

    reference = _plan_without(hours_area, tmp_path, ["X1"])  # closed on weekday evenings
    res = hours_plan.residents.sample(200, random_state=3)
    lon, lat = res.geometry.x.to_numpy(), res.geometry.y.to_numpy()
    got = hours_plan.query_arrays(lon, lat, window="weekday_evening")
    want = reference.query_arrays(lon, lat)
    for tier in ("center", "station", "point"):
        np.testing.assert_array_equal(got[col.minutes(tier, "adult")], want[col.minutes(tier, "adult")])
        assert list(got[col.nearest(tier)]) == list(want[col.nearest(tier)])
    plain = yangpu_plan  # run(StudyArea.from_toml(area_toml), RunOptions(isochrones="none")), once per session
    with pytest.raises(ConfigError, match="not assessed: 未评估"):
        plain.query_arrays(lon, lat, window="weekday_evening")
