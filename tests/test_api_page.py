"""The what-if page at ``/``: its assets are local, its base layers are the plan's, and in headless Chromium a
click on the map adds a site and the page shows the very figures ``POST /what-if`` answers for it; the
scenario's three lists download as one workbook."""

from __future__ import annotations

import contextlib
import io
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import openpyxl
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes_page import STATIC, XLSX_TYPE
from api.settings import Settings
from browser import chromium_driver
from planner import columns as col
from planner.plan import Plan

SHEETS = ["需求清单", "资源清单", "服务清单", "说明"]


@pytest.fixture(scope="module")
def plan(yangpu_plan) -> Plan:
    return yangpu_plan  # one per session (conftest)


@pytest.fixture(scope="module")
def client(plan, area_toml):
    with TestClient(create_app(Settings(area=area_toml), plan=plan), raise_server_exceptions=False) as c:
        yield c


def _uncovered_spot(plan: Plan, tier: str = "station") -> tuple[float, float]:
    """A resident point the tier leaves out, with the most people: a new site there adds someone."""
    res = plan.residents
    assert res is not None
    left = res[~res[col.covered(tier, plan.rules.everyone.key)].to_numpy(bool)]
    best = left.iloc[int(np.argmax(left["population"].to_numpy(float)))]
    return float(best.geometry.x), float(best.geometry.y)


def test_the_page_and_its_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "情景推演" in page.text
    for path in ("/page/leaflet.js", "/page/leaflet.css", "/static/page.js", "/static/page.css"):
        assert path in page.text
        r = client.get(path)
        assert r.status_code == 200 and len(r.content) > 1000, path
    assert "Leaflet 1.9.3" in client.get("/page/leaflet.js").text
    # nothing the page loads comes from another host: the intranet has no internet
    for name in ("index.html", "page.js", "page.css"):
        text = (STATIC / name).read_text(encoding="utf-8")
        loads = re.findall(r"""(?:src|href)=["'](https?:)?//""", text) + re.findall(r"""url\(["']?https?:""", text)
        assert loads == [], name
    missing = client.get("/page/leaflet.png")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_base_layers_are_the_plans(client, plan):
    base = client.get("/page/base").json()
    fac = plan.facilities
    assert [f["id"] for f in base["facilities"]] == list(fac["facility_id"])
    assert [f["name"] for f in base["facilities"]] == list(fac["name"])  # named, not numbered
    assert [t["key"] for t in base["tiers"]] == [t.key for t in plan.rules.tiers]
    assert base["tiers"][0]["name_zh"] == plan.rules.tiers[0].name_zh
    assert base["everyone"] == plan.rules.everyone.key
    assert plan.units is not None
    assert [u["properties"]["unit"] for u in base["units"]["features"]] == list(plan.units["unit"])
    segments = client.get("/page/streets").json()["segments"]
    assert plan.network is not None and 0 < len(segments) <= plan.network.u.size
    place = client.get("/page/place", params={"lon": fac.geometry.x.iloc[0], "lat": fac.geometry.y.iloc[0]})
    assert place.status_code == 200 and place.json()["name"]
    assert client.get("/page/place", params={"lon": 500, "lat": 31}).status_code == 422


