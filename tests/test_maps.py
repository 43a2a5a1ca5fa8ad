"""The map: layer names, numbering, popups, position flags, context and not-assessed layers, basemaps, GCJ-02
alignment for Gaode, and a real offline browser check of map.html."""

from __future__ import annotations

import html
import inspect
import json
import re
from dataclasses import replace
from types import SimpleNamespace

import folium
import geopandas as gpd
import matplotlib.image as mpimg
import pandas as pd
import pytest
import shapely

from browser import chromium_driver
from planner.area import StudyArea
from planner.errors import ConfigError
from planner.map_points import PointBatch
from planner.maps import BASEMAPS, inline_assets, plan_map, save_map, to_basemap_crs
from planner.pipeline import RunOptions, run

# Reference pair (eviltransform, an independent implementation): People's Square, Shanghai
WGS = (121.4737, 31.2304)
GCJ = (121.47822313586518, 31.228457704689244)


def test_gaode_shifts_overlays_to_gcj02_and_others_do_not():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(*WGS)], crs="EPSG:4326")
    shifted = to_basemap_crs(gdf, "gaode").geometry.iloc[0]
    assert shifted.x == pytest.approx(GCJ[0], abs=2e-7) and shifted.y == pytest.approx(GCJ[1], abs=2e-7)
    for key in ("streets", "osm", "light", "tianditu", "none"):
        same = to_basemap_crs(gdf, key).geometry.iloc[0]
        assert (same.x, same.y) == WGS
    assert BASEMAPS["gaode"]["crs"] == "gcj02"


def test_inline_assets_refuses_unknown_cdn_links():
    page = '<script src="https://example.invalid/lib.js"></script>'
    with pytest.raises(RuntimeError, match=re.escape("no offline copy of https://example.invalid/lib.js")):
        inline_assets(page)


# -- a plan of the Tongji/Siping extract, and the same plan with a service list, flags, context, not-assessed ----


@pytest.fixture(scope="module")
def plan(area_toml):
    options = RunOptions(sites={"center": 1, "station": 2, "point": 1}, isochrones="drawn")  # per facility too
    return run(StudyArea.from_toml(area_toml), options)


HOSPITALS = {"name_zh": "医院", "name_en": "Hospitals", "source": "测试医院名录", "licence": "none stated"}


@pytest.fixture(scope="module")
def rich(plan):
    """The plan as a district would have it: a station flagged, a health list with no tier, hospitals as context,
    and the health list complete only in the west half (``assessed_service_health``)."""
    fac = plan.facilities.copy()
    station = fac.index[fac["tier"] == "station"][0]
    fac.loc[station, "position_flag"] = "street_far"
    health = fac.iloc[:2].assign(
        facility_id=["H1", "H2"],
        name=["四平路街道社区卫生服务中心", "殷行街道社区卫生服务中心"],
        tier="",
        services=[["health"], ["health"]],
        list="services.health",
        position_flag=["", "shared_point"],
        illustrative=False,
        category="社区卫生服务中心",
    )
    fac = gpd.GeoDataFrame(pd.concat([fac, health], ignore_index=True), crs="EPSG:4326")
    x0, y0, x1, y1 = plan.network.bbox_wgs84()
    hospitals = gpd.GeoDataFrame(
        {
            "name": ["同济医院", "某区中心医院"],
            "level": ["三级甲等", ""],
            "type": ["综合医院", "综合医院"],
            "address": ["新村路389号", ""],
            "position_flag": ["", "district_mismatch"],
        },
        geometry=[shapely.Point((x0 + x1) / 2, (y0 + y1) / 2), shapely.Point(x0 + (x1 - x0) / 4, y1 - (y1 - y0) / 4)],
        crs="EPSG:4326",
    )
    hospitals.attrs = dict(HOSPITALS)
    residents = plan.residents.copy()
    residents["assessed_service_health"] = residents.geometry.x.to_numpy() < (x0 + x1) / 2
    return replace(plan, facilities=fac, context={"hospitals": hospitals}, residents=residents)


def _layers(m: folium.Map) -> dict[str, folium.map.Layer]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.map.Layer)}


