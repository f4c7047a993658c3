"""HTTP done properly by the web archive: validators and 304s, gzip, cache lifetimes,
content types, security headers, hashed static files, no database query while nothing
changed; and a real `paperbot run` without a token serving the whole column."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import feedparser
import httpx
import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from bot.app import Core
from bot.channels.web import WebChannel
from bot.settings import Settings
from tests.support.cli import run_cli
from tests.support.network import free_port
from tests.support.stores import make_settings
from tests.support.web import eventually, web_app, web_client

PAPERBOT = Path(sys.executable).parent / "paperbot"
PAGES = ["/", "/tags", "/archive", "/about", "/search?q=%E5%AF%B9%E9%BD%90", "/feed.atom"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The background version check is the only query a warm page may cause: make it rare.
    return make_settings(database_url, tmp_path, web_refresh_seconds=3600)


def test_etag_and_last_modified_give_304(seeded_core: Core) -> None:
    slug = seeded_core.reviews.published_entries()[0].slug
    with web_client(seeded_core) as client:
        for path in [*PAGES, f"/r/{slug}"]:
            first = client.get(path)
            assert first.status_code == 200
            etag = first.headers["etag"]
            assert re.fullmatch(r'"[0-9a-f]{24}(-gz)?"', etag), etag
            again = client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == etag
            listed = client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
            assert listed.status_code == 304
            assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
            if "last-modified" in first.headers:
                since = {"If-Modified-Since": first.headers["last-modified"]}
                assert client.get(path, headers=since).status_code == 304
                old = {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
                assert client.get(path, headers=old).status_code == 200
        garbage = {"If-Modified-Since": "not a date"}
        assert client.get("/", headers=garbage).status_code == 200
        assert "last-modified" in client.get(f"/r/{slug}").headers


def test_gzip_when_the_client_takes_it(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        plain = client.get("/", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        packed = client.build_request("GET", "/", headers={"Accept-Encoding": "gzip"})
        response = client.send(packed, stream=True)
        raw = b"".join(response.iter_raw())
        response.close()
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content)
    assert response.headers["etag"] != plain.headers["etag"]
    assert "Accept-Encoding" in response.headers["vary"]


def test_headers_of_every_kind_of_answer(seeded_core: Core) -> None:
    expected_types = {
        "/": "text/html; charset=utf-8",
        "/no-such-page": "text/html; charset=utf-8",
        "/feed.atom": "application/atom+xml; charset=utf-8",
        "/feed.json": "application/feed+json; charset=utf-8",
        "/sitemap.xml": "application/xml; charset=utf-8",
        "/robots.txt": "text/plain; charset=utf-8",
    }
    with web_client(seeded_core) as client:
        for path, media_type in expected_types.items():
            response = client.get(path)
            assert response.headers["content-type"] == media_type, path
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src" not in csp
            assert "'unsafe-inline'" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
            assert "public" in response.headers["cache-control"]
        page = client.get("/")
        assert "must-revalidate" in page.headers["cache-control"]
        assert "<script" not in page.text  # no JavaScript at all
        assert " style=" not in page.text  # no inline styles either (CSP: 'self' only)
        assert client.get("/no-such-page").status_code == 404


def test_the_stylesheet_has_a_hashed_name_and_a_long_life(seeded_core: Core) -> None:
    with web_client(seeded_core) as client:
        page = client.get("/").text
        [href] = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        assert re.fullmatch(r"/static/site\.[0-9a-f]{12}\.css", href)
        css = client.get(href)
        assert css.status_code == 200
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "prefers-color-scheme: dark" in css.text and "Noto Sans CJK SC" in css.text
        assert client.get("/static/site.000000000000.css").status_code == 404
        assert client.get("/static/site.css").status_code == 404


def test_warm_pages_cost_no_database_query(seeded_core: Core) -> None:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    slug = seeded_core.reviews.published_entries()[0].slug
    paths = [*PAGES, f"/r/{slug}", "/feed.json", "/sitemap.xml", "/?lang=en"]
    with web_client(seeded_core) as client:
        for path in paths:
            assert client.get(path).status_code == 200
        event.listen(seeded_core.engine, "before_cursor_execute", count)
        try:
            for _ in range(3):
                for path in paths:
                    assert client.get(path).status_code == 200
        finally:
            event.remove(seeded_core.engine, "before_cursor_execute", count)
        assert statements == []
        # The version check is one aggregate query, and nothing changed: still cached.
        assert seeded_core.reviews.catalogue_version() is not None


def test_the_fast_path_sends_exactly_what_the_routes_send(seeded_core: Core) -> None:
    """A cached page is served the second time by the fast path (`bot.channels.web.fast`),
    with the status, header lines (in order) and body of the normal path, for every kind
    of answer and every way of asking for it."""
    channel = WebChannel(seeded_core.settings, seeded_core.reviews, seeded_core.search)
    slug = seeded_core.reviews.published_entries()[0].slug
    review_id = seeded_core.reviews.find(slug)
    assert review_id is not None
    paths = [*PAGES, f"/r/{slug}", f"/r/{review_id.id}", "/no-such-page", "/feed.json"]
    paths += ["/?lang=en", "/search?q=%E5%AF%B9%E9%BD%90&page=1", "/tags/%E5%AF%B9%E9%BD%90"]
    with TestClient(web_app(seeded_core, channel=channel), follow_redirects=False) as client:
        etags = {path: client.get(path).headers["etag"] for path in PAGES}
        for path in paths:
            etag = etags.get(path, '"none"')
            asked: list[dict[str, str]] = [
                {"Accept-Encoding": "identity"},
                {"Accept-Encoding": "gzip, deflate"},
                {"Accept-Encoding": "gzip;q=0"},
                {"Accept-Language": "en-US,en;q=0.9", "Accept-Encoding": "identity"},
                {"If-None-Match": etag, "Accept-Encoding": "identity"},
                {"If-None-Match": etag[:-1] + '-gz"', "Accept-Encoding": "gzip"},
                {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
                {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
            ]
            for headers in asked:
                channel.site.cache.invalidate()  # the next answer is rendered again
                served = channel.fast.served
                normal = client.get(path, headers=headers)
                assert channel.fast.served == served, (path, headers)
                fast = client.get(path, headers=headers)
                assert channel.fast.served == served + 1, (path, headers)
                assert fast.status_code == normal.status_code, (path, headers)
                assert fast.headers.raw == normal.headers.raw, (path, headers)
                assert fast.content == normal.content, (path, headers)
        statuses = {client.get(path).status_code for path in paths}
        assert statuses == {200, 301, 404}
        # English counts choose their noun (this was a KeyError, a 500, before).
        english = client.get("/search?q=%E5%AF%B9%E9%BD%90&lang=en")
        assert english.status_code == 200 and re.search(r"\(\d+ reviews?\)", english.text)
        assert "so far" in client.get("/about?lang=en").text
        # Not a GET, or never answered before: the routes answer.
        served = channel.fast.served
        assert client.head("/").status_code == 200
        assert client.get("/?page=1&unseen=1").status_code == 200
        assert channel.fast.served == served


def test_paperbot_run_without_a_token_serves_the_column(tmp_path: Path) -> None:
    """The README's start command on a fresh data folder: pages, every seed review and
    the feeds at once; a publish from another process (the CLI) shows without restart."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "ADMIN_", "WEB_", "PUBLIC_"))
    }
    env.update({"DATA_DIR": str(tmp_path / "data"), "HTTP_PORT": str(port)})
    process = subprocess.Popen(
        [str(PAPERBOT), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert eventually(lambda: _answers(base, process), timeout=60), "no answer"
        front = httpx.get(f"{base}/", timeout=10)
        assert front.status_code == 200 and '<html lang="zh-CN">' in front.text
        slugs = re.findall(r'<a class="card-title" href="/r/([^"]+)"', front.text)
        assert len(slugs) == 5
        for slug in slugs:
            review = httpx.get(f"{base}/r/{slug}", timeout=10)
            assert review.status_code == 200 and '<article class="review">' in review.text
        feed = feedparser.parse(httpx.get(f"{base}/feed.atom", timeout=10).content)
        assert not feed.bozo and len(feed.entries) == 5

        draft = tmp_path / "draft.md"
        draft.write_text(
            "---\ntitle: 'A Review Published While The Site Runs'\nslug: published-live\n"
            "section: latest\ntags: [对齐]\nstatus: draft\n---\n正文。\n",
            encoding="utf-8",
        )
        assert run_cli(["import", str(draft)], tmp_path).returncode == 0
        assert httpx.get(f"{base}/r/published-live", timeout=10).status_code == 404
        listed = run_cli(["reviews", "--json"], tmp_path)
        [review_id] = [
            str(row["id"]) for row in json.loads(listed.stdout) if row["slug"] == "published-live"
        ]
        published = run_cli(["publish", review_id], tmp_path)
        assert published.returncode == 0, published.stdout + published.stderr

        def visible() -> bool:
            page = httpx.get(f"{base}/", timeout=10).text
            tag = httpx.get(f"{base}/tags/%E5%AF%B9%E9%BD%90", timeout=10).text
            atom = httpx.get(f"{base}/feed.atom", timeout=10).content
            return (
                "published-live" in page
                and "published-live" in tag
                and len(feedparser.parse(atom).entries) == 6
            )

        assert eventually(visible, timeout=30)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    # (Without a token the leader logs that it cannot push the publish: not the web's.)
    assert "Exception in ASGI application" not in output, output
    assert "bot/channels/web" not in output, output


def _answers(base: str, process: subprocess.Popen[str]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"paperbot run exited {process.returncode}")
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
