"""arXiv API records cached in the store: each paper is fetched once, in batches.

Lint, drafts and the ranking's review profile all ask for the same few hundred papers;
asking arXiv again every time would break its rate limits for nothing, and a paper's
first-version metadata does not change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.arxiv.api import ArxivApi, ArxivApiError, PaperRecord
from bot.db.models import ArxivCandidate, ArxivRecord, utcnow

log = logging.getLogger(__name__)

#: How many ids go into one API request (arXiv answers up to 2000 per page).
BATCH_SIZE = 100
#: SQL IN lists are kept to this length on every backend.
QUERY_CHUNK = 500


@dataclass
class Lookup:
    """The outcome of looking papers up: found, unknown to arXiv, or refused by it."""

    found: dict[str, PaperRecord] = field(default_factory=dict)
    #: arXiv answered, but has no paper with this id.
    missing: list[str] = field(default_factory=list)
    #: arXiv refused the id itself ("incorrect id format for ...").
    refused: dict[str, str] = field(default_factory=dict)
    #: API requests this lookup made (0 when everything was cached).
    requests: int = 0


_Row = TypeVar("_Row", ArxivRecord, ArxivCandidate)


def rows_by_arxiv_id(
    session: Session, model: type[_Row], arxiv_ids: Sequence[str]
) -> dict[str, _Row]:
    """Rows of `model` for these ids, queried in chunks (bound-parameter limits)."""
    rows: dict[str, _Row] = {}
    for start in range(0, len(arxiv_ids), QUERY_CHUNK):
        chunk = arxiv_ids[start : start + QUERY_CHUNK]
        query = select(model).where(model.arxiv_id.in_(chunk))
        rows.update((row.arxiv_id, row) for row in session.scalars(query))
    return rows


def record_of(row: ArxivRecord) -> PaperRecord:
    return PaperRecord(
        arxiv_id=row.arxiv_id,
        version=row.version,
        title=row.title,
        authors=tuple(row.authors or ()),
        abstract=row.abstract,
        categories=tuple(row.categories or ()),
        primary_category=row.primary_category,
        published_at=row.published_at,
        revised_at=row.revised_at,
    )


class RecordRepository:
    """Cached records; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_ids(self, arxiv_ids: Sequence[str]) -> dict[str, ArxivRecord]:
        return rows_by_arxiv_id(self.session, ArxivRecord, arxiv_ids)

    def save(self, records: Iterable[PaperRecord]) -> None:
        records = list(records)
        known = self.by_ids([record.arxiv_id for record in records])
        now = utcnow()
        for record in records:
            row = known.get(record.arxiv_id)
            if row is None:
                row = ArxivRecord(arxiv_id=record.arxiv_id)
                self.session.add(row)
            row.version = record.version
            row.title = record.title
            row.authors = list(record.authors)
            row.abstract = record.abstract
            row.categories = list(record.categories)
            row.primary_category = record.primary_category
            row.published_at = record.published_at
            row.revised_at = record.revised_at
            row.fetched_at = now


class ArxivRecords:
    """Records by arXiv id: from the store, else from the API in batches (then stored)."""

    def __init__(self, sessions: sessionmaker[Session], api: ArxivApi) -> None:
        self.sessions = sessions
        self.api = api

    def cached(self, arxiv_ids: Iterable[str]) -> dict[str, PaperRecord]:
        """What the store already has; never touches the network."""
        with self.sessions() as session:
            rows = RecordRepository(session).by_ids(list(dict.fromkeys(arxiv_ids)))
            return {arxiv_id: record_of(row) for arxiv_id, row in rows.items()}

    async def lookup(
        self,
        arxiv_ids: Iterable[str],
        *,
        refresh: bool = False,
        attempts: int | None = None,
        on_batch: Callable[[int, int, int], None] | None = None,
    ) -> Lookup:
        """Every id's record, asking arXiv only for those not cached (or all, on refresh).

        `ArxivUnavailableError` propagates: what was fetched before it is already stored.
        `on_batch(number, batches, ids)` hears of each request before it is made (the
        shell's progress line).
        """
        wanted = list(dict.fromkeys(arxiv_ids))
        lookup = Lookup(found={} if refresh else self.cached(wanted))
        todo = [arxiv_id for arxiv_id in wanted if arxiv_id not in lookup.found]
        batches = -(-len(todo) // BATCH_SIZE)
        for number, start in enumerate(range(0, len(todo), BATCH_SIZE), start=1):
            batch = todo[start : start + BATCH_SIZE]
            if on_batch is not None:
                on_batch(number, batches, len(batch))
            await self._fetch(batch, lookup, attempts)
        return lookup

    async def _fetch(self, batch: list[str], lookup: Lookup, attempts: int | None) -> None:
        lookup.requests += 1
        try:
            records = await self.api.fetch(batch, attempts=attempts)
        except ArxivApiError as exc:
            if len(batch) == 1:
                lookup.refused[batch[0]] = str(exc)
                return
            # One bad id spoils a whole batch; halve it until the culprit stands alone.
            log.info("arXiv refused a batch of %d ids (%s); splitting it", len(batch), exc)
            middle = len(batch) // 2
            await self._fetch(batch[:middle], lookup, attempts)
            await self._fetch(batch[middle:], lookup, attempts)
            return
        by_id = {record.arxiv_id: record for record in records if record.arxiv_id in batch}
        with self.sessions.begin() as session:
            RecordRepository(session).save(by_id.values())
        lookup.found.update(by_id)
        lookup.missing.extend(arxiv_id for arxiv_id in batch if arxiv_id not in by_id)
