"""The arXiv watcher's use cases: poll the feeds, keep one candidate per paper, rank them,
and take the editors' feedback (drafted = more like this, dismissed = less).

Per-category feed state (ETag, last success, consecutive errors and the backoff they
earn) lives in the store next to the candidates and is written in the same
transaction, so a crash between the two can neither lose a day's papers nor skip them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.arxiv.api import PaperRecord
from bot.core.arxiv.feed import FeedEntry, dedupe, feed_url, merge, parse_feed
from bot.core.arxiv.http import ArxivUnavailableError, PoliteClient
from bot.core.arxiv.ranking import ProfileDoc, Ranker, Signal, describe
from bot.core.arxiv.records import ArxivRecords, RecordRepository, rows_by_arxiv_id
from bot.db.models import ArxivCandidate, ArxivFeedState, Review, utcnow

log = logging.getLogger(__name__)

#: Pending candidates first seen longer ago than this are no longer ranked or listed:
#: the watcher is about what arXiv announced lately, not an ever-growing backlog.
CANDIDATE_WINDOW = dt.timedelta(days=7)
#: How many decided candidates of each kind the ranking learns from (the most recent):
#: ranking time grows with it, and last month's decisions say more than last year's.
FEEDBACK_LIMIT = 200
#: Backoff after consecutive failures of a category: 30 min, 1 h, 2 h, ... at most a day.
BACKOFF_BASE = dt.timedelta(minutes=30)
BACKOFF_CAP = dt.timedelta(days=1)


@dataclass(frozen=True)
class CandidateView:
    """A candidate as every channel and the CLI see it."""

    id: int
    arxiv_id: str
    version: int
    title: str
    authors: tuple[str, ...]
    abstract: str
    categories: tuple[str, ...]
    announce_type: str
    announced_on: dt.date | None
    score: float
    reason: str
    signals: tuple[Signal, ...]
    status: str
    review_id: int | None
    first_seen_at: dt.datetime

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    def reason_in(self, language: str) -> str:
        """The reason worded for a reader; the stored `reason` is the English one."""
        return describe(self.signals, language) if self.signals else self.reason

    @classmethod
    def of(cls, row: ArxivCandidate) -> CandidateView:
        return cls(
            id=row.id,
            arxiv_id=row.arxiv_id,
            version=row.version,
            title=row.title,
            authors=tuple(row.authors or ()),
            abstract=row.abstract,
            categories=tuple(row.categories or ()),
            announce_type=row.announce_type,
            announced_on=row.announced_on,
            score=row.score,
            reason=row.reason,
            signals=tuple(Signal.from_dict(data) for data in row.signals or ()),
            status=row.status,
            review_id=row.review_id,
            first_seen_at=row.first_seen_at,
        )


@dataclass(frozen=True)
class CategoryOutcome:
    """What one category's poll did."""

    category: str
    #: "updated" | "unchanged" | "empty" | "skipped" (backing off) | "failed" |
    #: "deadline" (not polled: the poll's deadline had passed)
    status: str
    entries: int = 0
    added: int = 0
    ignored_replacements: int = 0
    #: The failure, or what was wrong with a feed that was still (partly) read.
    problem: str | None = None
    #: "skipped": when the backoff ends, and how many failures in a row led to it.
    backoff_until: dt.datetime | None = None
    errors: int = 0

    @property
    def polled(self) -> bool:
        """The feed answered (with entries, none, or "unchanged")."""
        return self.status in POLLED


#: The outcomes of a category whose feed answered.
POLLED = frozenset({"updated", "unchanged", "empty"})


@dataclass(frozen=True)
class PollReport:
    outcomes: tuple[CategoryOutcome, ...]
    #: The poll stopped at its deadline (the categories left are "deadline").
    timed_out: bool = False

    @property
    def added(self) -> int:
        return sum(outcome.added for outcome in self.outcomes)

    @property
    def failures(self) -> tuple[CategoryOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if outcome.status == "failed")

    @property
    def polled(self) -> int:
        """How many categories answered: 0 means the poll brought nothing."""
        return sum(outcome.polled for outcome in self.outcomes)


