"""Inbound messages taken on once, across retries and processes.

A service that retries a delivery it got no answer for (WeChat: after 5 s, three times
in all, and a retry can arrive while the first is still being handled, at another
replica) must not get two replies or two subscriptions. The first process to insert the
(channel, key) row handles the message; every later attempt finds the row and does not.
The primary key makes that decision in the database, so it holds across processes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import SeenInbound, utcnow

_TABLE: Table = SeenInbound.__table__  # type: ignore[assignment]
#: A Core INSERT (one statement, compiled once): the claim is on every message's path,
#: and the ORM's unit of work would cost more than the insert itself.
_CLAIM = insert(_TABLE)

#: Retries come within seconds; a day's rows are more than enough to see them.
KEEP_FOR = dt.timedelta(days=2)
PRUNE_EVERY = 500


class InboundDedupe:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._engine = sessions.kw["bind"]
        self._claimed = 0

    def first_time(self, channel: str, key: str) -> bool:
        """True for the first attempt at (channel, key), False for any repeat."""
        row = {"channel": channel, "key": key[:200], "seen_at": utcnow()}
        try:
            # Committed before the message is handled: a retry arriving meanwhile, at
            # this process or another, must find the row.
            with self._engine.begin() as connection:
                connection.execute(_CLAIM, row)
        except IntegrityError:
            return False
        self._claimed += 1
        if self._claimed % PRUNE_EVERY == 0:
            self.prune()
        return True

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
        cutoff = (now or utcnow()) - KEEP_FOR
        with self._sessions() as session:
            result = session.execute(delete(SeenInbound).where(SeenInbound.seen_at < cutoff))
            session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]
