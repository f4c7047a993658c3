"""The search use case: a page of published reviews for a query, and alias editing."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from sqlalchemy import BindParameter, Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.reviews import VIEW_COLUMNS, ReviewView
from bot.core.search import aliases
from bot.core.search.cache import IndexCache, ResultCache
from bot.core.search.groups import Group
from bot.core.search.matching import AliasMatcher
from bot.core.search.query import normalised, parse_query, query_phrase, relaxed
from bot.core.search.ranker import MAX_RESULTS, Ranker
from bot.core.search_index import IndexStore, StoreVersion
from bot.db.driver_reads import DriverRead
from bot.db.engine import read_only_sessions
from bot.db.models import Review

#: How long the alias table may be served from memory (see SearchService._aliases).
ALIAS_CACHE_SECONDS = 30.0
#: On the relaxed retry, at least this share of the query's words must match.
RELAXED_SHARE = 0.5


@dataclass(frozen=True)
class SearchPage:
    query: str
    items: tuple[ReviewView, ...]
    offset: int
    total: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


class SearchService:
    """Searches for every channel of the process (the bot and the web share one).

    Answers and index reads are remembered per store version (`bot.core.search.cache`):
    each search reads the version (one small query) and ranks from memory what this
    version already read; any change to a review, made by any process, bumps the
    version in its own transaction, so the next search sees it.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        #: Searches only read: they do not queue behind writers (`read_only`).
        self._reads = read_only_sessions(sessions)
        self._reads_engine: Engine = self._reads.kw["bind"]
        self._matcher: tuple[tuple[tuple[str, int], ...], AliasMatcher] | None = None
        #: Grows when the alias table read differs from the last: results depend on it.
        self._alias_generation = 0
        self._aliases_fresh_until = 0.0
        self.results: ResultCache[SearchPage] = ResultCache()
        self.index = IndexCache()
        #: Told how long each search took (seconds); the runtime feeds its metrics.
        self.on_timing: Callable[[float], None] | None = None

    def search(self, query: str, limit: int = 5, offset: int = 0) -> SearchPage:
        started = time.perf_counter()
        try:
            return self._search(query, limit, offset)
        finally:
            if self.on_timing is not None:
                self.on_timing(time.perf_counter() - started)

    def _search(self, query: str, limit: int, offset: int) -> SearchPage:
        limit = max(1, min(int(limit), 50))
        offset = max(0, int(offset))
        remembered = self._remembered(query, limit, offset)
        if remembered is not None:
            return remembered
        with self._reads() as session:
            state = IndexStore(session.connection()).state()
            matcher = self._aliases(session)
            version = IndexStore.version_of(state)
            results_version = (version, self._alias_generation)
            self.results.at(results_version)
            key = (results_version, normalised(query), limit, offset)
            remembered = self.results.pages.get(key)
            if remembered is not None:
                return _asked_as(remembered, query)
            page = self._ranked(session, state, matcher, query, limit, offset, results_version)
            self.results.pages.put(key, page)
            return page

    def _remembered(self, query: str, limit: int, offset: int) -> SearchPage | None:
        """The answer kept for this version of the store, found without opening a
        session (`IndexStore.current_version`): readers ask the same few things again
        and again, and the session cost most of such an answer. Only while the alias
        table read last is fresh: its generation is part of the key."""
        if self._matcher is None or time.monotonic() >= self._aliases_fresh_until:
            return None
        version = IndexStore.current_version(self._reads_engine)
        key = ((version, self._alias_generation), normalised(query), limit, offset)
        remembered = self.results.pages.get(key)
        return _asked_as(remembered, query) if remembered else None

    def _ranked(
        self,
        session: Session,
        state: dict[str, int],
        matcher: AliasMatcher,
        query: str,
        limit: int,
        offset: int,
        results_version: Hashable,
    ) -> SearchPage:
        """The search itself, its index reads through this version's `IndexCache`."""
        if offset >= MAX_RESULTS:
            return SearchPage(query, (), offset, 0)
        needed = offset + limit + 1
        ranking_key = (results_version, normalised(query))
        known = self.results.rankings.get(ranking_key)
        if known is not None and known[1] <= needed <= known[2]:
            ranked = known[0]  # what ranking again would return (`Ranker.same_for`)
        else:
            groups = parse_query(query, matcher)
            if not groups:
                return SearchPage(query, (), offset, 0)
            ranked, low, high = self._rank(session, state, matcher, query, groups, needed)
            self.results.rankings.put(ranking_key, (ranked, low, high))
        window = ranked[offset : offset + limit]
        by_id = self._views(session, IndexStore.version_of(state), window)
        items = tuple(by_id[review_id] for review_id in window if review_id in by_id)
        return SearchPage(query, items, offset, len(ranked))

    def _rank(
        self,
        session: Session,
        state: dict[str, int],
        matcher: AliasMatcher,
        query: str,
        groups: list[Group],
        needed: int,
    ) -> tuple[list[int], float, float]:
        """The ranked ids, and the range of `needed` for which they are the same (that
        of every ranking run: the relaxed retry's too)."""
        store = self.index.store(session.connection(), IndexStore.version_of(state))
        ranker = Ranker(store, docs=state.get("docs", 0))
        phrase = query_phrase(query, matcher)
        ranked = ranker.rank(groups, needed, phrase=phrase)
        low, high = ranker.same_for
        if not ranked:
            retry = relaxed(groups, matcher)
            if retry:
                ranked = ranker.rank(retry, needed, RELAXED_SHARE, phrase)
                low, high = max(low, ranker.same_for[0]), min(high, ranker.same_for[1])
        return ranked, low, high

    def _views(
        self, session: Session, version: StoreVersion, review_ids: list[int]
    ) -> dict[int, ReviewView]:
        """The published reviews among `review_ids`, read from the store only if this
        version has not read them yet (the ORM's rows cost more than ranking did)."""
        found: dict[int, ReviewView] = {}
        missing = []
        for review_id in review_ids:
            view = self.index.views.get((version, review_id))
            if view is None:
                missing.append(review_id)
            else:
                found[review_id] = view
        if missing:
            params = {f"id{number}": review_id for number, review_id in enumerate(missing)}
            for row in _published(len(missing)).all_in(session.connection(), params):
                view = ReviewView.of_columns(dict(zip(VIEW_COLUMNS, row, strict=True)))
                self.index.views.put((version, view.id), view)
                found[view.id] = view
        return found

    # aliases

    def _aliases(self, session: Session) -> AliasMatcher:
        """The alias table, read again at most every ALIAS_CACHE_SECONDS: reading it for
        every search cost an eighth of a reply. Changes made through this service are
        seen at once, those of another process (the CLI) within that time."""
        now = time.monotonic()
        if self._matcher is not None and now < self._aliases_fresh_until:
            return self._matcher[1]
        rows = aliases.load_rows(session)
        if self._matcher is None or self._matcher[0] != rows:
            self._matcher = (rows, AliasMatcher(rows))
            self._alias_generation += 1
        self._aliases_fresh_until = now + ALIAS_CACHE_SECONDS
        return self._matcher[1]

    def list_aliases(self) -> list[list[str]]:
        """Alias groups in the order they were made, each as its terms."""
        with self.sessions() as session:
            return aliases.list_groups(session)

    def add_aliases(self, term: str, synonyms: Sequence[str]) -> list[str]:
        """Put TERM and SYNONYMS in one alias group (joining groups they are already in)."""
        self._aliases_fresh_until = 0.0  # the next search reads the table again
        with self.sessions.begin() as session:
            return aliases.add_group(session, term, synonyms)

    def remove_alias(self, term: str) -> list[str] | None:
        """Take TERM out of its group; returns what the group keeps (None: no such alias).

        A group left with a single term is removed too.
        """
        self._aliases_fresh_until = 0.0  # the next search reads the table again
        with self.sessions.begin() as session:
            return aliases.remove_term(session, term)


def _asked_as(page: SearchPage, query: str) -> SearchPage:
    """A remembered page as an answer to `query` (the same once normalised): the page
    itself when it was asked the same way, as it mostly is (`dataclasses.replace`, which
    walks the fields, was a twentieth of answering a remembered search)."""
    return page if page.query == query else dataclasses.replace(page, query=query)


@functools.cache
def _published(count: int) -> DriverRead:
    """The published reviews among `count` ids (`id0` …), as `ReviewView` columns, read on
    the search's own connection without the ORM: the ORM's rows (and a statement built
    per search) cost ten times the query, a tenth of a WeChat callback's CPU."""
    columns = [Review.__table__.c[name] for name in VIEW_COLUMNS]
    ids: list[BindParameter[int]] = [bindparam(f"id{number}") for number in range(count)]
    return DriverRead(select(*columns).where(Review.id.in_(ids), Review.status == "published"))
