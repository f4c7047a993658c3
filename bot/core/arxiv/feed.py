"""arXiv's announcement feeds (Atom, or RSS 2.0): bytes in, entries out, never an exception.

Facts about the feeds this module relies on (see tests/data/arxiv/README.md):

- `<summary>` (Atom) or `<description>` (RSS) reads
  `arXiv:2508.13167v1 Announce Type: new\\nAbstract: ...`; the rest is the abstract.
- `<id>`/`<guid>` carries the version (`oai:arXiv.org:2508.13167v1`), `<link>` does not.
- `dc:creator` is one string with every author joined by commas.
- The RSS channel's `managingEditor` is a mailbox, not an author of anything.
- feedparser treats RSS descriptions as HTML and would strip tag-like text such as a
  literal `<think>` from an abstract, so sanitizing is off: nothing here is ever
  rendered as HTML (channels escape the core's plain text themselves).

Two readers, one result: arXiv's Atom goes through the fast reader in `atom.py`, which
builds the same entry dictionaries as feedparser at a seventh of the cost; RSS 2.0,
anything else and any document the fast reader refuses (not well-formed, truncated, an
element it does not know) goes to feedparser. Both end in the same `_entry`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import feedparser

from bot.core.arxiv.atom import UnsupportedDocumentError, read_atom
from bot.core.sources import parse_arxiv_id

log = logging.getLogger(__name__)

#: Which announcement of the same paper says most about why it is in the feed.
ANNOUNCE_PRIORITY = ("new", "cross", "replace", "replace-cross", "unknown")

_ANNOUNCEMENT = re.compile(
    r"^\s*arXiv:(?P<id>\S+?)(?:v(?P<version>\d+))?\s+Announce Type:\s*(?P<type>[\w-]+)\s*"
    r"(?:Abstract:[ \t]*\n?)?",
    re.IGNORECASE,
)
_VERSIONED_ID = re.compile(
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v(?P<version>\d+))?$", re.IGNORECASE
)
_NAME_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}


@dataclass(frozen=True)
class FeedEntry:
    """One announcement of one paper, as the feed states it."""

    arxiv_id: str
    version: int
    title: str
    authors: tuple[str, ...]
    abstract: str
    categories: tuple[str, ...]
    #: new | cross | replace | replace-cross, or "unknown" when the feed does not say.
    announce_type: str
    announced_on: dt.date | None

    @property
    def is_replacement(self) -> bool:
        return self.announce_type.startswith("replace")


@dataclass(frozen=True)
class ParsedFeed:
    entries: tuple[FeedEntry, ...]
    #: Entries the document has but without a usable arXiv id or title.
    skipped: int = 0
    #: What was wrong with the document when feedparser had to recover (truncated, ...).
    problem: str | None = None
    #: feedparser's name of the format ("atom10", "rss20"); empty when it is no feed at all.
    format: str = ""


def feed_url(template: str, category: str) -> str:
    """ARXIV_FEED_URL for one category: `{category}` is filled in, or the category appended."""
    if "{category}" in template:
        return template.replace("{category}", category)
    return f"{template.rstrip('/')}/{category}"


def parse_feed(data: bytes) -> ParsedFeed:
    """Every entry that can be recovered; a broken document is described, never raised."""
    try:
        parsed = parse_atom_fast(data)
    except UnsupportedDocumentError as reason:
        log.debug("arXiv feed read by feedparser: %s", reason)
        return parse_with_feedparser(data)
    except Exception:  # a bug in the fast reader must not cost the day's papers
        log.warning("arXiv feed: the fast Atom reader failed; read by feedparser", exc_info=True)
        return parse_with_feedparser(data)
    log.debug("arXiv feed read by the fast Atom reader: %d entries", len(parsed.entries))
    return parsed


def parse_atom_fast(data: bytes) -> ParsedFeed:
    """arXiv's Atom without feedparser; `UnsupportedDocumentError` for anything else."""
    return _parsed(read_atom(data), problem=None, format="atom10")


def parse_with_feedparser(data: bytes) -> ParsedFeed:
    """Any feed feedparser reads, including broken ones (it recovers what it can)."""
    parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    problem = None
    if parsed.get("bozo"):
        exception = parsed.get("bozo_exception")
        problem = f"{type(exception).__name__}: {exception}" if exception else "malformed feed"
    return _parsed(parsed.get("entries", []), problem, str(parsed.get("version") or ""))