def _overlays(m: folium.Map) -> dict[str, folium.map.Layer]:
    return {name: layer for name, layer in _layers(m).items() if layer.overlay}


class _Point:
    """A marker the map draws from a layer's PointBatch, read like folium's own: ``options`` (a circle's style),
    its popup's HTML and, for a marker drawn by its own HTML, that HTML."""

    def __init__(self, point: dict) -> None:
        self.point, self.options = point, point.get("style") or {}


def _children(layer, kind):
    if isinstance(layer, _Point):  # a drawn marker's icon
        icon = layer.point.get("icon")
        return [SimpleNamespace(options=icon)] if kind is folium.DivIcon and icon else []
    found = [c for c in layer._children.values() if isinstance(c, kind)]
    if kind in (folium.Marker, folium.CircleMarker):  # the layer's points: icons are markers, the rest circles
        for batch in (c for c in layer._children.values() if isinstance(c, PointBatch)):
            found += [_Point(p) for p in batch.points if bool(p.get("icon")) == (kind is folium.Marker)]
    return found


def _popup(marker) -> str:
    if isinstance(marker, _Point):
        return marker.point["popup"]
    popup = _children(marker, folium.Popup)[0]
    return "".join(c.data for c in popup.html._children.values())


def _named(m: folium.Map, start: str) -> folium.map.Layer:
    found = [layer for name, layer in _overlays(m).items() if name.startswith(start)]
    assert len(found) == 1, (start, list(_overlays(m)))
    return found[0]


# -- basemaps --------------------------------------------------------------------------------------------------


def test_the_default_basemap_is_the_streets_with_no_tiles(plan):
    assert inspect.signature(plan_map).parameters["basemap"].default == "streets"
    assert next(iter(BASEMAPS)) == "streets" and BASEMAPS["streets"]["tiles"] is None
    m = plan_map(plan)
    bases = {name: layer for name, layer in _layers(m).items() if not layer.overlay}
    shown = [name for name, layer in bases.items() if layer.show]
    assert shown == [BASEMAPS["streets"]["name"]]  # no tiles selected first: the map works with no network
    tiles = [layer for layer in bases.values() if isinstance(layer, folium.TileLayer)]
    assert {t.layer_name for t in tiles} == {BASEMAPS["osm"]["name"], BASEMAPS["light"]["name"]}  # offered, off
    assert not any(t.show for t in tiles)
    streets = _named(m, "街道（")
    assert streets.show and len(streets.data["features"]) == 1  # one vector feature: drawn, never clicked

    osm = plan_map(plan, basemap="osm")
    first = [layer for layer in _layers(osm).values() if not layer.overlay]
    assert (
        isinstance(first[0], folium.TileLayer) and first[0].show and first[-1].layer_name == BASEMAPS["streets"]["name"]
    )
    gaode = plan_map(plan, basemap="gaode")
    names = [layer.layer_name for layer in _layers(gaode).values() if not layer.overlay]
    assert names == [BASEMAPS["gaode"]["name"], BASEMAPS["streets"]["name"]]  # no WGS-84 tiles under GCJ-02 overlays
    assert not _named(plan_map(plan, basemap="none"), "街道（").show
    with pytest.raises(ConfigError, match="basemap 'mapbox' is not one of streets, osm"):
        plan_map(plan, basemap="mapbox")


