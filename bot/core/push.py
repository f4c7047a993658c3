"""The weekly push: publish what is due, plan deliveries, send each exactly once.

How "exactly once" holds (see also bot/core/outbox.py):
1. Planning inserts one `pending` delivery per (subscriber, review) under a unique
   constraint; planning again adds nothing.
2. A worker claims a subscriber's pending deliveries (`sending`, with its id and the
   time) in one atomic UPDATE, sends, and records `sent` with the message ids in its
   own transaction right after the subscriber's messages went out.
3. A process killed between sending and recording leaves `sending` rows. When their
   lease (`PUSH_LEASE_SECONDS`) runs out, the next run sends them again. So the only
   duplicates a crash can cause are the messages that were in flight at the kill: at
   most one subscriber's messages per concurrent sender (`PUSH_CONCURRENCY`).
4. Nothing is skipped: a run ends only when no delivery is pending or sending; a
   temporary failure is retried with backoff until `PUSH_MAX_ATTEMPTS`, then recorded
   as failed with its error.
5. The database going away does not end a run: every transaction of the push
   (publishing, planning, claims, recording, the heartbeat, the run's own row) is
   retried whole with backoff (bot/db/retry.py) for up to `DB_RETRY_SECONDS`. A
   `sent` that could not be written stays in memory and is written before the worker
   sends to anyone else, so an outage adds nothing to the bound of point 3 (a process
   killed during the outage loses at most the records of the subscribers in flight,
   plus a record batch) as long as it is shorter than the lease; after a longer one
   another process may take the claims back and send them again. A run that gives up raises
   `DatabaseUnavailableError`; the same service writes its leftover records, takes
   back its own claims and closes its row at the start of its next run (the running
   bot starts that run itself, see scheduler/push.py).
6. A run's row is `running` while its heartbeat keeps `seconds` current (every third
   of the lease), `done` when it finished and `interrupted` when it died (its process
   noticed, or a later run found its heartbeat older than the lease).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, cast

from sqlalchemy import Engine, Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.conversation import Reply
from bot.core.outbox import MARK_SENT_ONE, Claimed, OutboxRepository
from bot.core.ratelimit import SendLimits, SendRateLimiter
from bot.core.reviews import ReviewService, ReviewView
from bot.core.subscriptions import SubscriberView, SubscriptionService
from bot.core.views import push_digest, review_full
from bot.db.models import PushRun, Review, Subscriber, utcnow
from bot.db.retry import DbRetry, first_line, is_transient

log = logging.getLogger(__name__)

#: The statuses of a `push_runs` row (point 6 of the module doc).
RUN_RUNNING = "running"
RUN_DONE = "done"
RUN_INTERRUPTED = "interrupted"


# --- what a channel tells the push about a failed send ---------------------------------


class DeliveryError(Exception):
    """A send that did not go out; the subclass says what to do about it."""


class RecipientGoneError(DeliveryError):
    """The chat blocked the bot, was deactivated or removed it: never retry."""


class ChatMovedError(DeliveryError):
    def __init__(self, new_chat_id: int) -> None:
        super().__init__(f"chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class RateLimitedError(DeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class TemporaryDeliveryError(DeliveryError):
    """Network trouble or a server error: worth trying again later."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused this message for good (a bug on our side): record and move on."""


class Sender(Protocol):
    """A channel's side of the push: render replies into its messages, send one.

    `channel` names whose subscribers it serves ("telegram"); a push only plans and
    claims deliveries for those.
    """

    channel: str

    def render(self, replies: list[Reply]) -> Sequence[object]: ...

    async def send_one(self, chat_id: int, message: object) -> int: ...


# --- settings and results --------------------------------------------------------------


