"""The web archive in a real browser: Debian's Chromium, headless, against `paperbot run`.

A reader's path through the column: the front page's cards, one review, the search box,
the language switch; and screenshots at phone and desktop widths that must show the Chinese
text as glyphs, not tofu. One server process (no Telegram token, a seeded SQLite store) and
one browser serve the whole module; each test has its own browser context (cookies, size).

Needs /usr/bin/chromium and a CJK font (`apt-get install chromium fonts-noto-cjk`; .ci/run
installs them): without, these tests skip loudly, and with PAPERBOT_REQUIRE_BROWSER=1 fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.app import build_core
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    han_glyphs,
    judge,
    largest_font_group,
    require_browser,
    tofu_boxes,
)
from tests.support.site import Site, running_site
from tests.support.stores import make_settings

#: One worker runs the whole module (pytest-xdist's loadgroup): one server, one browser.
pytestmark = pytest.mark.xdist_group("web-browser")

QUERY = "对齐"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Column:
    """What the store holds, read through the core: what the pages must show."""

    published_titles: frozenset[str]
    search_titles: tuple[str, ...]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def column_and_site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    work = tmp_path_factory.mktemp("web-browser")
    url = f"sqlite:///{work / 'paperbot.db'}"
    core = build_core(make_settings(url, work), seed=True)  # content/'s reviews, published
    try:
        column = Column(
            frozenset(view.title for view in core.reviews.all() if view.status == "published"),
            tuple(view.title for view in core.search.search(QUERY, limit=50).items),
        )
    finally:
        core.close()
    assert column.published_titles and column.search_titles, "the seed has no 对齐 review"
    with running_site(work, url) as site:
        yield column, site


@pytest.fixture
def site(column_and_site: tuple[Column, Site]) -> Site:
    return column_and_site[1]


@pytest.fixture
def column(column_and_site: tuple[Column, Site]) -> Column:
    return column_and_site[0]


def open_page(browser: Any, viewport: dict[str, int]) -> Any:
    """A page in a fresh context: a Chinese reader's browser at this size, scale 1 (so
    screenshot pixels are CSS pixels)."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1, locale="zh-CN")
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = open_page(browser, DESKTOP)
    yield opened
    opened.context.close()


def goto(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)


def card_titles(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("article.card a.card-title").all_inner_texts()]


def assert_search_form(page: Any) -> None:
    form = page.locator('form.search[action="/search"][method="get"]')
    assert form.count() == 1, f"{page.url}: no search form"
    assert form.locator('input[type="search"][name="q"]').count() == 1
    assert form.locator('button, input[type="submit"]').count() >= 1


# --- a reader's path --------------------------------------------------------------------


def test_the_front_page_lists_the_cards_and_one_opens_its_review(
    page: Any, site: Site, column: Column
) -> None:
    goto(page, site.url("/"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert_search_form(page)
    titles = card_titles(page)
    assert set(titles) == column.published_titles, titles

    card = page.locator("article.card a.card-title").first
    title, href = card.inner_text().strip(), card.get_attribute("href")
    assert href is not None and href.startswith("/r/"), href
    with page.expect_navigation():
        card.click()
    assert urlsplit(page.url).path == urlsplit(href).path
    review = page.locator("article.review")
    assert review.count() == 1
    assert review.locator("h1").inner_text().strip() == title
    assert_search_form(page)


def test_searching_from_the_box_shows_the_bots_results(
    page: Any, site: Site, column: Column
) -> None:
    goto(page, site.url("/"))
    page.locator('form.search input[name="q"]').fill(QUERY)
    with page.expect_navigation():
        page.locator('form.search button, form.search input[type="submit"]').first.click()
    address = urlsplit(page.url)
    assert address.path == "/search"
    assert parse_qs(address.query)["q"] == [QUERY]
    # Same search service, same ranking as the bot's /search 对齐.
    assert tuple(card_titles(page)) == column.search_titles
    assert_search_form(page)


def test_the_language_switch_goes_to_english_and_back(page: Any, site: Site) -> None:
    goto(page, site.url("/"))
    switch = page.locator("a.lang-switch")
    assert switch.inner_text().strip() == "English"
    with page.expect_navigation():
        switch.click()
    assert parse_qs(urlsplit(page.url).query).get("lang") == ["en"], page.url
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("a.lang-switch").inner_text().strip() == "中文"
    assert_search_form(page)

    with page.expect_navigation():
        page.locator("a.lang-switch").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("a.lang-switch").inner_text().strip() == "English"


# --- screenshots ----------------------------------------------------------------------


def check_screenshot(path: Path, viewport: dict[str, int]) -> None:
    """A PNG of exactly the viewport's size, with something drawn on it."""
    from PIL import Image

    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (viewport["width"], viewport["height"])
        gray = image.convert("L")
        histogram = gray.histogram()
        background = max(range(256), key=histogram.__getitem__)
        drawn = sum(n for value, n in enumerate(histogram) if abs(value - background) > 60)
    assert drawn > 0.002 * viewport["width"] * viewport["height"], f"{path.name} is blank"


def check_chinese_rendered(page: Any, shot: Path) -> None:
    group = largest_font_group(han_glyphs(page, shot))
    assert len(group) >= 4, f"{shot.name}: fewer than 4 Chinese characters in view"
    boxes = tofu_boxes(page.context, group[0].font, shot.parent)
    # The check can tell: this browser's own tofu, judged the same way, is tofu.
    assert not judge(boxes, boxes).rendered
    verdict = judge(group, boxes)
    assert verdict.rendered, f"{shot.name}: Chinese text drawn as tofu? {verdict}"


@pytest.mark.parametrize("name, viewport", [("phone", PHONE), ("desktop", DESKTOP)])
def test_screenshots_show_the_chinese_text_at_phone_and_desktop_widths(
    browser: Any, site: Site, tmp_path: Path, name: str, viewport: dict[str, int]
) -> None:
    page = open_page(browser, viewport)
    try:
        goto(page, site.url("/"))
        href = page.locator("article.card a.card-title").first.get_attribute("href")
        for label, path in [("front", "/"), ("review", href)]:
            goto(page, site.url(path))
            page.evaluate("document.fonts.ready")
            shot = tmp_path / f"{label}-{name}.png"
            page.screenshot(path=str(shot))
            check_screenshot(shot, viewport)
            check_chinese_rendered(page, shot)
            # Readable on a phone: nothing wider than the screen, no sideways scrolling.
            overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{label} page is {overflow} px wider than {name}'s screen"
    finally:
        page.context.close()
