"""Chinese spreadsheets as street offices produce them: encodings, headers, title rows, tier names, CRS evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from conftest import lists_district
from planner.cli import main
from planner.errors import InputError
from planner.facilities import FacilityError, load_facilities
from planner.network import load_network
from planner.positions import address_street, check_list_crs, crs_fit
from planner.resources import DEFAULT_AREA
from planner.tables import crs_hint, read_table
from planner.tiers import Rules

LISTS = Path(__file__).parent / "data" / "lists"
GBK = LISTS / "社区卫生服务中心_gbk.csv"
GAODE = LISTS / "社区卫生服务中心_高德.csv"
XLSX = LISTS / "服务设施清单.xlsx"


@pytest.fixture(scope="module")
def network():
    return load_network(DEFAULT_AREA.parent / "roads.osm.bz2")


def test_gbk_csv_with_chinese_headers():
    table = read_table(GBK)
    assert table.encoding == "gb18030" and table.rows[0] == 2 and len(table.frame) == 20
    fac = load_facilities(GBK, Rules(), service="health")
    assert fac["name"].iloc[0] == "上海市徐汇区天平街道社区卫生服务中心"
    assert fac["address"].iloc[0].startswith("上海市徐汇区太原路")
    assert fac["tier"].eq("").all() and fac["services"].map(lambda s: s == ["health"]).all()
    assert fac["source_crs"].eq("wgs84").all()  # plain 经度/纬度 say nothing about the system


def test_headers_that_name_their_system():
    assert crs_hint("经度(高德)") == "gcj02" and crs_hint("lon_gcj02") == "gcj02" and crs_hint("百度纬度") == "bd09"
    assert crs_hint("经度") is None
    fac = load_facilities(GAODE, Rules(), service="health")
    assert fac["source_crs"].eq("gcj02").all()
    with pytest.raises(InputError, match=r"say GCJ02, but the list is declared WGS84"):
        load_facilities(GAODE, Rules(), service="health", crs="wgs84")


def test_address_streets():
    assert address_street("上海市徐汇区太原路110号") == "太原路"
    assert address_street("上海市徐汇区广元西路349号、虹桥路凯旋一村21号") == "广元西路"
    assert address_street("浦东新区浦东大道2000号") == "浦东大道"
    assert address_street("") is None


def test_a_gcj02_list_read_as_wgs84_is_refused_with_its_evidence(network):
    fac = load_facilities(GBK, Rules(), service="health")
    lon, lat = fac["source_lon"].to_numpy(float), fac["source_lat"].to_numpy(float)
    fits = crs_fit(network, lon, lat, fac["address"])
    # every row names a street of the extract; the named street separates the systems, the nearest one hardly
    assert fits["gcj02"].address_rows == 20
    assert fits["gcj02"].address_m < 40 < 250 < fits["wgs84"].address_m
    assert fits["wgs84"].nearest_m < 3 * fits["gcj02"].nearest_m  # weak evidence alone would not decide
    with pytest.raises(InputError) as info:
        check_list_crs(network, lon, lat, fac["address"], "wgs84", GBK)
    text = str(info.value)
    assert "read as WGS84 the points lie a median" in text and "read as GCJ02" in text and 'crs = "gcj02"' in text
    assert check_list_crs(network, lon, lat, fac["address"], "gcj02", GBK)["gcj02"].address_m < 40


def test_excel_sheet_with_a_title_row_and_chinese_tiers(tmp_path):
    with pytest.raises(InputError, match="no sheet 'nope'; the workbook has 说明, 设施"):
        read_table(XLSX, sheet="nope")
    fac = load_facilities(XLSX, Rules(), sheet="设施", crs="gcj02")
    assert len(fac) == 40 and fac["source_row"].iloc[0] == 3  # title row 1, header row 2, as Excel shows them
    assert set(fac["tier"]) == {"center", "station"}  # the first 40 rows: 服务站 and 社区服务中心
    assert "elderly_care" in fac["services"].iloc[0] and "meals" in fac["services"].iloc[0]
    book = openpyxl.load_workbook(XLSX)
    sheet = book["设施"]
    sheet["C5"] = "服务中心X"
    sheet["E7"] = "东经121度"
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    with pytest.raises(FacilityError) as info:
        load_facilities(bad, Rules(), sheet="设施", crs="gcj02")
    problems = [str(p) for p in info.value.problems]
    assert problems == [
        "row 5, 层级: '服务中心X' is not a known tier (known: center, station, point)",
        "row 7, 经度: '东经121度' is not a number",
    ]  # each bad row once, by Excel row number


@pytest.mark.slow
def test_plan_from_chinese_lists_and_refusal_of_a_misdeclared_one(lists_run, tmp_path, capsys):
    # `lifecircle -q plan --area <lists_district(..., "gcj02")> --out <out> --no-progress --isochrones none`, run
    # beside the tests as the session starts (conftest CLI_RUNS)
    assert lists_run.returncode == 0, lists_run.stderr
    out = lists_run.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    health = summary["residents"]["services"]["health"]
    assert health["assessed"] and 0 < health["people_without_share"] < 1
    assert sum(summary["facilities"]["per_tier"].values()) == 40
    bad = lists_district(tmp_path / "b", "wgs84")
    assert main(["-q", "plan", "--area", str(bad), "--out", str(tmp_path / "out2"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "health.csv: read as WGS84" in err and "read as GCJ02" in err and "Traceback" not in err
    assert not (tmp_path / "out2" / "summary.json").exists()


def test_services_no_list_offers_are_not_assessed(area_toml, tmp_path):
    text = (area_toml.parent / "facilities.csv").read_text(encoding="utf-8")
    rows = [",".join(line.split(",")[:5]) for line in text.splitlines()]  # drop the services column
    root = tmp_path / "nosvc"
    shutil.copytree(area_toml.parent, root, ignore=shutil.ignore_patterns("area_*.toml"))
    (root / "facilities.csv").write_text("\n".join(rows), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["-q", "plan", "--area", str(root / "area.toml"), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for svc in summary["residents"]["services"].values():
        assert svc["assessed"] is False and svc["people_without_share"] is None
    report = (out / "report.html").read_text(encoding="utf-8")
    services = report.split("id=services>")[1].split("</table>")[0]
    assert services.count("未评估") == 6 and services.count("没有设施清单提供此项服务") == 6 and "%" not in services
    assert np.isfinite(summary["residents"]["tiers"]["station"]["adult"]["covered_share"])
