"""The book on a phone, 390 x 844 CSS pixels, in headless Chromium.

The menu button opens the table of contents on every kind of page, and no page
scrolls sideways: only code blocks, outputs and wide tables may, inside their
own box. (The "Draw a digit" page on a phone is tested in test_draw_page.py.)
Screenshots of the open menu go to ``_build/browser/``.
"""

from __future__ import annotations

import pytest
from browsing import HTML, PHONE, SHOTS, chapters, open_page, pages

pytestmark = pytest.mark.browser

HOME = chapters()[0]
MENU_PAGES = {
    "home": HOME,
    "chapter": "notebooks/cnn.html",
    "draw": "notebooks/draw_a_digit.html",
    "api": "book/api.html",
}


def toc_links(page):
    """The links of the table of contents, whichever box the theme shows them in."""
    return page.locator("nav.bd-docs-nav a.reference")


def on_screen(box: dict) -> bool:
    """Whether a bounding box lies wholly on the phone's screen."""
    x, y, width, height = box["x"], box["y"], box["width"], box["height"]
    return x >= 0 and y >= 0 and x + width <= PHONE["width"] and y + height <= PHONE["height"]


@pytest.mark.parametrize("name", MENU_PAGES)
def test_menu_button_opens_the_table_of_contents(browser, server, name):
    page, errors = open_page(browser, f"{server}/{MENU_PAGES[name]}", viewport=PHONE)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")  # mid-page, reading
    assert not any(link.is_visible() for link in toc_links(page).all()), "menu open already"
    buttons = page.locator(".primary-toggle:visible")
    assert buttons.count() == 1, f"{buttons.count()} menu buttons in sight"
    buttons.click()
    page.wait_for_timeout(300)  # the drawer's transition
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"phone-menu-{name}.png"))
    shown = {}
    for link in toc_links(page).all():
        if link.is_visible():
            # the drawer scrolls when the list is long (centred: a link cut in two by the
            # screen's edge counts as in view for Playwright's scroll_into_view_if_needed)
            link.evaluate("a => a.scrollIntoView({block: 'center'})")
            inside = on_screen(link.bounding_box())
            href = link.evaluate("a => a.href.split('#')[0]").removeprefix(f"{server}/")
            shown[href] = shown.get(href, False) or inside
    page.close()
    missing = [chapter for chapter in chapters() if not shown.get(chapter)]
    assert not missing, f"{name}: not in the open menu on a phone: {missing}"
    assert not errors, errors


def test_a_chapter_opens_from_the_menu(browser, server):
    page, errors = open_page(browser, f"{server}/{HOME}", viewport=PHONE)
    page.locator(".primary-toggle:visible").click()
    page.locator("nav.bd-docs-nav a.reference:visible", has_text="Draw a digit").click()
    page.wait_for_url(f"{server}/notebooks/draw_a_digit.html")
    page.close()
    assert not errors, errors


# The outermost elements that stick out past the right edge of the page, for the message.
STICKING_OUT = """() => {
  const width = document.documentElement.clientWidth;
  const out = (el) => el.getBoundingClientRect().right > width + 0.5;
  const clips = (el) => getComputedStyle(el).overflowX !== "visible";
  return Array.from(document.querySelectorAll("body *"))
    .filter((el) => out(el) && el.getBoundingClientRect().width > 0)
    .filter((el) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        if (clips(up) || out(up)) return false;
      }
      return true;
    })
    .slice(0, 5)
    .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}">`
      + ` ${el.textContent.trim().slice(0, 50)}`);
}"""


@pytest.mark.parametrize("path", pages() if HTML.is_dir() else ["index.html"])
def test_no_page_scrolls_sideways_on_a_phone(browser, server, path):
    page, errors = open_page(browser, f"{server}/{path}", viewport=PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    culprits = page.evaluate(STICKING_OUT) if width > PHONE["width"] else []
    page.close()
    assert width <= PHONE["width"], f"{path} is {width} px wide: {culprits}"
    assert not errors, errors
