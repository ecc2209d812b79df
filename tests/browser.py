"""Open a page in Debian's headless Chromium through Selenium and its chromedriver: what the page
requested, whether each image decoded, how it lays out in a 1366 × 768 window, and screenshots.

Chromium and chromium-driver are installed with apt where that can be done; otherwise the tests
that need them are skipped, saying why."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pytest
from debian import Unavailable, ensure_installed, find_program

SCREEN = (1366, 768)  # a common laptop screen: the report's first screen is checked at this size

# What the report's first screen must show, read in the page itself (positions in CSS pixels).
LAYOUT = """
const heading = [...document.querySelectorAll('h2')].find(h => h.textContent.trim() === 'Summary');
const summary = heading ? heading.nextElementSibling : null;
const figure = document.querySelector('figure');
const box = e => { if (!e) return null; const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.width]; };
return JSON.stringify({
  viewport: [window.innerWidth, window.innerHeight],
  scroll_width: document.documentElement.scrollWidth,
  client_width: document.documentElement.clientWidth,
  summary: box(summary), figure: box(figure),
  figure_image: figure ? figure.querySelector('img').naturalWidth : 0,
  images: [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
});
"""


def chromium():
    """A headless Chromium driven by Debian's chromedriver; skips the test when they cannot be had."""
    try:
        ensure_installed(("chromium", "chromedriver"), ["chromium", "chromium-driver"])
    except Unavailable as error:
        pytest.skip(str(error))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = find_program("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                 "--host-resolver-rules=MAP * ~NOTFOUND", f"--window-size={SCREEN[0]},{SCREEN[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # the page's network requests
    profile = tempfile.TemporaryDirectory()
    options.add_argument(f"--user-data-dir={profile.name}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=find_program("chromedriver")))
    driver._profile = profile  # removed with the driver
    return driver


def open_page(page: Path, screenshot: Path) -> dict:
    """Load `page` in a 1366 × 768 window; return the URLs it requested, each image's (complete,
    width, height), its layout there, and save a screenshot of that first screen and one of the
    whole page (`screenshot`)."""
    driver = chromium()
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": True})  # count what the page asks for itself
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": SCREEN[0], "height": SCREEN[1], "deviceScaleFactor": 1, "mobile": False})
        driver.get_log("performance")  # drop what the browser itself loaded on start (its new-tab page)
        driver.get(page.resolve().as_uri())
        layout = json.loads(driver.execute_script(LAYOUT))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot.with_name(screenshot.stem + "-first-screen.png")))
        whole = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": whole["width"], "height": whole["height"], "scale": 1}})
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
        requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"
                    and e["params"].get("documentURL") == page.resolve().as_uri()]
        return {"requests": requests, "images": layout.pop("images"), "height": whole["height"], "layout": layout}
    finally:
        driver.quit()
        driver._profile.cleanup()


def outside_requests(result: dict, page: Path) -> list[str]:
    """Requests for anything but the page itself and data: URIs inside it."""
    own = page.resolve().as_uri()
    return [u for u in result["requests"] if u != own and not u.startswith("data:")]


def first_screen_problems(result: dict) -> list[str]:
    """What keeps the report from giving its answer in the first screen without scrolling sideways."""
    layout, problems = result["layout"], []
    width, height = layout["viewport"]
    if [width, height] != list(SCREEN):
        problems.append(f"the window is {width} × {height}, not {SCREEN[0]} × {SCREEN[1]}")
    if layout["scroll_width"] > layout["client_width"]:
        problems.append(f"the page scrolls sideways: {layout['scroll_width']} px wide in {layout['client_width']}")
    for name in ("summary", "figure"):
        box = layout[name]
        if box is None:
            problems.append(f"no {name} on the page")
        elif box[1] > height:
            problems.append(f"the {name} ends at {box[1]:.0f} px, below the first screen ({height} px)")
    if not layout["figure_image"]:
        problems.append("the first figure's image did not decode")
    return problems