def test_every_street_is_drawn_after_simplifying_and_polygons_keep_their_topology(plan):
    from planner.map_layers import simplify

    merged = shapely.line_merge(shapely.multilinestrings(plan.network.edge_lines))
    streets = gpd.GeoDataFrame(geometry=[merged], crs=plan.network.crs)
    parts = shapely.get_parts(simplify(streets, 3.0).geometry.iloc[0])
    ends = gpd.GeoSeries(shapely.get_parts(merged), crs=plan.network.crs).to_crs("EPSG:4326").values
    assert len(parts) == len(ends) > 100  # no street lost, none empty or shrunk to a point
    assert not shapely.is_empty(parts).any() and (shapely.length(parts) > 0).all()
    for which in (0, -1):  # each street still starts and ends where it did (to the 1e-5 degrees kept)
        drawn, real = (shapely.get_coordinates(shapely.get_point(g, which)) for g in (parts, ends))
        assert abs(drawn - real).max() <= 0.51e-5
    # a street block 2 m wide: Douglas-Peucker at 5 m empties it, so it is simplified again keeping its topology
    thin = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 100, 2), shapely.LineString([(0, 0), (50, 1), (100, 0)])], crs="EPSG:32651"
    )
    assert shapely.simplify(thin.geometry.iloc[0], 5.0, preserve_topology=False).is_empty
    poly, line = simplify(thin, 5.0).geometry
    assert poly.geom_type == "Polygon" and poly.is_valid and poly.area > 0
    assert shapely.get_num_coordinates(line) == 2  # lines: plain Douglas-Peucker
    # the plan's service areas as the map draws them: every one kept, valid, and within 10 m of what it was
    areas = plan.service_areas.to_crs("EPSG:4326")
    drawn = simplify(plan.service_areas, 10.0)
    assert len(drawn) == len(areas) and shapely.is_valid(drawn.geometry.values).all()
    metric = drawn.to_crs(plan.service_areas.crs).geometry.values
    assert (shapely.hausdorff_distance(metric, plan.service_areas.geometry.values) < 12.0).all()


# -- names, numbering, popups ------------------------------------------------------------------------------------


def test_every_layer_names_its_tier_profile_and_minutes_chinese_first(plan):
    m = plan_map(plan)
    names = list(_overlays(m))
    tiers = {"center": ("社区服务中心", 15), "station": ("家门口服务站", 10), "point": ("家门口服务点", 5)}
    for zh, minutes in tiers.values():
        expected = [
            f"服务范围 · {zh} · 成人步速 · 5/10 分钟 — Service area",
            f"等时圈（逐个设施） · {zh} · 成人步速 · 5/10 分钟 — Isochrones per facility",
            f"居民步行时间 · {zh} · 成人步速 · {minutes} 分钟目标 — Residents' walking minutes",
            f"设施 · {zh} · 步行 {minutes} 分钟目标 · 示意 — Facilities",
            f"建议新增 · {zh} · 成人步速 · {minutes} 分钟",
        ]
        for start in expected:
            assert sum(n.startswith(start) for n in names) == 1, (start, names)
    assert (
        "服务范围 · 家门口服务站 · 成人步速 · 5/10 分钟 — Service area · Neighbourhood service station · Adult pace · "
        "5/10 min" in names
    )
    assert (
        "单元覆盖率 · 各层级均 15 分钟内 · 成人步速 — Units: share with every tier within 15 min · Adult pace" in names
    )
    for name in names:  # Chinese phrase first, English after
        zh, en = name.split(" — ")
        assert re.match(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en), name
    # the legend names every layer the same way (lines of layers not shown at first wait, hidden)
    page = m.get_root().render()
    for name, layer in _overlays(m).items():
        line = re.search(f"<div data-layer='{re.escape(html.escape(name, quote=True))}'([^>]*)>", page)
        assert line is not None, name
        assert ("display:none" in line.group(1)) == (not layer.show), name
    assert "步行时间按成人步速 4.5 公里/小时计" in page


def test_proposals_are_numbered_per_tier_in_chinese(plan):
    m = plan_map(plan)
    labels = {}
    for name, layer in _overlays(m).items():
        if name.startswith("建议新增"):
            markers = _children(layer, folium.Marker)
            labels[name.split(" · ")[1]] = [
                re.search(r">([^<>]+)</div>$", _children(mk, folium.DivIcon)[0].options["html"]).group(1)
                for mk in markers
            ]
    assert labels == {"社区服务中心": ["中心1"], "家门口服务站": ["站1", "站2"], "家门口服务点": ["点1"]}
    station = _named(m, "建议新增 · 家门口服务站")
    text = _popup(_children(station, folium.Marker)[0])
    assert text.startswith("<b>建议新增家门口服务站 站1</b><br>按新增覆盖排序第 1 位<br>") and "<br>新增覆盖 " in text
    assert "成人步速 10 分钟内" in text and text.index("新增覆盖") < text.index("covers ")
    # with a plan's proposals given again, numbering goes on within the tier
    again = plan_map(plan, proposals=[plan.proposals[1], plan.proposals[1]])
    groups = [layer for name, layer in _overlays(again).items() if name.startswith("建议新增 · 家门口服务站")]
    icons = [_children(mk, folium.DivIcon)[0].options["html"] for g in groups for mk in _children(g, folium.Marker)]
    assert [re.search(r">(站\d)</div>", i).group(1) for i in icons] == ["站1", "站2", "站3", "站4"]
    assert [g.layer_name.split(" — ")[0] for g in groups] == [
        "建议新增 · 家门口服务站 · 成人步速 · 10 分钟（站1–站2，按排序）",
        "建议新增 · 家门口服务站 · 成人步速 · 10 分钟（站3–站4，按排序）",
    ]


