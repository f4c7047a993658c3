"""Engine construction: one place that knows the quirks of each backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


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

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        # The pooled connection remembers its mode (its record's info, emptied when a
        # new DBAPI connection replaces it), so the pragma runs only when it changes.
        info = connection.connection.info
        if info.get(READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            info[READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else SQLITE_BEGIN)


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

#: The execution option of `read_only` engines (see there).
READ_ONLY = "paperbot_read_only"


def read_only(engine: Engine) -> Engine:
    """`engine` (same pool) for transactions that only read: the hot reads of a reader's
    message (a search, a page of reviews, the choices a reader was offered, a chat's
    language), which no longer queue behind writers.

    On SQLite they begin DEFERRED: in WAL mode a reader never needs the write lock, and
    `BEGIN IMMEDIATE` made every read wait for (and sleep in SQLite's busy handler
    behind) each other process's and thread's write; at a few hundred WeChat
    callbacks a second that wait was most of a callback's latency, and, for the reads
    run on the event loop, everyone's. The rule above still holds where it matters: the
    connection is `PRAGMA query_only` for such a transaction, so a write through a
    read-only engine fails at once ("attempt to write a readonly database") instead of
    bringing back the stale-snapshot failure. Elsewhere (PostgreSQL) it changes nothing.
    """
    return engine.execution_options(**{READ_ONLY: True})


def read_only_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A session factory like `sessions`, on `read_only(its engine)`."""
    return sessionmaker(read_only(sessions.kw["bind"]), expire_on_commit=False)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
