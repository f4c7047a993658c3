"""HTTP done once for every web answer: validators (ETag, Last-Modified) and 304s, gzip,
Cache-Control, content types and the security headers.

A page is rendered once into a `CachedAnswer`: its bytes, their gzip and their ETag are
computed then, so serving it again is a dictionary look-up and a header check.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
JSON_FEED = "application/feed+json; charset=utf-8"
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
CSS = "text/css; charset=utf-8"

#: Pages are revalidated on every view (an ETag makes that a 304), so a publish shows at
#: once; feeds may be kept a few minutes; hashed static files forever.
PAGE_CACHE = "public, max-age=0, must-revalidate"
FEED_CACHE = "public, max-age=300"
STATIC_CACHE = "public, max-age=31536000, immutable"
#: Pages need no script at all: none may run, styles come only from our own file.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
#: Smaller bodies are not worth compressing.
GZIP_MIN_BYTES = 512


@dataclass(frozen=True)
class Rendered:
    """What a handler produced, before the HTTP work."""

    body: bytes
    media_type: str = HTML
    status: int = 200
    cache_control: str = PAGE_CACHE
    last_modified: dt.datetime | None = None
    #: Vary on Accept-Language: the answer depends on it when `?lang=` was not given.
    by_language: bool = True
    #: A redirect's target (status 301).
    location: str | None = None


@dataclass(frozen=True)
class CachedAnswer:
    rendered: Rendered
    etag: str
    gzipped: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    #: The same, encoded once for ASGI.
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def of(cls, rendered: Rendered) -> CachedAnswer:
        body = rendered.body
        digest = hashlib.sha256(body).hexdigest()[:24]
        gzipped = gzip.compress(body, 6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        vary = "Accept-Encoding, Accept-Language" if rendered.by_language else "Accept-Encoding"
        headers = {
            **SECURITY_HEADERS,
            "Content-Type": rendered.media_type,
            "Cache-Control": rendered.cache_control,
            "Vary": vary,
        }
        if rendered.location is not None:
            headers["Location"] = rendered.location
        if rendered.last_modified is not None:
            headers["Last-Modified"] = http_date(rendered.last_modified)
        raw = tuple((name.lower().encode(), value.encode()) for name, value in headers.items())
        return cls(rendered, f'"{digest}"', gzipped, headers, raw)

    def answer(self, request: Request) -> Response:
        """This answer for this request, as a Starlette response (see `reply`)."""
        headers = request.headers
        status, raw, body = self.reply(
            headers.get("if-none-match"),
            headers.get("if-modified-since"),
            headers.get("accept-encoding", ""),
        )
        response = Response(body, status)
        response.raw_headers = raw
        return response

    def reply(
        self, if_none_match: str | None, if_modified_since: str | None, accept_encoding: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, header lines and body for a request with these headers: 304 when the
        client has it, gzip if it takes it. The header lines were encoded once, when the
        answer was cached. Both ways a cached page is served (Starlette's route and the
        fast path, `bot.channels.web.fast`) send exactly this."""
        use_gzip = self.gzipped is not None and takes_gzip(accept_encoding)
        etag = self.etag_gz if use_gzip else self.etag
        if self.rendered.status == 200 and self._not_modified(if_none_match, if_modified_since):
            raw = [(name, value) for name, value in self.raw_headers if name != b"content-type"]
            raw.append((b"etag", etag.encode()))
            return 304, raw, b""
        body = self.gzipped if use_gzip and self.gzipped is not None else self.rendered.body
        raw = [*self.raw_headers, (b"etag", etag.encode())]
        if use_gzip:
            raw.append((b"content-encoding", b"gzip"))
        raw.append((b"content-length", str(len(body)).encode()))
        return self.rendered.status, raw, body

    @property
    def etag_gz(self) -> str:
        return self.etag[:-1] + '-gz"'

    def _not_modified(self, given: str | None, since: str | None) -> bool:
        if given is not None:
            tags = {tag.strip().removeprefix("W/") for tag in given.split(",")}
            return "*" in tags or self.etag in tags or self.etag_gz in tags
        modified = self.rendered.last_modified
        if since is None or modified is None:
            return False
        try:
            client_copy = parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False
        if client_copy.tzinfo is None:
            client_copy = client_copy.replace(tzinfo=dt.UTC)
        return modified.replace(microsecond=0) <= client_copy


def accepts_gzip(request: Request) -> bool:
    return takes_gzip(request.headers.get("accept-encoding", ""))


def takes_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value takes gzip (or anything, `*`), not at q=0."""
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)