def test_facility_popups_name_services_and_tiers_in_chinese_first(plan):
    m = plan_map(plan)
    group = _named(m, "设施 · 家门口服务站")
    markers = _children(group, folium.CircleMarker)
    assert len(markers) == (plan.facilities["tier"] == "station").sum() == 2
    text = _popup(markers[0])
    assert "<br>家门口服务站（步行 10 分钟可达目标）<br>服务：养老、助餐<br>" in text
    assert "services: Elderly care, Meals" in text and "示意：非真实位置" in text
    assert text.index("服务：养老、助餐") < text.index("Neighbourhood service station") < text.index("services:")
    assert "位置存疑" not in text and markers[0].options["dashArray"] is None


# -- service lists, position flags, context, not assessed ----------------------------------------------------------


def test_a_service_list_is_its_own_layer_with_its_own_symbol(rich):
    m = plan_map(rich)
    layer = _named(m, "社区卫生服务中心（健康服务，真实清单）")
    assert (
        layer.layer_name
        == "社区卫生服务中心（健康服务，真实清单） · 步行 15 分钟目标 — Health list (real positions) · 15-min target"
    )
    markers = _children(layer, folium.Marker)
    assert len(markers) == 2 and _children(layer, folium.CircleMarker) == []
    icons = [_children(mk, folium.DivIcon)[0].options["html"] for mk in markers]
    assert all("rotate(45deg)" in i for i in icons)  # diamonds, not the tiers' circles
    assert "dashed" not in icons[0] and "dashed" in icons[1]  # the shared point is drawn uncertain
    first, second = _popup(markers[0]), _popup(markers[1])
    assert "健康服务清单（不分层级，目标 15 分钟）<br>服务：健康" in first and "位置存疑" not in first
    assert "示意" not in first  # a real list says no 示意
    assert "位置存疑：与其他记录坐标相同" in second and "position uncertain: same coordinates as another" in second
    # the tier facilities are still drawn by tier, the list's rows in no tier layer
    assert len(_children(_named(m, "设施 · 家门口服务点"), folium.CircleMarker)) == 4
    # an illustrative list says so in its name and every popup
    fac = rich.facilities.copy()
    fac.loc[fac["list"] == "services.health", "illustrative"] = True
    illus = plan_map(replace(rich, facilities=fac))
    layer = _named(illus, "社区卫生服务中心（健康服务，示意清单）")
    assert all("示意：非真实位置" in _popup(mk) for mk in _children(layer, folium.Marker))


def test_a_flagged_facility_is_drawn_uncertain_and_says_why(rich):
    m = plan_map(rich)
    markers = _children(_named(m, "设施 · 家门口服务站"), folium.CircleMarker)
    flagged = [mk for mk in markers if mk.options["dashArray"]]
    assert len(flagged) == 1 and flagged[0].options["fillOpacity"] < 0.5  # dashed and hollow
    text = _popup(flagged[0])
    assert "<br>位置存疑：与地址所在道路相距超过500米<br>" in text
    assert "position uncertain: more than 500 m from the street in its address" in text
    assert text.index("位置存疑") < text.index("position uncertain")
    assert "虚线空心：位置存疑" in m.get_root().render()


