"""What every web page shares: the reader's language, links that keep it, the templates,
a review's body as HTML (the core's Markdown rendering), and the way a page goes from
cache or renderer to the reader."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bot.channels.web.catalogue import CatalogueCache
from bot.channels.web.fast import signature
from bot.channels.web.labels import label
from bot.channels.web.responses import CachedAnswer, Rendered
from bot.core.reviews import ReviewService
from bot.core.richtext import markdown_html
from bot.core.search import SearchService
from bot.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
LANGUAGES = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}
#: Accept-Language entries: a tag and an optional weight.
_ACCEPT_LANGUAGE = re.compile(
    r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]{1,5}))?\s*"
)


def reader_language(request: Request) -> str:
    """`?lang=en|zh` first, else the browser's Accept-Language (Chinese unless English is
    preferred over it), else Chinese."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    best_zh, best_en = -1.0, -1.0
    for part in request.headers.get("accept-language", "")[:400].split(","):
        match = _ACCEPT_LANGUAGE.fullmatch(part)
        if match is None:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        primary = match.group(1).lower().split("-")[0]
        if primary == "zh":
            best_zh = max(best_zh, weight)
        elif primary == "en":
            best_en = max(best_en, weight)
    return "en" if best_en > 0 and best_en > best_zh else "zh"


def tag_path(tag: str) -> str:
    return "/tags/" + quote(tag, safe="")


@dataclass(frozen=True)
class Visit:
    """One request as pages see it: who reads (language), where, and what was asked."""

    language: str
    base_url: str
    path: str
    #: The query parameters that select the content (not `lang`), in a stable order.
    params: tuple[tuple[str, str], ...] = ()

    def href(self, path: str) -> str:
        """A link within the site that keeps the reader's language."""
        if self.language == "zh":
            return path
        return path + ("&" if "?" in path else "?") + "lang=en"

    def url(self, path: str) -> str:
        return self.base_url + path

    def with_params(self, **changes: str | None) -> str:
        params = dict(self.params)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        query = urlencode(sorted(params.items()))
        return self.path + (f"?{query}" if query else "")

    @property
    def switch_href(self) -> str:
        other = "zh" if self.language == "en" else "en"
        target = self.with_params()
        return target + ("&" if "?" in target else "?") + f"lang={other}"

    @property
    def canonical(self) -> str:
        return self.url(self.href(self.with_params()))


@dataclass(frozen=True)
class StaticAsset:
    """A file served under a name that holds its hash, so it can be cached forever."""

    name: str
    body: bytes
    media_type: str

    @classmethod
    def load(cls, filename: str, media_type: str) -> StaticAsset:
        body = (STATIC_DIR / filename).read_bytes()
        stem, _, suffix = filename.rpartition(".")
        digest = hashlib.sha256(body).hexdigest()[:12]
        return cls(f"{stem}.{digest}.{suffix}", body, media_type)

    @property
    def path(self) -> str:
        return f"/static/{self.name}"


class WebSite:
    """The web archive's shared parts; the route groups (pages, feeds, assets) use it."""

    def __init__(
        self,
        settings: Settings,
        reviews: ReviewService,
        search: SearchService,
        bot_username: Callable[[], str | None],
    ) -> None:
        from bot.channels.web.responses import CSS

        self.settings = settings
        self.reviews = reviews
        self.search = search
        self.bot_username = bot_username
        self.cache = CatalogueCache(reviews, settings.zone, settings.web_refresh_seconds)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._rendering: dict[Hashable, asyncio.Future[CachedAnswer]] = {}
        self.stylesheet = StaticAsset.load("site.css", CSS)

    # the reader's request

    def visit(self, request: Request, *param_names: str) -> Visit:
        base = self.settings.public_url or str(request.base_url).rstrip("/")
        params = tuple(
            (name, request.query_params[name])
            for name in param_names
            if name in request.query_params
        )
        path = quote(request.url.path, safe="/")
        return Visit(reader_language(request), base, path, params)

    async def answer(
        self, request: Request, visit: Visit, key: Hashable, render: Callable[[], Rendered]
    ) -> Response:
        """The cached answer for `key` in the reader's language, rendered (off the event
        loop) on a miss. Without PUBLIC_URL the address asked on is part of the key."""
        full_key = (key, visit.language, "" if self.settings.public_url else visit.base_url)
        cached = self.cache.get(full_key)
        if cached is None:
            # One render per key at a time: readers arriving meanwhile wait for it
            # instead of rendering (and searching) the same page again.
            task = self._rendering.get(full_key)
            if task is None:
                task = asyncio.ensure_future(self._render(full_key, render))
                self._rendering[full_key] = task
                task.add_done_callback(lambda _done: self._rendering.pop(full_key, None))
            cached = await asyncio.shield(task)
        # The next request like this one is answered by the fast path (`fast`).
        self.cache.remember(signature(request.scope), full_key)
        return cached.answer(request)

    async def _render(self, key: Hashable, render: Callable[[], Rendered]) -> CachedAnswer:
        generation = self.cache.generation
        cached = await asyncio.to_thread(lambda: CachedAnswer.of(render()))
        self.cache.put(key, generation, cached)
        return cached

    # rendering

    def telegram_url(self, start: str | None = None) -> str | None:
        username = self.settings.telegram_bot_username or self.bot_username()
        if not username:
            return None
        return f"https://t.me/{username}" + (f"?start={start}" if start else "")

    def page(
        self,
        visit: Visit,
        template: str,
        *,
        title: str | None = None,
        description: str | None = None,
        status: int = 200,
        **values: Any,
    ) -> Rendered:
        """A page of the site: the layout's values, then the template's own."""
        language = visit.language

        def L(key: str, **fields: Any) -> str:  # noqa: N802 (a template's shorthand)
            return label(language, key, **fields)

        site_name = L("site_name")
        context: dict[str, Any] = {
            "lang": language,
            "html_lang": HTML_LANG[language],
            "L": L,
            "href": visit.href,
            "tag_path": tag_path,
            "base_url": visit.base_url,
            "canonical": visit.canonical,
            "css_url": self.stylesheet.path,
            "switch_href": visit.switch_href,
            "page_title": f"{title} · {site_name}" if title else site_name,
            "description": description or L("tagline"),
            "query": "",
            "extra_feeds": [],
            "og": None,
            "json_ld": None,
            "telegram_url": self.telegram_url(),
            "wechat_name": self.settings.wechat_account_name,
        }
        context.update(values)
        body = self.templates.get_template(template).render(context)
        last_modified = values.get("last_modified")
        return Rendered(body.encode(), status=status, last_modified=last_modified)

    def not_found(self, visit: Visit) -> Rendered:
        return self.page(
            visit, "not_found.html", title=label(visit.language, "not_found_title"), status=404
        )

    def markdown_html(self, body: str) -> Markup:
        """A review's body for a page or a feed: the core's one Markdown rendering
        (`bot.core.richtext.markdown_html`), which escaped any raw HTML in it."""
        return Markup(markdown_html(body))
