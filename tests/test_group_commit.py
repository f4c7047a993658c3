"""Group commit (bot/db/group_commit.py) on real SQLite files and PostgreSQL: claims and
messages' writes that arrive while a transaction runs share the next one, each caller
still learns its own outcome, and one message's failure takes none of the others down."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import sessionmaker

from bot.app import Core
from bot.core.inbound_dedupe import InboundDedupe
from bot.core.message_writes import one_transaction_in_thread, upsert, write
from bot.db import group_commit
from bot.db.engine import make_engine
from bot.db.models import ChatList, SeenInbound, utcnow
from tests.support.stores import commits

CHAT_LISTS = ChatList.__table__


def _commits(core: Core) -> list[int]:
    return commits(core.engine)


def _count_rows(url: str, model: Any, **where: str) -> int:
    """Counted through an engine of its own: what another process would see."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


@contextmanager
def _writer_held(core: Core) -> Iterator[group_commit.GroupWriter]:
    """The engine's writer busy in a transaction until the block ends: whatever is
    submitted meanwhile waits for, and is committed in, the next batch."""
    writer = group_commit.writer(core.engine)
    started, release = threading.Event(), threading.Event()

    def hold(connection: Connection) -> None:
        started.set()
        release.wait(30)

    writer.post(hold)
    assert started.wait(10)
    try:
        yield writer
    finally:
        release.set()


async def _until_queued(writer: group_commit.GroupWriter, count: int) -> None:
    deadline = time.monotonic() + 10
    while writer.queued < count:
        assert time.monotonic() < deadline, f"{writer.queued} of {count} jobs queued"
        await asyncio.sleep(0.005)


def test_claims_queued_meanwhile_are_one_commit_with_one_winner_per_key(
    core: Core, database_url: str
) -> None:
    dedupe = InboundDedupe(core.sessions)
    keys = [f"msg-{n}" for n in range(40)]
    attempts = keys * 3  # each key claimed three times in the same batch
    random.Random(5).shuffle(attempts)

    async def claim_all() -> list[bool]:
        with _writer_held(core) as writer:
            commits = _commits(core)
            claims = [asyncio.ensure_future(dedupe.claim("wechat", key)) for key in attempts]
            await _until_queued(writer, len(attempts))
        results = await asyncio.gather(*claims)
        # The hold's transaction, then one for all 120 claims.
        assert len(commits) == 2
        return results

    results = asyncio.run(claim_all())
    winners = sorted(key for key, new in zip(attempts, results, strict=True) if new)
    assert winners == sorted(keys)
    assert _count_rows(database_url, SeenInbound) == len(keys)
    # Committed: a retry at another process finds every claim.
    elsewhere = make_engine(database_url)
    try:
        other = InboundDedupe(sessionmaker(elsewhere))
        assert not any(other.first_time("wechat", key) for key in keys)
    finally:
        group_commit.close(elsewhere)
        elsewhere.dispose()


def test_claims_from_many_threads_have_exactly_one_winner_per_key(
    core: Core, database_url: str
) -> None:
    dedupe = InboundDedupe(core.sessions)
    keys = [f"event-{n}" for n in range(50)]

    def claim_in_turn(seed: int) -> list[tuple[str, bool]]:
        order = list(keys)
        random.Random(seed).shuffle(order)
        return [(key, dedupe.first_time("wechat", key)) for key in order]

    commits = _commits(core)
    with ThreadPoolExecutor(8) as pool:
        outcomes = [pair for found in pool.map(claim_in_turn, range(8)) for pair in found]
    winners = sorted(key for key, new in outcomes if new)
    assert winners == sorted(keys)
    assert _count_rows(database_url, SeenInbound) == len(keys)
    # 400 claims from 8 threads shared transactions.
    assert len(commits) < len(outcomes)


def test_a_claim_is_committed_before_it_returns_and_forget_lets_a_retry_in(
    core: Core, database_url: str
) -> None:
    dedupe = InboundDedupe(core.sessions)

    async def scenario() -> None:
        assert await dedupe.claim("wechat", "m-1")
        assert _count_rows(database_url, SeenInbound, key="m-1") == 1
        assert not await dedupe.claim("wechat", "m-1")
        await asyncio.to_thread(dedupe.forget, "wechat", "m-1")
        assert _count_rows(database_url, SeenInbound, key="m-1") == 0
        assert await dedupe.claim("wechat", "m-1")

    asyncio.run(scenario())


