"""The weekly push: publish what is due, plan deliveries, send each exactly once.

How "exactly once" holds (see also bot/core/outbox.py):
1. Planning inserts one `pending` delivery per (subscriber, review) under a unique
   constraint; planning again adds nothing.
2. A worker claims a subscriber's pending deliveries (`sending`, with its id and the
   time) in one atomic UPDATE, sends, and records `sent` with the message ids right
   after the subscriber's messages went out, waiting for that record to commit before
   it sends to anyone else (group commit: the records are written in a worker thread,
   and those of the senders that finished while one transaction was being written
   share the next one).
3. A process killed between sending and recording leaves `sending` rows. When their
   lease (`PUSH_LEASE_SECONDS`) runs out, the next run sends them again. So the only
   duplicates a crash can cause are the messages that were in flight at the kill: at
   most one subscriber's messages per concurrent sender (`PUSH_CONCURRENCY`).
4. Nothing is skipped: a run ends only when no delivery is pending or sending; a
   temporary failure is retried with backoff until `PUSH_MAX_ATTEMPTS`, then recorded
   as failed with its error and kind. A transient failure (5xx, network, timeout) goes
   back to pending at the start of the next push, at most `PUSH_MAX_RETRY_RUNS` times
   (`paperbot push --retry-failed` ignores that cap); a final one (blocked, refused)
   never does.
5. The database going away does not end a run: every transaction of the push
   (publishing, planning, claims, recording, the heartbeat, the run's own row) is
   retried whole with backoff (bot/db/retry.py) for up to `DB_RETRY_SECONDS`. A
   `sent` that could not be written stays in memory and is written before the worker
   sends to anyone else, so an outage adds nothing to the bound of point 3 (a process
   killed during the outage loses at most the records of the subscribers in flight,
   plus a record batch) as long as it is shorter than the lease; after a longer one
   another process may take the claims back and send them again. A run that gives up
   raises
   `DatabaseUnavailableError`; the same service writes its leftover records, takes
   back its own claims and closes its row at the start of its next run (the running
   bot starts that run itself, see scheduler/push.py).
6. A run's row is `running` while its heartbeat keeps `seconds` current (every third
   of the lease), `done` when it finished, `timed_out` when it stopped at its deadline
   (point 7) and `interrupted` when it died (its process noticed, or a later run found
   its heartbeat older than the lease).
7. Nothing freezes: each send has a timeout, the push logs what it is waiting for
   every `PUSH_PROGRESS_SECONDS`, and at `PUSH_DEADLINE_SECONDS` it stops, gives its
   claims back as pending (not failed) and records the run as `timed_out`; the next
   push resumes.
8. Fencing: a push the leader started carries a `fence` (is this process's leader epoch
   still the current one?). Once it says no, the push stops within `fence_seconds`,
   records what it sent, gives its other claims back as pending and closes its run as
   `interrupted`: a deposed leader does not keep sending next to the new one.

Pacing is per channel: `run(sender, limits=...)` paces that channel's sends by the
limits it declares, lowered (never raised) by the operator's ceiling in
`PushOptions.limits` (PUSH_MAX_PER_SECOND etc.). Channels push concurrently, each run
with its own limiter (scheduler/push.py `run_channel_pushes`, the deliveries of
`run_everywhere`). With a `SlotSource` factory (`PushService(pacer=...)`, which the
composition root always passes: bot/core/pacer.py), the overall limit is one schedule
in the store shared by every process that sends on the channel (replicas, `paperbot
push` beside the bot), so they stay within it together.

What is due: a review is pushed to the subscribers who subscribed before it was
announced (`Review.announced_at`: published from the queue, by an editor's publish, or
`paperbot push --include`); the back catalogue an import brings in already published
is never announced. A push plans at most `PUSH_MAX_REVIEWS_PER_READER` reviews per
reader (counting what it still owes them); the rest stay due for the next push.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, cast

from sqlalchemy import ColumnElement, Engine, Table, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.broadcasts import BroadcastResult
from bot.core.conversation import Reply
from bot.core.outbox import RECORD_SENT, Claimed, OutboxRepository
from bot.core.ratelimit import SendLimits, SendRateLimiter, SlotSource
from bot.core.reviews import ReviewService, ReviewView
from bot.core.subscriptions import (
    SubscriberRepository,
    SubscriberView,
    SubscriptionService,
    wants,
)
from bot.core.views import push_digest, review_full
from bot.db.driver_reads import DriverWrite
from bot.db.models import PushRun, Review, Subscriber, utcnow
from bot.db.retry import OUTAGE, DbRetry, first_line, is_transient

log = logging.getLogger(__name__)

#: A sender with nothing to claim looks again after this long (rows in flight in
#: another process, or claims of a dead one coming back).
IDLE_CHECK_SECONDS = 0.2

#: The statuses of a `push_runs` row (point 6 of the module doc).
RUN_RUNNING = "running"
RUN_DONE = "done"
RUN_INTERRUPTED = "interrupted"
RUN_TIMED_OUT = "timed_out"


#: Subscribers planned per step (see `PushService._plan`).
PLAN_CHUNK_SUBSCRIBERS = 1000


# --- what a channel tells the push about a failed send ---------------------------------


class DeliveryError(Exception):
    """A send that did not go out; the subclass says what to do about it."""


class RecipientGoneError(DeliveryError):
    """The chat blocked the bot, was deactivated or removed it: never retry."""


class ChatMovedError(DeliveryError):
    """The chat now lives at another address; `chat_type` is what it became, if the
    channel says (the subscription moves, and the send is retried there)."""

    def __init__(self, new_chat_id: str, chat_type: str | None = None) -> None:
        super().__init__(f"chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id
        self.chat_type = chat_type


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

    `channel` names whose subscribers it serves; a push only plans and
    claims deliveries for those. `max_reviews_per_message` is how many reviews one
    digest message may list (the channel's limits on buttons and length decide it).
    """

    channel: str
    max_reviews_per_message: int

    def render(self, replies: list[Reply]) -> Sequence[object]: ...

    async def send_one(self, chat_id: str, message: object) -> int: ...


