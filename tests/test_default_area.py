"""The default study area on real data: real health centres and canteens, named 街道, honest gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import reference_distances
from planner import columns as col


@pytest.fixture(scope="module")
def plan(default_plan):
    return default_plan  # one per session (conftest)


def test_health_minutes_equal_an_independent_networkx_reference(plan):
    fac = plan.facilities[plan.facilities["list"] == "services.health"]
    assert 35 <= len(fac) <= 51  # of the 61 centres in the margin box, those on the extract's streets
    res = plan.residents.sample(300, random_state=7)
    ref_m = reference_distances(
        plan.network,
        fac["edge"].to_numpy(),
        fac["t"].to_numpy(),
        fac["snap_m"].to_numpy(),
        res["edge"].to_numpy(),
        res["t"].to_numpy(),
        res["offset_m"].to_numpy(),
    )
    horizon_m = plan.horizon_min * max(p.metres_per_minute for p in plan.rules.profiles)  # one search, in metres
    assert np.isfinite(ref_m).mean() > 0.9
    for prof in plan.rules.profiles:  # health is for everyone and the elderly: both profiles measured
        got = res[col.service_minutes("health", prof.key)].to_numpy(float)
        want = ref_m / prof.metres_per_minute
        want[~(ref_m <= horizon_m)] = np.nan
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_health_is_measured_on_the_real_list_alone(plan):
    basis = plan.service_basis("health")
    assert basis == {
        "list": "services.health",
        "facilities": basis["facilities"],
        "illustrative": False,
        "note": basis["note"],
    }
    assert plan.service_basis("elderly_care")["illustrative"] is True  # from the illustrative tier inventory
    flagged = plan.facilities.loc[plan.facilities["list"] == "services.health", "position_flag"]
    assert (flagged == "street_far").sum() >= 5 and set(flagged) <= {
        "",
        "street_far",
        "district_mismatch",
        "shared_point",
    }


def test_canteens_are_not_assessed_outside_the_complete_districts(plan):
    res = plan.residents
    assessed = res[col.service_assessed("meals")].to_numpy(bool)
    assert 0.1 < res["population"][assessed].sum() / res["population"].sum() < 0.4
    minutes = res[col.service_minutes("meals", "elderly")].to_numpy(float)
    assert np.isnan(minutes[~assessed]).all()  # not "unreachable": not assessed
    missing = res[col.missing_services("elderly")].astype(str)
    assert not missing[~assessed].str.contains("meals").any()
    head = plan.summary()["residents"]["services"]["meals"]
    eld = res["elderly"].to_numpy(float)
    lacking = assessed & ~(minutes <= 10)
    assert head["elderly_without_share"] == round(eld[lacking].sum() / eld[assessed].sum(), 4)
    assert head["assessed_share"] < 0.5 and "adult" not in head["profiles"]  # meals are for the elderly


def test_units_are_named_subdistricts(plan):
    units = plan.units
    assert {"天平路街道", "徐家汇街道", "外滩街道"} <= set(units["unit"])
    assert not units["unit"].str.match(r"R\d+C\d+").any()
    # residents counted once: the units hold every resident inside some 街道 polygon
    assert units["population"].sum() == pytest.approx(plan.residents["population"].sum(), rel=0.01)


def test_context_layers_and_provenance(plan):
    assert set(plan.context) == {"hospitals", "ems"}
    assert len(plan.context["hospitals"]) > 80 and plan.context["hospitals"].attrs["licence"] == "none stated"
    summary = plan.summary()
    lists = summary["facilities"]["lists"]
    assert lists["services.health"]["outside_area"] > 0 and lists["facilities"]["illustrative"] is True
    assert summary["context"]["ems"]["points"] == len(plan.context["ems"])
    assert isinstance(pd.Series(lists).to_dict(), dict)


def test_population_estimate_is_checked_against_compound_households(plan):
    import shapely

    check = plan.population_check
    table = check.table
    used = table[(table["compounds"] >= 5) & (table["estimate"] > 0)]
    # independent rank correlation: Pearson correlation of the ranks
    rho = np.corrcoef(used["estimate"].rank(), used["implied"].rank())[0, 1]
    assert check.rho == pytest.approx(rho) and check.units_compared == len(used) >= 20
    comp = pd.read_csv(plan.area.path("residential_compounds_2019_wgs84.csv"))
    comp = comp[comp["households"] > 0]
    inside = shapely.contains_xy(plan.network.boundary_wgs84(), comp["lon"], comp["lat"])
    in_unit = shapely.contains_xy(plan.units.to_crs("EPSG:4326").union_all(), comp["lon"], comp["lat"])
    assert table["households"].sum() == comp.loc[inside & in_unit, "households"].sum()
    assert (table["implied"] == table["households"] * 2.32).all()
    summary = plan.summary()["residents"]["population_check"]
    assert (
        summary["household_size_source"].startswith("上海市第七次全国人口普查") and len(summary["disagree_most"]) == 5
    )


def test_the_report_has_a_section_per_subdistrict(plan, default_report):
    html = default_report  # render_report(plan), rendered once per session (conftest)
    sections = html.split("id=unit-sections>")[1].split("<section class=unit>")[1:]
    populated = plan.units[plan.units["population"] > 0]
    assert len(sections) == len(populated)
    first = sections[0]  # the worst unit first; its figures are the unit table's
    worst = populated.sort_values("within_15min_share").iloc[0]
    assert f"<h3>{worst['unit']}</h3>" in first and f"居民约 {worst['population']:,.0f} 人" in first
    assert "示意" in first  # tier figures are illustrative and say so
