"""Engine construction: one place that knows the quirks of each backend."""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (`postgres://`, `postgresql://`) and pick our driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine; SQLite gets WAL, foreign keys and explicit transactions."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping: after a restart the pooled connections are dead; each is tested
        # on checkout and replaced. A bounded connect: an unreachable server fails (and
        # is retried, see bot/db/retry.py) instead of hanging on TCP's own timeout.
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
    _configure_sqlite(engine)
    return engine


def _on_driver(driver: sqlite3.Connection, statement: str) -> None:
    """`statement` on the DBAPI connection, its errors raised as SQLAlchemy's (a locked
    database is still `sqlalchemy.exc.OperationalError` to the callers that retry it)."""
    try:
        driver.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin,
        # so a use case's unit of work really is one transaction (see SQLAlchemy's
        # "Serializable isolation / Savepoints / Transactional DDL" recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    turn = WriterTurn()
    _TURNS[engine] = turn

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        # The pooled connection remembers its mode (its record's info, emptied when a
        # new DBAPI connection replaces it), so the pragma runs only when it changes.
        record = connection.connection
        info = record.info
        # On the driver itself: through `exec_driver_sql` each BEGIN was a whole
        # SQLAlchemy execution (events, a result object), a third of what a small read
        # on the event loop cost; nothing listens for these statements.
        driver = record.driver_connection
        if info.get(READ_ONLY, False) != read_only:
            _on_driver(driver, f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            info[READ_ONLY] = read_only
        if read_only:
            _on_driver(driver, "BEGIN")
            return
        info[_HOLDS_TURN] = turn.take()
        try:
            _on_driver(driver, SQLITE_BEGIN)
        except BaseException:
            _end(connection.connection.info, None)
            raise

    def _end(info: dict[Any, Any], statement: str | None, driver: Any = None) -> None:
        """End the transaction on the driver (COMMIT or ROLLBACK, before SQLAlchemy's
        own, then a no-op), so the write lock is free when the next writer's turn
        comes; then pass the turn on. A failed COMMIT is left to SQLAlchemy's, which
        raises it as usual."""
        if not info.pop(_HOLDS_TURN, False):
            return
        try:
            if statement is not None and driver is not None and driver.in_transaction:
                driver.execute(statement)
        except Exception:
            log.debug("%s failed; SQLAlchemy's own raises it", statement, exc_info=True)
        finally:
            turn.give()

    @event.listens_for(engine, "commit")
    def _on_commit(connection: Any) -> None:
        record = connection.connection
        _end(record.info, "COMMIT", record.driver_connection)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Any) -> None:
        record = connection.connection
        if connection.invalidated:
            _end(record.info, None)
        else:
            _end(record.info, "ROLLBACK", record.driver_connection)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # A connection returned without its transaction ended through the events
        # (the pool's own reset rolls it back): its turn must not be kept.
        _end(record.info, None)


#: How every SQLite transaction opened through the engine starts.
#:
#: A deferred `BEGIN` takes the write lock only at the first write. A transaction that
#: read first and then writes after another connection committed cannot get it: SQLite
#: answers "database is locked" at once (its snapshot is stale), and `busy_timeout`
#: does not apply, because waiting cannot help. That is the claim's, the import's and
#: a button tap's shape (read, then update), so two processes on one file failed each
#: other. `BEGIN IMMEDIATE` takes the write lock when the transaction starts; a second
#: writer then waits (`busy_timeout`) instead of failing, and sees the first one's
#: commit when it gets its turn.
#:
#: Every transaction, reads included, opens this way, on purpose. In WAL mode a
#: reader never blocks on a writer, so what a read-only transaction costs is only
#: that it waits for (and holds off) writers while it is open; our transactions are
#: short (no network I/O inside a session), so that wait is a few milliseconds. The
#: alternative, deferred reads and immediate writes, needs every caller to declare
#: its intent up front, and one that reads through `sessions()`, then commits a
#: write, would bring the failure back silently. One rule here cannot be forgotten.
SQLITE_BEGIN = "BEGIN IMMEDIATE"

