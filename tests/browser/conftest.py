"""A real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium against a live server.

Screenshots of the pages visited go to var/screenshots/ (kept by CI as artifacts, never committed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install -r requirements-browser.txt (.ci/browser does)")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        pytest.fail("apt-get install chromium chromium-driver (.ci/browser does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                     "--disable-component-update", "--disable-default-apps", "--disable-domain-reliability",
                     "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    chrome.implicitly_wait(5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield chrome
    chrome.quit()


@pytest.fixture(autouse=True)
def _browser_reaches_the_server(settings) -> None:
    # The live server answers as "localhost"; the admin's CSRF check wants the origin trusted.
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]


def shot(browser: object, name: str) -> None:
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))  # type: ignore[attr-defined]
