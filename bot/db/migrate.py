"""Run Alembic migrations programmatically (`paperbot db upgrade` and start-up)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The PostgreSQL advisory lock every paperbot process takes around its migrations
#: (any constant that no other application on the database uses; ASCII "paperbot").
#: Advisory locks are database-wide: processes on other schemas of one database wait
#: for each other too, which costs a moment at start-up and nothing else.
MIGRATION_LOCK_KEY = 0x7061706572626F74

#: Alembic's `context` is one module-level object: two threads of one process must not
#: migrate at the same time, whatever the backend.
_THREAD_LOCK = threading.Lock()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the migration lock (PostgreSQL) while the body runs.

    Without it, processes started at once on a fresh schema all create the same tables
    and all but one fail (`UniqueViolation ... pg_type_typname_nsp_index`). The lock is
    taken on a dedicated connection in autocommit mode, so Alembic's own transaction
    is untouched; a process that dies releases it with its connection. SQLite needs
    nothing here: the whole upgrade is one transaction begun IMMEDIATE (migrations/env.py,
    bot/db/engine.py), so a second migrating process waits for the first one's commit
    and then finds nothing to do.
    """
    with _THREAD_LOCK:
        if engine.dialect.name != "postgresql":
            yield
            return
        with _advisory_lock(engine):
            yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})


def upgrade(
    engine: Engine, revision: str = "heads", then: Callable[[], None] | None = None
) -> None:
    """Migrate to `revision` under the migration lock; `then` runs under it too (the
    start-up work that must not race either, e.g. building the search index)."""
    with migration_lock(engine):
        command.upgrade(alembic_config(engine), revision)
        if then is not None:
            then()


def downgrade(engine: Engine, revision: str = "base") -> None:
    with migration_lock(engine):
        command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The single latest revision (migrations are kept linear; a merge keeps them so)."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


class SchemaOutOfDateError(RuntimeError):
    """The store is not at the code's revision and this process may not migrate it."""


def require_head(engine: Engine) -> None:
    """With DB_AUTO_UPGRADE=false: refuse to run on a schema the code does not match."""
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        raise SchemaOutOfDateError(
            f"the database is at revision {current or 'base'}, this code needs {head}; "
            "run `paperbot db upgrade` (DB_AUTO_UPGRADE=false keeps processes from migrating)"
        )
