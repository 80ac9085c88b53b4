"""What the browser tests share: where the built book is, and how to open a page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12 to 14, in CSS pixels


def open_page(browser, url: str, color_scheme: str = "light", viewport: dict = DESKTOP):
    """Open ``url``; return the page and the console errors and failed requests it caused."""
    page = browser.new_page(viewport=viewport, color_scheme=color_scheme)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images, if any
    page.wait_for_load_state("networkidle")
    return page, errors


def chapters() -> list[str]:
    """The pages of the table of contents, as paths of HTML files."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [chapter["file"] for chapter in part["chapters"]]
    return [f"{file}.html" for file in files]


def pages() -> list[str]:
    """Every content page of the built book (Sphinx's own index pages aside)."""
    skip = {"genindex.html", "search.html", "py-modindex.html", "index.html"}  # index: a redirect
    return sorted(
        str(path.relative_to(HTML))
        for path in HTML.rglob("*.html")
        if path.name not in skip and "_static" not in path.parts and "_sources" not in path.parts
    )