#: How long a writer waits for its turn in this process before leaving the wait to
#: SQLite (`busy_timeout`), as it would without the turn.
TURN_WAIT_SECONDS = 30.0
_HOLDS_TURN = "paperbot_writer_turn"


class WriterTurn:
    """The turn of one process's SQLite writers: a writer waits for it before
    `BEGIN IMMEDIATE`, and is woken the moment the one before ends its transaction.

    Without it, threads of one process that want to write at once (a WeChat callback's
    dedupe row and another's collected writes) wait in SQLite's busy handler, which
    polls by sleeping 1, 2, 5, 10 ... 100 ms: under load most of a callback's time was
    such sleeps, with the lock free. Other processes still meet SQLite's wait, as
    before. A thread that already holds the turn (a transaction opened inside another)
    does not wait for itself; SQLite decides, as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def take(self) -> bool:
        """Wait for the turn; False (SQLite's wait decides) when this thread holds it
        already or it did not come within TURN_WAIT_SECONDS."""
        me = threading.get_ident()
        if self._owner == me or not self._lock.acquire(timeout=TURN_WAIT_SECONDS):
            return False
        self._owner = me
        return True

    def give(self) -> None:
        self._owner = None
        self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.locked()


def writer_turn(engine: Engine) -> WriterTurn | None:
    """The turn of a SQLite engine's writers (None elsewhere)."""
    return _TURNS.get(engine)


#: The execution option of `read_only` engines (see there).
READ_ONLY = "paperbot_read_only"


def read_only(engine: Engine) -> Engine:
    """An engine on `engine`'s store for transactions that only read: the hot reads of a
    reader's message (a search, a page of reviews, the choices a reader was offered, a
    chat's language), which no longer queue behind writers.

    On SQLite they begin DEFERRED: in WAL mode a reader never needs the write lock, and
    `BEGIN IMMEDIATE` made every read wait for (and sleep in SQLite's busy handler
    behind) each other process's and thread's write; at a few hundred WeChat
    callbacks a second that wait was most of a callback's latency, and, for the reads
    run on the event loop, everyone's. The rule above still holds where it matters: the
    connection is `PRAGMA query_only` for such a transaction, so a write through a
    read-only engine fails at once ("attempt to write a readonly database") instead of
    bringing back the stale-snapshot failure.

    A store in a file gets a pool of its own for them (one per engine, disposed with
    it), whose connections stay `query_only`: switching one pooled connection between
    the modes cost two statements each time. An in-memory store (one database per
    connection pool) shares the pool and switches. Elsewhere (PostgreSQL) this is
    `engine` as it is, with an option no one reads.
    """
    url = engine.url
    if engine.dialect.name != "sqlite" or _in_memory(url.database, url.query.get("mode")):
        return engine.execution_options(**{READ_ONLY: True})
    with _READERS_LOCK:
        readers = _READERS.get(engine)
        if readers is None:
            own = create_engine(url, connect_args={"timeout": 30})
            _configure_sqlite(own)
            event.listen(engine, "engine_disposed", lambda _engine: own.dispose())
            readers = own.execution_options(**{READ_ONLY: True})
            _READERS[engine] = readers
        return readers


def _in_memory(database: str | None, mode: Any) -> bool:
    return (
        not database
        or database == ":memory:"
        or "memory" in (database, mode)
        or (database.startswith("file::memory:"))
    )


_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurn] = weakref.WeakKeyDictionary()
#: Each file store's engine for reads (`read_only`), while the engine lives.
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_READERS_LOCK = threading.Lock()


def read_only_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A session factory like `sessions`, on `read_only(its engine)`."""
    return sessionmaker(read_only(sessions.kw["bind"]), expire_on_commit=False)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