def _parsed(raws: Iterable[Any], problem: str | None, format: str) -> ParsedFeed:
    entries: list[FeedEntry] = []
    skipped = 0
    for raw in raws:
        entry = _entry(raw)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    return ParsedFeed(tuple(entries), skipped, problem, format)


def _entry(raw: Any) -> FeedEntry | None:
    # Plain dict lookups: FeedParserDict's own get() maps legacy key names, which these
    # keys do not need, at several times the cost (this runs 2,000 times per feed); the
    # fast Atom reader's entries are plain dicts with the same keys.
    get = dict.get
    summary = str(get(raw, "summary") or "")
    head = _ANNOUNCEMENT.match(summary)
    arxiv_id, version = _identify(raw, head)
    title = " ".join(str(get(raw, "title") or "").split())
    if arxiv_id is None or not title:
        return None
    announce_type = str(get(raw, "arxiv_announce_type") or (head and head.group("type")) or "")
    published = get(raw, "published_parsed") or get(raw, "updated_parsed")
    return FeedEntry(
        arxiv_id=arxiv_id,
        version=version,
        title=title,
        authors=split_authors(dict.get(a, "name", "") for a in get(raw, "authors", ())),
        abstract=(summary[head.end() :] if head else summary).strip(),
        categories=_unique(str(dict.get(tag, "term") or "") for tag in get(raw, "tags", ())),
        announce_type=announce_type.strip().lower() or "unknown",
        announced_on=dt.date(*published[:3]) if published else None,
    )


def _identify(raw: Any, head: re.Match[str] | None) -> tuple[str | None, int]:
    """The id without version and the version, from the guid, the summary or the link."""
    guid = str(dict.get(raw, "id") or "").strip()
    match = _VERSIONED_ID.search(guid)
    if match is None and head is not None:
        match = _VERSIONED_ID.search(f"{head.group('id')}v{head.group('version') or 1}")
    if match is not None:
        arxiv_id = match.group("id")
        arxiv_id = arxiv_id.lower() if "/" in arxiv_id else arxiv_id
        return arxiv_id, int(match.group("version") or 1)
    return parse_arxiv_id(str(dict.get(raw, "link") or "")), 1


def split_authors(names: Iterable[str]) -> tuple[str, ...]:
    """`dc:creator` holds every author in one comma-joined string; split it into people.

    A mailbox (the channel's managingEditor, should it ever leak in) is nobody's name.
    """
    authors: list[str] = []
    for name in names:
        for part in str(name).split(","):
            person = " ".join(part.split()).removeprefix("and ").strip()
            if not person or "@" in person:
                continue
            if person.lower() in _NAME_SUFFIXES and authors:
                authors[-1] = f"{authors[-1]}, {person}"
            else:
                authors.append(person)
    return tuple(authors)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value))


def merge(kept: FeedEntry, other: FeedEntry) -> FeedEntry:
    """One paper announced twice (cross-lists, several categories, several days).

    The latest version speaks for the paper; among equal versions the most telling
    announcement type wins (a paper both new in cs.CL and cross-listed in cs.AI is new).
    Categories are united, and the paper keeps the day it was first announced.
    """
    best, rest = sorted((kept, other), key=_precedence, reverse=True)
    days = [day for day in (kept.announced_on, other.announced_on) if day is not None]
    return replace(
        best,
        categories=_unique((*best.categories, *rest.categories)),
        announced_on=min(days) if days else None,
    )


def _precedence(entry: FeedEntry) -> tuple[int, int]:
    kind = entry.announce_type
    priority = ANNOUNCE_PRIORITY.index(kind if kind in ANNOUNCE_PRIORITY else "unknown")
    return entry.version, -priority


def dedupe(entries: Iterable[FeedEntry]) -> list[FeedEntry]:
    """One entry per arXiv id without version, in order of first appearance."""
    by_id: dict[str, FeedEntry] = {}
    for entry in entries:
        known = by_id.get(entry.arxiv_id)
        by_id[entry.arxiv_id] = entry if known is None else merge(known, entry)
    return list(by_id.values())
