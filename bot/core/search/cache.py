"""What a process remembers between searches, for one version of the store.

Two layers, both keyed by the store's search version (`IndexStore.search_version`: a
counter in `search_state` that every change to a review bumps in the same transaction,
whichever process makes it), so a publish by the CLI or another replica is seen by the
very next search here, and nothing is served from an older version:

* `ResultCache`: whole answers (`SearchPage`s) by normalised query, page and version.
  The bot and the web share the one `SearchService`, so a query asked in a chat and on
  the site is searched once; readers ask the same few things again and again.
* `IndexCache`: what searches read from the index, per token (document frequency, its
  best head postings), per conjunction of tokens (its newest body matches) and per
  review (the stored text the phrase bonus searches, and the review as results show
  it). Distinct queries share their
  words, so a new query is mostly ranked from memory; the ranking itself is computed as
  before, from the same numbers, so results and order do not change.

Every table is a bounded LRU; a new version empties them all at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from bot.core.search_index import IndexStore, StoreVersion

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: Whole answers kept (a few KB each: ten review views and a count).
RESULTS = 2_048
#: Rankings kept (at most MAX_RESULTS ids each, ~2 KB), for the next pages of a search.
RANKINGS = 2_048
#: Tokens whose document frequency is kept (typo candidates pass through here too).
DFS = 16_384
#: Tokens whose head postings (at most HEAD_K each, ~25 KB) are kept: about 13 MB.
HEADS = 512
#: Conjunctions whose body matches (at most BODY_K ids each, ~15 KB) are kept: ~8 MB.
BODIES = 512
#: Reviews whose stored title, tags, summary and body start are kept (~7 KB each).
TEXTS = 2_048
#: Reviews of results kept whole, as channels show them (a few KB each, the body).
VIEWS = 2_048


class LRU(Generic[K, V]):
    """A bounded, thread-safe mapping that forgets the least recently used entry first
    (web pages render in worker threads, the bot answers on the event loop)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class Versioned:
    """Tables that hold for one store version: every key starts with the version it
    was read under, and `at(version)` empties them when a search sees another one (a
    search still running on an older snapshot then only adds entries no newer search
    looks up)."""

    def __init__(self) -> None:
        self._version: Hashable = None
        self._lock = threading.Lock()
        self._tables: list[LRU[Any, Any]] = []

    def _table(self, size: int) -> LRU[Any, Any]:
        table: LRU[Any, Any] = LRU(size)
        self._tables.append(table)
        return table

    def at(self, version: Hashable) -> None:
        with self._lock:
            if version != self._version:
                for table in self._tables:
                    table.clear()
                self._version = version


class ResultCache(Versioned, Generic[V]):
    """Answers by (version, normalised query, limit, offset); and rankings (the ranked
    review ids, and the range of `needed` they hold for, see `Ranker.same_for`) by
    (version, normalised query): `下一页` (offset 5) is the first page's ranking read
    further, not a second ranking of a query that was just ranked."""

    def __init__(self, size: int = RESULTS) -> None:
        super().__init__()
        self.pages: LRU[tuple[Hashable, str, int, int], V] = self._table(size)
        self.rankings: LRU[tuple[Hashable, str], tuple[list[int], float, float]] = self._table(
            RANKINGS
        )


class IndexCache(Versioned):
    """Index reads per store version (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.dfs: LRU[tuple[StoreVersion, str], int] = self._table(DFS)
        self.heads: LRU[tuple[StoreVersion, str, int], dict[int, int]] = self._table(HEADS)
        self.bodies: LRU[tuple[StoreVersion, tuple[str, ...], int, int | None], list[int]] = (
            self._table(BODIES)
        )
        self.floors: LRU[tuple[StoreVersion, int], tuple[int | None]] = self._table(64)
        self.texts: LRU[tuple[StoreVersion, int, int], dict[str, list[str]]] = self._table(TEXTS)
        #: The results' reviews as channels see them (`ReviewView`s, read by the service).
        self.views: LRU[tuple[StoreVersion, int], Any] = self._table(VIEWS)

    def store(self, connection: Connection, version: StoreVersion) -> CachedIndexStore:
        """An index store on `connection`, which sees `version`, reading through here."""
        self.at(version)
        return CachedIndexStore(connection, self, version)


class CachedIndexStore(IndexStore):
    """An `IndexStore` whose reads go through an `IndexCache` first. What it returns is
    what the plain store would: the same rows, only not always read again."""

    def __init__(self, connection: Connection, cache: IndexCache, version: StoreVersion) -> None:
        super().__init__(connection)
        self.cache = cache
        self.version = version

    def dfs(self, terms: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        missing = []
        v = self.version
        for term in terms:
            df = self.cache.dfs.get((v, term))
            if df is None:
                missing.append(term)
            elif df:
                found[term] = df
        if missing:
            read = super().dfs(missing)
            for term in missing:  # unknown terms are remembered too, as 0
                self.cache.dfs.put((v, term), read.get(term, 0))
            found.update(read)
        return found

    def head_lists(self, terms: Sequence[str], k: int) -> dict[str, dict[int, int]]:
        lists: dict[str, dict[int, int]] = {}
        missing = []
        v = self.version
        for term in terms:
            cached = self.cache.heads.get((v, term, k))
            if cached is None:
                missing.append(term)
            else:
                lists[term] = cached
        if missing:
            read = super().head_lists(missing, k)
            for term in missing:
                self.cache.heads.put((v, term, k), read[term])
            lists.update(read)
        return lists

    def body_matches(
        self, alternatives: Sequence[tuple[str, ...]], k: int, floor: int | None
    ) -> list[list[int]]:
        v = self.version
        hits = [self.cache.bodies.get((v, a, k, floor)) for a in alternatives]
        missing = [a for a, found in zip(alternatives, hits, strict=True) if found is None]
        if not missing:
            return [found or [] for found in hits]
        read = dict(zip(missing, super().body_matches(missing, k, floor), strict=True))
        for alternative, review_ids in read.items():
            self.cache.bodies.put((v, alternative, k, floor), review_ids)
        return [
            read[a] if found is None else found for a, found in zip(alternatives, hits, strict=True)
        ]

    def newest_floor(self, window: int) -> int | None:
        key = (self.version, window)
        cached = self.cache.floors.get(key)
        if cached is None:
            cached = (super().newest_floor(window),)
            self.cache.floors.put(key, cached)
        return cached[0]

    def review_texts(
        self, review_ids: Sequence[int], body_chars: int
    ) -> dict[int, dict[str, list[str]]]:
        texts: dict[int, dict[str, list[str]]] = {}
        missing = []
        v = self.version
        for review_id in review_ids:
            cached = self.cache.texts.get((v, review_id, body_chars))
            if cached is None:
                missing.append(review_id)
            else:
                texts[review_id] = cached
        if missing:
            read = super().review_texts(missing, body_chars)
            for review_id, fields in read.items():
                self.cache.texts.put((v, review_id, body_chars), fields)
            texts.update(read)
        return texts
