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

An outage is logged once, not once per retry: the first failure of any unit of work
logs a WARNING (`OUTAGE.failed`), later ones while it lasts go to DEBUG, and the first
success after it logs one INFO line saying how long it was away (`OUTAGE.answered`).
The push's senders, the leader lease, the replica heartbeat and the web archive's
version check all report to the one process-wide `OUTAGE` (a process has one store),
so a PostgreSQL restart reads as two lines in each replica's log, plus the state
changes it caused (a leader stepping down, a push interrupted).

One caveat the callers must live with: a connection lost during COMMIT leaves it
unknown whether the transaction committed. The retry runs the work again, so each
unit is written to be safe to repeat (updates guarded by the row's current status).
"""

from __future__ import annotations

import asyncio
import logging
import threading
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


class OutageLog:
    """Says once that the database stopped answering and once that it answers again.

    Thread-safe: units of work fail in worker threads (`asyncio.to_thread`) and in the
    event loop at once. A success while no outage is open costs one attribute read."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._log = logger
        self._lock = threading.Lock()
        self._since: float | None = None
        self._errors = 0

    @property
    def open(self) -> bool:
        return self._since is not None

    def failed(self, what: str, exc: BaseException) -> bool:
        """Record a transient failure while `what`; True if it opened the outage
        (logged at WARNING), False if one was already open (logged at DEBUG)."""
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
                self._errors = 0
            self._errors += 1
        if first:
            self._log.warning(
                "database error while %s: %s; retrying with backoff (further errors at "
                "DEBUG until the database answers again)",
                what,
                first_line(exc),
            )
        else:
            self._log.debug("database error while %s: %s", what, first_line(exc))
        return first

    def answered(self) -> None:
        """A unit of work succeeded: close the outage, if one is open, with one line."""
        if self._since is None:
            return
        with self._lock:  # another thread may have closed it since the check above
            since, self._since = self._since, None
            errors, self._errors = self._errors, 0
        if since is not None:
            self._log.info(
                "database answers again after %.1f s (%d failed attempts meanwhile)",
                time.monotonic() - since,
                errors,
            )


#: The process's one outage state (bot.core.push, bot.core.leadership, bot.replicas...).
OUTAGE = OutageLog()


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
        OUTAGE.failed(f"{what} (attempt {attempt}, retrying in {delay:.2f} s)", exc)
        return delay

    def run(self, work: Callable[[], _T], what: str) -> _T:
        """Run `work` until it succeeds; blocking sleeps (for code outside an event loop)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = work()
                OUTAGE.answered()
                return result
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
                OUTAGE.answered()
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