def test_context_layers_are_switchable_off_at_first_with_level_and_licence(rich):
    m = plan_map(rich)
    layer = _named(m, "医院（背景参考）")
    assert layer.layer_name == "医院（背景参考） — Hospitals (context)" and layer.show is False
    markers = _children(layer, folium.CircleMarker)
    assert len(markers) == 2
    first, second = _popup(markers[0]), _popup(markers[1])
    assert first.startswith("<b>同济医院</b><br>医院（背景参考，不计入生活圈）<br>等级：三级甲等<br>类型：综合医院")
    assert "来源：测试医院名录；许可：未说明" in first and "licence: none stated" in first
    assert "等级" not in second and "位置存疑：所在区与清单不符" in second and markers[1].options["dashArray"]
    page = m.get_root().render()
    assert "医院：来源 测试医院名录；许可：未说明 (Hospitals: licence none stated)" in page  # the sources line


def test_not_assessed_areas_are_a_grey_hatched_layer(rich, plan):
    m = plan_map(rich)
    layer = _named(m, "未评估 · 健康服务")
    assert layer.layer_name.endswith("— Not assessed · Health (the list is incomplete here; not counted as missing)")
    parts = {f["properties"]["part"]: shapely.geometry.shape(f["geometry"]) for f in layer.data["features"]}
    assert set(parts) == {"area", "hatch"} and parts["hatch"].geom_type == "MultiLineString"
    x0, _, x1, _ = rich.network.bbox_wgs84()
    centre = (x0 + x1) / 2
    assert parts["area"].bounds[2] > centre + 0.001  # the east half, where the list is incomplete
    assert parts["area"].bounds[0] > x0 + (x1 - x0) / 4  # and not the west
    assert parts["hatch"].within(parts["area"].buffer(1e-4))  # within ~10 m (both simplified)
    # no column, or every resident assessed: no such layer
    assert not any(n.startswith("未评估") for n in _overlays(plan_map(plan)))
    everyone = rich.residents.assign(assessed_service_health=True)
    assert not any(n.startswith("未评估") for n in _overlays(plan_map(replace(rich, residents=everyone))))


def _control_names(page: str) -> tuple[list[str], list[str]]:
    """Base layer and overlay names as the saved page's layer control lists them."""
    block = re.search(r"base_layers : \{(.*?)\},\s*overlays :  \{(.*?)\},", page, re.S)
    assert block is not None

    def names(text: str) -> list[str]:
        return [json.loads(f'"{n}"') for n in re.findall(r'^\s*"((?:[^"\\]|\\.)*)" : \w+,$', text, re.M)]

    return names(block.group(1)), names(block.group(2))


def test_saved_map_lists_every_layer_and_stays_offline(rich, tmp_path):
    path = tmp_path / "map.html"
    save_map(plan_map(rich), path)
    page = path.read_text(encoding="utf-8")
    assert not re.search(r'<script src="https?://', page) and not re.search(r'<link[^>]+href="https?://', page)
    bases, overlays = _control_names(page)
    assert bases == [BASEMAPS[k]["name"] for k in ("streets", "osm", "light")]
    # streets, 3 x 3, units, 未评估, tiers, list, context, sites; the services measured on the illustrative tiers
    # (elderly care, meals) get no residents' layer of their own (the tier layers show those walks)
    assert len(overlays) == 1 + 3 * 3 + 1 + 1 + 3 + 1 + 1 + 3
    assert overlays[-4] == "医院（背景参考） — Hospitals (context)"
    assert any(n.startswith("未评估 · 健康服务") for n in overlays)
    for text in (
        "站1",
        "站2",
        "点1",
        "中心1",
        "服务：养老、助餐",
        "位置存疑：与地址所在道路相距超过500米",
        "等级：三级甲等",
    ):
        assert text in page, text
    assert "ILLUSTRATIVE facilities" in page and "© OpenStreetMap contributors" in page
    assert path.stat().st_size < 3_000_000


# -- the command line's map, in a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(yangpu_run_two_stations):
    """`lifecircle -q plan --area <area_toml> --out <out> --no-progress --sites station=2`, run beside the tests as the
    session starts (conftest CLI_RUNS); only this module reads (and adds screenshots to) its folder."""
    assert yangpu_run_two_stations.returncode == 0, yangpu_run_two_stations.stderr
    return yangpu_run_two_stations.out