@dataclass(frozen=True)
class ChannelPush:
    """One channel's part of a push: its sender and the send limits it declares."""

    sender: Sender
    limits: SendLimits


#: A channel's send schedule shared with the other processes (bot/core/pacer.py).
Pacer = Callable[[str], SlotSource]

#: Is this process's leadership (the epoch the push was started under) still current?
Fence = Callable[[], bool]


@dataclass(frozen=True)
class StandingSubscriber:
    """A subscriber a channel keeps subscribed on its own account (configured, not asked
    for: e.g. a public feed chat); ensured before each push of its channel, so the outbox
    gives it each newly published review exactly once."""

    channel: str
    chat_id: str
    chat_type: str
    push_format: str = "full"
    language: str = "zh"


# --- settings and results --------------------------------------------------------------


@dataclass(frozen=True)
class PushOptions:
    #: The operator's ceiling (PUSH_MAX_PER_SECOND etc.): it lowers a channel's declared
    #: limits, never raises them; 0 = none. A run without declared limits uses it alone.
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
    #: it is sent (group commit: each sender waits for its own record, the records of one
    #: loop turn share a transaction); more does not wait, which widens the crash window
    #: (see the module doc).
    record_batch: int = 1
    #: The longest a sent delivery waits to be recorded when batching.
    record_delay_seconds: float = 0.02
    #: How each database transaction of the push rides out an outage (DB_RETRY_SECONDS).
    db_retry: DbRetry = field(default_factory=DbRetry)
    #: How many pushes may re-queue one transiently failed delivery.
    max_retry_runs: int = 3
    #: Reviews one push sends one reader at most; the rest wait for the next push.
    max_reviews_per_reader: int = 10
    #: A push stops here (claims back to pending, run `timed_out`); the next resumes.
    deadline_seconds: float = 4 * 3600.0
    #: One send that has not answered by then counts as a temporary failure.
    send_timeout_seconds: float = 60.0
    #: How often a running push logs its progress and what it is waiting for.
    progress_seconds: float = 30.0
    #: How often a fenced push checks that its leader epoch is still current.
    fence_seconds: float = 1.0
    #: The web archive's address (PUBLIC_URL): digest titles link to the review's page.
    public_url: str = ""


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
    #: Transient failures of earlier pushes this one put back to pending.
    requeued: int = 0
    #: Due reviews the per-reader cap left for a later push.
    held_back: int = 0
    #: Stopped at the deadline; `left_pending` deliveries wait for the next push.
    timed_out: bool = False
    left_pending: int = 0
    #: Stopped because this process's leader epoch was no longer current (fencing).
    deposed: bool = False
    #: The limits this run was paced by (the channel's, under the operator's ceiling).
    limits: SendLimits | None = None
    seconds: float = 0.0
    #: The channels' broadcasts (one message to all followers, bot/core/broadcasts.py)
    #: this push ran beside the deliveries.
    broadcasts: list[BroadcastResult] = field(default_factory=list)

    @classmethod
    def combined(cls, summaries: Sequence[PushSummary]) -> PushSummary:
        """One push over several channels, added up (run id and limits: the first's)."""
        first = summaries[0]
        total = replace(first, published=sorted({s for x in summaries for s in x.published}))
        for name in (
            "planned",
            "deliveries_sent",
            "messages_sent",
            "blocked",
            "failed",
            "skipped",
            "retried",
            "rate_limited",
            "requeued",
            "held_back",
            "left_pending",
        ):
            setattr(total, name, sum(getattr(summary, name) for summary in summaries))
        total.timed_out = any(summary.timed_out for summary in summaries)
        total.deposed = any(summary.deposed for summary in summaries)
        total.seconds = max(summary.seconds for summary in summaries)
        total.broadcasts = [result for summary in summaries for result in summary.broadcasts]
        return total

    @property
    def messages_per_second(self) -> float:
        return self.messages_sent / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        extra = ""
        if self.requeued:
            extra += f"{self.requeued} earlier failures retried; "
        if self.held_back:
            extra += f"{self.held_back} held back for the next push (per-reader cap); "
        if self.timed_out:
            extra += f"stopped at the deadline with {self.left_pending} left pending; "
        if self.deposed:
            extra += f"stopped, no longer the leader, with {self.left_pending} left pending; "
        broadcasts = "".join(f"; {result.describe()}" for result in self.broadcasts)
        if self.run_id is None and self.broadcasts:
            # No channel delivers to each reader: the push was its broadcasts.
            return f"push ({self.trigger}): {len(self.published)} newly published{broadcasts}"
        return (
            f"push #{self.run_id} ({self.trigger}): {self.deliveries_sent} deliveries sent in "
            f"{self.messages_sent} messages, {self.blocked} blocked, {self.failed} failed, "
            f"{self.skipped} skipped, {self.retried} retried, {self.rate_limited} × 429; "
            f"{len(self.published)} newly published; {extra}{self.seconds:.1f} s, "
            f"{self.messages_per_second:.1f} messages/s{broadcasts}"
        )


