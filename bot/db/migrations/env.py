"""Alembic environment: the engine comes from `bot.db.migrate`, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from bot.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `paperbot db upgrade` (bot.db.migrate)")


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite's table rebuild (batch mode, or a type change such as 0007's) drops the old
    table, and with foreign keys on that DROP cascades to every referencing row. SQLite's
    ALTER TABLE procedure turns them off first; the PRAGMA is a no-op inside a
    transaction, so it goes to the driver before SQLAlchemy begins one."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left {len(broken)} broken foreign key(s): {broken[:5]}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, on=False)
    try:
        # One transaction for the whole upgrade, begun here so Alembic treats it as the
        # caller's. Alembic gives SQLite (no "transactional DDL" in its book) one
        # transaction per migration: a second process could then take the write lock
        # between two of the first one's steps, read the revision it had reached, and
        # both would run the next step ("table leader_leases already exists"). Begun
        # here, it is `BEGIN IMMEDIATE` (bot/db/engine.py): the first process holds the
        # write lock until every step is in, the next one waits, then finds nothing to
        # do. SQLite's DDL is transactional, so a failed step leaves nothing behind.
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                _check_sqlite_foreign_keys(connection)
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)
