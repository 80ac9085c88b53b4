"""What the browser tests share: where the built book is, and how to open a page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def open_page(browser, url: str, color_scheme: str = "light"):
    """Open ``url``; return the page and the console errors and failed requests it caused."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=color_scheme)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images, if any
    page.wait_for_load_state("networkidle")
    return page, errors
