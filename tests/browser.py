"""Open a page in headless Chromium over the DevTools protocol (on a pipe: no extra packages):
what it requested, whether each image decoded, and a full-page screenshot."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class Chromium:
    def __init__(self):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if not binary:
            raise AssertionError("chromium is not installed (Debian: apt-get install chromium; .ci/run does it)")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # fds 3 and 4 in the child are the protocol's pipe; move ours out of the way first
        read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)

        def wire():
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._profile = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={self._profile.name}",
             "--hide-scrollbars", "about:blank"],
            pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_browser_r, from_browser_w, read_end, write_end):
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise AssertionError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read()
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self):
        try:
            self.send("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()


def open_page(page: Path, screenshot: Path) -> dict:
    """Load `page`; return the URLs it requested and each image's (complete, width, height)."""
    browser = Chromium()
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            browser.send(f"{domain}.enable", session)
        browser.send("Page.setBypassCSP", session, enabled=True)  # count what the page asks for itself
        browser.send("Emulation.setDeviceMetricsOverride", session, width=1200, height=900,
                     deviceScaleFactor=1, mobile=False)
        browser.send("Page.navigate", session, url=page.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        images = browser.send("Runtime.evaluate", session, returnByValue=True, expression=(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"))
        metrics = browser.send("Page.getLayoutMetrics", session)["cssContentSize"]
        shot = browser.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"],
                                  "scale": 1})
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        requests = [e["params"]["request"]["url"] for e in browser.events
                    if e.get("method") == "Network.requestWillBeSent"]
        return {"requests": requests, "images": images["result"]["value"], "height": metrics["height"]}
    finally:
        browser.close()


def outside_requests(result: dict, page: Path) -> list[str]:
    """Requests for anything but the page itself and data: URIs inside it."""
    own = page.resolve().as_uri()
    return [u for u in result["requests"] if u != own and not u.startswith("data:")]
