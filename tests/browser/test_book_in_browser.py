"""The built book, opened in a real browser (headless Chromium, driven by Playwright).

Run after ``make book`` with ``make browser`` (CI does). Serves ``_build/html``
on 127.0.0.1 and checks every page: no console errors, every image loaded,
every chapter reachable from the navigation, search works, the download
button gives a real notebook. Screenshots go to ``_build/browser/``.
"""

from __future__ import annotations

import json

import pytest
import yaml
from browsing import HTML, ROOT, SHOTS, chapters, open_page, pages
from PIL import Image

pytestmark = pytest.mark.browser


HOME = chapters()[0]  # the root page; index.html only redirects to it


def test_the_book_has_pages():
    assert len(pages()) >= len(chapters())


def test_index_leads_to_the_home_page(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/index.html")
    page.wait_for_url(f"{server}/{HOME}")
    page.close()


@pytest.mark.parametrize("path", pages() if HTML.is_dir() else ["index.html"])
def test_page_loads_cleanly_with_every_image(browser, server, path):
    page, errors = open_page(browser, f"{server}/{path}")
    broken = page.evaluate(
        """() => Array.from(document.images)
               .filter(img => !(img.complete && img.naturalWidth > 0))
               .map(img => img.getAttribute('src'))"""
    )
    images = page.evaluate("document.images.length")
    page.close()
    assert not errors, f"{path}: console errors: {errors}"
    assert not broken, f"{path}: {len(broken)} of {images} images did not load: {broken}"


def test_navigation_reaches_every_chapter(browser, server):
    page, errors = open_page(browser, f"{server}/{HOME}")
    links = page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference", "links => links.map(a => a.href)"
    )
    page.close()
    reached = {link.split("#")[0].removeprefix(f"{server}/") for link in links}
    missing = [chapter for chapter in chapters()[1:] if chapter not in reached]
    assert not missing, f"not in the navigation: {missing}"
    assert not errors


def test_search_finds_convolution(browser, server):
    page, errors = open_page(browser, f"{server}/search.html?q=convolution")
    page.wait_for_selector("#search-results ul.search li", timeout=15_000)
    found = page.eval_on_selector_all("#search-results ul.search li a", "a => a.map(x => x.href)")
    page.close()
    assert any("cnn" in link for link in found), found
    assert not errors


def test_download_button_gives_a_real_notebook(browser, server):
    page, errors = open_page(browser, f"{server}/notebooks/cnn.html")
    hrefs = page.eval_on_selector_all(
        ".dropdown-download-buttons a", "links => links.map(a => a.href)"
    )
    notebooks = [href for href in hrefs if href.endswith(".ipynb")]
    assert notebooks, f"no .ipynb among the download links {hrefs}"
    response = page.request.get(notebooks[0])
    assert response.ok
    notebook = json.loads(response.body())
    page.close()
    assert notebook["nbformat"] == 4 and len(notebook["cells"]) > 10
    assert not errors


def test_screenshots_light_and_dark(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in (("home", HOME), ("chapter", "notebooks/cnn.html")):
        for scheme in ("light", "dark"):
            page, errors = open_page(browser, f"{server}/{path}", color_scheme=scheme)
            page.evaluate(f"document.documentElement.dataset.theme = '{scheme}'")
            page.evaluate("window.scrollTo(0, 0)")
            shot = SHOTS / f"{name}-{scheme}.png"
            page.screenshot(path=str(shot), full_page=False)
            page.close()
            assert shot.stat().st_size > 10_000 and not errors


def test_figures_have_an_opaque_background_for_dark_mode():
    """A transparent figure would draw black axes on the dark theme's black page."""
    figures = list((HTML / "_images").glob("*.png"))
    assert figures
    for figure in figures:
        with Image.open(figure) as image:
            rgba = image.convert("RGBA")
            x, y = rgba.width - 1, rgba.height - 1
            corners = [rgba.getpixel(xy) for xy in ((0, 0), (x, 0), (0, y), (x, y))]
        assert all(alpha == 255 for *_, alpha in corners), f"{figure.name} is transparent"


def numbered_chapters() -> list[str]:
    """The chapters of the numbered parts of the table of contents, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [
        f"{chapter['file']}.html"
        for part in toc["parts"]
        if part.get("numbered")
        for chapter in part["chapters"]
    ]


def test_the_sidebar_numbers_the_chapters_in_reading_order(browser, server):
    page, errors = open_page(browser, f"{server}/{HOME}")
    links = page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference",
        "links => links.map(a => [a.href.split('#')[0], a.textContent.trim()])",
    )
    page.close()
    titles = {href.removeprefix(f"{server}/"): text for href, text in links}
    shown = [titles[chapter] for chapter in numbered_chapters()]
    numbers = [title.split(".")[0] for title in shown]
    assert numbers == [str(n) for n in range(1, len(shown) + 1)], shown
    assert not errors


def test_home_page_opens_with_digits_and_every_page_has_the_licence(browser, server):
    page, errors = open_page(browser, f"{server}/{HOME}")
    first = page.eval_on_selector(
        "main article", "a => a.querySelector('img, p, ul').tagName.toLowerCase()"
    )
    footer = page.inner_text(".extra_footer")
    page.close()
    assert first == "img", "the introduction should open with a picture"
    assert "MIT License" in footer and "CC BY 4.0" in footer, footer
    assert not errors
