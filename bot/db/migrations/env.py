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
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()
            _sqlite_foreign_keys(connection, on=True)
