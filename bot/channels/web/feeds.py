"""Feeds and crawler files: Atom 1.0 (feedgen), JSON Feed 1.1, per-tag Atom, sitemap.xml,
robots.txt. Ids are tag URIs that never change; `updated` is the reviews' own change
time, so a feed is byte-identical until a review in it changes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from feedgen.feed import FeedGenerator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.channels.web.labels import label
from bot.channels.web.responses import ATOM, FEED_CACHE, JSON_FEED, TEXT, XML, Rendered
from bot.channels.web.site import Visit, WebSite, tag_path
from bot.core.arxiv.lint import parse_author_line
from bot.core.reviews import ReviewEntry, ReviewView

#: The tag URI authority when PUBLIC_URL does not name a host.
DEFAULT_AUTHORITY = "localhost"
#: The date in a tag URI when a review has no publication time (never for a published one).
DEFAULT_TAG_YEAR = 2025


class FeedRoutes:
    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/feed.atom", self.atom, methods=["GET"]),
            Route("/feed.json", self.json_feed, methods=["GET"]),
            Route("/tags/{tag:path}/feed.atom", self.tag_atom, methods=["GET"]),
            Route("/sitemap.xml", self.sitemap, methods=["GET"]),
            Route("/robots.txt", self.robots, methods=["GET"]),
        ]

    # helpers

    def authority(self) -> str:
        host = urlsplit(self.site.settings.public_url).hostname
        return host or DEFAULT_AUTHORITY

    def entry_id(self, slug: str, published_at: dt.datetime | None) -> str:
        year = published_at.year if published_at else DEFAULT_TAG_YEAR
        return f"tag:{self.authority()},{year}:/r/{slug}"

    def feed_id(self, path: str) -> str:
        return f"tag:{self.authority()},{DEFAULT_TAG_YEAR}:{path}"

    def _newest(self, entries: list[ReviewEntry] | tuple[ReviewEntry, ...]) -> list[ReviewView]:
        chosen = list(entries[: self.site.settings.web_feed_size])
        return self.site.reviews.published_by_ids([entry.id for entry in chosen])

    def _feed_visit(self, request: Request) -> Visit:
        # Feeds are in the column's language whatever the reader's browser says.
        visit = self.site.visit(request)
        return Visit("zh", visit.base_url, visit.path)

    # Atom

    async def atom(self, request: Request) -> Response:
        visit = self._feed_visit(request)
        return await self.site.answer(request, visit, ("atom",), lambda: self._atom(visit, None))

    async def tag_atom(self, request: Request) -> Response:
        visit = self._feed_visit(request)
        tag = str(request.path_params["tag"])[:200]
        return await self.site.answer(request, visit, ("atom", tag), lambda: self._atom(visit, tag))

    def _atom(self, visit: Visit, tag: str | None) -> Rendered:
        catalogue = self.site.cache.catalogue()
        if tag is None:
            entries: list[ReviewEntry] | tuple[ReviewEntry, ...] = catalogue.entries
            path, title = "/feed.atom", label("zh", "feed_title")
            home = visit.url("/")
        else:
            entries = catalogue.by_tag.get(tag, [])
            if not entries:
                return self.site.not_found(visit)
            path, title = tag_path(tag) + "/feed.atom", label("zh", "feed_tag_title", tag=tag)
            home = visit.url(tag_path(tag))
        reviews = self._newest(entries)
        updated = catalogue.last_change(entries[: self.site.settings.web_feed_size])
        feed = FeedGenerator()
        feed.id(self.feed_id(path))
        feed.title(title)
        feed.subtitle(label("zh", "tagline"))
        feed.author({"name": label("zh", "site_name")})
        feed.link(href=home, rel="alternate", type="text/html")
        feed.link(href=visit.url(path), rel="self", type="application/atom+xml")
        feed.language("zh-CN")
        feed.updated(updated)
        feed.generator("paperbot")
        for review in reviews:
            self._atom_entry(feed, visit, review)
        body = feed.atom_str(pretty=True)
        return Rendered(
            body, ATOM, cache_control=FEED_CACHE, last_modified=updated, by_language=False
        )

    def _atom_entry(self, feed: FeedGenerator, visit: Visit, review: ReviewView) -> None:
        entry = feed.add_entry(order="append")
        url = visit.url(f"/r/{review.slug}")
        entry.id(self.entry_id(review.slug, review.published_at))
        entry.title(review.title)
        # One link only: feedgen 1.0 writes an entry link's href but drops its rel, so a
        # second (arXiv, rel=related) would pass for the alternate; the arXiv address
        # goes at the end of the content instead (a link without rel is the alternate).
        entry.link(href=url, rel="alternate", type="text/html")
        entry.updated(review.updated_at or review.published_at)
        if review.published_at:
            entry.published(review.published_at)
        for name in _author_names(review):
            entry.author({"name": name})
        for tag in review.tags:
            entry.category(term=tag)
        if review.summary:
            entry.summary(review.summary)
        entry.content(self._content_html(review), type="html")

    def _content_html(self, review: ReviewView) -> str:
        """The review's body as HTML, with the paper's arXiv address at the end."""
        content = str(self.site.markdown_html(review.body))
        if review.arxiv_url:
            link = escape(review.arxiv_url, {'"': "&quot;"})
            content += f'<p><a href="{link}">arXiv:{escape(review.arxiv_id or "")}</a></p>\n'
        return content

    # JSON Feed

    async def json_feed(self, request: Request) -> Response:
        visit = self._feed_visit(request)
        return await self.site.answer(request, visit, ("json",), lambda: self._json(visit))

    def _json(self, visit: Visit) -> Rendered:
        catalogue = self.site.cache.catalogue()
        reviews = self._newest(catalogue.entries)
        updated = catalogue.last_change(catalogue.entries[: self.site.settings.web_feed_size])
        document: dict[str, Any] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": label("zh", "feed_title"),
            "home_page_url": visit.url("/"),
            "feed_url": visit.url("/feed.json"),
            "description": label("zh", "tagline"),
            "language": "zh-CN",
            "authors": [{"name": label("zh", "site_name")}],
            "items": [self._json_item(visit, review) for review in reviews],
        }
        body = json.dumps(document, ensure_ascii=False, indent=1).encode()
        return Rendered(
            body, JSON_FEED, cache_control=FEED_CACHE, last_modified=updated, by_language=False
        )

    def _json_item(self, visit: Visit, review: ReviewView) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self.entry_id(review.slug, review.published_at),
            "url": visit.url(f"/r/{review.slug}"),
            "title": review.title,
            "content_html": self._content_html(review),
        }
        if review.summary:
            item["summary"] = review.summary
        if review.arxiv_url:
            item["external_url"] = review.arxiv_url
        if review.published_at:
            item["date_published"] = _rfc3339(review.published_at)
        if review.updated_at:
            item["date_modified"] = _rfc3339(review.updated_at)
        if names := _author_names(review):
            item["authors"] = [{"name": name} for name in names]
        if review.tags:
            item["tags"] = list(review.tags)
        item["language"] = "zh-CN"
        return item

    # crawlers

    async def sitemap(self, request: Request) -> Response:
        visit = self._feed_visit(request)
        return await self.site.answer(request, visit, ("sitemap",), lambda: self._sitemap(visit))

    def _sitemap(self, visit: Visit) -> Rendered:
        catalogue = self.site.cache.catalogue()
        last = catalogue.last_change(catalogue.entries)
        urls: list[tuple[str, dt.datetime | None]] = [
            (visit.url(path), last) for path in ("/", "/tags", "/archive", "/about")
        ]
        urls += [(visit.url(tag_path(tag)), None) for tag, _count in catalogue.tag_counts()]
        urls += [(visit.url(f"/r/{entry.slug}"), entry.updated_at) for entry in catalogue.entries]
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
        ]
        for url, modified in urls:
            lastmod = f"<lastmod>{_rfc3339(modified)}</lastmod>" if modified else ""
            lines.append(f"<url><loc>{escape(url)}</loc>{lastmod}</url>")
        lines.append("</urlset>")
        body = ("\n".join(lines) + "\n").encode()
        return Rendered(body, XML, cache_control=FEED_CACHE, last_modified=last, by_language=False)

    async def robots(self, request: Request) -> Response:
        visit = self._feed_visit(request)
        return await self.site.answer(request, visit, ("robots",), lambda: self._robots(visit))

    def _robots(self, visit: Visit) -> Rendered:
        body = (
            f"User-agent: *\nAllow: /\nDisallow: /search\nSitemap: {visit.url('/sitemap.xml')}\n"
        ).encode()
        return Rendered(body, TEXT, cache_control=FEED_CACHE, by_language=False)


def _author_names(review: ReviewView) -> tuple[str, ...]:
    return parse_author_line(review.authors).names if review.authors else ()


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
