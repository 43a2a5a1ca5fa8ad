"""The community check report, opened in a real headless browser with no network."""

from __future__ import annotations

import json
import shutil

import matplotlib.image as mpimg
import pytest

from browser import chromium_driver


@pytest.fixture(scope="module")
def run(yangpu_run, tmp_path_factory):
    """The results of `plan --area <area_toml> --no-progress`, run once per session (conftest CLI_RUNS), copied
    whole into this module's own folder (a test here saves a screenshot beside them)."""
    assert yangpu_run.returncode == 0, yangpu_run.stderr
    out = tmp_path_factory.mktemp("report") / "run"
    shutil.copytree(yangpu_run.out, out)
    return out


@pytest.mark.browser
def test_report_first_screen_and_charts(run):
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    head = summary["residents"]
    driver = chromium_driver(1280, 900)
    try:
        driver.get((run / "report.html").as_uri())
        first_screen = driver.execute_script(
            "return Array.from(document.querySelectorAll('h1, .warn, .findings li'))"
            ".filter(e => e.getBoundingClientRect().top < window.innerHeight).map(e => e.innerText).join('\\n')"
        )
        # the first screen says, in Chinese, how many residents and elderly lack each tier, and that the tier
        # facilities are illustrative (each such figure tagged)
        assert "三级设施（社区服务中心、服务站、服务点）的分布为示意数据" in first_screen
        assert f"研究区内约 {head['population']:,} 名居民" in first_screen
        names = {"center": "社区服务中心", "station": "家门口服务站", "point": "家门口服务点"}
        for tier, minutes in (("center", 15), ("station", 10), ("point", 5)):
            t = head["tiers"][tier]["adult"]
            assert (
                f"{t['people_without']:,} 名居民（其中老年人 {t['elderly_without']:,} 人）步行 {minutes} 分钟内"
                f"到不了{names[tier]}。示意数据"
            ) in first_screen
        text = driver.execute_script("return document.body.innerText")
        assert "社区体检报告" in text and "数据来源与假设" in text and "Data sources" not in text
        assert "© OpenStreetMap 贡献者" in text
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
        )
        assert len(images) == 6  # a coverage map per tier and three charts
        for complete, width, alt in images:
            assert complete and width > 100, alt
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        shot = run / "report-screenshot.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    pixels = mpimg.imread(shot)
    assert pixels.std() > 0.05  # not a blank page


def test_summary_headline_and_conservation(run):
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    head = summary["residents"]
    # the 2 x 2 grid covers exactly the extract's <bounds>: all 40,000 people are inside
    assert head["population"] == 40_000 and head["population_in_source"] == 40_000
    assert head["elderly"] == 12_000
    import geopandas as gpd

    res = gpd.read_file(run / "plan.gpkg", layer="residents")
    for col in (
        "population",
        "elderly",
        "minutes_center_adult",
        "minutes_station_adult",
        "minutes_point_adult",
        "minutes_center_elderly",
        "minutes_station_elderly",
        "minutes_point_elderly",
        "covered_center_adult",
        "covered_station_adult",
        "covered_point_adult",
        "underserved_adult",
        "missing_tiers_adult",
    ):
        assert col in res.columns, col
    assert res["population"].sum() == pytest.approx(40_000)
    without = res.loc[~res["covered_station_adult"].astype(bool), "population"].sum()
    assert head["tiers"]["station"]["adult"]["people_without"] == round(without)
    units = gpd.read_file(run / "plan.gpkg", layer="units")
    assert units["population"].sum() == pytest.approx(40_000, rel=1e-6)


def test_english_report_is_in_english(run, yangpu_plan):
    import re

    from planner.report import render_report

    page = render_report(yangpu_plan, lang="en")  # the test area planned without isochrones, once per session
    # every sentence (findings, notices, sources, paragraphs) is English: no Chinese character, no full-width
    # punctuation; Chinese stays only in names inside tables (units named by their streets)
    prose = re.findall(r"<(?:li|p|div class=warn)[^>]*>(.*?)</(?:li|p|div)>", page, flags=re.S)
    assert len(prose) >= 8
    for item in prose:
        plain = re.sub(r"<[^>]+>", "", item)
        assert not re.search(r"[\u4e00-\u9fff\u3000-\u303f\uff08\uff09\uff0c\uff1a]", plain), plain
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split("</style>")[1]))
    assert "About 40,000 residents live in the study area" in text and "cannot reach a" in text


def test_a_shanghai_elderly_share_outside_shanghai_is_a_warning(tmp_path, default_report):
    import shutil

    import numpy as np

    from conftest import WANGJING
    from planner.area import StudyArea
    from planner.network import WalkNetwork
    from planner.pipeline import RunOptions
    from planner.pipeline import run as run_plan
    from planner.report import render_report

    net = WalkNetwork.from_osm_file(WANGJING)
    shutil.copy(WANGJING, tmp_path / "streets.osm.bz2")
    nodes = np.random.default_rng(3).choice(net.n_nodes, 3, replace=False)
    rows = [
        f"B{i},{t},{net.lon[n]:.7f},{net.lat[n]:.7f}"
        for i, (t, n) in enumerate(zip(["center", "station", "point"], nodes))
    ]
    (tmp_path / "fac.csv").write_text("id,tier,lon,lat\n" + "\n".join(rows), encoding="utf-8")
    x0, y0, x1, y1 = net.meta["bounds"]
    (tmp_path / "pop.csv").write_text(f"minlon,minlat,maxlon,maxlat,population\n{x0},{y0},{x1},{y1},10000\n")
    (tmp_path / "area.toml").write_text(
        'name = "wangjing"\n[network]\nosm = "streets.osm.bz2"\n[facilities]\n'
        'file = "fac.csv"\n[population]\ngrid = "pop.csv"\n',
        encoding="utf-8",
    )
    plan = run_plan(StudyArea.from_toml(tmp_path / "area.toml"), RunOptions(isochrones="none"))
    assert "研究区不在上海，却使用了上海的老年人口占比" in render_report(plan)
    # and not in Shanghai
    # the default area's report, rendered once per session (conftest)
    assert "研究区不在上海" not in default_report


def test_coverage_maps_share_one_background_per_plan_and_let_it_go(area_toml, monkeypatch):
    import gc

    import numpy as np
    import shapely

    from planner import figures
    from planner.area import StudyArea
    from planner.pipeline import RunOptions
    from planner.pipeline import run as run_plan

    plan = run_plan(StudyArea.from_toml(area_toml), RunOptions(isochrones="none"))
    made = []
    of = figures._Background.of
    monkeypatch.setattr(figures._Background, "of", classmethod(lambda cls, p: made.append(1) or of(p)))
    images = [  # drawn, not read from the cache (tests/test_figures_cache.py)
        figures.coverage_map(plan, tier, zh=zh, use_cache=False) for tier in plan.rules.tiers for zh in (True, False)
    ]
    assert len(made) == 1 and all(i.startswith("data:image/png;base64,") for i in images)
    # the streets drawn are the network's segments merged into paths: fewer, and the same length in all
    streets = figures._background(plan).streets
    edges = plan.network.edge_lines
    assert len(streets) < len(edges)
    drawn = sum(float(np.hypot(*np.diff(s, axis=0).T).sum()) for s in streets)
    assert drawn == pytest.approx(float(shapely.length(edges).sum()), rel=1e-9)
    key = id(plan)
    assert key in figures._backgrounds
    del plan, streets, edges
    gc.collect()
    # the background went with its plan (a plan alive for the whole session, as conftest's, keeps its own)
    assert key not in figures._backgrounds