def _chat_row(connection: Connection, chat_id: str, items: dict[str, int]) -> None:
    values = {
        "channel": "wechat",
        "chat_id": chat_id,
        "list_key": "latest",
        "items": items,
        "updated_at": utcnow(),
    }
    upsert(connection, CHAT_LISTS, values, ("channel", "chat_id"), ("items",))  # type: ignore[arg-type]


def test_one_failed_messages_writes_roll_back_alone_and_the_batch_commits(
    core: Core, database_url: str
) -> None:
    engine = core.engine

    async def message(chat_id: str, fail: bool) -> None:
        async with one_transaction_in_thread():
            write(engine, lambda connection: _chat_row(connection, chat_id, {"1": 1}))
            if fail:

                def half_then_fail(connection: Connection) -> None:
                    _chat_row(connection, f"{chat_id}-second", {"1": 2})
                    raise RuntimeError("the message's second write failed")

                write(engine, half_then_fail)

    async def scenario() -> list[BaseException | None]:
        with _writer_held(core) as writer:
            commits = _commits(core)
            chats = [(f"reader-{n}", n == 2) for n in range(5)]
            tasks = [asyncio.ensure_future(message(chat, fail)) for chat, fail in chats]
            await _until_queued(writer, len(tasks))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert len(commits) == 2
        return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]

    outcomes = asyncio.run(scenario())
    assert [type(outcome) for outcome in outcomes] == [
        type(None),
        type(None),
        RuntimeError,
        type(None),
        type(None),
    ]
    for n in (0, 1, 3, 4):
        assert _count_rows(database_url, ChatList, chat_id=f"reader-{n}") == 1
    # Nothing half-written: neither of the failed message's rows.
    assert _count_rows(database_url, ChatList, chat_id="reader-2") == 0
    assert _count_rows(database_url, ChatList, chat_id="reader-2-second") == 0


def test_a_batch_that_fails_as_a_whole_gives_each_job_its_own_outcome(
    core: Core, database_url: str
) -> None:
    """A job without a savepoint breaks the shared transaction (on PostgreSQL it aborts
    it): the others are run again alone and commit; only that job's caller fails."""
    dedupe = InboundDedupe(core.sessions)

    def broken(connection: Connection) -> None:
        connection.execute(text("SELECT no_such_column FROM seen_inbound"))

    async def scenario() -> tuple[list[bool], BaseException | None]:
        with _writer_held(core) as writer:
            claims = [asyncio.ensure_future(dedupe.claim("wechat", f"k{n}")) for n in range(4)]
            bad = asyncio.ensure_future(writer.run(broken, isolated=False))
            more = [asyncio.ensure_future(dedupe.claim("wechat", f"k{n}")) for n in range(4, 8)]
            await _until_queued(writer, 9)
        results = await asyncio.gather(*claims, *more)
        failure = (await asyncio.gather(bad, return_exceptions=True))[0]
        return results, failure if isinstance(failure, BaseException) else None

    results, failure = asyncio.run(scenario())
    assert results == [True] * 8
    assert failure is not None
    assert _count_rows(database_url, SeenInbound) == 8


def test_close_commits_what_is_still_queued(core: Core, database_url: str) -> None:
    writer = group_commit.writer(core.engine)
    done: list[str] = []
    block = threading.Event()

    def slow(connection: Connection) -> None:
        block.wait(10)

    def claim(key: str) -> Callable[[Connection], None]:
        def job(connection: Connection) -> None:
            connection.execute(
                SeenInbound.__table__.insert(),  # type: ignore[attr-defined]
                {"channel": "wechat", "key": key, "seen_at": utcnow()},
            )
            done.append(key)

        return job

    writer.post(slow)
    for n in range(5):
        writer.post(claim(f"queued-{n}"))
    closer = threading.Thread(target=group_commit.close, args=(core.engine,))
    closer.start()
    block.set()
    closer.join(20)
    assert not closer.is_alive()
    assert sorted(done) == [f"queued-{n}" for n in range(5)]
    assert _count_rows(database_url, SeenInbound) == 5
    # Usable again afterwards (a stop that is not the end of the engine).
    assert InboundDedupe(core.sessions).first_time("wechat", "after-close")


def test_a_job_cannot_wait_for_the_writer_from_inside_it(core: Core) -> None:
    """It would wait for itself forever: it fails instead."""
    writer = group_commit.writer(core.engine)

    def nested(connection: Connection) -> None:
        writer.run_sync(lambda inner: None)

    with pytest.raises(RuntimeError, match="cannot wait"):
        writer.run_sync(nested)