@dataclass(frozen=True)
class PushOptions:
    limits: SendLimits = field(default_factory=SendLimits)
    concurrency: int = 8
    claim_batch: int = 25
    #: Tries per message on network errors and 5xx, with exponential backoff.
    max_attempts: int = 5
    lease_seconds: float = 120.0
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    progress_every: int = 500
    #: Sent deliveries recorded per transaction. 1 records each subscriber's as soon as
    #: it is sent; more is faster but widens the crash window (see the module doc).
    record_batch: int = 1
    #: The longest a sent delivery waits to be recorded when batching.
    record_delay_seconds: float = 0.02
    #: How each database transaction of the push rides out an outage (DB_RETRY_SECONDS).
    db_retry: DbRetry = field(default_factory=DbRetry)


@dataclass
class PushSummary:
    run_id: int | None
    trigger: str
    published: list[str] = field(default_factory=list)
    planned: int = 0
    deliveries_sent: int = 0
    messages_sent: int = 0
    blocked: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    rate_limited: int = 0
    seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages_sent / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"push #{self.run_id} ({self.trigger}): {self.deliveries_sent} deliveries sent in "
            f"{self.messages_sent} messages, {self.blocked} blocked, {self.failed} failed, "
            f"{self.skipped} skipped, {self.retried} retried, {self.rate_limited} × 429; "
            f"{len(self.published)} newly published; {self.seconds:.1f} s, "
            f"{self.messages_per_second:.1f} messages/s"
        )


@dataclass(frozen=True)
class PlannedPush:
    """What a push would send to one subscriber (for --dry-run)."""

    subscriber: SubscriberView
    reviews: tuple[ReviewView, ...]


def wants(subscriber_topics: Sequence[str], review_tags: Sequence[str]) -> bool:
    """No chosen topics means every review; else a review with any chosen tag."""
    return not subscriber_topics or bool(set(subscriber_topics) & set(review_tags))


# --- recording what was sent ----------------------------------------------------------


class SentRecorder:
    """Writes `sent` for delivered rows: at once (batch 1) or in small batches.

    Whatever is sent but not yet written when the process dies is sent again after
    the lease, so the batch size adds to the duplicate bound after a crash. A write
    that fails because the database is away keeps its rows here (`backlog`) for the
    next flush: a `sent` is never dropped while the process lives. Rows leave `held`
    (the claims the heartbeat renews) once their `sent` is written.
    """

    def __init__(
        self,
        engine: Engine,
        batch: int,
        delay: float,
        clock: Callable[[], dt.datetime],
        held: set[int] | None = None,
    ):
        self.engine = engine
        self.batch = max(1, batch)
        self.delay = delay
        self.clock = clock
        self.held = held if held is not None else set()
        self._pending: list[tuple[list[int], list[int], int]] = []
        #: A flush failed (database away): the senders wait for it before sending more.
        self.stalled = False

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def backlog_ids(self) -> set[int]:
        return {delivery_id for ids, _, _ in self._pending for delivery_id in ids}

    def add(self, delivery_ids: list[int], message_ids: list[int], subscriber_id: int) -> None:
        self._pending.append((delivery_ids, message_ids, subscriber_id))
        if len(self._pending) >= self.batch:
            self.try_flush()

    def try_flush(self) -> bool:
        """Flush; on a database outage keep the rows for later and say so."""
        try:
            self.flush()
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.stalled = True
            log.warning(
                "could not record %d sent deliveries yet (kept, retried): %s",
                self.backlog,
                first_line(exc),
            )
            return False
        return True

    def flush(self) -> None:
        """Write what is pending in one transaction; rows leave the backlog on commit.

        Safe to repeat (the update is guarded by `status = 'sending'`), so a commit
        whose answer was lost with the connection is simply written again.
        """
        if not self._pending:
            return
        pending = list(self._pending)
        now = self.clock()
        # Straight on a connection: a Session's set-up and tear-down would cost as much
        # as the statements themselves.
        with self.engine.begin() as connection:
            connection.execute(
                MARK_SENT_ONE,
                [
                    {"delivery_id": delivery_id, "message_ids": message_ids, "now": now}
                    for delivery_ids, message_ids, _ in pending
                    for delivery_id in delivery_ids
                ],
            )
            connection.execute(
                _TOUCH,
                [{"subscriber_id": subscriber_id, "now": now} for _, _, subscriber_id in pending],
            )
        # Only the rows written (a retried flush takes a fresh snapshot each time).
        del self._pending[: len(pending)]
        self.stalled = False
        for delivery_ids, _, _ in pending:
            self.held.difference_update(delivery_ids)

    async def run(self) -> None:
        """Flush on a timer, so a batch never waits longer than `delay`."""
        if self.batch == 1:
            return
        while True:
            await asyncio.sleep(self.delay)
            self.try_flush()


