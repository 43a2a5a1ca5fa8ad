"""Headless Debian Chromium for tests, with networking disabled."""

from __future__ import annotations

import shutil

import pytest


def chromium_driver(width: int = 1280, height: int = 1600):
    """A selenium WebDriver on /usr/bin/chromium that cannot reach any network.

    Skips the test (with the reason) when Chromium or its driver is missing: ``make test`` installs them.
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    binary = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("Debian chromium and chromium-driver are not installed (make test installs them)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={width},{height}",
                # no network: every host resolves to nothing and any proxy use fails
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)
