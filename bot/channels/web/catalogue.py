"""The web's view of the store: the published catalogue and the rendered answers, kept in
memory and thrown away when any review changes.

Whether anything changed is one aggregate query (`ReviewService.catalogue_version`),
asked at most every WEB_REFRESH_SECONDS by a background task, so a publish made by any
process (the CLI, a chat command, another replica) shows within that time, and serving
a page costs no query at all while nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from bot.channels.web.responses import CachedAnswer
from bot.core.reviews import CatalogueVersion, ReviewEntry, ReviewService
from bot.db.retry import OUTAGE, is_transient

log = logging.getLogger(__name__)

#: Rendered answers kept at once (pages, search results, feeds); the oldest go first.
MAX_ANSWERS = 4_000
#: Requests the fast path knows the answer key of (`remember`); the oldest go first.
MAX_SIGNATURES = 16_000


@dataclass(frozen=True)
class Catalogue:
    """Every published review without its text, newest first, with its indexes."""

    entries: tuple[ReviewEntry, ...]
    zone: ZoneInfo
    by_slug: dict[str, int] = field(default_factory=dict)
    by_tag: dict[str, list[ReviewEntry]] = field(default_factory=dict)
    by_month: dict[tuple[int, int], list[ReviewEntry]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[ReviewEntry], zone: ZoneInfo) -> Catalogue:
        catalogue = cls(tuple(entries), zone)
        for position, entry in enumerate(entries):
            catalogue.by_slug[entry.slug] = position
            for tag in entry.tags:
                catalogue.by_tag.setdefault(tag, []).append(entry)
            if entry.published_at is not None:
                local = entry.published_at.astimezone(zone)
                catalogue.by_month.setdefault((local.year, local.month), []).append(entry)
        return catalogue

    def section(self, section: str) -> list[ReviewEntry]:
        return [entry for entry in self.entries if entry.section == section]

    def entry(self, slug: str) -> ReviewEntry | None:
        position = self.by_slug.get(slug)
        return self.entries[position] if position is not None else None

    def neighbours(self, slug: str) -> tuple[ReviewEntry | None, ReviewEntry | None]:
        """(the newer review, the older review) next to `slug` in the column's order."""
        position = self.by_slug.get(slug)
        if position is None:
            return None, None
        newer = self.entries[position - 1] if position > 0 else None
        older = self.entries[position + 1] if position + 1 < len(self.entries) else None
        return newer, older

    def tag_counts(self) -> list[tuple[str, int]]:
        """Most used first, as `ReviewService.tag_counts` orders them."""
        counts = [(tag, len(entries)) for tag, entries in self.by_tag.items()]
        return sorted(counts, key=lambda item: (-item[1], item[0]))

    def months(self) -> list[tuple[int, int, int]]:
        """(year, month, count), newest month first."""
        return [(y, m, len(self.by_month[(y, m)])) for y, m in sorted(self.by_month, reverse=True)]

    def last_change(self, entries: list[ReviewEntry] | tuple[ReviewEntry, ...]) -> dt.datetime:
        """The latest change among `entries` (Last-Modified, a feed's `updated`)."""
        moments = [entry.updated_at for entry in entries if entry.updated_at is not None]
        return max(moments, default=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))


class CatalogueCache:
    """The catalogue and the rendered answers of one version of the store."""

    def __init__(self, reviews: ReviewService, zone: ZoneInfo, refresh_seconds: float) -> None:
        self.reviews = reviews
        self.zone = zone
        self.refresh_seconds = refresh_seconds
        #: Grows at every change seen; an answer rendered under an older one is not kept.
        self.generation = 0
        self._version: CatalogueVersion | None = None
        self._catalogue: tuple[int, Catalogue] | None = None
        self._answers: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        #: A request's signature (`bot.channels.web.fast.signature`) → its answer's key.
        self._signatures: dict[Hashable, Hashable] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # the catalogue and the answers

    def catalogue(self) -> Catalogue:
        """This generation's catalogue (read from the store once per generation)."""
        generation = self.generation
        cached = self._catalogue
        if cached is not None and cached[0] == generation:
            return cached[1]
        catalogue = Catalogue.of(self.reviews.published_entries(), self.zone)
        with self._lock:
            if self.generation == generation:
                self._catalogue = (generation, catalogue)
        return catalogue

    def get(self, key: Hashable) -> CachedAnswer | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key: Hashable, generation: int, answer: CachedAnswer) -> None:
        """Keep `answer` unless the store changed while it was being rendered."""
        with self._lock:
            if generation != self.generation:
                return
            self._answers[key] = answer
            while len(self._answers) > MAX_ANSWERS:
                self._answers.popitem(last=False)

    def remember(self, signature: Hashable, key: Hashable) -> None:
        """A request with this signature is answered by the answer under `key` (which
        does not depend on the store's version: the answer itself does)."""
        with self._lock:
            if signature not in self._signatures and len(self._signatures) >= MAX_SIGNATURES:
                del self._signatures[next(iter(self._signatures))]
            self._signatures[signature] = key

    def remembered(self, signature: Hashable) -> CachedAnswer | None:
        """The cached answer of a request with this signature, if there is one now."""
        key = self._signatures.get(signature)
        return self.get(key) if key is not None else None

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()
            self._signatures.clear()
            self._catalogue = None
        self.reviews.forget_pages()

    # noticing changes

    def check(self) -> bool:
        """Ask the store for its version; on a change, forget everything. True if changed."""
        version = self.reviews.catalogue_version()
        if version == self._version:
            return False
        first = self._version is None
        self._version = version
        if not first:
            log.info("reviews changed (%d in the store): web pages render again", version.count)
        self.invalidate()
        return True

    async def start(self) -> None:
        await self._check()
        self._task = asyncio.create_task(self._watch(), name="web-catalogue-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self._check()

    async def _check(self) -> None:
        """One version check; the store away is the process's outage (logged once per
        outage, bot/db/retry.py), and the pages already rendered are served meanwhile."""
        try:
            await asyncio.to_thread(self.check)
        except SQLAlchemyError as exc:
            if is_transient(exc):
                OUTAGE.failed("checking the web archive's catalogue version", exc)
            else:
                log.warning("web: the store did not answer its version check: %s", exc)
        else:
            OUTAGE.answered()