# --- the service -----------------------------------------------------------------------

_subscribers = cast(Table, Subscriber.__table__)
_TOUCH = (
    update(_subscribers)
    .where(_subscribers.c.id == bindparam("subscriber_id"))
    .values(last_pushed_at=bindparam("now"))
)


class PushService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        reviews: ReviewService,
        subscriptions: SubscriptionService,
        options: PushOptions = PushOptions(),
        clock: Callable[[], dt.datetime] = utcnow,
        channel_post_chat_id: int | None = None,
    ) -> None:
        self.sessions = sessions
        self.reviews = reviews
        self.subscriptions = subscriptions
        self.options = options
        self.clock = clock
        self.channel_post_chat_id = channel_post_chat_id
        self._engine: Engine = sessions.kw["bind"]
        self._render_cache: dict[tuple[tuple[int, ...], str, str], Sequence[object]] = {}
        self._next_release = 0.0
        #: Claims of this process not yet recorded: the ones its heartbeat renews.
        self._held: set[int] = set()
        #: One per service, so records a dead run could not write are written by the next.
        self._recorder = SentRecorder(
            self._engine,
            options.record_batch,
            options.record_delay_seconds,
            clock,
            self._held,
        )
        #: `failed` records the database was too far away to take (written later).
        self._unwritten_failures: list[tuple[list[int], str]] = []
        #: Runs of this service that died: (run id, worker prefix), closed at the next.
        self._abandoned: list[tuple[int, str]] = []

    # step 1: publish what is due

    def publish_due(self) -> list[ReviewView]:
        """Queued reviews whose publish time has come become published, now."""
        now = self.clock()
        with self.sessions.begin() as session:
            rows = session.scalars(
                select(Review)
                .where(Review.status == "queued", Review.publish_at <= now)
                .with_for_update()
            ).all()
            for row in rows:
                row.status, row.published_at, row.updated_at = "published", now, now
            published = [ReviewView.of(row) for row in rows]
        if published:
            self.reviews.forget_pages()
            log.info("published %d queued reviews: %s", len(published), [r.slug for r in published])
        return published

    # step 2: plan

    def _ensure_channel_subscriber(self) -> None:
        """The optional public channel is a subscriber like any other: the outbox gives
        it each newly published review exactly once."""
        if self.channel_post_chat_id is None:
            return
        current = self.subscriptions.get("telegram", self.channel_post_chat_id)
        if current is None:
            self.subscriptions.subscribe("telegram", self.channel_post_chat_id, "channel", "zh")
            self.subscriptions.update_preferences(
                "telegram", self.channel_post_chat_id, push_format="full", chat_type="channel"
            )

    def plan(self, channel: str = "telegram") -> int:
        now = self.clock()
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            published = session.scalars(select(Review.id).where(Review.status == "published")).all()
            pairs = [
                (candidate.subscriber_id, candidate.review_id)
                for candidate in outbox.unplanned_pairs(published, channel)
                if wants(candidate.topics or [], candidate.tags or [])
            ]
            return outbox.plan(pairs, now)

    def preview(self, channel: str = "telegram") -> list[PlannedPush]:
        """What a push would send now; publishes, plans and sends nothing."""
        now = self.clock()
        with self.sessions() as session:
            rows = session.scalars(
                select(Review).where(
                    (Review.status == "published")
                    | ((Review.status == "queued") & (Review.publish_at <= now))
                )
            ).all()
            # A review this push would publish counts as published now.
            reviews = [
                replace(ReviewView.of(row), status="published", published_at=now)
                if row.status == "queued"
                else ReviewView.of(row)
                for row in rows
            ]
            subscribers = [
                SubscriberView.of(row)
                for row in OutboxRepository(session).active_subscribers(channel)
            ]
            planned = OutboxRepository(session).planned_pairs([r.id for r in reviews])
        plans = []
        for subscriber in subscribers:
            due = tuple(
                review
                for review in reviews
                if review.published_at is not None
                and review.published_at > subscriber.subscribed_at
                and (subscriber.id, review.id) not in planned
                and wants(subscriber.topics, review.tags)
            )
            if due:
                plans.append(PlannedPush(subscriber, due))
        return plans

    # step 3: send

    async def run(self, sender: Sender, trigger: str = "manual") -> PushSummary:
        started = time.monotonic()
        summary = PushSummary(run_id=None, trigger=trigger)
        db = self.options.db_retry
        await self._settle(final=True)
        await db.arun(self._close_dead_runs, "closing dead push runs")
        published = await db.arun(self.publish_due, "publishing due reviews")
        summary.published = [review.slug for review in published]
        if sender.channel == "telegram":
            await db.arun(self._ensure_channel_subscriber, "adding the channel subscriber")
        summary.planned = await db.arun(lambda: self.plan(sender.channel), "planning the push")
        summary.run_id = await db.arun(lambda: self._start_run(trigger), "starting the push run")
        log.info("push #%s started: %d deliveries planned", summary.run_id, summary.planned)
        self._render_cache.clear()
        worker = f"{uuid.uuid4().hex[:12]}"
        limiter = SendRateLimiter(self.options.limits)
        reviews: dict[int, ReviewView] = {}
        recorder = self._recorder_for_run()
        tasks = [
            asyncio.create_task(
                self._work(f"{worker}-{n}", sender, limiter, recorder, reviews, summary)
            )
            for n in range(self.options.concurrency)
        ]
        background = [
            asyncio.create_task(self._heartbeat(worker, summary.run_id)),
            asyncio.create_task(recorder.run()),
        ]
        try:
            await asyncio.gather(*tasks)
            await self._settle(final=True)
        except BaseException:
            self._abandon(summary.run_id, worker, [*tasks, *background])
            raise
        finally:
            for task in [*tasks, *background]:
                task.cancel()
        summary.rate_limited = limiter.pauses
        summary.seconds = time.monotonic() - started
        await db.arun(lambda: self._finish_run(summary), "closing the push run")
        log.info("%s", summary.describe())
        return summary

    def _recorder_for_run(self) -> SentRecorder:
        """The service's recorder, with this run's options (they may have changed)."""
        self._recorder.batch = max(1, self.options.record_batch)
        self._recorder.delay = self.options.record_delay_seconds
        return self._recorder

    async def _settle(self, final: bool = False) -> None:
        """Write what was sent (or failed) but could not be recorded yet, before the
        next send: a worker never runs ahead of its records by more than one subscriber
        (plus the record batch). `final`: also what merely waits for its batch."""
        db = self.options.db_retry
        if self._recorder.stalled or (final and self._recorder.backlog):
            await db.arun(self._recorder.flush, "recording sent deliveries")
        if self._unwritten_failures:
            await db.arun(self._write_failures, "recording failed deliveries")

    def _abandon(self, run_id: int | None, worker: str, tasks: list[asyncio.Task[None]]) -> None:
        """The run dies: record what was sent, give back the claims it did not send and
        close its row, each tried once; what the database refuses now the next run of
        this service does (`_close_dead_runs`)."""
        for task in tasks:
            task.cancel()
        if run_id is None:
            return
        self._abandoned.append((run_id, worker))
        self._recorder.try_flush()
        if not self._recorder.backlog:
            try:
                self._close_abandoned()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("push #%s: left for the next run to close: %s", run_id, first_line(exc))

    def _close_abandoned(self) -> None:
        """Release this service's dead runs' unsent claims at once (no lease to wait
        out) and mark those runs interrupted. Their records must be written first."""
        if not self._abandoned:
            return
        keep = self._recorder.backlog_ids()
        keep.update(i for delivery_ids, _ in self._unwritten_failures for i in delivery_ids)
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            for run_id, worker in self._abandoned:
                released = outbox.release_own(worker, keep)
                self._held.difference_update(released)
                _mark_interrupted(session, run_id, self.clock())
                log.warning(
                    "push #%s was interrupted; %d unsent claims given back", run_id, len(released)
                )
        self._abandoned.clear()

    def _close_dead_runs(self) -> None:
        """Close rows left `running` by this service's dead runs and by any process
        whose heartbeat stopped for longer than a lease (crash, kill, long outage)."""
        self._close_abandoned()
        now = self.clock()
        lease = dt.timedelta(seconds=self.options.lease_seconds)
        with self.sessions.begin() as session:
            running = session.scalars(select(PushRun).where(PushRun.status == RUN_RUNNING)).all()
            for run in running:
                last_beat = run.started_at + dt.timedelta(seconds=run.seconds or 0.0)
                if last_beat < now - lease:
                    _mark_interrupted(session, run.id, now)
                    log.warning("push #%s was left running by a process that died; closed", run.id)

    async def _work(
        self,
        worker: str,
        sender: Sender,
        limiter: SendRateLimiter,
        recorder: SentRecorder,
        reviews: dict[int, ReviewView],
        summary: PushSummary,
    ) -> None:
        db = self.options.db_retry
        channel = sender.channel
        while True:
            await self._settle()
            claimed, subscribers = await db.arun(
                lambda: self._claim(worker, channel), "claiming deliveries"
            )
            if not claimed:
                wait = await db.arun(lambda: self._idle_wait(channel), "checking the outbox")
                if wait is None:
                    return
                await asyncio.sleep(wait)
                continue
            await db.arun(
                partial(self._reviews, [item.review_id for item in claimed], reviews),
                "loading reviews",
            )
            by_subscriber: dict[int, list[Claimed]] = defaultdict(list)
            for item in claimed:
                by_subscriber[item.subscriber_id].append(item)
            for subscriber_id, items in by_subscriber.items():
                await self._settle()
                subscriber = subscribers.get(subscriber_id)
                await self._deliver(subscriber, items, sender, limiter, recorder, reviews, summary)

    def _claim(self, worker: str, channel: str) -> tuple[list[Claimed], dict[int, SubscriberView]]:
        """Claim a batch, and load its subscribers in the same transaction."""
        now = self.clock()
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            if time.monotonic() >= self._next_release:
                # Leases are long; looking for dead ones once a second is plenty.
                self._next_release = time.monotonic() + 1.0
                outbox.release_stale(now - dt.timedelta(seconds=self.options.lease_seconds))
            claimed = outbox.claim(worker, now, self.options.claim_batch, channel)
            if not claimed:
                return [], {}
            ids = {item.subscriber_id for item in claimed}
            rows = session.scalars(select(Subscriber).where(Subscriber.id.in_(ids))).all()
            subscribers = {row.id: SubscriberView.of(row) for row in rows}
        # Only after the commit: a claim whose commit was lost with the connection is
        # not renewed, so its rows come back when their lease ends.
        self._held.update(item.delivery_id for item in claimed)
        return claimed, subscribers

    async def _heartbeat(self, worker: str, run_id: int | None) -> None:
        """Keep this process's claims fresh while it works (including while it waits out
        a 429 or a backoff), so only a dead process's claims ever expire; and show the
        run is alive (its row's `seconds`). A beat the database misses is logged and
        the next one tries again."""
        interval = max(self.options.lease_seconds / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                self._beat(worker, run_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("push #%s: heartbeat missed: %s", run_id, first_line(exc))

    def _beat(self, worker: str, run_id: int | None) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            OutboxRepository(session).renew(worker, now, self._held)
            run = session.get(PushRun, run_id) if run_id is not None else None
            if run is not None and run.status == RUN_RUNNING:
                run.seconds = (now - run.started_at).total_seconds()

    def _idle_wait(self, channel: str) -> float | None:
        """None when the push is complete; else wait for other senders or dead leases."""
        with self.sessions() as session:
            outstanding = OutboxRepository(session).outstanding(channel)
        return None if outstanding == 0 else 0.2

    async def _deliver(
        self,
        subscriber: SubscriberView | None,
        items: list[Claimed],
        sender: Sender,
        limiter: SendRateLimiter,
        recorder: SentRecorder,
        cache: dict[int, ReviewView],
        summary: PushSummary,
    ) -> None:
        if subscriber is None or not subscriber.is_active:
            self._fail([i.delivery_id for i in items], "subscriber no longer active")
            summary.skipped += len(items)
            return
        views = self._reviews([i.review_id for i in items], cache)
        units = self._units(subscriber, items, views)
        chat_id = subscriber.chat_id
        is_group = subscriber.chat_type != "private"
        for index, (delivery_ids, replies) in enumerate(units):
            message_ids: list[int] = []
            messages = self._rendered(sender, delivery_ids, items, subscriber, replies)
            position = failures = 0
            while position < len(messages):
                await limiter.acquire(chat_id, is_group)
                try:
                    message_ids.append(await sender.send_one(chat_id, messages[position]))
                    position, failures = position + 1, 0
                    summary.messages_sent += 1
                    self._progress(summary)
                except RateLimitedError as exc:
                    limiter.pause(exc.retry_after)
                except ChatMovedError as exc:
                    self.subscriptions.chat_migrated(subscriber.channel, chat_id, exc.new_chat_id)
                    chat_id = exc.new_chat_id
                except RecipientGoneError as exc:
                    self.subscriptions.chat_blocked(subscriber.channel, chat_id)
                    rest = [d for ids, _ in units[index:] for d in ids]
                    self._fail(rest, f"blocked: {exc}")
                    summary.blocked += 1
                    return
                except TemporaryDeliveryError as exc:
                    failures += 1
                    if failures >= self.options.max_attempts:
                        rest = [d for ids, _ in units[index:] for d in ids]
                        error = f"gave up after {failures} attempts: {exc}"
                        self._fail(rest, error)
                        summary.failed += len(rest)
                        log.warning("chat %s: %s", chat_id, error)
                        return
                    summary.retried += 1
                    await asyncio.sleep(self._backoff(failures))
                except PermanentDeliveryError as exc:
                    log.error("chat %s refused a push message: %s", chat_id, exc)
                    self._fail(delivery_ids, str(exc))
                    summary.failed += len(delivery_ids)
                    break
            else:
                recorder.add(delivery_ids, message_ids, subscriber.id)
                summary.deliveries_sent += len(delivery_ids)

    def _units(
        self, subscriber: SubscriberView, items: list[Claimed], views: dict[int, ReviewView]
    ) -> list[tuple[list[int], list[Reply]]]:
        """What to send: one digest for all, or each review in full, with their rows."""
        ordered = sorted(items, key=lambda i: (views[i.review_id].published_at, i.review_id))
        language = subscriber.language
        if subscriber.push_format == "full":
            return [
                ([item.delivery_id], [review_full(views[item.review_id], language)])
                for item in ordered
            ]
        digest = push_digest([views[item.review_id] for item in ordered], language)
        return [([item.delivery_id for item in ordered], [digest])]

    def _backoff(self, failures: int) -> float:
        return float(
            min(
                self.options.retry_base_seconds * 2 ** (failures - 1),
                self.options.retry_max_seconds,
            )
        )

    # small transactions

    def _rendered(
        self,
        sender: Sender,
        delivery_ids: list[int],
        items: list[Claimed],
        subscriber: SubscriberView,
        replies: list[Reply],
    ) -> Sequence[object]:
        """Thousands of subscribers get the same digest: render each variant once."""
        review_ids = tuple(
            sorted(item.review_id for item in items if item.delivery_id in delivery_ids)
        )
        key = (review_ids, subscriber.language, subscriber.push_format)
        cached = self._render_cache.get(key)
        if cached is None:
            cached = sender.render(replies)
            if len(self._render_cache) < 1000:
                self._render_cache[key] = cached
        return cached

    def _fail(self, delivery_ids: list[int], error: str) -> None:
        """Record final failures; if the database is away, keep them for `_settle`."""
        self._unwritten_failures.append((delivery_ids, error))
        try:
            self._write_failures()
        except Exception as exc:
            if not is_transient(exc):
                self._unwritten_failures.remove((delivery_ids, error))
                raise
            log.warning(
                "could not record %d failed deliveries yet: %s", len(delivery_ids), first_line(exc)
            )

    def _write_failures(self) -> None:
        """Safe to repeat: a delivery marked failed twice is still failed."""
        pending = list(self._unwritten_failures)
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            for delivery_ids, error in pending:
                outbox.mark_failed(delivery_ids, error)
        del self._unwritten_failures[: len(pending)]
        for delivery_ids, _ in pending:
            self._held.difference_update(delivery_ids)

    def _reviews(self, ids: list[int], cache: dict[int, ReviewView]) -> dict[int, ReviewView]:
        missing = [review_id for review_id in ids if review_id not in cache]
        if missing:
            with self.sessions() as session:
                for row in session.scalars(select(Review).where(Review.id.in_(missing))):
                    cache[row.id] = ReviewView.of(row)
        return {review_id: cache[review_id] for review_id in ids}

    def _progress(self, summary: PushSummary) -> None:
        every = self.options.progress_every
        if every and summary.messages_sent % every == 0:
            log.info("push #%s: %d messages sent so far", summary.run_id, summary.messages_sent)

    def _start_run(self, trigger: str) -> int:
        with self.sessions.begin() as session:
            run = PushRun(trigger=trigger, started_at=self.clock(), status=RUN_RUNNING)
            session.add(run)
            session.flush()
            return run.id

    def _finish_run(self, summary: PushSummary) -> None:
        with self.sessions.begin() as session:
            run = session.get(PushRun, summary.run_id)
            if run is None:
                return
            run.finished_at = self.clock()
            run.status = RUN_DONE
            run.planned = summary.planned
            run.sent = summary.deliveries_sent
            run.messages = summary.messages_sent
            run.blocked = summary.blocked
            run.failed = summary.failed
            run.seconds = summary.seconds

    def outstanding(self, channel: str = "telegram") -> int:
        """Deliveries an unfinished push left pending or in flight."""
        with self.sessions() as session:
            return OutboxRepository(session).outstanding(channel)

    def recent_runs(self, limit: int = 5) -> list[PushRun]:
        with self.sessions() as session:
            rows = session.scalars(
                select(PushRun).order_by(PushRun.started_at.desc()).limit(limit)
            ).all()
            session.expunge_all()
            return list(rows)


def _mark_interrupted(session: Session, run_id: int, now: dt.datetime) -> None:
    run = session.get(PushRun, run_id)
    if run is not None and run.status == RUN_RUNNING:
        run.status = RUN_INTERRUPTED
        run.finished_at = now
