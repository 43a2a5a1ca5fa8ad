"""Headless Debian Chromium for tests, with networking disabled."""

from __future__ import annotations

import os
import shutil

import pytest


def _missing(what: str) -> None:
    """Skip locally; fail in CI (``CI`` set), where a browser test that silently skips checks nothing."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(
            f"CI is set but {what}: run `make browser` (apt-installs chromium, chromium-driver and "
            "fonts-wqy-zenhei) before the tests",
            pytrace=False,
        )
    pytest.skip(f"{what} (`make browser` installs chromium and chromium-driver; in CI this fails)")


def chromium_driver(width: int = 1280, height: int = 1600):
    """A selenium WebDriver on /usr/bin/chromium that cannot reach any network.

    When Chromium, chromedriver or selenium is missing: skips the test (with the reason) locally, fails it
    when the environment variable ``CI`` is set. ``make test`` installs them (``make browser``).
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the Python package selenium is not installed (pip install -e '.[dev]')")
    binary = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        names = [n for n, found in (("chromium", binary), ("chromedriver", driver_path)) if not found]
        _missing(f"{' and '.join(names)} not found on PATH")

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        # no network: every host resolves to nothing and any proxy use fails
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)
