"""A local stand-in for rss.arxiv.org and export.arxiv.org over real HTTP, in a thread.

A thread (not the test's event loop) so that both async tests and CLI subprocesses,
which block the test while they run, can talk to it. It serves the fixtures in
tests/data/arxiv (see its README), records every request (time, path, query,
headers) and can be told to answer the next requests with canned responses: 304,
400, 429, 500, a body cut short, and so on.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.app import Core, build_core
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings

ARXIV_DATA = DATA_DIR / "arxiv"
ATOM_CS_AI = ARXIV_DATA / "atom-cs.AI-2025-08-20-truncated.xml"
RSS_COMBINED = ARXIV_DATA / "rss-cs.LG+cs.AI+cs.CL+stat.ML-2026-09-24-trimmed.xml"
API_DIR = ARXIV_DATA / "api"

#: The editor the tests act as (ADMIN_IDS), and a reader who is not one.
EDITOR_ID = 4242
READER_ID = 777

_ENTRY = re.compile(r"  <entry>.*?</entry>\n", re.DOTALL)
_ENTRY_ID = re.compile(r"<id>http://arxiv\.org/abs/(?P<id>[^<]+?)(?:v\d+)?</id>")
_VALID_ID = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v\d+)?$", re.IGNORECASE)


def load_capture(name: str) -> dict[str, object]:
    """One `{url, status_code, body}` API fixture by the start of its file name."""
    [path] = API_DIR.glob(f"{name}*.json")
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class Recorded:
    at: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Canned:
    """One forced answer. `cut_short`: announce more bytes than are sent, then hang up."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_short: bool = False


class ArxivFixtureServer:
    def __init__(self) -> None:
        self.feeds: dict[str, bytes] = {}
        self.canned: list[Canned] = []
        self.honor_etag = True
        self.requests: list[Recorded] = []
        self.entries: dict[str, str] = {}
        self.exact: dict[tuple[str, ...], dict[str, object]] = {}
        #: Path prefixes ("/atom/cs.LG", "/api/") that never answer: the request is
        #: read and recorded, then the server waits until it is stopped (a hung arXiv).
        self.hang: set[str] = set()
        self._released = threading.Event()
        self._load_api_fixtures()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # lifecycle

    def start(self) -> ArxivFixtureServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def feed_url(self) -> str:
        return f"{self.url}/atom/{{category}}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/query"

    def settings(self) -> dict[str, object]:
        """Settings overrides that point paperbot here, with no spacing between requests."""
        return {
            "arxiv_feed_url": self.feed_url,
            "arxiv_api_url": self.api_url,
            "arxiv_request_interval": 0,
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables, for CLI subprocesses."""
        return {
            "ARXIV_FEED_URL": self.feed_url,
            "ARXIV_API_URL": self.api_url,
            "ARXIV_REQUEST_INTERVAL": "0",
        }

    # what was asked

    def paths(self, prefix: str = "") -> list[str]:
        return [request.path for request in self.requests if request.path.startswith(prefix)]

    def api_requests(self) -> list[Recorded]:
        return [request for request in self.requests if request.path.startswith("/api/")]

    # fixtures

    def _load_api_fixtures(self) -> None:
        for path in sorted(API_DIR.glob("*.json")):
            capture = json.loads(path.read_text(encoding="utf-8"))
            query = parse_qs(urlsplit(str(capture["url"])).query)
            ids = tuple(i for i in query.get("id_list", [""])[0].split(",") if i)
            if ids:
                self.exact[ids] = capture
            for entry in _ENTRY.findall(str(capture["body"])):
                if match := _ENTRY_ID.search(entry):
                    self.entries[match.group("id")] = entry

    def api_answer(self, ids: list[str]) -> tuple[int, bytes]:
        if tuple(ids) in self.exact:
            capture = self.exact[tuple(ids)]
            return int(str(capture["status_code"])), str(capture["body"]).encode()
        bad = next((i for i in ids if not _VALID_ID.match(i)), None)
        if bad is not None:
            body = str(self.exact[("abc",)]["body"]).replace("abc", bad)
            return 400, body.encode()
        found = [self.entries[i] for i in ids if i in self.entries]
        header = str(self.exact[("1605.08386",)]["body"]).split("  <entry>")[0]
        header = header.replace(
            "<opensearch:totalResults>1<", f"<opensearch:totalResults>{len(found)}<"
        ).replace("1605.08386", ",".join(ids))
        return 200, (header + "".join(found) + "</feed>\n").encode()

    # HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: pytest shows what matters."""

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                server.requests.append(
                    Recorded(
                        time.monotonic(),
                        split.path,
                        parse_qs(split.query),
                        {key.lower(): value for key, value in self.headers.items()},
                    )
                )
                if any(split.path.startswith(prefix) for prefix in server.hang):
                    server._released.wait()
                    self.close_connection = True
                elif server.canned:
                    self._answer(server.canned.pop(0))
                elif split.path.startswith("/api/"):
                    ids = parse_qs(split.query).get("id_list", [""])[0].split(",")
                    status, body = server.api_answer([i for i in ids if i])
                    self._answer(Canned(status, body, {"Content-Type": "application/atom+xml"}))
                else:
                    self._feed(split.path.rsplit("/", 1)[-1])

            def _feed(self, category: str) -> None:
                body = server.feeds.get(category)
                if body is None:
                    page = (
                        "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n"
                        f"<h1>Bad Request</h1>\n<p>Feed error: invalid category {category}</p>\n"
                    )
                    self._answer(Canned(400, page.encode(), {"Content-Type": "text/html"}))
                    return
                etag = hashlib.sha256(body).hexdigest()
                if server.honor_etag and self.headers.get("If-None-Match") == etag:
                    self._answer(Canned(304, b"", {"ETag": etag}))
                    return
                headers = {"Content-Type": "application/atom+xml; charset=utf-8", "ETag": etag}
                self._answer(Canned(200, body, headers))

            def _answer(self, canned: Canned) -> None:
                self.send_response(canned.status)
                for key, value in canned.headers.items():
                    self.send_header(key, value)
                length = len(canned.body) * (2 if canned.cut_short else 1)
                if canned.status != 304:
                    self.send_header("Content-Length", str(length))
                if canned.cut_short:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(canned.body)
                self.wfile.flush()
                if canned.cut_short:
                    self.close_connection = True

        return Handler


# --- fixtures (test modules load this file with `pytest_plugins = ["arxiv_server"]`) ---


@pytest.fixture
def arxiv_server() -> Iterator[ArxivFixtureServer]:
    server = ArxivFixtureServer().start()
    yield server
    server.stop()


@pytest.fixture
async def arxiv_core(
    database_url: str, tmp_path: Path, arxiv_server: ArxivFixtureServer
) -> AsyncIterator[Core]:
    """A core seeded from content/, wired to the local arXiv, with one editor."""
    settings = make_settings(
        database_url, tmp_path, admin_ids=[EDITOR_ID], **arxiv_server.settings()
    )
    core = build_core(settings, seed=True)
    yield core
    await core.aclose()
