"""The web archive's feeds: Atom (read back with feedparser, no bozo), JSON Feed 1.1
(its required fields), per tag, stable ids and byte-identical output while nothing
changes, a publish showing up; sitemap.xml and robots.txt."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import feedparser
import pytest

from bot.app import Core
from bot.settings import Settings
from tests.support.stores import make_settings
from tests.support.web import add_review, eventually, web_client


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(
        database_url, tmp_path, web_refresh_seconds=0.05, public_url="https://papers.example.org"
    )


def parsed(body: bytes) -> feedparser.FeedParserDict:
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def test_atom_lists_every_published_review_with_full_content(seeded_core: Core) -> None:
    views = {view.slug: view for view in seeded_core.reviews.all()}
    with web_client(seeded_core) as client:
        response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = parsed(response.content)
    assert feed.version == "atom10"
    assert len(feed.entries) == len(views) == 5
    for entry in feed.entries:
        slug = entry.link.rsplit("/", 1)[1]
        view = views[slug]
        assert entry.link == f"https://papers.example.org/r/{slug}"
        assert entry.id == f"tag:papers.example.org,{view.published_at.year}:/r/{slug}"
        assert entry.title == view.title
        assert dt.datetime(*entry.updated_parsed[:6], tzinfo=dt.UTC) == view.updated_at.replace(
            microsecond=0
        )
        content = entry.content[0]
        assert content.type == "text/html" and "<h4>" in content.value
        assert [tag.term for tag in entry.tags] == list(view.tags)
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == ["https://papers.example.org/feed.atom"]


def test_a_feed_is_byte_identical_while_nothing_changes(seeded_core: Core, tmp_path: Path) -> None:
    with web_client(seeded_core) as client:
        first = client.get("/feed.atom").content
        first_json = client.get("/feed.json").content
    # Another web process (a restart) renders the same bytes from the same store.
    with web_client(seeded_core) as client:
        assert client.get("/feed.atom").content == first
        assert client.get("/feed.json").content == first_json
        add_review(seeded_core, tmp_path, "a-new-one", status="published")
        assert eventually(lambda: client.get("/feed.atom").content != first)
        changed = parsed(client.get("/feed.atom").content)
    assert any(entry.link.endswith("/r/a-new-one") for entry in changed.entries)


def test_json_feed_has_the_required_fields(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        response = client.get("/feed.json")
    assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(response.content)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and feed["feed_url"] == "https://papers.example.org/feed.json"
    assert feed["home_page_url"] == "https://papers.example.org/"
    assert len(feed["items"]) == 5
    ids = [item["id"] for item in feed["items"]]
    assert len(set(ids)) == 5
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["content_html"]
        assert item["url"].startswith("https://papers.example.org/r/")
        dt.datetime.fromisoformat(item["date_published"])
        dt.datetime.fromisoformat(item["date_modified"])
        assert item["external_url"].startswith("https://arxiv.org/abs/")
        assert all(author["name"] for author in item["authors"])


def test_each_tag_has_its_own_atom_feed(seeded_core: Core) -> None:
    tag, count = seeded_core.reviews.tag_counts()[0]
    with web_client(seeded_core) as client:
        feed = parsed(client.get(f"/tags/{quote(tag)}/feed.atom").content)
        assert len(feed.entries) == count
        assert all(tag in [t.term for t in entry.tags] for entry in feed.entries)
        assert client.get("/tags/no-such-tag/feed.atom").status_code == 404


def test_a_publish_reaches_the_feeds_without_restart(core: Core, tmp_path: Path) -> None:
    add_review(core, tmp_path, "first-one", status="published", tags="[甲]")
    draft = add_review(core, tmp_path, "the-draft", status="queued", tags="[甲]")
    with web_client(core) as client:
        assert len(parsed(client.get("/feed.atom").content).entries) == 1
        core.reviews.set_status(draft.id, "published", expected=("queued",))

        def in_feeds() -> bool:
            atom = parsed(client.get("/feed.atom").content)
            tagged = parsed(client.get(f"/tags/{quote('甲')}/feed.atom").content)
            items = json.loads(client.get("/feed.json").content)["items"]
            return (
                len(atom.entries) == 2
                and len(tagged.entries) == 2
                and any(item["title"] == draft.title for item in items)
            )

        assert eventually(in_feeds)


def test_sitemap_and_robots(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        sitemap = client.get("/sitemap.xml")
        robots = client.get("/robots.txt")
    assert sitemap.headers["content-type"] == "application/xml; charset=utf-8"
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = {
        loc.text for loc in ET.fromstring(sitemap.content).findall("s:url/s:loc", namespace)
    }
    for view in seeded_core.reviews.all():
        assert f"https://papers.example.org/r/{view.slug}" in locations
    assert "https://papers.example.org/" in locations
    assert robots.headers["content-type"] == "text/plain; charset=utf-8"
    assert "Sitemap: https://papers.example.org/sitemap.xml" in robots.text
