"""The web archive's pages over a real store: the front page lists every published
review, each review has its page, drafts and queued reviews are never reachable, a
publish shows without a restart, search answers every input with a page, two languages."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from lxml import html as lxml_html
from starlette.testclient import TestClient

from bot.app import Core
from bot.core.texts import t
from bot.settings import Settings
from tests.support.stores import make_settings
from tests.support.web import add_review, eventually, web_client


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, web_refresh_seconds=0.05)


def page(client: TestClient, path: str, status: int = 200, **headers: str) -> lxml_html.HtmlElement:
    response = client.get(path, headers=headers)
    assert response.status_code == status, (path, response.status_code)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return lxml_html.fromstring(response.text)


def card_titles(document: lxml_html.HtmlElement) -> list[str]:
    return [a.text_content() for a in document.cssselect("article.card a.card-title")]


def has_layout(document: lxml_html.HtmlElement) -> None:
    """What every page carries: the search form, the language switch, the feeds."""
    [form] = document.cssselect('form.search[action="/search"][method="get"]')
    assert form.cssselect('input[type="search"][name="q"]')
    assert form.cssselect('button[type="submit"]')
    assert len(document.cssselect("a.lang-switch")) == 1
    feeds = {link.get("type") for link in document.cssselect('link[rel="alternate"]')}
    assert {"application/atom+xml", "application/feed+json"} <= feeds


def test_front_page_lists_every_published_review_as_a_card(seeded_core: Core) -> None:
    published = seeded_core.reviews.published_entries()
    assert len(published) == 5
    with web_client(seeded_core) as client:
        document = page(client, "/")
    assert document.get("lang") == "zh-CN"
    has_layout(document)
    assert sorted(card_titles(document)) == sorted(entry.title for entry in published)
    links = {a.get("href") for a in document.cssselect("article.card a.card-title")}
    assert links == {f"/r/{entry.slug}" for entry in published}
    headings = [h.text_content() for h in document.cssselect("main h2")]
    assert t("zh", "section_latest") in headings and t("zh", "section_classic") in headings
    switch = document.cssselect("a.lang-switch")[0]
    assert switch.get("href") == "/?lang=en" and switch.text_content() == "English"


def test_every_seed_review_has_its_page_with_share_meta(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        for view in seeded_core.reviews.all():
            document = page(client, f"/r/{view.slug}")
            has_layout(document)
            [article] = document.cssselect("article.review")
            assert article.cssselect("h1")[0].text_content() == view.title
            meta = {
                m.get("property") or m.get("name"): m.get("content") for m in document.iter("meta")
            }
            assert meta["og:title"] == view.title and meta["og:type"] == "article"
            assert meta["og:description"] == view.summary
            assert meta["article:published_time"].startswith(str(view.published_at.year))
            assert meta["twitter:card"] == "summary"
            [ld] = document.cssselect('script[type="application/ld+json"]')
            data = json.loads(ld.text)
            paper = data["about"]
            assert paper["@type"] == "ScholarlyArticle" and paper["url"] == view.arxiv_url
            first_author = view.authors.split(",")[0].split("等")[0].strip()
            assert paper["author"][0]["name"] == first_author
            assert article.cssselect(f'a[href="{view.arxiv_url}"]')
            tags = [a.text_content() for a in article.cssselect("ul.tags a")]
            assert tags == [f"#{tag}" for tag in view.tags]


def test_previous_and_next_walk_the_column_in_order(seeded_core: Core) -> None:
    order = [entry.slug for entry in seeded_core.reviews.published_entries()]
    with web_client(seeded_core) as client:
        walked = [order[0]]
        while True:
            document = page(client, f"/r/{walked[-1]}")
            older = document.cssselect('nav.neighbours a[rel="next"]')
            if not older:
                break
            walked.append(older[0].get("href").removeprefix("/r/"))
    assert walked == order


def test_canonical_telegram_and_wechat_from_the_settings(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        public_url="https://papers.example.org/",
        telegram_bot_username="@paper_review_bot",
        wechat_account_name="论文解读周刊",
    )
    from bot.app import build_core

    core = build_core(settings)
    try:
        slug = core.reviews.published_entries()[0].slug
        with web_client(core) as client:
            document = page(client, f"/r/{slug}")
    finally:
        core.close()
    [canonical] = document.cssselect('link[rel="canonical"]')
    assert canonical.get("href") == f"https://papers.example.org/r/{slug}"
    [deep_link] = document.cssselect("a.telegram")
    assert deep_link.get("href") == f"https://t.me/paper_review_bot?start=r_{slug}"
    assert "论文解读周刊" in document.cssselect("p.wechat")[0].text_content()


def test_raw_html_in_a_review_is_escaped_never_passed_through(core: Core, tmp_path: Path) -> None:
    body = (
        "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and **bold**"
    )
    review = add_review(core, tmp_path, "hostile-body", status="published", body=body)
    with web_client(core) as client:
        response = client.get(f"/r/{review.slug}")
    assert response.status_code == 200
    assert "<script>alert" not in response.text and "<img" not in response.text
    assert "&lt;script&gt;alert" in response.text
    assert "javascript:" not in response.text.replace("[click](javascript:", "")
    document = lxml_html.fromstring(response.text)
    body_element = document.cssselect("article.review .body")[0]
    assert not body_element.cssselect("script, img")
    assert body_element.cssselect("strong")[0].text_content() == "bold"


@pytest.mark.parametrize("status", ["draft", "queued"])
def test_unpublished_reviews_are_not_reachable(core: Core, tmp_path: Path, status: str) -> None:
    hidden = add_review(core, tmp_path, f"hidden-{status}", status=status, tags="[秘密标签]")
    shown = add_review(core, tmp_path, "shown-one", status="published")
    with web_client(core) as client:
        for path in (
            f"/r/{hidden.slug}",
            f"/r/{hidden.id}",
            f"/r/{hidden.slug.upper()}",
            f"/tags/{quote('秘密标签')}",
            f"/tags/{quote('秘密标签')}/feed.atom",
        ):
            document = page(client, path, status=404)
            has_layout(document)
        everywhere = "".join(
            client.get(path).text
            for path in ("/", "/tags", "/archive", "/feed.atom", "/feed.json", "/sitemap.xml")
        )
        everywhere += client.get("/search", params={"q": "Web Test Review"}).text
        assert hidden.title not in everywhere and hidden.slug not in everywhere
        assert shown.title in everywhere
        # The numeric id of a published review leads to its page; a draft's does not.
        moved = client.get(f"/r/{shown.id}")
        assert moved.status_code == 301 and moved.headers["location"] == f"/r/{shown.slug}"


def test_a_publish_shows_on_the_front_page_and_tag_page_without_restart(
    core: Core, tmp_path: Path
) -> None:
    add_review(core, tmp_path, "already-there", status="published", tags="[新标签]")
    draft = add_review(core, tmp_path, "soon-published", status="draft", tags="[新标签]")
    with web_client(core) as client:
        before = page(client, "/")
        assert draft.title not in card_titles(before)
        assert client.get(f"/r/{draft.slug}").status_code == 404
        core.reviews.set_status(draft.id, "published", expected=("draft",))
        assert eventually(lambda: draft.title in card_titles(page(client, "/")))
        assert draft.title in card_titles(page(client, f"/tags/{quote('新标签')}"))
        assert page(client, f"/r/{draft.slug}").cssselect("article.review h1")


def test_english_by_parameter_or_accept_language(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        english = page(client, "/?lang=en")
        assert english.get("lang") == "en"
        switch = english.cssselect("a.lang-switch")[0]
        assert switch.text_content() == "中文" and switch.get("href") == "/?lang=zh"
        assert t("en", "section_latest") in english.text_content()
        links = [a.get("href") for a in english.cssselect("a.card-title")]
        assert links and all(link.endswith("?lang=en") for link in links)
        assert page(client, "/", **{"Accept-Language": "en-US,en;q=0.9"}).get("lang") == "en"
        assert page(client, "/", **{"Accept-Language": "zh-CN,en;q=0.8"}).get("lang") == "zh-CN"
        assert page(client, "/", **{"Accept-Language": "fr, ;;q=x, *"}).get("lang") == "zh-CN"
        assert page(client, "/?lang=zh", **{"Accept-Language": "en"}).get("lang") == "zh-CN"


def test_tags_archive_and_about(seeded_core: Core) -> None:
    counts = seeded_core.reviews.tag_counts()
    with web_client(seeded_core) as client:
        tags = page(client, "/tags")
        listed = [a.get("href") for a in tags.cssselect("main ul.tags a")]
        assert listed == [f"/tags/{quote(tag, safe='')}" for tag, _ in counts]
        tag, count = counts[0]
        tagged = page(client, f"/tags/{quote(tag)}")
        assert len(card_titles(tagged)) == count
        assert tagged.cssselect('link[rel="alternate"][href$="/feed.atom"]')
        archive = page(client, "/archive")
        month_links = [a.get("href") for a in archive.cssselect("section.month h2 a")]
        assert month_links
        in_months = sum(len(card_titles(page(client, link))) for link in month_links)
        assert in_months == len(seeded_core.reviews.published_entries())
        about = page(client, "/about")
        assert t("zh", "about") in about.text_content()
        for missing in ("/tags/no-such-tag", "/archive/2025-13", "/archive/x", "/nowhere/at/all"):
            page(client, missing, status=404)


def test_search_uses_the_bots_service_and_help(seeded_core: Core) -> None:
    expected = [view.title for view in seeded_core.search.search("对齐", 10).items]
    assert expected
    with web_client(seeded_core) as client:
        found = page(client, "/search?q=%E5%AF%B9%E9%BD%90")
        assert card_titles(found) == expected
        assert found.cssselect('input[name="q"]')[0].get("value") == "对齐"
        nothing = page(client, "/search?q=zzzqqqxxx")
        assert t("zh", "nothing_found", query="zzzqqqxxx") in nothing.text_content()
        english = page(client, "/search?q=zzzqqqxxx&lang=en")
        assert t("en", "nothing_found", query="zzzqqqxxx") in english.text_content()


HOSTILE_QUERY_STRINGS = [
    "q=",
    "q=%20%20%20",
    "q=%00%07%1b%5B31m",
    "q=%ED%A0%80",  # a lone surrogate, UTF-8 encoded
    "q=%FF%FE%FD",  # not UTF-8 at all
    "q=" + "x" * 20_000,
    "q=" + "%E5%AF%B9%E9%BD%90+" * 2_000,
    "q=%22unbalanced",
    "q=NEAR(mamba+transformer%2C+2)",
    "q=%27%3B+DROP+TABLE+reviews%3B+--",
    "q=%25_%25",
    "q=%E2%80%AEmamba",
    "q=%F0%A0%80%80%F0%A0%80%81",
    "q=a+%26+b+%7C+!c+%3C-%3E+d",
    "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "q=mamba&page=-1",
    "q=mamba&page=0",
    "q=mamba&page=abc",
    "q=mamba&page=99999999999999999999",
    "q=mamba&page=%EF%BC%92",  # a full-width digit
    "q=mamba&page=2",
    "q=mamba&q=other&lang=xx",
    "q[]=mamba",
]


def test_hostile_search_input_gives_a_page(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        for query_string in HOSTILE_QUERY_STRINGS:
            response = client.get(f"/search?{query_string}")
            assert response.status_code in (200, 404), (query_string[:40], response.status_code)
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            has_layout(lxml_html.fromstring(response.text))
            assert "<script>alert" not in response.text, query_string[:40]


FORGED_PATHS = [
    "/?page=-3",
    "/?page=abc",
    "/?page=99999999999",
    "/?page=%00",
    "/r/%00",
    "/r/" + "a" * 5000,
    "/tags/%ED%A0%80",
    "/r/..%2F..%2Fetc%2Fpasswd",
    "/archive/9999-99",
    "/static/..%2Fpages.py",
    "/tags/%3Cscript%3E",
]


def test_forged_paths_and_page_numbers_give_a_page(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        for path in FORGED_PATHS:
            response = client.get(path)
            assert response.status_code in (200, 404), (path[:40], response.status_code)
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            has_layout(lxml_html.fromstring(response.text))
            assert "<script>" not in response.text, path[:40]
