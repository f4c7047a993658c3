"""The arXiv API (export.arxiv.org/api/query): paper metadata by id, in its Atom format.

The API answers an unknown id with zero entries and a malformed one with HTTP 400
and a single error entry (`<id>https://arxiv.org/api/errors#...</id>`); both are
told apart here so callers can say which it was.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import feedparser

from bot.core.arxiv.http import ArxivUnavailableError, PoliteClient

_ABS_ID = re.compile(
    r"/abs/(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v(?P<version>\d+))?$", re.IGNORECASE
)


class ArxivApiError(Exception):
    """arXiv refused the query, e.g. `incorrect id format for abc` (HTTP 400)."""


@dataclass(frozen=True)
class PaperRecord:
    """A paper as the arXiv API states it."""

    arxiv_id: str
    version: int
    title: str
    authors: tuple[str, ...]
    abstract: str
    categories: tuple[str, ...]
    primary_category: str | None
    #: When version 1 was submitted: the paper's date.
    published_at: dt.datetime
    #: When the latest version was submitted.
    revised_at: dt.datetime | None

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


def parse_api_response(data: bytes) -> list[PaperRecord]:
    """The records in one API answer; `ArxivApiError` when it is an error entry."""
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    records: list[PaperRecord] = []
    for entry in parsed.get("entries", []):
        entry_id = str(entry.get("id") or "")
        if "/api/errors" in entry_id:
            raise ArxivApiError(" ".join(str(entry.get("summary") or entry_id).split()))
        record = _record(entry)
        if record is not None:
            records.append(record)
    return records


def _record(entry: Any) -> PaperRecord | None:
    match = _ABS_ID.search(str(entry.get("id") or ""))
    published = entry.get("published_parsed")
    if match is None or not published:
        return None
    arxiv_id = match.group("id")
    updated = entry.get("updated_parsed")
    primary = entry.get("arxiv_primary_category") or {}
    return PaperRecord(
        arxiv_id=arxiv_id.lower() if "/" in arxiv_id else arxiv_id,
        version=int(match.group("version") or 1),
        title=" ".join(str(entry.get("title") or "").split()),
        authors=tuple(
            " ".join(str(author.get("name") or "").split())
            for author in entry.get("authors", [])
            if author.get("name")
        ),
        abstract=" ".join(str(entry.get("summary") or "").split()),
        categories=tuple(
            dict.fromkeys(str(tag.get("term")) for tag in entry.get("tags", []) if tag.get("term"))
        ),
        primary_category=str(primary.get("term")) if primary.get("term") else None,
        published_at=_utc(published),
        revised_at=_utc(updated) if updated else None,
    )


def _utc(moment: Any) -> dt.datetime:
    return dt.datetime(*moment[:6]).replace(tzinfo=dt.UTC)


class ArxivApi:
    """Look papers up by id, many per request (`id_list`), through the polite client."""

    def __init__(self, client: PoliteClient, url: str) -> None:
        self.client = client
        self.url = url

    async def fetch(
        self, arxiv_ids: Sequence[str], *, attempts: int | None = None
    ) -> list[PaperRecord]:
        """One request for all of `arxiv_ids`; papers arXiv does not know are simply absent.

        Raises `ArxivApiError` when arXiv refuses the query (a malformed id) and
        `ArxivUnavailableError` when it does not answer usefully.
        """
        params = {
            "id_list": ",".join(arxiv_ids),
            "start": "0",
            "max_results": str(max(1, len(arxiv_ids))),
        }
        response = await self.client.get(self.url, params=params, attempts=attempts)
        if response.status_code == 200:
            return parse_api_response(response.content)
        if response.status_code == 400:
            parse_api_response(response.content)  # raises with arXiv's own words
            raise ArxivApiError(f"arXiv refused the query (HTTP 400) for {', '.join(arxiv_ids)}")
        raise ArxivUnavailableError(f"{self.url}: HTTP {response.status_code}")