def test_what_if_answers_per_unit(client, plan):
    lon, lat = _uncovered_spot(plan)
    closing = str(plan.facilities["facility_id"].iloc[0])
    answer = client.post("/what-if", json={"open": [{"lon": lon, "lat": lat, "tier": "station"}], "close": [closing]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["units"], "a site that adds people changes some unit"
    known = set(plan.units["unit"]) | {"（研究区外）"}
    for tier, per_profile in body["tiers"].items():
        for profile, change in per_profile.items():
            rows = [u for u in body["units"] if u["tier"] == tier and u["profile"] == profile]
            assert {u["unit"] for u in rows} <= known
            for key in ("gain_people", "gain_elderly", "loss_people", "loss_elderly"):
                # each unit's figure is rounded on its own
                assert abs(sum(u[key] for u in rows) - change[key]) <= max(1, len(rows)), (tier, profile, key)
    nothing = client.post("/what-if", json={}).json()
    assert nothing["units"] == []


def test_the_lists_of_a_scenario(client, plan):
    lon, lat = _uncovered_spot(plan)
    closing = str(plan.facilities["facility_id"].iloc[-1])
    body = {"open": [{"lon": lon, "lat": lat, "tier": "station", "id": "A1"}], "close": [closing]}
    r = client.post("/what-if/lists.xlsx", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX_TYPE
    assert "attachment" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == SHEETS
    ids = [row[0] for row in wb["资源清单"].iter_rows(min_row=2, values_only=True)]
    assert "A1" in ids and closing not in ids and len(ids) == len(plan.facilities)
    services = list(wb["服务清单"].iter_rows(min_row=2, values_only=True))
    assert len(services) == 1 and services[0][0].endswith("1") and services[0][-1] == "A1"
    gain = client.post("/what-if", json=body).json()["sites"][0]["gain"][plan.rules.everyone.key]
    assert round(services[0][4]) == gain["people"] and round(services[0][5]) == gain["elderly"]
    assert "情景" in wb["说明"]["A2"].value
    bad = client.post("/what-if/lists.xlsx", json={"close": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "close"


# -- in headless Chromium, against a real server ---------------------------------------------------------------


@contextlib.contextmanager
def _serving(app) -> Iterator[str]:
    """``app`` on 127.0.0.1 (uvicorn in a thread), its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, name="page-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def server(plan, area_toml):
    """The service of the test area on 127.0.0.1, its base URL."""
    with _serving(create_app(Settings(area=area_toml), plan=plan)) as url:
        yield url


def _wait(driver, script: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _click_at(driver, lon: float, lat: float) -> None:
    """Click the map at a WGS-84 point (Selenium's offsets are from the element's centre)."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y, w, h = driver.execute_script(
        "const p = lifecircle.map.latLngToContainerPoint([arguments[1], arguments[0]]);"
        "const s = lifecircle.map.getSize(); return [p.x, p.y, s.x, s.y];",
        lon,
        lat,
    )
    element = driver.find_element("id", "map")
    ActionChains(driver).move_to_element_with_offset(element, round(x - w / 2), round(y - h / 2)).click().perform()


def _shown(driver) -> dict:
    """The tier table's figures as the page shows them: tier -> column -> number."""
    return driver.execute_script(
        "const out = {}; document.querySelectorAll('#tier-table tbody tr').forEach(tr => {"
        " out[tr.dataset.tier] = {}; tr.querySelectorAll('td[data-k]').forEach(td => {"
        " out[tr.dataset.tier][td.dataset.k] = Number(td.dataset.value); }); }); return out;"
    )


def _shown_units(driver) -> list:
    """The unit table's rows of tiers (those of services carry data-service instead)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#unit-table tbody tr[data-tier]')]"
        ".map(tr => [tr.dataset.unit, tr.dataset.tier,"
        " ...[...tr.querySelectorAll('td[data-k]')].map(td => Number(td.dataset.value))]);"
    )


def _expected(answer: dict, profile: str) -> tuple[dict, list]:
    keys = ("gain_people", "gain_elderly", "loss_people", "loss_elderly")
    tiers = {t: {k: c[profile][k] for k in keys} for t, c in answer["tiers"].items()}
    units = sorted([u["unit"], u["tier"], *(u[k] for k in keys)] for u in answer["units"] if u["profile"] == profile)
    return tiers, units


def _driver_for_loopback(monkeypatch):
    """``chromium_driver`` with its no-network rule letting 127.0.0.1 through (the server under test); every
    other host still resolves to nothing."""
    try:
        from selenium import webdriver
    except ImportError:  # chromium_driver skips (or fails in CI) with the reason
        return chromium_driver(1280, 900)
    add = webdriver.ChromeOptions.add_argument

    def add_argument(self, argument: str) -> None:
        if argument.startswith("--host-resolver-rules="):
            argument += ", EXCLUDE 127.0.0.1"
        add(self, argument)

    monkeypatch.setattr(webdriver.ChromeOptions, "add_argument", add_argument)
    return chromium_driver(1280, 900)


@pytest.mark.browser
def test_a_click_adds_a_site_and_the_page_shows_the_what_if_answer(server, plan, tmp_path, monkeypatch):
    driver = _driver_for_loopback(monkeypatch)
    try:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
        driver.get(server + "/")
        _wait(driver, "return document.body.dataset.ready")
        everyone = plan.rules.everyone.key

        # a click on the map opens a station there (the tier chosen by default)
        lon, lat = _uncovered_spot(plan)
        _click_at(driver, lon, lat)
        _wait(driver, "return document.body.dataset.answered === '1'")
        sent = driver.execute_script("return lifecircle.lastBody")
        assert sent["close"] == [] and len(sent["open"]) == 1 and sent["open"][0]["tier"] == "station"
        assert abs(sent["open"][0]["lon"] - lon) < 2e-4 and abs(sent["open"][0]["lat"] - lat) < 2e-4
        direct = httpx.post(server + "/what-if", json=sent, timeout=30).json()
        tiers, units = _expected(direct, everyone)
        assert _shown(driver) == tiers
        assert tiers["station"]["gain_people"] > 0
        assert sorted(_shown_units(driver)) == units
        # the 街道 that gain are shaded on the map
        shaded = (
            "return lifecircle.units.getLayers().filter(l => l.options.fillOpacity > 0.1)"
            ".map(l => l.feature.properties.unit)"
        )
        assert set(driver.execute_script(shaded)) == {u[0] for u in units if u[2] != u[4]}
        text = driver.find_element("id", "summary").text
        assert "新增覆盖居民" in text and f"{tiers['station']['gain_people']:,}" in text
        assert "新增家门口服务站" in driver.find_element("id", "scenario-list").text
        ms = int(driver.execute_script("return document.body.dataset.ms"))
        assert ms < 5000  # the page's own click-to-figures time (300 ms on an idle machine; CI is shared)

        # the elderly walking speed: the same answer, its other profile
        from selenium.webdriver.support.ui import Select

        Select(driver.find_element("id", "profile")).select_by_value("elderly")
        assert _shown(driver) == _expected(direct, "elderly")[0]
        Select(driver.find_element("id", "profile")).select_by_value(everyone)

        # a click on a facility closes it, named by its name
        fac = plan.facilities
        centre = fac[fac["tier"] == "center"].iloc[0]
        _click_at(driver, centre.geometry.x, centre.geometry.y)
        _wait(driver, "return document.body.dataset.answered === '2'")
        sent = driver.execute_script("return lifecircle.lastBody")
        assert sent["close"] == [centre["facility_id"]] and len(sent["open"]) == 1
        direct = httpx.post(server + "/what-if", json=sent, timeout=30).json()
        assert _shown(driver) == _expected(direct, everyone)[0]
        assert f"关闭社区服务中心：{centre['name']}" in driver.find_element("id", "scenario-list").text

        # the scenario's three lists download as one workbook
        driver.find_element("id", "download").click()
        _wait(driver, "return document.body.dataset.downloaded", 60)
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob("*.xlsx")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (book,) = tmp_path.glob("*.xlsx")
        assert openpyxl.load_workbook(book).sheetnames == SHEETS
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
    finally:
        driver.quit()


# -- street edits on the page, on the default area (its footbridge, as tests/test_street_edits.py) ---------------

BRIDGE = ((121.4402879, 31.2567142), (121.4394984, 31.2564847))  # 79 m straight, 2.2 km by the streets


def _tool(driver, value: str) -> None:
    driver.find_element("css selector", f'input[name="tool"][value="{value}"]').click()


def _shown_services(driver) -> dict:
    """The services table as shown: (service, profile) -> column -> number."""
    return driver.execute_script(
        "const out = {}; document.querySelectorAll('#service-table tbody tr').forEach(tr => {"
        " const k = tr.dataset.service + '/' + tr.dataset.profile; out[k] = {};"
        " tr.querySelectorAll('td[data-k]').forEach(td => { out[k][td.dataset.k] = Number(td.dataset.value); }); });"
        " return out;"
    )


@pytest.mark.browser
def test_drawing_a_footbridge_shows_the_what_if_gain(monkeypatch, default_plan):
    default = default_plan  # one per session (conftest)
    everyone = default.rules.everyone.key
    with _serving(create_app(Settings(), plan=default)) as url:
        driver = _driver_for_loopback(monkeypatch)
        try:
            driver.get(url + "/")
            _wait(driver, "return document.body.dataset.ready")
            (lon0, lat0), (lon1, lat1) = BRIDGE
            driver.execute_script(
                "lifecircle.map.setView([arguments[1], arguments[0]], 18, {animate: false})", *BRIDGE[0]
            )
            _tool(driver, "link")
            _click_at(driver, lon0, lat0)
            _click_at(driver, lon1, lat1)
            _wait(driver, "return document.body.dataset.answered === '1'")
            sent = driver.execute_script("return lifecircle.lastBody")
            (link,) = sent["add_links"]
            assert sent["open"] == [] and sent["close"] == [] and sent["close_links"] == []
            # a pixel at zoom 18 is about half a metre
            assert abs(link["from"]["lon"] - lon0) < 2e-5 and abs(link["from"]["lat"] - lat0) < 2e-5
            assert abs(link["to"]["lon"] - lon1) < 2e-5 and abs(link["to"]["lat"] - lat1) < 2e-5
            direct = httpx.post(url + "/what-if", json=sent, timeout=60).json()
            gain = direct["service_change"]["health"][everyone]
            assert gain["gain_people"] > 0
            shown = _shown_services(driver)
            assert shown[f"health/{everyone}"] == gain
            assert _shown(driver) == _expected(direct, everyone)[0]
            effect = driver.find_element("css selector", "#edits li[data-edit='0']")
            assert int(effect.get_attribute("data-people")) == direct["edit_effects"][0]["people"] > 0
            assert effect.text.startswith("连接1（新增步行连接）：改变")
            assert f"{gain['gain_people']:,}" in driver.find_element("id", "summary").text
            assert "新增步行连接" in driver.find_element("id", "scenario-list").text
            # the exact footbridge gains as many: the page's drawing is the bridge
            exact = {"from": dict(zip(("lon", "lat"), BRIDGE[0])), "to": dict(zip(("lon", "lat"), BRIDGE[1]))}
            want = httpx.post(url + "/what-if", json={"add_links": [exact]}, timeout=60).json()
            assert want["service_change"]["health"][everyone]["gain_people"] == pytest.approx(
                gain["gain_people"], rel=0.02
            )

            # a street closed by a click on it: sent as a point; a click far from any street is taken back
            net = default.network
            e = int(np.flatnonzero(net.length > 80)[0])
            mid = ((net.lon[net.u[e]] + net.lon[net.v[e]]) / 2, (net.lat[net.u[e]] + net.lat[net.v[e]]) / 2)
            driver.execute_script("lifecircle.map.setView([arguments[1], arguments[0]], 18, {animate: false})", *mid)
            _tool(driver, "close")
            _click_at(driver, *mid)
            _wait(driver, "return document.body.dataset.answered === '2'")
            sent = driver.execute_script("return lifecircle.lastBody")
            assert len(sent["add_links"]) == 1 and len(sent["close_links"]) == 1
            direct = httpx.post(url + "/what-if", json=sent, timeout=60).json()
            assert len(driver.find_elements("css selector", "#edits li")) == len(direct["edit_effects"]) == 2
            assert _shown(driver) == _expected(direct, everyone)[0]
            notes = [e["note_zh"] for e in direct["edit_effects"] if e["note_zh"]]
            for note in notes:  # an edit that changes nothing says so on the page
                assert note in driver.find_element("id", "edits").text
            # a closure 5 km west of the area, far from any street: refused by the service, taken back on the page
            x0, y0, _, _ = net.bbox_wgs84()
            far = (x0 - 0.05, y0)
            driver.execute_script("lifecircle.map.fire('click', {latlng: L.latLng(arguments[1], arguments[0])})", *far)
            failed = _wait(driver, "return document.body.dataset.failed || ''")
            assert "无法封闭" in failed and "close_links[1]" not in failed
            _wait(driver, "return document.body.dataset.answered === '3'")
            assert driver.execute_script("return lifecircle.closures.length") == 1
            assert "已撤销" in driver.find_element("id", "status").text
            severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert all("422" in e["message"] for e in severe), severe
        finally:
            driver.quit()
