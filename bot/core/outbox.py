"""The delivery outbox: which review goes to which subscriber, claimed and recorded atomically.

Invariants the push relies on:
- one row per (subscriber, review), by a unique constraint: planning twice adds nothing;
- a row is claimed (`pending` -> `sending`) by exactly one worker, with one UPDATE whose
  `status = 'pending'` guard the database enforces; on PostgreSQL the subscribers to
  claim are picked with `FOR UPDATE SKIP LOCKED`, so several workers share one push
  without waiting on each other;
- a claim is a lease: a live process renews its claims (a heartbeat, every third of
  the lease); a process that dies leaves `sending` rows which any worker takes back
  once `claimed_at` is older than the lease;
- a failed row keeps its reason (`last_error`) and kind (`error_kind`): "transient" rows
  go back to pending at a later push (`requeue`, counted in `retry_runs`), "final" never.

All methods run SQL on the session they are given and never commit.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Subquery,
    Table,
    bindparam,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningUpdate

from bot.db.driver_reads import DriverWrite
from bot.db.models import Delivery, Review, Subscriber


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscriber_id: int
    review_id: int
    attempts: int


#: PostgreSQL claims: candidates read per subscriber taken (see `claim`).
_CANDIDATES_PER_CLAIM = 4

_deliveries = cast(Table, Delivery.__table__)
_subscribers = cast(Table, Subscriber.__table__)
#: Record one delivered row (executemany over a batch of recorded sends).
RECORD_SENT = DriverWrite(
    update(_deliveries)
    .where(_deliveries.c.id == bindparam("delivery_id"), _deliveries.c.status == "sending")
    .values(
        status="sent",
        sent_at=bindparam("now"),
        message_ids=bindparam("message_ids"),
        attempts=_deliveries.c.attempts + 1,
        claimed_by=None,
    )
)


@functools.cache
def _claim_statement(dialect: str, subscribers: int) -> ReturningUpdate[tuple[int, int, int, int]]:
    """The claim's UPDATE (see `OutboxRepository.claim`), built once per dialect and size:
    building it was a tenth of a claim. Bound: `worker`, `now`, `channel`."""
    due = _deliveries.c.status == "pending"
    # The channel is looked up per row walked (a correlated subquery, not a join):
    # PostgreSQL would merge-join all of `subscribers` from the first id on, which
    # reads every subscriber already done.
    subscriber_channel = (
        select(_subscribers.c.channel)
        .where(_subscribers.c.id == _deliveries.c.subscriber_id)
        .correlate(_deliveries)
        .scalar_subquery()
    )
    # The next subscribers of the channel with something pending, in index order.
    pending = (
        select(_deliveries.c.subscriber_id)
        .where(due, subscriber_channel == bindparam("channel"))
        .distinct()
        .order_by(_deliveries.c.subscriber_id)
    )
    chosen: Any
    if dialect == "postgresql":
        # Lock the subscribers, skipping those another worker is claiming right now
        # (they still look pending to us): take a few more candidates than needed,
        # so a concurrent claim does not leave this one empty-handed.
        candidates = pending.limit(subscribers * _CANDIDATES_PER_CLAIM).subquery()
        chosen = (
            select(_subscribers.c.id)
            .where(_subscribers.c.id.in_(select(candidates.c.subscriber_id)))
            .order_by(_subscribers.c.id)
            .limit(subscribers)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    else:
        chosen = pending.limit(subscribers).scalar_subquery()
    return (
        update(_deliveries)
        .where(due, _deliveries.c.subscriber_id.in_(chosen))
        .values(status="sending", claimed_by=bindparam("worker"), claimed_at=bindparam("now"))
        .returning(
            _deliveries.c.id,
            _deliveries.c.subscriber_id,
            _deliveries.c.review_id,
            _deliveries.c.attempts,
        )
    )


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # planning

    def plan(self, pairs: Sequence[tuple[int, int]], now: dt.datetime) -> int:
        """Insert pending deliveries for (subscriber_id, review_id) pairs not yet planned;
        return how many rows were inserted.

        Counted from RETURNING, not the executemany's rowcount, which psycopg reports as
        0 or -1 (so a PostgreSQL push logged "0 deliveries planned").
        """
        if not pairs:
            return 0
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = (
            insert(_deliveries)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "review_id"])
            .returning(_deliveries.c.id)
        )
        rows = [
            {
                "subscriber_id": subscriber_id,
                "review_id": review_id,
                "status": "pending",
                "attempts": 0,
                "retry_runs": 0,
                "message_ids": [],
                "created_at": now,
            }
            for subscriber_id, review_id in pairs
        ]
        # SQLAlchemy's "insertmanyvalues" batches these into multi-row INSERTs.
        result = self.session.connection().execute(statement, rows)
        return len(result.all())

    def subscriber_ranges(self, channel: str, size: int) -> Iterator[tuple[int, int]]:
        """(first, last) ids of consecutive runs of `size` active subscribers of `channel`:
        planning goes range by range, so its memory does not grow with the audience."""
        after = 0
        while True:
            ids = self.session.scalars(
                select(Subscriber.id)
                .where(
                    Subscriber.status == "active",
                    Subscriber.channel == channel,
                    Subscriber.id > after,
                )
                .order_by(Subscriber.id)
                .limit(size)
            ).all()
            if not ids:
                return
            yield ids[0], ids[-1]
            after = ids[-1]

    def plan_range(
        self,
        review_ids: Sequence[int],
        channel: str,
        subscribers: tuple[int, int],
        now: dt.datetime,
        cap: int,
    ) -> tuple[int, int]:
        """Plan one range of subscribers in one `INSERT … SELECT`: (rows inserted, due
        reviews held back by the per-reader cap `cap`).

        The database picks the pairs (active subscribers of `channel` in the (first,
        last) id range x the announced `review_ids` announced after they subscribed,
        without a row yet, matching their topics: `wants`), ranks each reader's oldest
        announcement first and keeps what fits under the cap, counting what the reader
        is still owed. No Python object per candidate: 100,000 pairs cost what the SQL
        costs (SQLite runs it without the GIL, next to the senders), and the unique
        constraint still makes a concurrent or repeated plan add nothing.
        """
        if not review_ids:
            return 0, 0
        candidates = self._unplanned(review_ids, channel, subscribers)
        owed = (
            select(func.count(Delivery.id))
            .where(
                Delivery.subscriber_id == candidates.c.subscriber_id,
                Delivery.status.in_(("pending", "sending")),
            )
            .correlate(candidates)
            .scalar_subquery()
        )
        fitting = select(
            candidates.c.subscriber_id,
            candidates.c.review_id,
            literal("pending"),
            literal(0),
            literal(0),
            literal([], _deliveries.c.message_ids.type),
            literal(now, _deliveries.c.created_at.type),
        ).where(candidates.c.rank + owed <= cap)
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = insert(_deliveries).from_select(
            [
                "subscriber_id",
                "review_id",
                "status",
                "attempts",
                "retry_runs",
                "message_ids",
                "created_at",
            ],
            fitting,
        )
        # Counted from RETURNING (at most one id per subscriber in the range and review):
        # psycopg reports no rowcount for it.
        result = self.session.connection().execute(
            statement.on_conflict_do_nothing(
                index_elements=["subscriber_id", "review_id"]
            ).returning(_deliveries.c.id)
        )
        planned = len(result.all())
        # What is still unplanned in the range now is what the cap held back.
        rest = self._unplanned(review_ids, channel, subscribers)
        held_back = self.session.scalar(select(func.count()).select_from(rest)) or 0
        return planned, int(held_back)

    def _unplanned(
        self, review_ids: Sequence[int], channel: str, subscribers: tuple[int, int]
    ) -> Subquery:
        """The unplanned pairs a reader wants, each with its place (1, 2, …) in the
        reader's order: oldest announcement first."""
        return (
            select(
                Subscriber.id.label("subscriber_id"),
                Review.id.label("review_id"),
                func.row_number()
                .over(
                    partition_by=Subscriber.id,
                    order_by=(Review.announced_at, Review.published_at, Review.id),
                )
                .label("rank"),
            )
            .join(Review, Review.announced_at > Subscriber.subscribed_at)
            .where(
                Subscriber.status == "active",
                Subscriber.channel == channel,
                Subscriber.id.between(*subscribers),
                Review.id.in_(review_ids),
                Review.status == "published",
                ~exists().where(
                    Delivery.subscriber_id == Subscriber.id, Delivery.review_id == Review.id
                ),
                self._wants(),
            )
            .subquery()
        )

    def _wants(self) -> ColumnElement[bool]:
        """`subscriptions.wants` in SQL: no topics, no tags, or a topic among the tags."""
        reader: ColumnElement[Any] = cast(Table, Subscriber.__table__).c.topics
        review: ColumnElement[Any] = cast(Table, Review.__table__).c.tags
        if self.dialect == "postgresql":
            # A JSON null (or any non-array) counts as none, as `row.topics or ()` does in
            # Python; PostgreSQL's array functions would raise on it (SQLite's give 0 rows).
            reader, review = (
                case((func.json_typeof(column) == "array", column), else_=null())
                for column in (reader, review)
            )
            elements = func.json_array_elements_text
        else:
            elements = func.json_each
        length = func.json_array_length
        topics = elements(reader).table_valued("value").alias("topic")
        tags = elements(review).table_valued("value").alias("tag")
        shared = (
            select(literal(1))
            .select_from(topics)
            .where(topics.c.value.in_(select(tags.c.value).scalar_subquery()))
            .exists()
        )
        return or_(
            func.coalesce(length(reader), 0) == 0,
            func.coalesce(length(review), 0) == 0,
            shared,
        )

    def outstanding_by_subscriber(
        self, channel: str, subscribers: tuple[int, int] | None = None
    ) -> dict[int, int]:
        """Pending or in-flight deliveries per subscriber (what this push already owes);
        `subscribers`: only those with ids in this (first, last) range."""
        query = (
            select(Delivery.subscriber_id, func.count(Delivery.id))
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.status.in_(("pending", "sending")), Subscriber.channel == channel)
            .group_by(Delivery.subscriber_id)
        )
        if subscribers is not None:
            query = query.where(Delivery.subscriber_id.between(*subscribers))
        return {row[0]: int(row[1]) for row in self.session.execute(query).all()}

    def retryable(self, channel: str, max_retry_runs: int | None) -> list[tuple[int, int]]:
        """(delivery_id, subscriber_id) of transient failures of active subscribers that
        may be tried again: fewer than `max_retry_runs` re-queues (None: no cap)."""
        query = (
            select(Delivery.id, Delivery.subscriber_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(
                Delivery.status == "failed",
                Delivery.error_kind == "transient",
                Subscriber.status == "active",
                Subscriber.channel == channel,
            )
            .order_by(Delivery.subscriber_id, Delivery.id)
        )
        if max_retry_runs is not None:
            query = query.where(Delivery.retry_runs < max_retry_runs)
        return [(row[0], row[1]) for row in self.session.execute(query).all()]

    def requeue(self, delivery_ids: Sequence[int]) -> int:
        """Failed (transient) deliveries go back to pending; the error stays for the record."""
        count = 0
        for start in range(0, len(delivery_ids), 500):
            chunk = list(delivery_ids[start : start + 500])
            result = self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(chunk), Delivery.status == "failed")
                .values(status="pending", retry_runs=Delivery.retry_runs + 1, claimed_by=None)
            )
            count += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return count

    # claiming

    def release_stale(self, older_than: dt.datetime) -> int:
        """Take back claims whose worker died (lease expired): they go out again."""
        result = self.session.execute(
            update(Delivery)
            .where(Delivery.status == "sending", Delivery.claimed_at < older_than)
            .values(status="pending", claimed_by=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def claim(self, worker: str, now: dt.datetime, subscribers: int, channel: str) -> list[Claimed]:
        """Atomically move the pending deliveries of up to `subscribers` subscribers of
        `channel` to `sending`, owned by `worker`.

        The subscribers are read off `ix_deliveries_status_subscriber_id` in order, and
        the walk stops after the ones taken: a claim reads what it returns, whatever the
        number of rows still pending (before that index it read and sorted all of them).
        """
        statement = _claim_statement(self.dialect, subscribers)
        rows = (
            self.session.connection()
            .execute(statement, {"worker": worker, "now": now, "channel": channel})
            .all()
        )
        return sorted(
            (Claimed(row[0], row[1], row[2], row[3]) for row in rows),
            key=lambda claimed: (claimed.subscriber_id, claimed.delivery_id),
        )

    def renew(self, worker_prefix: str, now: dt.datetime, held: Collection[int]) -> None:
        """Extend the lease of the claims this process's workers hold (`held`: the ids
        they claimed and have not recorded). A claim whose commit was lost with the
        connection is not among them, so its rows still come back after the lease."""
        if not held:
            return
        self.session.connection().execute(
            update(_deliveries)
            .where(
                _deliveries.c.status == "sending",
                _deliveries.c.claimed_by.like(f"{worker_prefix}-%"),
                _deliveries.c.id.in_(sorted(held)),
            )
            .values(claimed_at=now)
        )

    def release_own(self, worker_prefix: str, keep: Collection[int]) -> list[int]:
        """Give back at once the claims of a run of this process that died, except
        `keep` (sent, with the record still to write). Returns the released ids."""
        ids = self.session.scalars(
            select(Delivery.id).where(
                Delivery.status == "sending", Delivery.claimed_by.like(f"{worker_prefix}-%")
            )
        ).all()
        released = [delivery_id for delivery_id in ids if delivery_id not in keep]
        if released:
            self.session.execute(
                update(Delivery)
                .where(Delivery.id.in_(released), Delivery.status == "sending")
                .values(status="pending", claimed_by=None)
            )
        return released

    # recording

    def mark_failed(self, delivery_ids: Sequence[int], error: str, kind: str = "final") -> None:
        """Record a failure with its reason and kind: "final" (blocked, refused,
        unsubscribed) is never sent; "transient" (5xx, network) a later push retries."""
        self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids))
            .values(
                status="failed",
                last_error=error[:1000],
                error_kind=kind,
                attempts=Delivery.attempts + 1,
                claimed_by=None,
            )
        )

    # reading

    def counts(self) -> dict[str, int]:
        query = select(Delivery.status, func.count(Delivery.id)).group_by(Delivery.status)
        return {status: int(count) for status, count in self.session.execute(query).all()}

    def outstanding(self, channel: str) -> int:
        """Deliveries of `channel` still pending or in flight (in this or another worker)."""
        count = self.session.scalar(
            select(func.count(Delivery.id))
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.status.in_(("pending", "sending")), Subscriber.channel == channel)
        )
        return int(count or 0)

    def active_subscribers(self, channel: str) -> Sequence[Subscriber]:
        query = (
            select(Subscriber)
            .where(Subscriber.status == "active", Subscriber.channel == channel)
            .order_by(Subscriber.id)
        )
        return self.session.scalars(query).all()

    def planned_pairs(self, review_ids: Sequence[int]) -> set[tuple[int, int]]:
        query = select(Delivery.subscriber_id, Delivery.review_id).where(
            Delivery.review_id.in_(review_ids)
        )
        return {(row[0], row[1]) for row in self.session.execute(query).all()}
