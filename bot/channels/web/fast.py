"""The fast path for cached pages: a GET whose answer is already rendered is answered
from the ASGI scope, without Starlette's Request, endpoint wrapper and Response.

Serving a cached page through Starlette cost more than looking it up: a Request object,
its parsed query and headers, the reader's language, the visit, a Response. Every one
of those only serves to find the answer's cache key, so the first time a request is
answered normally (`WebSite.answer`), its *signature* — whatever in the scope the key
is derived from: path, query string, Accept-Language, and the address asked on — is
remembered with that key (`CatalogueCache.remember`). A later request with the same
signature is then matched by `FastPages`, the first of the web's routes, and answered
by `CachedAnswer.reply`, the very function that makes the normal path's status, header
lines and body: the same ETag, Last-Modified, 304s, gzip by Accept-Encoding,
Cache-Control, Vary, content type and security headers. Anything else (a first visit,
a page not cached at this version, another method) falls through to the routes.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from bot.channels.web.catalogue import CatalogueCache
from bot.channels.web.responses import CachedAnswer

#: Where `FastPages.matches` leaves the answer and the request's validators for
#: `FastPages.handle` (the router merges it into the scope).
_FOUND = "paperbot.web.cached"
#: The headers a cached answer depends on; the first of each counts, as in Starlette.
_SIGNED = (b"accept-language", b"host")
_VALIDATORS = (b"if-none-match", b"if-modified-since", b"accept-encoding")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name not in found and (name in _SIGNED or name in _VALIDATORS):
            found[name] = value
    return found


def signature(scope: Scope, headers: dict[bytes, bytes] | None = None) -> Hashable:
    """What a web answer's cache key is derived from, read from the ASGI scope: the
    path, the query string, Accept-Language (the reader's language) and the address
    asked on (the base URL of links when PUBLIC_URL is not set)."""
    headers = _headers(scope) if headers is None else headers
    server = scope.get("server")
    return (
        scope["path"],
        scope.get("root_path", ""),
        scope["query_string"],
        headers.get(b"accept-language", b""),
        scope.get("scheme", "http"),
        headers.get(b"host", b""),
        tuple(server) if server else None,
    )


class FastPages(BaseRoute):
    """Matches a GET whose answer is cached and sends it (see the module's docstring)."""

    def __init__(self, cache: CatalogueCache) -> None:
        self.cache = cache
        #: Requests answered here (tests tell the two paths apart by it).
        self.served = 0

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        headers = _headers(scope)
        answer = self.cache.remembered(signature(scope, headers))
        if answer is None:
            return Match.NONE, {}
        return Match.FULL, {_FOUND: (answer, headers)}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer: CachedAnswer
        answer, headers = scope[_FOUND]
        given = headers.get(b"if-none-match")
        since = headers.get(b"if-modified-since")
        status, raw, body = answer.reply(
            given.decode("latin-1") if given is not None else None,
            since.decode("latin-1") if since is not None else None,
            headers.get(b"accept-encoding", b"").decode("latin-1"),
        )
        self.served += 1
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