def _entry_of(row: ArxivCandidate) -> FeedEntry:
    return FeedEntry(
        arxiv_id=row.arxiv_id,
        version=row.version,
        title=row.title,
        authors=tuple(row.authors or ()),
        abstract=row.abstract,
        categories=tuple(row.categories or ()),
        announce_type=row.announce_type,
        announced_on=row.announced_on,
    )


class CandidateRepository:
    """Candidates and feed state; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_arxiv_ids(self, arxiv_ids: Sequence[str]) -> dict[str, ArxivCandidate]:
        return rows_by_arxiv_id(self.session, ArxivCandidate, arxiv_ids)

    def get(self, candidate_id: int) -> ArxivCandidate | None:
        return self.session.get(ArxivCandidate, candidate_id)

    def pending(
        self, since: dt.datetime, limit: int | None = None, unalerted: bool = False
    ) -> Sequence[ArxivCandidate]:
        query = select(ArxivCandidate).where(
            ArxivCandidate.status == "pending", ArxivCandidate.first_seen_at >= since
        )
        if unalerted:
            query = query.where(ArxivCandidate.alerted_at.is_(None))
        query = query.order_by(ArxivCandidate.score.desc(), ArxivCandidate.id)
        return self.session.scalars(query.limit(limit)).all()

    def count_pending(self, since: dt.datetime) -> int:
        query = select(func.count(ArxivCandidate.id)).where(
            ArxivCandidate.status == "pending", ArxivCandidate.first_seen_at >= since
        )
        return int(self.session.scalar(query) or 0)

    def decided(self, status: str, limit: int) -> Sequence[ArxivCandidate]:
        query = (
            select(ArxivCandidate)
            .where(ArxivCandidate.status == status)
            .order_by(ArxivCandidate.decided_at.desc().nulls_last(), ArxivCandidate.id.desc())
            .limit(limit)
        )
        return self.session.scalars(query).all()

    def feed_state(self, category: str) -> ArxivFeedState:
        state = self.session.scalar(
            select(ArxivFeedState).where(ArxivFeedState.category == category)
        )
        if state is None:
            state = ArxivFeedState(category=category, consecutive_errors=0, last_entry_count=0)
            self.session.add(state)
        return state


class ArxivWatcher:
    """Polls the feeds into candidates and ranks them; each public method is a use case."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: PoliteClient,
        records: ArxivRecords,
        *,
        feed_url_template: str,
        categories: Sequence[str],
        keywords: Sequence[str],
        include_replacements: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.records = records
        self.feed_url_template = feed_url_template
        self.categories = list(categories)
        self.keywords = list(keywords)
        self.include_replacements = include_replacements
        self.clock = clock
        # The daily poll and the retry job may fire together; one poll at a time.
        self._polling = asyncio.Lock()

    # polling

    async def poll(
        self,
        *,
        force: bool = False,
        only_failed: bool = False,
        deadline_seconds: float | None = None,
        on_progress: Callable[[CategoryOutcome], None] | None = None,
    ) -> PollReport:
        """Fetch every category's feed once (in order, spaced by the polite client).

        Categories backing off after failures are skipped unless `force`; with
        `only_failed`, only categories whose last attempt failed are tried (retries).
        Afterwards the pending candidates are ranked again. The whole poll stops after
        `deadline_seconds` (ARXIV_DEADLINE_SECONDS): a feed still not answering then
        counts as failed (it backs off), the categories after it are "deadline".
        `on_progress` hears each category's outcome as soon as it is known.
        """
        loop = asyncio.get_running_loop()
        ends = None if deadline_seconds is None else loop.time() + deadline_seconds
        async with self._polling:
            outcomes: list[CategoryOutcome] = []
            timed_out = False
            for category in self.categories:
                outcome = await self._poll_within(category, ends, force, only_failed)
                if outcome is None:
                    continue
                timed_out = timed_out or outcome.status == "deadline"
                outcomes.append(outcome)
                if on_progress is not None:
                    on_progress(outcome)
            report = PollReport(tuple(outcomes), timed_out)
            if report.polled and not (ends is not None and loop.time() >= ends):
                await self._learn_reviews()
            if report.polled:
                await self.rerank_in_background()
            return report

    async def _poll_within(
        self, category: str, ends: float | None, force: bool, only_failed: bool
    ) -> CategoryOutcome | None:
        """One category, cut off at the poll's deadline `ends` (loop time)."""
        if ends is None:
            return await self._poll_category(category, force=force, only_failed=only_failed)
        remaining = ends - asyncio.get_running_loop().time()
        if remaining <= 0:
            return CategoryOutcome(category, "deadline", problem="not polled: deadline reached")
        try:
            async with asyncio.timeout(remaining):
                return await self._poll_category(category, force=force, only_failed=only_failed)
        except TimeoutError:
            return self._failed(
                category, "no answer before the poll's deadline (ARXIV_DEADLINE_SECONDS)"
            )

    async def _learn_reviews(self) -> None:
        """Fetch (once; they are cached) the arXiv abstracts of the column's published
        reviews, so similarity compares title and abstract on both sides. Best effort:
        one attempt, and a failure only makes this ranking rely on the reviews' text."""
        with self.sessions() as session:
            linked = session.scalars(
                select(Review.arxiv_id).where(
                    Review.status == "published", Review.arxiv_id.is_not(None)
                )
            ).all()
        missing = sorted(set(filter(None, linked)) - set(self.records.cached(filter(None, linked))))
        if not missing:
            return
        try:
            await self.records.lookup(missing, attempts=1)
        except ArxivUnavailableError as exc:
            log.warning("could not fetch the reviews' arXiv records, ranking without: %s", exc)

    async def _poll_category(
        self, category: str, *, force: bool, only_failed: bool
    ) -> CategoryOutcome | None:
        now = self.clock()
        with self.sessions() as session:
            state = CandidateRepository(session).feed_state(category)
            etag, errors, due = state.etag, state.consecutive_errors, state.next_attempt_at
        backing_off = not force and due is not None and due > now
        if only_failed and (not errors or backing_off):
            return None
        if backing_off:
            log.info("arXiv %s: backing off after %d errors until %s", category, errors, due)
            return CategoryOutcome(
                category,
                "skipped",
                problem=f"backing off until {due:%Y-%m-%d %H:%M} UTC",
                backoff_until=due,
                errors=errors,
            )
        url = feed_url(self.feed_url_template, category)
        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = await self.client.get(url, headers=headers)
        except ArxivUnavailableError as exc:
            return self._failed(category, str(exc))
        if response.status_code == 304:
            return self._succeeded(category, etag, "unchanged", [], None)
        if response.status_code == 400:
            detail = " ".join(response.text.split())[:200]
            return self._failed(
                category,
                f"arXiv feed error for category {category!r} (HTTP 400; is it a real arXiv "
                f"category?): {detail}",
            )
        if response.status_code != 200:
            return self._failed(category, f"HTTP {response.status_code} from {url}")
        new_etag = response.headers.get("ETag")
        if new_etag and new_etag == etag:
            # The ETag is a hash of the body: same tag, same papers, nothing to parse.
            return self._succeeded(category, etag, "unchanged", [], None)
        parsed = parse_feed(response.content)
        if not parsed.format and not parsed.entries:
            return self._failed(category, f"not an Atom or RSS feed ({parsed.problem})")
        if parsed.problem:
            log.warning(
                "arXiv %s: malformed feed (%s); kept the %d entries that could be read, skipped %d",
                category,
                parsed.problem,
                len(parsed.entries),
                parsed.skipped,
            )
        if not parsed.entries:
            log.info("arXiv %s: no announcements (normal on weekends and holidays)", category)
            return self._succeeded(category, new_etag, "empty", [], parsed.problem)
        return self._succeeded(category, new_etag, "updated", parsed.entries, parsed.problem)

    def _succeeded(
        self,
        category: str,
        etag: str | None,
        status: str,
        entries: Sequence[FeedEntry],
        problem: str | None,
    ) -> CategoryOutcome:
        wanted = [e for e in entries if self.include_replacements or not e.is_replacement]
        now = self.clock()
        with self.sessions.begin() as session:
            repo = CandidateRepository(session)
            added = self._store(repo, dedupe(wanted), now)
            state = repo.feed_state(category)
            state.etag = etag
            state.last_attempt_at = now
            state.last_success_at = now
            if status != "unchanged":
                state.last_entry_count = len(entries)
            state.consecutive_errors = 0
            state.next_attempt_at = None
            state.last_error = problem
        outcome = CategoryOutcome(
            category, status, len(entries), added, len(entries) - len(wanted), problem
        )
        log.info(
            "arXiv %s: %s, %d entries, %d new candidates, %d replacements ignored",
            category,
            status,
            outcome.entries,
            outcome.added,
            outcome.ignored_replacements,
        )
        return outcome

    def _failed(self, category: str, problem: str) -> CategoryOutcome:
        now = self.clock()
        with self.sessions.begin() as session:
            state = CandidateRepository(session).feed_state(category)
            state.consecutive_errors += 1
            state.last_attempt_at = now
            state.last_error = problem
            backoff = min(BACKOFF_BASE * 2 ** (state.consecutive_errors - 1), BACKOFF_CAP)
            state.next_attempt_at = now + backoff
            errors = state.consecutive_errors
        log.error(
            "arXiv %s: poll failed (%d in a row, next try after %s): %s",
            category,
            errors,
            backoff,
            problem,
        )
        return CategoryOutcome(category, "failed", problem=problem)

    @staticmethod
    def _store(repo: CandidateRepository, entries: list[FeedEntry], now: dt.datetime) -> int:
        """Insert new papers, fold repeats into the existing candidate; count the new."""
        existing = repo.by_arxiv_ids([entry.arxiv_id for entry in entries])
        added = 0
        for entry in entries:
            row = existing.get(entry.arxiv_id)
            if row is None:
                row = ArxivCandidate(
                    arxiv_id=entry.arxiv_id,
                    score=0.0,
                    reason="",
                    status="pending",
                    first_seen_at=now,
                )
                repo.session.add(row)
                added += 1
                merged = entry
            else:
                merged = merge(_entry_of(row), entry)
                if merged == _entry_of(row):
                    continue
            row.version = merged.version
            row.title = merged.title[:1000]
            row.authors = list(merged.authors)
            row.abstract = merged.abstract
            row.categories = list(merged.categories)
            row.announce_type = merged.announce_type[:16]
            row.announced_on = merged.announced_on
            row.updated_at = now
        return added

    # ranking

    async def rerank_in_background(self) -> int:
        """`rerank` in a worker thread: it takes up to a second with a large window and
        much feedback, and the bot's event loop must keep answering meanwhile."""
        return await asyncio.to_thread(self.rerank)

    def rerank(self) -> int:
        """Score every pending candidate of the window again; returns how many."""
        since = self.clock() - CANDIDATE_WINDOW
        with self.sessions.begin() as session:
            repo = CandidateRepository(session)
            pending = repo.pending(since)
            if not pending:
                return 0
            profile, reviewed = self._profile(session, repo)
            rankings = Ranker(self.keywords, profile, reviewed).rank(
                [_entry_of(row) for row in pending]
            )
            for row, ranking in zip(pending, rankings, strict=True):
                row.score = ranking.score
                row.reason = ranking.reason("en")
                row.signals = [signal.as_dict() for signal in ranking.signals]
            return len(pending)

    def _profile(
        self, session: Session, repo: CandidateRepository
    ) -> tuple[list[ProfileDoc], set[str]]:
        """The column's taste: its published reviews (with their arXiv abstracts where
        cached) and the editors' recent decisions."""
        reviews = session.execute(
            select(
                Review.arxiv_id,
                Review.slug,
                Review.title,
                Review.status,
                Review.body,
                Review.summary,
                Review.tags,
            ).order_by(Review.id)
        ).all()
        reviewed = {row.arxiv_id for row in reviews if row.arxiv_id}
        abstracts = {
            arxiv_id: record.abstract
            for arxiv_id, record in RecordRepository(session).by_ids(sorted(reviewed)).items()
        }
        profile = [
            ProfileDoc(
                "review",
                row.arxiv_id or row.slug,
                row.title,
                "\n".join(
                    [
                        row.title,
                        abstracts.get(row.arxiv_id or "", ""),
                        " ".join(row.tags or ()),
                        row.summary,
                        row.body,
                    ]
                ),
            )
            for row in reviews
            if row.status == "published"
        ]
        for status, kind in (("drafted", "drafted"), ("dismissed", "dismissed")):
            profile.extend(
                ProfileDoc(kind, row.arxiv_id, row.title, f"{row.title}\n{row.abstract}")
                for row in repo.decided(status, FEEDBACK_LIMIT)
            )
        return profile, reviewed

    # reading

    def pending(self, limit: int | None = None) -> list[CandidateView]:
        """Pending candidates of the window, best first."""
        with self.sessions() as session:
            rows = CandidateRepository(session).pending(self._since(), limit)
            return [CandidateView.of(row) for row in rows]

    def count_pending(self) -> int:
        with self.sessions() as session:
            return CandidateRepository(session).count_pending(self._since())

    def get(self, candidate_id: int) -> CandidateView | None:
        with self.sessions() as session:
            row = CandidateRepository(session).get(candidate_id)
            return CandidateView.of(row) if row else None

    def unalerted(self, limit: int) -> list[CandidateView]:
        """The best pending candidates no alert has mentioned yet."""
        with self.sessions() as session:
            rows = CandidateRepository(session).pending(self._since(), limit, unalerted=True)
            return [CandidateView.of(row) for row in rows]

    def mark_alerted(self, candidate_ids: Iterable[int]) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            repo = CandidateRepository(session)
            for candidate_id in candidate_ids:
                row = repo.get(candidate_id)
                if row is not None:
                    row.alerted_at = now

    def _since(self) -> dt.datetime:
        return self.clock() - CANDIDATE_WINDOW

    # feedback

    async def dismiss(self, candidate_id: int) -> tuple[CandidateView, bool] | None:
        """Dismiss a pending candidate (negative feedback) and rank the rest again.

        Returns the candidate and whether this call changed it; None if unknown.
        """
        with self.sessions.begin() as session:
            row = CandidateRepository(session).get(candidate_id)
            if row is None:
                return None
            changed = row.status == "pending"
            if changed:
                row.status = "dismissed"
                row.decided_at = self.clock()
                row.updated_at = self.clock()
            view = CandidateView.of(row)
        if changed:
            await self.rerank_in_background()
        return view, changed

    async def record_drafted(self, record: PaperRecord, review_id: int) -> CandidateView:
        """An editor drafted this paper (positive feedback), whether or not the feeds
        brought it: it becomes a drafted candidate and the rest are ranked again."""
        now = self.clock()
        with self.sessions.begin() as session:
            repo = CandidateRepository(session)
            row = repo.by_arxiv_ids([record.arxiv_id]).get(record.arxiv_id)
            if row is None:
                row = ArxivCandidate(
                    arxiv_id=record.arxiv_id,
                    version=record.version,
                    title=record.title[:1000],
                    authors=list(record.authors),
                    abstract=record.abstract,
                    categories=list(record.categories),
                    announce_type="unknown",
                    announced_on=record.published_at.date(),
                    score=0.0,
                    reason="",
                    first_seen_at=now,
                )
                session.add(row)
            row.status = "drafted"
            row.review_id = review_id
            row.decided_at = now
            row.updated_at = now
            session.flush()
            view = CandidateView.of(row)
        await self.rerank_in_background()
        return view
