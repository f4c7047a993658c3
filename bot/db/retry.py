"""Retrying a unit of database work whole while the database is away or busy.

A unit of work is a callable that opens its own transaction, does its statements and
commits (e.g. `with sessions.begin() as session: ...`). When it fails because the
connection broke (PostgreSQL restarted, the network dropped) or the database was
busy (SQLite's "database is locked" after `busy_timeout`), nothing of it was
committed, so it can simply run again. SQLAlchemy invalidates a connection that
failed with a disconnect and the pool (with `pool_pre_ping`) hands out a fresh one,
so the next attempt does not reuse the dead socket.

What is retried: `OperationalError` and `InterfaceError` (the DBAPI's "the database
or the connection is in trouble", not a bug in our SQL) and any DBAPI error SQLAlchemy
marked as a disconnect. Integrity errors, programming errors and the like are bugs or
bad data and are raised at once.

One caveat the callers must live with: a connection lost during COMMIT leaves it
unknown whether the transaction committed. The retry runs the work again, so each
unit is written to be safe to repeat (updates guarded by the row's current status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class DatabaseUnavailableError(Exception):
    """The database did not answer within the retry patience; one line says why."""


def is_transient(exc: BaseException) -> bool:
    """True for errors that another attempt on a fresh connection may not have."""
    if isinstance(exc, DatabaseUnavailableError):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's SQL dump and background link."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class DbRetry:
    """Exponential backoff (base, doubling, capped) for at most `patience` seconds."""

    #: How long to keep trying before giving up (DB_RETRY_SECONDS); 0 tries once.
    patience: float = 120.0
    base_delay: float = 0.25
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base_delay * 2 ** (attempt - 1), self.max_delay))

    def _next_delay(self, what: str, attempt: int, started: float, exc: BaseException) -> float:
        """The wait before the next attempt, or raise when the patience is used up."""
        waited = time.monotonic() - started
        if waited >= self.patience:
            raise DatabaseUnavailableError(
                f"database unavailable for {waited:.0f} s while {what}: {first_line(exc)}"
            ) from exc
        delay = min(self.delay(attempt), max(self.patience - waited, 0.0))
        log.warning(
            "database error while %s (attempt %d, retrying in %.2f s): %s",
            what,
            attempt,
            delay,
            first_line(exc),
        )
        return delay

    def run(self, work: Callable[[], _T], what: str) -> _T:
        """Run `work` until it succeeds; blocking sleeps (for code outside an event loop)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return work()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                time.sleep(self._next_delay(what, attempt, started, exc))

    async def arun(self, work: Callable[[], _T], what: str) -> _T:
        """Run `work` until it succeeds, sleeping without blocking the event loop."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = work()
                if attempt > 1:
                    log.info("database answers again: %s done (attempt %d)", what, attempt)
                return result
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(self._next_delay(what, attempt, started, exc))

    async def athread(self, work: Callable[[], _T], what: str) -> _T:
        """`arun` with each attempt in a worker thread: for a transaction the event loop
        must not wait on (the send pacer's: its senders are due to the millisecond).
        Cancelling the caller leaves the attempt under way to finish in its thread."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await asyncio.to_thread(work)
                if attempt > 1:
                    log.info("database answers again: %s done (attempt %d)", what, attempt)
                return result
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(self._next_delay(what, attempt, started, exc))
