"""Inbound messages taken on once, across retries and processes.

A service that retries a delivery it got no answer for (WeChat: after 5 s, three times
in all, and a retry can arrive while the first is still being handled, at another
replica) must not get two replies or two subscriptions. The first process to insert the
(channel, key) row handles the message; every later attempt finds the row and does not.
The primary key makes that decision in the database, so it holds across processes.

A claim is one row, and a transaction of its own per message was most of what it cost:
claims go through the engine's group writer (bot/db/group_commit.py), which commits the
claims (and the messages' other writes) that arrived meanwhile in one transaction. Each
claim is an `INSERT ... ON CONFLICT DO NOTHING` whose row count says whether its row was
new, so two claims of one key in one batch still have one winner; the caller learns it
only once the batch has committed, so a retry, here or at another process, finds the row
before the message is handled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, Executable, Table, bindparam, delete, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import group_commit
from bot.db.models import SeenInbound, utcnow

_TABLE: Table = SeenInbound.__table__  # type: ignore[assignment]
#: The claim on SQLite and PostgreSQL: one statement (text with typed parameters, compiled
#: once, as message_writes' upserts), a row count of 0 when the row was there already.
_CLAIM_IF_NEW: Executable = text(
    'INSERT INTO seen_inbound (channel, "key", seen_at) VALUES (:channel, :key, :seen_at) '
    'ON CONFLICT (channel, "key") DO NOTHING'
).bindparams(bindparam("seen_at", type_=_TABLE.c.seen_at.type))
#: Elsewhere: a plain INSERT, a duplicate an IntegrityError (in a savepoint of its own).
_CLAIM = insert(_TABLE)

#: Retries come within seconds; a day's rows are more than enough to see them.
KEEP_FOR = dt.timedelta(days=2)
PRUNE_EVERY = 500


class InboundDedupe:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        self._claimed = 0

    async def claim(self, channel: str, key: str) -> bool:
        """True for the first attempt at (channel, key), False for any repeat; from a
        coroutine, without a worker thread of its own (the group writer's does it).
        Committed before it returns: a retry arriving meanwhile, at this process or
        another, must find the row."""
        writer = group_commit.writer(self._engine)
        # No savepoint: the statement fails only with the whole transaction.
        return self._claimed_one(await writer.run(self._claim_job(channel, key), isolated=False))

    def first_time(self, channel: str, key: str) -> bool:
        """`claim` for a thread."""
        writer = group_commit.writer(self._engine)
        return self._claimed_one(writer.run_sync(self._claim_job(channel, key), isolated=False))

    def _claim_job(self, channel: str, key: str) -> Callable[[Connection], bool]:
        """The claim as a group writer's job: True when its row is new."""
        row = {"channel": channel, "key": key[:200], "seen_at": utcnow()}
        if self._engine.dialect.name in ("sqlite", "postgresql"):

            def if_new(connection: Connection) -> bool:
                result = connection.execute(_CLAIM_IF_NEW, row)
                return bool(result.rowcount)

            return if_new

        def insert_row(connection: Connection) -> bool:
            try:
                with connection.begin_nested():
                    connection.execute(_CLAIM, row)
            except IntegrityError:
                return False
            return True

        return insert_row

    def _claimed_one(self, new: bool) -> bool:
        if new:
            self._claimed += 1
            if self._claimed % PRUNE_EVERY == 0:
                group_commit.writer(self._engine).post(lambda connection: self._prune(connection))
        return new

    def forget(self, channel: str, key: str) -> None:
        """Let a retry handle (channel, key) again: the first attempt failed before it
        could answer, so the message must not be lost to its own dedupe row."""
        with self._sessions() as session:
            session.execute(
                delete(SeenInbound).where(
                    SeenInbound.channel == channel, SeenInbound.key == key[:200]
                )
            )
            session.commit()

    def prune(self, now: dt.datetime | None = None) -> int:
        with self._engine.begin() as connection:
            return self._prune(connection, now)

    @staticmethod
    def _prune(connection: Connection, now: dt.datetime | None = None) -> int:
        cutoff = (now or utcnow()) - KEEP_FOR
        result = connection.execute(delete(_TABLE).where(_TABLE.c.seen_at < cutoff))
        return int(result.rowcount)
