"""The HTML pages: front page, sections, a review, tags, the archive by month, search,
about, and the 404 page. Each handler finds what it shows in the catalogue (memory),
reads the reviews' texts through the core services, and renders once per version."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.channels.web.catalogue import Catalogue
from bot.channels.web.labels import label, month_name
from bot.channels.web.responses import Rendered
from bot.channels.web.site import Visit, WebSite, tag_path
from bot.core.arxiv.lint import parse_author_line
from bot.core.numbers import parse_count
from bot.core.reviews import ReviewEntry, ReviewView
from bot.core.search.ranker import MAX_RESULTS
from bot.core.sources import parse_arxiv_id, shorten

#: Longest query the search page passes on (the search service cuts further).
MAX_QUERY_CHARS = 200
#: Titles listed under each month of /archive before a "see all" link.
ARCHIVE_TITLES_PER_MONTH = 50
SECTIONS = ("latest", "classic")


@dataclass(frozen=True)
class Pages:
    """Where a listing is and where its neighbours are (`None`: no such page)."""

    number: int
    count: int
    previous_href: str | None
    next_href: str | None


def page_number(request: Request) -> int:
    """`?page=N` as a number from 1; a missing, garbled or absurd one is page 1 (a page
    past the end is the 404 page)."""
    raw = request.query_params.get("page", "")
    if not raw:
        return 1
    number = parse_count(raw[:12], 1_000_000)
    return max(1, number) if number is not None else 1


def clean_query(raw: str) -> str:
    """What a reader typed, without control characters or lone surrogates, bounded."""
    text = "".join(
        " "
        if (ord(char) < 32 or 0x7F <= ord(char) < 0xA0 or 0xD800 <= ord(char) < 0xE000)
        else char
        for char in raw[: MAX_QUERY_CHARS * 4]
    )
    return " ".join(text.split())[:MAX_QUERY_CHARS]


class PageRoutes:
    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.front, methods=["GET"]),
            Route("/latest", self.latest, methods=["GET"]),
            Route("/classic", self.classic, methods=["GET"]),
            Route("/r/{reference}", self.review, methods=["GET"]),
            Route("/tags", self.tags, methods=["GET"]),
            Route("/tags/{tag:path}", self.tag, methods=["GET"]),
            Route("/archive", self.archive, methods=["GET"]),
            Route("/archive/{month}", self.month, methods=["GET"]),
            Route("/search", self.search, methods=["GET"]),
            Route("/about", self.about, methods=["GET"]),
        ]

    def catch_all(self) -> BaseRoute:
        """The 404 page for every other path; mounted after every other route."""
        return Route("/{path:path}", self.unknown, methods=["GET"])

    # helpers

    def _pages(self, visit: Visit, number: int, total: int) -> Pages | None:
        size = self.site.settings.web_page_size
        count = max(1, math.ceil(total / size))
        if number > count:
            return None

        def at(page: int) -> str:
            return visit.href(visit.with_params(page=str(page) if page > 1 else None))

        return Pages(
            number,
            count,
            at(number - 1) if number > 1 else None,
            at(number + 1) if number < count else None,
        )

    def _slice(self, entries: list[ReviewEntry], number: int) -> list[ReviewView]:
        size = self.site.settings.web_page_size
        chosen = entries[(number - 1) * size : number * size]
        return self.site.reviews.published_by_ids([entry.id for entry in chosen])

    def _listing(
        self,
        visit: Visit,
        entries: list[ReviewEntry],
        number: int,
        heading: str,
        *,
        note: str | None = None,
        feed: tuple[str, str] | None = None,
    ) -> Rendered:
        pages = self._pages(visit, number, len(entries))
        if pages is None:
            return self.site.not_found(visit)
        catalogue = self.site.cache.catalogue()
        return self.site.page(
            visit,
            "listing.html",
            title=heading,
            heading=heading,
            note=note,
            reviews=self._slice(entries, number),
            pages=pages,
            empty_text=label(visit.language, "list_empty"),
            feed_href=feed[1] if feed else None,
            extra_feeds=[feed] if feed else [],
            last_modified=catalogue.last_change(entries),
        )

    # pages

    async def front(self, request: Request) -> Response:
        visit = self.site.visit(request, "page")
        number = page_number(request)
        return await self.site.answer(
            request, visit, ("front", number), lambda: self._front(visit, number)
        )

    def _front(self, visit: Visit, number: int) -> Rendered:
        catalogue = self.site.cache.catalogue()
        latest = catalogue.section("latest")
        pages = self._pages(visit, number, len(latest))
        if pages is None:
            return self.site.not_found(visit)
        classic: list[ReviewView] = []
        classic_entries = catalogue.section("classic")
        if number == 1:
            classic = self._slice(classic_entries, 1)
        return self.site.page(
            visit,
            "front.html",
            latest=self._slice(latest, number),
            pages=pages,
            classic=classic,
            classic_more=len(classic_entries) > len(classic),
            last_modified=catalogue.last_change(catalogue.entries),
        )

    async def latest(self, request: Request) -> Response:
        return await self._section(request, "latest")

    async def classic(self, request: Request) -> Response:
        return await self._section(request, "classic")

    async def _section(self, request: Request, section: str) -> Response:
        visit = self.site.visit(request, "page")
        number = page_number(request)

        def render() -> Rendered:
            catalogue = self.site.cache.catalogue()
            heading = label(visit.language, f"section_{section}")
            return self._listing(visit, catalogue.section(section), number, heading)

        return await self.site.answer(request, visit, (section, number), render)

    async def review(self, request: Request) -> Response:
        visit = self.site.visit(request)
        reference = str(request.path_params["reference"])[:200]
        return await self.site.answer(
            request, visit, ("review", reference), lambda: self._review(visit, reference)
        )

    def _review(self, visit: Visit, reference: str) -> Rendered:
        catalogue = self.site.cache.catalogue()
        entry = catalogue.entry(reference)
        if entry is None:
            # An id, an arXiv id or a slug in capitals: the canonical address, if published.
            looks_like = parse_count(reference) is not None or parse_arxiv_id(reference)
            if looks_like or reference.lower() != reference:
                found = self.site.reviews.find(reference)
                if found is not None and catalogue.entry(found.slug) is not None:
                    target = visit.href(f"/r/{found.slug}")
                    return Rendered(b"", status=301, location=target)
            return self.site.not_found(visit)
        found_now = self.site.reviews.published_by_ids([entry.id])
        if not found_now:  # unpublished since the catalogue was read
            return self.site.not_found(visit)
        return self._review_page(visit, catalogue, found_now[0])

    def _review_page(self, visit: Visit, catalogue: Catalogue, review: ReviewView) -> Rendered:
        language = visit.language
        newer, older = catalogue.neighbours(review.slug)
        description = review.summary or shorten(" ".join(review.body.split()), 160)
        published = None
        if review.published_at is not None:
            published = review.published_at.astimezone(self.site.settings.zone).date().isoformat()
        og = {
            "type": "article",
            "title": review.title,
            "description": description,
            "published_time": _iso(review.published_at),
            "modified_time": _iso(review.updated_at),
            "tags": review.tags,
        }
        return self.site.page(
            visit,
            "review.html",
            title=review.title,
            description=description,
            review=review,
            body_html=self.site.markdown_html(review.body),
            published=published,
            newer=newer,
            older=older,
            og=og,
            json_ld=Markup(json_ld(review, visit.canonical, description, language)),
            telegram_review_url=self.site.telegram_url(f"r_{review.slug}"),
            extra_feeds=[],
            last_modified=review.updated_at,
        )

    async def tags(self, request: Request) -> Response:
        visit = self.site.visit(request)

        def render() -> Rendered:
            catalogue = self.site.cache.catalogue()
            return self.site.page(
                visit,
                "tags.html",
                title=label(visit.language, "tags_title"),
                tags=catalogue.tag_counts(),
                last_modified=catalogue.last_change(catalogue.entries),
            )

        return await self.site.answer(request, visit, ("tags",), render)

    async def tag(self, request: Request) -> Response:
        tag = str(request.path_params["tag"])[:200]
        visit = self.site.visit(request, "page")
        number = page_number(request)

        def render() -> Rendered:
            entries = self.site.cache.catalogue().by_tag.get(tag)
            if not entries:
                return self.site.not_found(visit)
            language = visit.language
            feed_url = visit.url(tag_path(tag) + "/feed.atom")
            return self._listing(
                visit,
                entries,
                number,
                label(language, "tag_title", tag=tag),
                note=label(language, "count_reviews", count=len(entries)),
                feed=(label(language, "feed_tag_title", tag=tag), feed_url),
            )

        return await self.site.answer(request, visit, ("tag", tag, number), render)

    async def archive(self, request: Request) -> Response:
        visit = self.site.visit(request)

        def render() -> Rendered:
            catalogue = self.site.cache.catalogue()
            months = [
                {
                    "path": f"/archive/{year:04d}-{month:02d}",
                    "title": _month_title(visit.language, year, month),
                    "count": count,
                    "entries": catalogue.by_month[(year, month)][:ARCHIVE_TITLES_PER_MONTH],
                    "more": count > ARCHIVE_TITLES_PER_MONTH,
                }
                for year, month, count in catalogue.months()
            ]
            return self.site.page(
                visit,
                "archive.html",
                title=label(visit.language, "archive_title"),
                months=months,
                last_modified=catalogue.last_change(catalogue.entries),
            )

        return await self.site.answer(request, visit, ("archive",), render)

    async def month(self, request: Request) -> Response:
        visit = self.site.visit(request, "page")
        raw = str(request.path_params["month"])[:20]
        number = page_number(request)

        def render() -> Rendered:
            year_text, _, month_text = raw.partition("-")
            year, month = parse_count(year_text, 9999), parse_count(month_text, 12)
            entries = None
            if year is not None and month is not None and len(month_text) == 2:
                entries = self.site.cache.catalogue().by_month.get((year, month))
            if not entries or year is None or month is None:
                return self.site.not_found(visit)
            heading = _month_title(visit.language, year, month)
            note = label(visit.language, "count_reviews", count=len(entries))
            return self._listing(visit, entries, number, heading, note=note)

        return await self.site.answer(request, visit, ("month", raw, number), render)

    async def search(self, request: Request) -> Response:
        visit = self.site.visit(request, "q", "page")
        query = clean_query(request.query_params.get("q", ""))
        number = page_number(request)
        return await self.site.answer(
            request, visit, ("search", query, number), lambda: self._search(visit, query, number)
        )

    def _search(self, visit: Visit, query: str, number: int) -> Rendered:
        language = visit.language
        size = self.site.settings.web_page_size
        values: dict[str, Any] = {"query": query, "reviews": [], "message": None}
        values["pages"] = Pages(1, 1, None, None)
        if not query:
            values["message"] = label(language, "search_empty")
            heading = label(language, "search_title")
        else:
            offset = (number - 1) * size
            found = self.site.search.search(query, size, offset) if offset < MAX_RESULTS else None
            shown = query[:60]
            if found is None or found.total == 0 or not found.items:
                heading = label(language, "search_title")
                values["message"] = label(language, "nothing_found", query=shown)
            else:
                heading = label(language, "search_results", query=shown, total=found.total)
                values["reviews"] = found.items
                pages = self._pages(visit, number, min(found.total, MAX_RESULTS))
                values["pages"] = pages or Pages(number, number, None, None)
        return self.site.page(visit, "search.html", title=heading, heading=heading, **values)

    async def about(self, request: Request) -> Response:
        visit = self.site.visit(request)

        def render() -> Rendered:
            catalogue = self.site.cache.catalogue()
            latest, classic = len(catalogue.section("latest")), len(catalogue.section("classic"))
            return self.site.page(
                visit,
                "about.html",
                title=label(visit.language, "about_title"),
                total=len(catalogue.entries),
                latest=latest,
                classic=classic,
                last_modified=catalogue.last_change(catalogue.entries),
            )

        return await self.site.answer(request, visit, ("about",), render)

    async def unknown(self, request: Request) -> Response:
        visit = self.site.visit(request)
        return await self.site.answer(
            request, visit, ("unknown",), lambda: self.site.not_found(visit)
        )


def _month_title(language: str, year: int, month: int) -> str:
    return label(language, "month_title", year=year, month=month, month_name=month_name(month))


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def json_ld(review: ReviewView, url: str, description: str, language: str) -> str:
    """schema.org: the review is an Article about a ScholarlyArticle, the paper, with the
    paper's authors and its arXiv address. Safe inside <script>: no `<`, `>` or `&`."""
    authors = parse_author_line(review.authors).names if review.authors else ()
    paper: dict[str, Any] = {
        "@type": "ScholarlyArticle",
        "name": review.title,
        "author": [{"@type": "Person", "name": name} for name in authors],
    }
    if review.arxiv_url:
        paper["url"] = review.arxiv_url
        paper["sameAs"] = review.arxiv_url
        paper["identifier"] = f"arXiv:{review.arxiv_id}"
    if review.paper_date:
        paper["datePublished"] = review.paper_date.iso()
    document: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": review.title[:110],
        "description": description,
        "url": url,
        "mainEntityOfPage": url,
        "inLanguage": "zh-CN",
        "keywords": list(review.tags),
        "datePublished": _iso(review.published_at),
        "dateModified": _iso(review.updated_at),
        "publisher": {"@type": "Organization", "name": label(language, "site_name")},
        "about": paper,
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