def test_map_file_is_self_contained(cli_run):
    page = (cli_run / "map.html").read_text(encoding="utf-8")
    assert not re.search(r'<script src="https?://', page) and not re.search(r'<link[^>]+href="https?://', page)
    assert "ILLUSTRATIVE facilities" in page and "© OpenStreetMap contributors" in page
    summary = json.loads((cli_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["outputs"]["map.html"]["assets_embedded"] is True


_COUNT = """
const key = Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map);
const map = window[key];
let circles = 0, markers = 0, layers = 0;
map.eachLayer(l => {
  layers++; if (l instanceof L.CircleMarker) circles++; else if (l instanceof L.Marker) markers++;
});
return [circles, markers, layers, document.querySelectorAll('.leaflet-control-layers-overlays input').length];
"""


def _severe(driver) -> list:
    return [
        e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]


def _toggle(driver, start: str) -> None:
    labels = driver.find_elements("css selector", ".leaflet-control-layers-overlays label")
    label = next(lab for lab in labels if lab.text.strip().startswith(start))
    label.find_element("css selector", "input").click()


@pytest.mark.browser
@pytest.mark.slow
def test_map_renders_offline_in_chromium(cli_run):
    summary = json.loads((cli_run / "summary.json").read_text(encoding="utf-8"))
    n_fac = sum(summary["facilities"]["per_tier"].values())
    n_points = summary["facilities"]["per_tier"]["point"]
    driver = chromium_driver(1280, 900)
    try:
        driver.get((cli_run / "map.html").as_uri())
        circles, markers, _layers, overlays = driver.execute_script(_COUNT)
        assert circles == n_fac  # every facility, all tiers shown
        assert markers == 2  # the two proposed stations, numbered 站1, 站2
        # streets, 3 x (service area, residents) (the command computes no per-facility isochrones by default),
        # units, 3 facility tiers, proposed stations
        assert overlays == 1 + 3 * 2 + 1 + 3 + 1
        assert [e.text for e in driver.find_elements("css selector", ".lc-site")] == ["站1", "站2"]
        # toggle the point facilities off: their markers leave the map, and their legend line goes
        legend = driver.find_element("id", "lc-legend")
        assert "设施 · 家门口服务点" in legend.text
        _toggle(driver, "设施 · 家门口服务点")
        assert driver.execute_script(_COUNT)[0] == n_fac - n_points
        assert "设施 · 家门口服务点" not in legend.text and "设施 · 家门口服务站" in legend.text
        assert "ILLUSTRATIVE facilities" in legend.text and "OpenStreetMap contributors" in legend.text
        assert driver.find_elements("css selector", ".leaflet-control-scale")
        assert _severe(driver) == []  # only refused tile requests, no JavaScript error
        shot = cli_run / "map-screenshot.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert mpimg.imread(shot).std() > 0.05


@pytest.mark.browser
@pytest.mark.slow
def test_the_full_map_renders_offline_in_chromium(rich, tmp_path):
    path = tmp_path / "map.html"
    save_map(plan_map(rich), path)
    n_fac = int((rich.facilities["tier"] != "").sum())
    driver = chromium_driver(1280, 900)
    try:
        driver.get(path.as_uri())
        circles, markers, _layers, overlays = driver.execute_script(_COUNT)
        assert circles == n_fac  # tier facilities; the hospitals wait until switched on
        assert markers == 4 + 2  # 中心1, 站1, 站2, 点1 and the two health centres
        assert overlays == 20
        legend = driver.find_element("id", "lc-legend")
        assert "医院（背景参考）" not in legend.text and "许可：未说明" in legend.text
        _toggle(driver, "医院（背景参考）")
        assert driver.execute_script(_COUNT)[0] == n_fac + 2
        assert "医院（背景参考）" in legend.text
        _toggle(driver, "未评估 · 健康服务")
        assert "未评估 · 健康服务" in legend.text
        # no JavaScript error, and not even a refused tile request: the default basemap is the streets
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        driver.quit()