@dataclass(frozen=True)
class PlannedPush:
    """What a push would send to one subscriber (for --dry-run)."""

    subscriber: SubscriberView
    reviews: tuple[ReviewView, ...]


@dataclass(frozen=True)
class WaitingReview:
    """A review a push now would not publish, and why: "unconfirmed" (a draft, never
    confirmed into the queue) or "not_before" (its publish time has not come)."""

    review: ReviewView
    reason: str


def _due(now: dt.datetime) -> ColumnElement[bool]:
    """A queued review is due with the next push (no time) or once its time has come."""
    return Review.publish_at.is_(None) | (Review.publish_at <= now)


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
        #: Group commit: the senders waiting for the next transaction, and the task
        #: that writes them (one at a time, see `commit`).
        self._waiters: list[asyncio.Future[None]] = []
        self._writing: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def backlog_ids(self) -> set[int]:
        return {delivery_id for ids, _, _ in self._pending for delivery_id in ids}

    def add(self, delivery_ids: list[int], message_ids: list[int], subscriber_id: int) -> None:
        self._pending.append((delivery_ids, message_ids, subscriber_id))
        if len(self._pending) >= self.batch:
            self.try_flush()

    async def commit(
        self, delivery_ids: list[int], message_ids: list[int], subscriber_id: int
    ) -> None:
        """Record these rows and return once they are written (group commit).

        The transaction runs in a worker thread, so the event loop goes on sending
        while the database writes (SQLite and psycopg let go of the GIL meanwhile);
        every sender that finished while one transaction was being written shares the
        next one. Each waits for its own before sending to anyone else, so a kill
        still loses at most the sends in flight (one subscriber per sender), as when
        each row had a transaction of its own. When the database is away the rows
        stay in the backlog and the sender returns: `_settle` writes them before its
        next send, as before.
        """
        loop = asyncio.get_running_loop()
        self._pending.append((delivery_ids, message_ids, subscriber_id))
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._writing is None or self._writing.done():
            self._writing = loop.create_task(self._write_waiting())
        await waiter

    async def _write_waiting(self) -> None:
        """Write the rows of the waiting senders, a transaction at a time, until none
        waits; settle each sender's future once its rows are committed (or not)."""
        while self._waiters:
            waiters, self._waiters = self._waiters, []
            entries = list(self._pending)
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self._write, entries, self.clock())
            except Exception as exc:
                if is_transient(exc):
                    self._stall(exc)
                else:  # not transient: every waiting sender ends the push
                    error = exc
            else:
                self._written(entries)
                OUTAGE.answered()
            for waiter in waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    def try_flush(self) -> bool:
        """Flush; on a database outage keep the rows for later and say so."""
        try:
            self.flush()
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._stall(exc)
            return False
        OUTAGE.answered()
        return True

    def _stall(self, exc: BaseException) -> None:
        self.stalled = True
        OUTAGE.failed(f"recording {self.backlog} sent deliveries (kept, retried)", exc)

    def flush(self) -> None:
        """Write what is pending in one transaction; rows leave the backlog on commit.

        Safe to repeat (the update is guarded by `status = 'sending'`), so a commit
        whose answer was lost with the connection is simply written again, and a flush
        that meets a group commit under way writes some rows twice, harmlessly.
        """
        if not self._pending:
            return
        entries = list(self._pending)
        self._write(entries, self.clock())
        self._written(entries)

    def _write(self, entries: list[tuple[list[int], list[int], int]], now: dt.datetime) -> None:
        """One transaction for `entries` (in any thread: it touches nothing of ours).
        Straight on a connection, the statements compiled once: a Session's set-up and
        tear-down, or compiling each row's parameters, would cost more than the rows."""
        with self.engine.begin() as connection:
            RECORD_SENT.many(
                connection,
                [
                    {"delivery_id": delivery_id, "message_ids": message_ids}
                    for delivery_ids, message_ids, _ in entries
                    for delivery_id in delivery_ids
                ],
                shared={"now": now},
            )
            _RECORD_PUSHED.many(
                connection,
                [{"subscriber_id": subscriber_id} for _, _, subscriber_id in entries],
                shared={"now": now},
            )

    def _written(self, entries: list[tuple[list[int], list[int], int]]) -> None:
        """`entries` are committed: out of the backlog (these very entries: others may
        have been added, or written by another flush, meanwhile) and out of `held`."""
        done = {id(entry) for entry in entries}
        self._pending = [entry for entry in self._pending if id(entry) not in done]
        self.stalled = False
        for delivery_ids, _, _ in entries:
            self.held.difference_update(delivery_ids)

    async def run(self) -> None:
        """Flush on a timer, so a batch never waits longer than `delay`."""
        if self.batch == 1:
            return
        while True:
            await asyncio.sleep(self.delay)
            self.try_flush()


# --- what a running push is waiting for -------------------------------------------------


