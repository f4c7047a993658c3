"""One send schedule per channel for every process that sends on it (issue #13).

Several `paperbot run` replicas on PostgreSQL, or `paperbot push` beside a running bot
(on PostgreSQL or the same SQLite file), push at once; the channel's limit (Telegram's
30 messages/s) holds for all of them together, not for each. So the schedule lives in
the store: one `send_pacers` row per channel with the next free slot (wall clock,
`time.time()`) and the shared 429 pause. A process reserves a small batch of slots in
one short transaction (the row locked with SELECT ... FOR UPDATE on PostgreSQL; SQLite's
write lock, taken by the transaction's first statement, serialises it there) and its
`SendRateLimiter` hands them out to its senders, which keep the chat limits, pauses
and the answer-aware floor (a send held up after its start holds back the next ones)
in the process. One transaction per batch (about 0.2 s of sends), never per message.

The processes' clocks must agree (one machine, or NTP across machines, as for the
leader lease): a skew between two hosts adds to the bunching the limiter's margin
absorbs. The core knows channels only by name; the limits are the caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.core.ratelimit import Reservation
from bot.db.models import SendPacer
from bot.db.retry import DbRetry


class PacerRepository:
    """The statements on `send_pacers`, inside the caller's transaction (never commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _locked(self, channel: str) -> SendPacer:
        """The channel's row, created if missing and locked until the transaction ends.
        The insert comes first: on SQLite it takes the write lock at once (a read first
        would have to upgrade its lock, which SQLite may refuse with "locked")."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(
            insert(SendPacer)
            .values(channel=channel, next_slot=0.0, paused_until=0.0)
            .on_conflict_do_nothing(index_elements=["channel"])
        )
        return self.session.scalars(
            select(SendPacer)
            .where(SendPacer.channel == channel)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    def reserve(self, channel: str, now: float, count: int, interval: float) -> Reservation:
        """`count` slots `interval` apart from the next free one, never before `now`
        (an idle channel starts afresh, without a burst of the slots nobody used) nor
        before the shared pause."""
        row = self._locked(channel)
        first = max(row.next_slot, now, row.paused_until)
        row.next_slot = first + count * interval
        return Reservation(first=first, count=count, paused_until=row.paused_until)

    def pause(self, channel: str, until: float) -> None:
        """Nobody's slot before `until`: the channel said "retry after"."""
        row = self._locked(channel)
        row.paused_until = max(row.paused_until, until)
        row.next_slot = max(row.next_slot, row.paused_until)


class SharedPacer:
    """The use case: each reservation or pause is its own short transaction, retried
    whole through an outage like the push's other transactions (bot/db/retry.py)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        db_retry: DbRetry | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.db_retry = db_retry or DbRetry()
        self.wall = wall

    def for_channel(self, channel: str) -> ChannelSlots:
        """The `SlotSource` a channel's limiter draws from."""
        return ChannelSlots(self, channel)

    def reserve(self, channel: str, count: int, interval: float) -> Reservation:
        with self.sessions.begin() as session:
            return PacerRepository(session).reserve(channel, self.wall(), count, interval)

    def pause(self, channel: str, until: float) -> None:
        with self.sessions.begin() as session:
            PacerRepository(session).pause(channel, until)


class ChannelSlots:
    """One channel's shared schedule, as `SendRateLimiter` takes it (a `SlotSource`)."""

    def __init__(self, pacer: SharedPacer, channel: str) -> None:
        self.pacer = pacer
        self.channel = channel

    async def reserve(self, count: int, interval: float) -> Reservation:
        # In a thread: the senders waiting for their slots wake on time meanwhile.
        return await self.pacer.db_retry.athread(
            partial(self.pacer.reserve, self.channel, count, interval),
            f"reserving {self.channel} send slots",
        )

    async def pause(self, until: float) -> None:
        await self.pacer.db_retry.athread(
            partial(self.pacer.pause, self.channel, until),
            f"sharing a {self.channel} 429 pause",
        )
