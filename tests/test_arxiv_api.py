"""The arXiv API client and the polite HTTP door, against the local fixture server."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from bot.app import Core, build_core, make_http_client
from bot.core.arxiv.api import ArxivApi, ArxivApiError, parse_api_response
from bot.core.arxiv.http import ArxivUnavailableError, PoliteClient
from bot.settings import DEFAULT_USER_AGENT, load_settings
from tests.support.fake_arxiv import ArxivFixtureServer, Canned, load_capture
from tests.support.stores import make_settings


def polite(interval: float = 0.0) -> PoliteClient:
    settings = load_settings(_env_file=None)
    return PoliteClient(lambda: make_http_client(settings), interval)


def test_a_real_record_parses_with_authors_dates_and_categories() -> None:
    [record] = parse_api_response(str(load_capture("id_1605.08386")["body"]).encode())
    assert record.arxiv_id == "1605.08386" and record.version == 1
    assert record.title == "Heat-bath random walks with Markov bases"
    assert record.authors == ("Caprice Stanley", "Tobias Windisch")
    assert record.published_at == dt.datetime(2016, 5, 26, 17, 59, 46, tzinfo=dt.UTC)
    assert record.categories == ("math.CO", "math.ST") and record.primary_category == "math.CO"


def test_the_error_entry_and_an_empty_answer() -> None:
    with pytest.raises(ArxivApiError, match="incorrect id format for abc"):
        parse_api_response(str(load_capture("id_abc")["body"]).encode())
    assert parse_api_response(str(load_capture("id_0000.0000")["body"]).encode()) == []


async def test_fetch_many_ids_in_one_request(arxiv_server: ArxivFixtureServer) -> None:
    client = polite()
    api = ArxivApi(client, arxiv_server.api_url)
    try:
        records = await api.fetch(["0808.05394", "1707.08567"])
        assert [record.arxiv_id for record in records] == ["1707.08567"]
        with pytest.raises(ArxivApiError, match="incorrect id format for abc"):
            await api.fetch(["abc"])
    finally:
        await client.aclose()
    [first, second] = arxiv_server.api_requests()
    assert first.query["id_list"] == ["0808.05394,1707.08567"]
    assert first.headers["user-agent"] == DEFAULT_USER_AGENT
    assert "mailto:" in first.headers["user-agent"]
    assert second.query["id_list"] == ["abc"]


async def test_retries_429_and_5xx_then_succeeds(arxiv_server: ArxivFixtureServer) -> None:
    arxiv_server.canned = [
        Canned(429, b"slow down", {"Retry-After": "0"}),
        Canned(503, b"busy"),
    ]
    client = polite()
    try:
        [record] = await ArxivApi(client, arxiv_server.api_url).fetch(["1605.08386"])
    finally:
        await client.aclose()
    assert record.title == "Heat-bath random walks with Markov bases"
    assert len(arxiv_server.api_requests()) == 3


async def test_gives_up_after_three_attempts(arxiv_server: ArxivFixtureServer) -> None:
    arxiv_server.canned = [Canned(500, b"oops")] * 3
    client = polite()
    try:
        with pytest.raises(ArxivUnavailableError, match="HTTP 500"):
            await ArxivApi(client, arxiv_server.api_url).fetch(["1605.08386"])
    finally:
        await client.aclose()
    assert len(arxiv_server.requests) == 3


async def test_a_body_cut_short_is_retried(arxiv_server: ArxivFixtureServer) -> None:
    body = str(load_capture("id_1605.08386")["body"]).encode()
    arxiv_server.canned = [Canned(200, body[:300], cut_short=True)]
    client = polite()
    try:
        [record] = await ArxivApi(client, arxiv_server.api_url).fetch(["1605.08386"])
    finally:
        await client.aclose()
    assert record.arxiv_id == "1605.08386"
    assert len(arxiv_server.requests) == 2


async def test_requests_are_spaced_by_the_interval(arxiv_server: ArxivFixtureServer) -> None:
    arxiv_server.canned = [Canned(503, b"busy")]
    client = polite(interval=0.3)
    api = ArxivApi(client, arxiv_server.api_url)
    try:
        await api.fetch(["1605.08386"])  # 503, then a retry
        await api.fetch(["1707.08567"])
        await api.fetch(["0000.0000"])
    finally:
        await client.aclose()
    times = [request.at for request in arxiv_server.requests]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) >= 0.3 - 0.01, gaps


async def test_unreachable_arxiv_is_unavailable_not_a_crash() -> None:
    client = PoliteClient(lambda: httpx.AsyncClient(timeout=2), 0)
    try:
        with pytest.raises(ArxivUnavailableError):
            await client.get("http://127.0.0.1:9/api/query")  # nothing listens on port 9
    finally:
        await client.aclose()


async def test_records_are_fetched_once_then_read_from_the_store(arxiv_core: Core) -> None:
    records = arxiv_core.arxiv_records
    first = await records.lookup(["2305.11206", "2312.00752", "1706.03762", "0000.0000"])
    assert first.requests == 1
    assert set(first.found) == {"2305.11206", "2312.00752", "1706.03762"}
    assert first.missing == ["0000.0000"]
    again = await records.lookup(["2305.11206", "2312.00752", "1706.03762"])
    assert again.requests == 0 and again.found == first.found


async def test_one_malformed_id_does_not_spoil_its_batch(
    arxiv_core: Core, arxiv_server: ArxivFixtureServer
) -> None:
    lookup = await arxiv_core.arxiv_records.lookup(["2305.11206", "abc", "1605.08386"])
    assert set(lookup.found) == {"2305.11206", "1605.08386"}
    assert lookup.refused == {"abc": "incorrect id format for abc"}
    assert lookup.requests == 5  # the batch, then its halves until "abc" stood alone


def test_core_builds_no_http_client_until_arxiv_is_needed(tmp_path: Path) -> None:
    core = build_core(make_settings(f"sqlite:///{tmp_path / 'p.db'}", tmp_path), seed=False)
    try:
        assert core.arxiv_client._client is None
    finally:
        core.close()
