"""The map: GCJ-02 alignment for Gaode, and a real offline browser check of map.html."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import matplotlib.image as mpimg
import pytest
import shapely

from browser import chromium_driver
from planner.cli import main
from planner.maps import BASEMAPS, inline_assets, to_basemap_crs

# Reference pair (eviltransform, an independent implementation): People's Square, Shanghai
WGS = (121.4737, 31.2304)
GCJ = (121.47822313586518, 31.228457704689244)


def test_gaode_shifts_overlays_to_gcj02_and_others_do_not():
    gdf = gpd.GeoDataFrame(geometry=[shapely.Point(*WGS)], crs="EPSG:4326")
    shifted = to_basemap_crs(gdf, "gaode").geometry.iloc[0]
    assert shifted.x == pytest.approx(GCJ[0], abs=2e-7) and shifted.y == pytest.approx(GCJ[1], abs=2e-7)
    for key in ("osm", "light", "tianditu", "none"):
        same = to_basemap_crs(gdf, key).geometry.iloc[0]
        assert (same.x, same.y) == WGS
    assert BASEMAPS["gaode"]["crs"] == "gcj02"


def test_inline_assets_refuses_unknown_cdn_links():
    page = '<script src="https://example.invalid/lib.js"></script>'
    with pytest.raises(RuntimeError, match=re.escape("no offline copy of https://example.invalid/lib.js")):
        inline_assets(page)


@pytest.fixture(scope="module")
def run(area_toml, tmp_path_factory):
    out = tmp_path_factory.mktemp("map") / "run"
    assert (
        main(["-q", "plan", "--area", str(area_toml), "--out", str(out), "--no-progress", "--sites", "station=2"]) == 0
    )
    return out


def test_map_file_is_self_contained(run):
    page = (run / "map.html").read_text(encoding="utf-8")
    assert not re.search(r'<script src="https?://', page) and not re.search(r'<link[^>]+href="https?://', page)
    assert "ILLUSTRATIVE facilities" in page and "© OpenStreetMap contributors" in page
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
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


@pytest.mark.browser
@pytest.mark.slow
def test_map_renders_offline_in_chromium(run):
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    n_fac = sum(summary["facilities"]["per_tier"].values())
    n_points = summary["facilities"]["per_tier"]["point"]
    driver = chromium_driver(1280, 900)
    try:
        driver.get((run / "map.html").as_uri())
        circles, markers, _layers, overlays = driver.execute_script(_COUNT)
        assert circles == n_fac  # every facility, all tiers shown
        assert markers == 2  # the two proposed stations, with their rank
        # streets, 3 x (service area, isochrones, residents), units, 3 facility tiers, proposed sites
        assert overlays == 1 + 3 * 3 + 1 + 3 + 1
        # toggle the point facilities off: their markers leave the map
        labels = driver.find_elements("css selector", ".leaflet-control-layers-overlays label")
        point_label = next(lab for lab in labels if "Facilities" in lab.text and lab.text.strip().endswith("point"))
        point_label.find_element("css selector", "input").click()
        assert driver.execute_script(_COUNT)[0] == n_fac - n_points
        legend = driver.find_element("id", "lc-legend").text
        assert "ILLUSTRATIVE facilities" in legend and "OpenStreetMap contributors" in legend
        assert driver.find_elements("css selector", ".leaflet-control-scale")
        errors = [
            e
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
        ]
        assert errors == []  # only refused tile requests, no JavaScript error
        shot = run / "map-screenshot.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert mpimg.imread(shot).std() > 0.05
