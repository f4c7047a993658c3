"""A push whose cost per message does not grow with the audience (issue #14): claims read
off the (status, subscriber_id) index, planning range by range, group commit of the
records, a rate limiter that forgets finished chats. Behaviour only, no timings."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy import event, insert, select, update

from bot.app import Core, build_core
from bot.core import push as push_module
from bot.core.conversation import Reply
from bot.core.outbox import OutboxRepository
from bot.core.push import PushOptions, PushService, SentRecorder
from bot.core.ratelimit import PRUNE_EVERY, SendLimits, SendRateLimiter
from bot.core.sources import read_source
from bot.core.subscriptions import wants
from bot.db.models import Delivery, Review, Subscriber
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings

LONG_AGO = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def add_subscribers(
    core: Core, channel: str, count: int, *, start: int = 0, **values: object
) -> list[int]:
    """`count` subscribers of `channel` (addresses start, start+1, ...); their ids."""
    rows = [
        {
            "channel": channel,
            "chat_id": str(start + n),
            "chat_type": "private",
            "language": "zh",
            "topics": [],
            "push_format": "digest",
            "status": "active",
            "subscribed_at": LONG_AGO,
            "created_at": LONG_AGO,
            "updated_at": LONG_AGO,
            **values,
        }
        for n in range(count)
    ]
    with core.sessions.begin() as session:
        ids = session.scalars(insert(Subscriber).returning(Subscriber.id), rows).all()
    return sorted(ids)


def add_deliveries(core: Core, pairs: Sequence[tuple[int, int, str]]) -> None:
    """(subscriber_id, review_id, status) rows."""
    with core.sessions.begin() as session:
        session.execute(
            insert(Delivery),
            [
                {
                    "subscriber_id": subscriber_id,
                    "review_id": review_id,
                    "status": status,
                    "attempts": 0,
                    "retry_runs": 0,
                    "message_ids": [],
                    "created_at": NOW,
                }
                for subscriber_id, review_id, status in pairs
            ],
        )


def review_ids(core: Core, count: int) -> list[int]:
    with core.sessions() as session:
        ids = session.scalars(select(Review.id).order_by(Review.id).limit(count)).all()
    assert len(ids) == count, "the seed has fewer reviews than the test needs"
    return list(ids)


def statuses(core: Core) -> dict[tuple[int, int], str]:
    with core.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.review_id, Delivery.status)
        ).all()
    return {(row[0], row[1]): row[2] for row in rows}


# --- claims --------------------------------------------------------------------------


def test_a_claim_takes_the_next_subscribers_of_its_channel_whole(seeded_core: Core) -> None:
    core = seeded_core
    first, second = review_ids(core, 2)
    telegram = add_subscribers(core, "telegram", 6)
    wechat = add_subscribers(core, "wechat", 3)
    rows: list[tuple[int, int, str]] = []
    for subscriber_id in telegram + wechat:
        rows += [(subscriber_id, first, "pending"), (subscriber_id, second, "pending")]
    rows[0:2] = [(telegram[0], first, "sent"), (telegram[0], second, "sent")]
    rows[2:4] = [(telegram[1], first, "sent"), (telegram[1], second, "pending")]
    add_deliveries(core, rows)

    with core.sessions.begin() as session:
        claimed = OutboxRepository(session).claim("w-1", NOW, 2, "telegram")
    # Subscriber 1 is done; 2 has one row left; 3 is taken whole; no WeChat row.
    assert [(c.subscriber_id, c.review_id) for c in claimed] == [
        (telegram[1], second),
        (telegram[2], first),
        (telegram[2], second),
    ]
    with core.sessions.begin() as session:
        again = OutboxRepository(session).claim("w-2", NOW, 10, "telegram")
    assert sorted({c.subscriber_id for c in again}) == telegram[3:]
    assert len(again) == 6
    with core.sessions.begin() as session:
        assert OutboxRepository(session).claim("w-3", NOW, 10, "telegram") == []
        wechat_claim = OutboxRepository(session).claim("w-4", NOW, 10, "wechat")
    assert sorted({c.subscriber_id for c in wechat_claim}) == wechat

    status = statuses(core)
    assert Counter(status.values()) == {"sent": 3, "sending": 15}
    with core.sessions() as session:
        owners = dict(
            session.execute(
                select(Delivery.subscriber_id, Delivery.claimed_by).where(
                    Delivery.status == "sending"
                )
            ).all()
        )
    assert owners[telegram[2]] == "w-1" and owners[telegram[5]] == "w-2"


def test_a_claim_walks_the_index_in_order_and_sorts_nothing(
    sqlite_url: str, tmp_path: Path
) -> None:
    """SQLite's plan for the claim: the (status, subscriber_id) index, no temporary
    B-tree (the DISTINCT over every pending row that made a push quadratic)."""
    core = build_core(make_settings(sqlite_url, tmp_path), seed=True)
    try:
        [review] = review_ids(core, 1)
        add_deliveries(
            core, [(s, review, "pending") for s in add_subscribers(core, "telegram", 50)]
        )
        statements: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append((statement, parameters))

        with core.sessions.begin() as session:
            connection = session.connection()
            event.listen(connection, "before_cursor_execute", capture)
            claimed = OutboxRepository(session).claim("w-1", NOW, 5, "telegram")
            event.remove(connection, "before_cursor_execute", capture)
            statement, parameters = statements[-1]
            plan = " | ".join(
                str(row[3])
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)  # type: ignore[arg-type]
            )
        assert len(claimed) == 5
        assert "ix_deliveries_status_subscriber_id" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    finally:
        core.close()


# --- planning ------------------------------------------------------------------------


def test_planning_goes_range_by_range_and_plans_each_pair_once(core: Core) -> None:
    """More subscribers than one planning range, with inactive and other channels'
    subscribers in between: every active one gets its row, once."""
    size = push_module.PLAN_CHUNK_SUBSCRIBERS
    active = add_subscribers(core, "telegram", size + 150)
    add_subscribers(core, "telegram", 40, start=10**6, status="unsubscribed")
    add_subscribers(core, "wechat", 30)
    active += add_subscribers(core, "telegram", size, start=2 * 10**6)
    [parsed] = read_source(DATA_DIR / "front_matter_review.md")
    staged = core.reviews.stage(parsed, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    core.reviews.set_status(staged.review.id, "queued", expected=("draft",))
    core.push.publish_due()

    assert core.push.plan("telegram") == len(active)
    assert core.push.plan("telegram") == 0
    with core.sessions() as session:
        planned = session.scalars(select(Delivery.subscriber_id)).all()
    assert sorted(planned) == sorted(active)


def test_planning_in_sql_keeps_topics_order_and_the_per_reader_cap(seeded_core: Core) -> None:
    """The database picks the pairs as `wants` and `_take` did in Python: topics against
    tags (no topics, JSON null or an untagged review: everything), oldest announcement
    first, at most `max_reviews_per_reader` counting what a reader is still owed."""
    core = seeded_core
    core.push.options = replace(core.push.options, max_reviews_per_reader=2)
    reviews = review_ids(core, 4)
    tags = {reviews[0]: ["nlp"], reviews[1]: [], reviews[2]: ["cv", "nlp"], reviews[3]: ["cv"]}
    with core.sessions.begin() as session:
        for n, review_id in enumerate(reviews):
            session.execute(
                update(Review)
                .where(Review.id == review_id)
                .values(
                    status="published",
                    tags=tags[review_id],
                    published_at=NOW,
                    # Announced in reverse id order: the order is the announcement's.
                    announced_at=NOW - dt.timedelta(hours=n),
                )
            )
        session.execute(update(Review).where(Review.id.not_in(reviews)).values(announced_at=None))
    readers = {
        "all": add_subscribers(core, "telegram", 1, topics=[])[0],
        "nlp": add_subscribers(core, "telegram", 1, start=10, topics=["nlp"])[0],
        "cv": add_subscribers(core, "telegram", 1, start=20, topics=["cv"])[0],
        "null": add_subscribers(core, "telegram", 1, start=30, topics=None)[0],
        "owed": add_subscribers(core, "telegram", 1, start=40, topics=[])[0],
    }
    # "owed" still has one pending delivery (of a review that is not announced).
    [other] = [r for r in review_ids(core, 5) if r not in reviews]
    add_deliveries(core, [(readers["owed"], other, "pending")])

    planned, held_back = core.push._plan("telegram")

    newest_first = list(reversed(reviews))  # oldest announcement = highest id here
    expected = {
        "all": newest_first[:2],
        "nlp": [r for r in newest_first if wants(["nlp"], tags[r])][:2],
        "cv": [r for r in newest_first if wants(["cv"], tags[r])][:2],
        "null": newest_first[:2],
        "owed": newest_first[:1],
    }
    got = statuses(core)
    for name, subscriber_id in readers.items():
        mine = sorted(r for (s, r) in got if s == subscriber_id and r in reviews)
        assert mine == sorted(expected[name]), name
    assert planned == sum(len(ids) for ids in expected.values())
    # Held back: 4 wanted - 2 for "all" and "null", 3 - 2 for "nlp" and "cv", 4 - 1 "owed".
    assert held_back == 2 + 1 + 1 + 2 + 3
    assert core.push._plan("telegram") == (0, held_back)


# --- group commit --------------------------------------------------------------------


class InterleavingSender:
    """Records what it sends; yields to the loop first, so concurrent senders finish in
    the same turn (as HTTP answers arriving together do)."""

    channel = "telegram"
    max_reviews_per_message = 10

    def __init__(self) -> None:
        self.sent: list[str] = []

    def render(self, replies: list[Reply]) -> Sequence[object]:
        return list(replies)

    async def send_one(self, chat_id: str, message: object) -> int:
        await asyncio.sleep(0)
        self.sent.append(chat_id)
        return 1000 + int(chat_id)


def count_record_statements(core: Core) -> list[int]:
    """How many rows each recording statement wrote (one entry per transaction)."""
    batches: list[int] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES") and "sent_at" in statement:
            batches.append(len(parameters) if executemany else 1)

    event.listen(core.engine, "before_cursor_execute", seen)
    return batches


async def test_group_commit_records_every_row_once_in_shared_transactions(
    seeded_core: Core,
) -> None:
    core = seeded_core
    [review] = review_ids(core, 1)
    subscribers = add_subscribers(core, "telegram", 60, start=1)
    add_deliveries(core, [(s, review, "pending") for s in subscribers])
    service = PushService(
        core.sessions,
        core.reviews,
        core.subscriptions,
        PushOptions(concurrency=8, claim_batch=2, record_batch=1),
    )
    batches = count_record_statements(core)
    sender = InterleavingSender()

    summary = await service.run(sender, "test")

    assert summary.deliveries_sent == 60 and Counter(sender.sent).most_common(1)[0][1] == 1
    assert sum(batches) == 60, "every row recorded exactly once"
    assert len(batches) < 60, "senders finishing in one turn share a transaction"
    with core.sessions() as session:
        rows = session.execute(
            select(Subscriber.chat_id, Delivery.status, Delivery.message_ids).join(
                Subscriber, Subscriber.id == Delivery.subscriber_id
            )
        ).all()
    assert {(chat, status) for chat, status, _ in rows} == {(str(n), "sent") for n in range(1, 61)}
    assert all(ids == [1000 + int(chat)] for chat, _, ids in rows)


async def test_a_sender_returns_from_commit_once_its_row_is_written(seeded_core: Core) -> None:
    core = seeded_core
    [review] = review_ids(core, 1)
    subscribers = add_subscribers(core, "telegram", 3)
    add_deliveries(core, [(s, review, "pending") for s in subscribers])
    with core.sessions.begin() as session:
        claimed = OutboxRepository(session).claim("w-1", NOW, 3, "telegram")
    recorder = SentRecorder(core.engine, 1, 0.0, lambda: NOW)
    batches = count_record_statements(core)

    await asyncio.gather(*(recorder.commit([c.delivery_id], [7], c.subscriber_id) for c in claimed))

    # Written when the awaits returned, by another connection's reckoning; one transaction.
    assert set(statuses(core).values()) == {"sent"}
    assert batches == [3]
    assert recorder.backlog == 0


# --- the rate limiter's memory -------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_the_limiter_forgets_chats_whose_slots_have_passed() -> None:
    time = FakeTime()
    limiter = SendRateLimiter(SendLimits(private_per_second=1.0), time.clock, time.sleep)
    for n in range(5 * PRUNE_EVERY):
        await limiter.acquire(f"chat-{n}", is_group=False)
        time.now += 0.01
    # Without pruning: 5 × PRUNE_EVERY chats. With it: the last batch and the ~100 chats
    # of the last second, whose slots are still ahead.
    assert limiter.tracked_chats <= PRUNE_EVERY + 110
    assert limiter.tracked_chats >= 100


async def test_a_chat_still_being_paced_is_not_forgotten() -> None:
    time = FakeTime()
    limiter = SendRateLimiter(SendLimits(private_per_second=1.0), time.clock, time.sleep)
    await limiter.acquire("chat-a", is_group=False)
    time.now += 0.1
    limiter.prune()
    await limiter.acquire("chat-a", is_group=False)
    interval = SendLimits(private_per_second=1.0).chat_interval(False)
    assert sum(time.slept) >= interval - 0.1 - 1e-9
    time.now += 2 * interval
    limiter.prune()
    assert limiter.tracked_chats == 0
