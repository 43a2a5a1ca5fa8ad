"""Bringing your own district: `lifecircle area init` on good and bad inputs, and Excel lists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT
from planner.area import StudyArea
from planner.cli import main
from planner.coords import wgs84_to_gcj02
from planner.pipeline import RunOptions, run


@pytest.fixture(scope="module")
def district(tmp_path_factory, area_toml):
    """Streets, a WGS-84 facility list and a population grid of the Tongji/Siping test area."""
    root = tmp_path_factory.mktemp("district")
    for name in ("streets.osm.bz2", "facilities.csv", "pop.csv"):
        shutil.copy(area_toml.parent / name, root / name)
    return root


def _init(district, out, *extra, facilities="facilities.csv"):
    return main(
        [
            "-q",
            "area",
            "init",
            "--osm",
            str(district / "streets.osm.bz2"),
            "--facilities",
            str(district / facilities),
            "--population",
            str(district / "pop.csv"),
            "--out",
            str(out),
            *extra,
        ]
    )


def test_good_inputs_write_a_working_area(district, tmp_path, capsys):
    out = tmp_path / "my-district"
    assert _init(district, out) == 0
    text = capsys.readouterr().out
    assert "Validation report" in text and "inputs are usable" in text and "ERROR" not in text
    area = StudyArea.from_toml(out / "area.toml")
    plan = run(area, RunOptions(isochrones="none"))
    assert plan.summary()["residents"]["population"] == 40_000
    assert _init(district, out) == 2  # no silent overwrite
    assert "already exists" in capsys.readouterr().err


def test_gcj02_declared_as_wgs84_is_detected(district, tmp_path, capsys):
    fac = pd.read_csv(district / "facilities.csv")
    fac["lon"], fac["lat"] = wgs84_to_gcj02(fac["lon"].to_numpy(), fac["lat"].to_numpy())
    fac.to_csv(district / "fac_gcj.csv", index=False)
    assert _init(district, tmp_path / "a", facilities="fac_gcj.csv") == 2
    text = capsys.readouterr().out
    assert "the coordinates look like GCJ02" in text and "--facilities-crs gcj02" in text
    assert not (tmp_path / "a" / "area.toml").exists()
    assert _init(district, tmp_path / "b", "--facilities-crs", "gcj02", facilities="fac_gcj.csv") == 0


def test_swapped_lon_lat_and_missing_columns(district, tmp_path, capsys):
    fac = pd.read_csv(district / "facilities.csv")
    fac[["lon", "lat"]] = fac[["lat", "lon"]].to_numpy()
    fac.to_csv(district / "fac_swapped.csv", index=False)
    assert _init(district, tmp_path / "a", facilities="fac_swapped.csv") == 2
    assert "longitude and latitude look swapped" in capsys.readouterr().out
    fac.drop(columns=["tier"]).to_csv(district / "fac_notier.csv", index=False)
    assert _init(district, tmp_path / "b", facilities="fac_notier.csv") == 2
    assert "no tier column" in capsys.readouterr().out


def test_population_in_another_city(district, tmp_path, capsys):
    shutil.copy(ROOT / "tests" / "data" / "songjiang_newcity_pop_grid_1km.geojson", district / "songjiang.geojson")
    code = main(
        [
            "-q",
            "area",
            "init",
            "--osm",
            str(district / "streets.osm.bz2"),
            "--facilities",
            str(district / "facilities.csv"),
            "--population",
            str(district / "songjiang.geojson"),
            "--out",
            str(tmp_path / "c"),
        ]
    )
    assert code == 2
    assert "does not overlap the streets" in capsys.readouterr().out


def test_excel_facility_list(district, tmp_path):
    pytest.importorskip("openpyxl")
    fac = pd.read_csv(district / "facilities.csv")
    fac.to_excel(district / "facilities.xlsx", index=False)
    assert _init(district, tmp_path / "x", facilities="facilities.xlsx") == 0
    plan = run(StudyArea.from_toml(tmp_path / "x" / "area.toml"), RunOptions(isochrones="none"))
    assert len(plan.facilities) == len(fac)


def test_fetch_cli_checks_its_arguments(capsys, tmp_path):
    assert main(["-q", "area", "fetch", "--bbox", "1,2,3", "--out", str(tmp_path / "x.osm")]) == 2
    assert "west,south,east,north" in capsys.readouterr().err


def test_area_toml_is_written_by_a_toml_writer_with_relative_paths(tmp_path):
    from planner.area import write_area_toml

    data = tmp_path / "inputs"
    data.mkdir()
    osm = data / "streets.osm.bz2"
    osm.write_bytes((Path(__file__).parent.parent / "data/fixtures/shanghai_yangpu_tongji_siping.osm.bz2").read_bytes())
    folder = tmp_path / "area"
    folder.mkdir()
    name = 'Siping "四平路" \\ test'  # quotes and a backslash broke the hand-written TOML
    path = write_area_toml(folder / "area.toml", name=name, osm=osm)
    text = path.read_text(encoding="utf-8")
    assert '"../inputs/streets.osm.bz2"' in text and str(tmp_path) not in text  # relative, also outside the folder
    area = StudyArea.from_toml(path)
    assert area.name == name and area.path(area.settings.network.osm).resolve() == osm.resolve()


def test_doubtful_positions_are_listed_by_area_init(tmp_path, capsys):
    from planner.resources import DEFAULT_AREA
    from planner.validate import check_inputs

    root = DEFAULT_AREA.parent
    check, _ = check_inputs(
        root / "roads.osm.bz2", root / "community_health_centres_gcj02.csv", facilities_crs="gcj02", service="health"
    )
    text = check.report()
    flagged = pd.read_csv(root / "community_health_centres_gcj02.csv")["position_flag"].notna().sum()
    listed = [w for w in check.warnings if "position doubtful" in w]
    assert len(listed) == flagged >= 5 and "street_far" in text


def test_area_init_of_a_service_list_writes_it_as_a_service(tmp_path, capsys):
    from planner.resources import DEFAULT_AREA

    root = DEFAULT_AREA.parent
    lists = Path(__file__).parent / "data" / "lists"
    out = tmp_path / "jingan"
    args = [
        "area",
        "init",
        "--osm",
        str(root / "roads.osm.bz2"),
        "--facilities",
        str(lists / "社区卫生服务中心_gbk.csv"),
        "--service",
        "health",
        "--out",
        str(out),
    ]
    assert main(args) == 2  # plain 经度/纬度 in GCJ-02, not declared: refused with the evidence
    assert "read as GCJ02" in capsys.readouterr().out and not (out / "area.toml").exists()
    assert main([*args, "--facilities-crs", "gcj02"]) == 0
    area = StudyArea.from_toml(out / "area.toml")
    assert area.settings.facilities is None and area.settings.services["health"].crs == "gcj02"


def test_area_init_takes_an_excel_sheet_with_a_title_row_and_chinese_tiers(tmp_path, capsys):
    from planner.resources import DEFAULT_AREA

    root = DEFAULT_AREA.parent
    xlsx = Path(__file__).parent / "data" / "lists" / "服务设施清单.xlsx"
    out = tmp_path / "xlsx"
    args = [
        "area",
        "init",
        "--osm",
        str(root / "roads.osm.bz2"),
        "--facilities",
        str(xlsx),
        "--sheet",
        "设施",
        "--facilities-crs",
        "gcj02",
        "--population",
        str(root / "pop_grid_1km.csv"),
        "--out",
        str(out),
    ]
    assert main(args) == 0, capsys.readouterr().out
    area = StudyArea.from_toml(out / "area.toml")
    assert area.settings.facilities.sheet == "设施" and area.settings.facilities.crs == "gcj02"
    assert "facilities: 40 read" in capsys.readouterr().out