class RunWatch:
    """What one push's senders are doing, for its progress lines: sends in flight (a
    hang shows as one that has been in flight for long) and the last 429's retry_after;
    and, for the senders that found nothing to claim, when one of the others finished.
    """

    def __init__(self, limiter: SendRateLimiter) -> None:
        self.limiter = limiter
        self.retry_after = 0.0
        self._in_flight: dict[int, tuple[str, float]] = {}
        self._backing_off: set[int] = set()
        #: Senders holding a claimed batch, and the event their last one sets.
        self.busy = 0
        self._all_done = asyncio.Event()

    def batch_claimed(self) -> None:
        self.busy += 1

    def batch_done(self) -> None:
        """A sender finished its claimed batch; the last one wakes those waiting."""
        self.busy -= 1
        if self.busy == 0:
            self._all_done.set()
            self._all_done = asyncio.Event()

    async def all_done(self, timeout: float) -> None:
        """Until no sender of this run holds a batch, or `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._all_done.wait()

    def sending(self, key: int, chat_id: str) -> None:
        self._in_flight[key] = (chat_id, time.monotonic())

    def done(self, key: int) -> None:
        self._in_flight.pop(key, None)

    def backing_off(self, key: int, active: bool) -> None:
        if active:
            self._backing_off.add(key)
        else:
            self._backing_off.discard(key)

    def waiting_for(self, hang_after: float) -> list[str]:
        """Plain words for each thing the push waits on right now."""
        waits: list[str] = []
        paused = self.limiter.paused_for()
        if paused > 0:
            waits.append(
                f"waiting for 429 retry_after {self.retry_after:.0f}s "
                f"({paused:.1f}s left, {self.limiter.pauses} × 429 so far)"
            )
        now = time.monotonic()
        hanging = sorted(
            ((now - since, chat_id) for chat_id, since in self._in_flight.values()),
            reverse=True,
        )
        hanging = [(age, chat_id) for age, chat_id in hanging if age >= hang_after]
        for age, chat_id in hanging[:3]:
            waits.append(f"send to chat {chat_id} hanging for {age:.0f}s")
        if len(hanging) > 3:
            waits.append(f"{len(hanging) - 3} more sends hanging")
        if self._backing_off:
            waits.append(f"{len(self._backing_off)} senders backing off after errors")
        return waits


# --- the service -----------------------------------------------------------------------

_subscribers = cast(Table, Subscriber.__table__)
_RECORD_PUSHED = DriverWrite(
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
        standing_subscribers: Sequence[StandingSubscriber] = (),
        pacer: Pacer | None = None,
    ) -> None:
        self.sessions = sessions
        #: None: this process paces its sends alone (a store no other process uses).
        self.pacer = pacer
        self.reviews = reviews
        self.subscriptions = subscriptions
        self.options = options
        self.clock = clock
        self.standing_subscribers = tuple(standing_subscribers)
        self._engine: Engine = sessions.kw["bind"]
        self._render_cache: dict[tuple[str, tuple[int, ...], str, str], Sequence[object]] = {}
        self._reply_cache: dict[tuple[object, ...], Reply] = {}
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
        self._unwritten_failures: list[tuple[list[int], str, str]] = []
        #: Runs of this service that died: (run id, worker prefix), closed at the next.
        self._abandoned: list[tuple[int, str]] = []
        #: Writes a dead run's unrecorded sends once the database is back (`_abandon`).
        self._backlog_writer: asyncio.Task[None] | None = None

    # step 1: publish what is due

    def publish_due(self) -> list[ReviewView]:
        """Queued reviews that are due become published, now: those queued for the next
        push (no publish time) and those whose "not before" time has come."""
        now = self.clock()
        with self.sessions.begin() as session:
            rows = session.scalars(
                select(Review).where(Review.status == "queued", _due(now)).with_for_update()
            ).all()
            for row in rows:
                row.status, row.published_at, row.updated_at = "published", now, now
                row.announced_at = now
            published = [ReviewView.of(row) for row in rows]
        if published:
            self.reviews.forget_pages()
            log.info("published %d queued reviews: %s", len(published), [r.slug for r in published])
        return published

    # step 2: plan

    def _ensure_standing_subscribers(self, channel: str) -> None:
        """The channel's standing subscribers are subscribers like any other, added once
        (a standing subscriber that unsubscribed stays as it is)."""
        for standing in self.standing_subscribers:
            if standing.channel != channel:
                continue
            if self.subscriptions.get(channel, standing.chat_id) is not None:
                continue
            self.subscriptions.subscribe(
                channel, standing.chat_id, standing.chat_type, standing.language
            )
            self.subscriptions.update_preferences(
                channel,
                standing.chat_id,
                push_format=standing.push_format,
                chat_type=standing.chat_type,
            )

    def requeue_failed(self, channel: str, *, ignore_cap: bool = False) -> int:
        """Transient failures of earlier pushes go back to pending (at most
        `max_retry_runs` times each, unless `ignore_cap`), within the per-reader cap."""
        cap = None if ignore_cap else self.options.max_retry_runs
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            owed = outbox.outstanding_by_subscriber(channel)
            chosen = [
                delivery_id
                for delivery_id, subscriber_id in outbox.retryable(channel, cap)
                if self._take(owed, subscriber_id)
            ]
            count = outbox.requeue(chosen)
        if count:
            log.info("re-queued %d deliveries that failed for a transient reason", count)
        return count

    def plan(self, channel: str) -> int:
        """Plan the announced reviews each subscriber is due; returns the rows created."""
        return self._plan(channel)[0]

    def _plan(self, channel: str) -> tuple[int, int]:
        """(deliveries planned, due reviews held back by the per-reader cap)."""
        now = self.clock()
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            announced = session.scalars(
                select(Review.id).where(
                    Review.status == "published", Review.announced_at.is_not(None)
                )
            ).all()
            planned = held_back = 0
            # Range by range of subscribers (one transaction still), each range one
            # INSERT … SELECT: memory stays flat (100,000 candidates in Python lists
            # peaked at 189 MB RSS) and no Python object is made per candidate.
            for subscribers in outbox.subscriber_ranges(channel, PLAN_CHUNK_SUBSCRIBERS):
                added, held = outbox.plan_range(
                    announced, channel, subscribers, now, self.options.max_reviews_per_reader
                )
                planned += added
                held_back += held
        if held_back:
            log.info(
                "%d due reviews held back for a later push (at most %d per reader per push)",
                held_back,
                self.options.max_reviews_per_reader,
            )
        return planned, held_back

    def _take(self, owed: dict[int, int], subscriber_id: int) -> bool:
        """Count one more review for this reader if the per-push cap allows it."""
        if owed.get(subscriber_id, 0) >= self.options.max_reviews_per_reader:
            return False
        owed[subscriber_id] = owed.get(subscriber_id, 0) + 1
        return True

    def preview(self, channel: str, include: Sequence[int] = ()) -> list[PlannedPush]:
        """What a push would send now (with `include` announced too); publishes, plans
        and sends nothing. Deliveries already pending are not shown."""
        now = self.clock()
        with self.sessions() as session:
            rows = session.scalars(
                select(Review).where(
                    (Review.status == "published") | ((Review.status == "queued") & _due(now))
                )
            ).all()
            # A review this push would publish (or announce) counts as announced now.
            announced: dict[int, dt.datetime] = {}
            for row in rows:
                if row.status == "queued" or row.id in include:
                    announced[row.id] = now
                elif row.announced_at is not None:
                    announced[row.id] = row.announced_at
            reviews = [
                replace(ReviewView.of(row), status="published", published_at=now)
                if row.status == "queued"
                else ReviewView.of(row)
                for row in rows
                if row.id in announced
            ]
            reviews.sort(key=lambda review: (announced[review.id], review.id))
            outbox = OutboxRepository(session)
            subscribers = [SubscriberView.of(row) for row in outbox.active_subscribers(channel)]
            planned = outbox.planned_pairs([r.id for r in reviews])
            owed = outbox.outstanding_by_subscriber(channel)
        plans = []
        for subscriber in subscribers:
            due = [
                review
                for review in reviews
                if announced[review.id] > subscriber.subscribed_at
                and (subscriber.id, review.id) not in planned
                and wants(subscriber.topics, review.tags)
            ]
            room = max(0, self.options.max_reviews_per_reader - owed.get(subscriber.id, 0))
            if due[:room]:
                plans.append(PlannedPush(subscriber, tuple(due[:room])))
        return plans

    def waiting(self) -> list[WaitingReview]:
        """Drafts and queued reviews this push would not publish, with why (--dry-run)."""
        now = self.clock()
        with self.sessions() as session:
            rows = session.scalars(
                select(Review)
                .where(
                    (Review.status == "draft")
                    | ((Review.status == "queued") & (Review.publish_at > now))
                )
                .order_by(Review.publish_at.asc().nulls_last(), Review.id)
            ).all()
            reasons = {"draft": "unconfirmed", "queued": "not_before"}
            return [WaitingReview(ReviewView.of(row), reasons[row.status]) for row in rows]

    # step 3: send

    async def run(
        self,
        sender: Sender,
        trigger: str = "manual",
        *,
        retry_failed: bool = False,
        limits: SendLimits | None = None,
        fence: Fence | None = None,
    ) -> PushSummary:
        """One push of `sender`'s channel: publish, re-queue transient failures, plan,
        send until nothing is outstanding or the deadline passes. `retry_failed`
        re-queues every transient failure, past the `max_retry_runs` cap (`paperbot push
        --retry-failed`). `limits`: what the channel declares (capped by the options'
        ceiling). `fence`: stop once it says this process no longer leads (point 8)."""
        started = time.monotonic()
        deadline = started + self.options.deadline_seconds
        summary = PushSummary(run_id=None, trigger=trigger)
        db = self.options.db_retry
        await self._settle(final=True)
        await db.arun(self._close_dead_runs, "closing dead push runs")
        published = await db.arun(self.publish_due, "publishing due reviews")
        summary.published = [review.slug for review in published]
        await db.arun(
            lambda: self._ensure_standing_subscribers(sender.channel),
            "adding the channel's standing subscribers",
        )
        summary.requeued = await db.arun(
            lambda: self.requeue_failed(sender.channel, ignore_cap=retry_failed),
            "re-queueing transient failures",
        )
        summary.planned, summary.held_back = await db.arun(
            lambda: self._plan(sender.channel), "planning the push"
        )
        summary.run_id = await db.arun(lambda: self._start_run(trigger), "starting the push run")
        outstanding = await db.arun(
            lambda: self.outstanding(sender.channel), "counting outstanding deliveries"
        )
        log.info(
            "push #%s started: %d deliveries planned, %d earlier failures re-queued, "
            "%d outstanding",
            summary.run_id,
            summary.planned,
            summary.requeued,
            outstanding,
        )
        # Renders of earlier runs may be stale (a review edited since); another
        # channel's concurrent run keeps its own. Replies are channel-free: a concurrent
        # run that loses them only builds them again.
        for key in [key for key in self._render_cache if key[0] == sender.channel]:
            del self._render_cache[key]
        self._reply_cache.clear()
        worker = f"{uuid.uuid4().hex[:12]}"
        summary.limits = (limits or SendLimits()).capped_by(self.options.limits)
        slots = self.pacer(sender.channel) if self.pacer is not None else None
        limiter = SendRateLimiter(summary.limits, slots=slots)
        watch = RunWatch(limiter)
        reviews: dict[int, ReviewView] = {}
        recorder = self._recorder_for_run()
        tasks = [
            asyncio.create_task(
                self._work(f"{worker}-{n}", sender, limiter, recorder, reviews, summary, watch)
            )
            for n in range(self.options.concurrency)
        ]
        background = [
            asyncio.create_task(self._heartbeat(worker, summary.run_id)),
            asyncio.create_task(recorder.run()),
            asyncio.create_task(self._report(summary, watch, sender.channel)),
        ]
        fenced = asyncio.create_task(self._watch_fence(fence)) if fence is not None else None
        if fenced is not None:
            background.append(fenced)
        try:
            unfinished = await self._wait_for_workers(tasks, deadline, fenced)
            summary.deposed = fenced is not None and fenced.done()
            summary.timed_out = bool(unfinished) and not summary.deposed
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            await self._settle(final=True)
        except BaseException:
            self._abandon(summary.run_id, worker, [*tasks, *background])
            raise
        finally:
            for task in [*tasks, *background]:
                task.cancel()
            limiter.close()
        if summary.timed_out or summary.deposed:
            await db.arun(
                lambda: self._stop_at_deadline(worker, summary, watch, sender.channel),
                "giving back unsent claims",
            )
        summary.rate_limited = limiter.pauses
        if limiter.slots is not None:
            log.info(
                "push #%s: %d shared slot reservations, %d slots missed by late senders",
                summary.run_id,
                limiter.reservations,
                limiter.missed_slots,
            )
        summary.seconds = time.monotonic() - started
        await db.arun(lambda: self._finish_run(summary), "closing the push run")
        log.info("%s", summary.describe())
        return summary

    @staticmethod
    async def _wait_for_workers(
        tasks: list[asyncio.Task[None]], deadline: float, fenced: asyncio.Task[None] | None
    ) -> set[asyncio.Task[None]]:
        """Until every worker is done, one fails (its exception ends the push), the
        deadline passes or the fence falls; returns the workers still running."""
        running = set(tasks)
        while running:
            watched = running | ({fenced} if fenced is not None else set())
            done, _ = await asyncio.wait(
                watched,
                timeout=max(0.0, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                break  # the deadline
            for task in done:
                if task is not fenced:
                    task.result()
                    running.discard(task)
            if fenced is not None and fenced.done():
                fenced.result()
                break
        return running

    async def _watch_fence(self, fence: Fence) -> None:
        """Return once the fence says this process no longer leads. A check that fails
        (the database is away) decides nothing: the elector steps down on its own."""
        while True:
            await asyncio.sleep(self.options.fence_seconds)
            try:
                current = fence()
            except Exception as exc:
                log.debug("could not check the leader epoch: %s", exc.__class__.__name__)
                continue
            if not current:
                log.warning("push: this process is no longer the leader; stopping the push")
                return

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
        elif self._backlog_writer is None or self._backlog_writer.done():
            self._backlog_writer = asyncio.create_task(
                self._write_backlog(run_id), name="push-backlog-writer"
            )

    async def _write_backlog(self, run_id: int) -> None:
        """A run that died while the database was away (a leader stepping down in an
        outage) holds sends it could not record. They are facts: write them as soon as
        the database answers, then close the run, so whichever process leads next does
        not send them again once their claims expire. Tried for one push lease (the
        claims' life; after it the next leader has sent them anyway), with backoff; the
        next run of this service writes whatever is left (`_settle`)."""
        deadline = time.monotonic() + self.options.lease_seconds
        delay = 0.25
        while self._recorder.backlog and time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            delay = min(delay * 2, 1.0)
            try:
                if not self._recorder.try_flush():
                    continue
            except Exception:  # not the database being away: a bug, said loudly, once
                log.exception("push #%s: its unrecorded sends could not be written", run_id)
                return
            log.info("push #%s: its unrecorded sends are written now", run_id)
            try:
                self._close_abandoned()
            except Exception as exc:  # the next run closes it (`_close_dead_runs`)
                log.warning("push #%s: left for the next run to close: %s", run_id, first_line(exc))

    def _close_abandoned(self) -> None:
        """Release this service's dead runs' unsent claims at once (no lease to wait
        out) and mark those runs interrupted. Their records must be written first."""
        if not self._abandoned:
            return
        keep = self._recorder.backlog_ids()
        keep.update(i for delivery_ids, _, _ in self._unwritten_failures for i in delivery_ids)
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

    def _stop_at_deadline(
        self, worker: str, summary: PushSummary, watch: RunWatch, channel: str
    ) -> None:
        """Give this push's claims back as pending (not failed): the next push sends them."""
        waits = watch.waiting_for(hang_after=0.0)
        with self.sessions.begin() as session:
            released = OutboxRepository(session).release_own(worker, self._recorder.backlog_ids())
        self._held.difference_update(released)
        summary.left_pending = self.outstanding(channel)
        if summary.deposed:
            log.warning(
                "push #%s: no longer the leader; stopped, %d unsent claims given back, "
                "%d deliveries left for the new leader",
                summary.run_id,
                len(released),
                summary.left_pending,
            )
            return
        log.warning(
            "push #%s: deadline of %.0f s passed; stopping with %d deliveries left pending "
            "for the next push%s",
            summary.run_id,
            self.options.deadline_seconds,
            summary.left_pending,
            f" (was {'; '.join(waits)})" if waits else "",
        )

    async def _report(self, summary: PushSummary, watch: RunWatch, channel: str) -> None:
        """Every `progress_seconds`: what was sent, what is left, what the push waits for."""
        interval = max(self.options.progress_seconds, 0.05)
        while True:
            await asyncio.sleep(interval)
            waits = watch.waiting_for(hang_after=min(5.0, interval))
            try:
                remaining: int | str = self.outstanding(channel)
            except Exception as exc:  # a progress line must never end the push
                remaining = f"? ({exc.__class__.__name__})"
            line = (
                f"push #{summary.run_id}: {summary.deliveries_sent} deliveries sent "
                f"({summary.messages_sent} messages), {remaining} remaining"
            )
            if waits:
                log.warning("%s; %s", line, "; ".join(waits))
            else:
                log.info("%s", line)

    async def _work(
        self,
        worker: str,
        sender: Sender,
        limiter: SendRateLimiter,
        recorder: SentRecorder,
        reviews: dict[int, ReviewView],
        summary: PushSummary,
        watch: RunWatch,
    ) -> None:
        db = self.options.db_retry
        channel = sender.channel
        while True:
            await self._settle()
            claimed, subscribers = await db.arun(
                lambda: self._claim(worker, channel), "claiming deliveries"
            )
            if not claimed:
                # Nothing to claim. While other senders of this run hold batches, their
                # rows are outstanding: no need to count them, wait for those senders
                # (or IDLE_CHECK_SECONDS, for claims that a dead process leaves).
                # Then count: done, or wait for the rows in flight elsewhere.
                if watch.busy:
                    await watch.all_done(IDLE_CHECK_SECONDS)
                    continue
                wait = await db.arun(lambda: self._idle_wait(channel), "checking the outbox")
                if wait is None:
                    return
                await watch.all_done(wait)
                continue
            watch.batch_claimed()
            try:
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
                    await self._deliver(
                        subscriber, items, sender, limiter, recorder, reviews, summary, watch
                    )
            finally:
                watch.batch_done()

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
            subscribers = SubscriberRepository(session).views(ids)
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
                OUTAGE.failed(f"writing push #{run_id}'s heartbeat", exc)
            else:
                OUTAGE.answered()

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
        return None if outstanding == 0 else IDLE_CHECK_SECONDS

    async def _deliver(
        self,
        subscriber: SubscriberView | None,
        items: list[Claimed],
        sender: Sender,
        limiter: SendRateLimiter,
        recorder: SentRecorder,
        cache: dict[int, ReviewView],
        summary: PushSummary,
        watch: RunWatch,
    ) -> None:
        if subscriber is None or not subscriber.is_active:
            self._fail([i.delivery_id for i in items], "subscriber no longer active")
            summary.skipped += len(items)
            return
        views = self._reviews([i.review_id for i in items], cache)
        units = self._units(subscriber, items, views, sender.max_reviews_per_message)
        chat_id = subscriber.chat_id
        is_group = subscriber.chat_type != "private"
        for index, (delivery_ids, replies) in enumerate(units):
            message_ids: list[int] = []
            messages = self._rendered(sender, delivery_ids, items, subscriber, replies)
            position = failures = 0
            while position < len(messages):
                started = await limiter.acquire(chat_id, is_group)
                try:
                    try:
                        message = await self._send(sender, chat_id, messages[position], watch)
                    finally:
                        limiter.answered(started)
                    message_ids.append(message)
                    position, failures = position + 1, 0
                    summary.messages_sent += 1
                    self._progress(summary)
                except RateLimitedError as exc:
                    watch.retry_after = exc.retry_after
                    limiter.pause(exc.retry_after)
                except ChatMovedError as exc:
                    await self.options.db_retry.arun(
                        partial(
                            self.subscriptions.chat_migrated,
                            subscriber.channel,
                            chat_id,
                            exc.new_chat_id,
                            exc.chat_type,
                        ),
                        "recording a migrated chat",
                    )
                    chat_id = exc.new_chat_id
                except RecipientGoneError as exc:
                    await self.options.db_retry.arun(
                        partial(self.subscriptions.chat_blocked, subscriber.channel, chat_id),
                        "recording a blocked chat",
                    )
                    rest = [d for ids, _ in units[index:] for d in ids]
                    self._fail(rest, f"blocked: {exc}")
                    summary.blocked += 1
                    return
                except TemporaryDeliveryError as exc:
                    failures += 1
                    if failures >= self.options.max_attempts:
                        rest = [d for ids, _ in units[index:] for d in ids]
                        error = f"gave up after {failures} attempts: {exc}"
                        self._fail(rest, error, "transient")
                        summary.failed += len(rest)
                        log.warning("chat %s: %s", chat_id, error)
                        return
                    summary.retried += 1
                    key = id(asyncio.current_task())
                    watch.backing_off(key, True)
                    try:
                        await asyncio.sleep(self._backoff(failures))
                    finally:
                        watch.backing_off(key, False)
                except PermanentDeliveryError as exc:
                    log.error("chat %s refused a push message: %s", chat_id, exc)
                    self._fail(delivery_ids, str(exc))
                    summary.failed += len(delivery_ids)
                    break
            else:
                summary.deliveries_sent += len(delivery_ids)
                if recorder.batch == 1:
                    await recorder.commit(delivery_ids, message_ids, subscriber.id)
                else:
                    recorder.add(delivery_ids, message_ids, subscriber.id)

    async def _send(self, sender: Sender, chat_id: str, message: object, watch: RunWatch) -> int:
        """One send, under `send_timeout_seconds` whatever the channel's own timeouts: a
        send that hangs becomes a temporary failure instead of freezing the push."""
        key = id(asyncio.current_task())
        watch.sending(key, chat_id)
        try:
            async with asyncio.timeout(self.options.send_timeout_seconds):
                return await sender.send_one(chat_id, message)
        except TimeoutError:
            raise TemporaryDeliveryError(
                f"no answer in {self.options.send_timeout_seconds:.0f} s"
            ) from None
        finally:
            watch.done(key)

    def _units(
        self,
        subscriber: SubscriberView,
        items: list[Claimed],
        views: dict[int, ReviewView],
        per_message: int = 10,
    ) -> list[tuple[list[int], list[Reply]]]:
        """What to send, with their rows: each review in full, or a digest in messages of
        at most `per_message` reviews (each message is recorded as it goes out)."""
        ordered = sorted(items, key=lambda i: (views[i.review_id].published_at, i.review_id))
        language = subscriber.language
        if subscriber.push_format == "full":
            return [
                ([item.delivery_id], [self._full(views[item.review_id], language)])
                for item in ordered
            ]
        size = max(1, per_message)
        chunks = [ordered[start : start + size] for start in range(0, len(ordered), size)]
        return [
            (
                [item.delivery_id for item in chunk],
                [
                    self._digest(
                        tuple(views[item.review_id] for item in chunk),
                        language,
                        number * size + 1,
                        len(ordered),
                    )
                ],
            )
            for number, chunk in enumerate(chunks)
        ]

    def _full(self, review: ReviewView, language: str) -> Reply:
        """A review's full text, built once per (review, language) in a push."""
        key = ("full", review.id, language)
        reply = self._reply_cache.get(key)
        if reply is None:
            reply = review_full(review, language)
            if len(self._reply_cache) < 1000:
                self._reply_cache[key] = reply
        return reply

    def _digest(
        self, reviews: tuple[ReviewView, ...], language: str, first_number: int, total: int
    ) -> Reply:
        """Thousands of subscribers get the same digest: build it once per (reviews,
        language, place in the series) in a push, not once per subscriber."""
        key = ("digest", tuple(r.id for r in reviews), language, first_number, total)
        reply = self._reply_cache.get(key)
        if reply is None:
            reply = push_digest(
                list(reviews),
                language,
                first_number=first_number,
                total=total,
                public_url=self.options.public_url,
            )
            if len(self._reply_cache) < 1000:
                self._reply_cache[key] = reply
        return reply

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
        key = (sender.channel, review_ids, subscriber.language, subscriber.push_format)
        cached = self._render_cache.get(key)
        if cached is None:
            cached = sender.render(replies)
            if len(self._render_cache) < 1000:
                self._render_cache[key] = cached
        return cached

    def _fail(self, delivery_ids: list[int], error: str, kind: str = "final") -> None:
        """Record failures; if the database is away, keep them for `_settle`."""
        failure = (delivery_ids, error, kind)
        self._unwritten_failures.append(failure)
        try:
            self._write_failures()
        except Exception as exc:
            if not is_transient(exc):
                self._unwritten_failures.remove(failure)
                raise
            OUTAGE.failed(f"recording {len(delivery_ids)} failed deliveries (kept, retried)", exc)

    def _write_failures(self) -> None:
        """Safe to repeat: a delivery marked failed twice is still failed."""
        pending = list(self._unwritten_failures)
        with self.sessions.begin() as session:
            outbox = OutboxRepository(session)
            for delivery_ids, error, kind in pending:
                outbox.mark_failed(delivery_ids, error, kind)
        del self._unwritten_failures[: len(pending)]
        for delivery_ids, _, _ in pending:
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
            if summary.deposed:
                run.status = RUN_INTERRUPTED
            else:
                run.status = RUN_TIMED_OUT if summary.timed_out else RUN_DONE
            run.planned = summary.planned
            run.sent = summary.deliveries_sent
            run.messages = summary.messages_sent
            run.blocked = summary.blocked
            run.failed = summary.failed
            run.seconds = summary.seconds

    def outstanding(self, channel: str) -> int:
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
