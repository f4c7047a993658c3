"""Alembic migrations: the stairway (up, down, up again) and no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.core.search_index import BACKEND_SPECIFIC_OBJECTS
from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Base

TABLES = {"reviews", "subscribers", "deliveries", "arxiv_candidates", "audit_log"}


def test_stairway_upgrade_downgrade_upgrade(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Skip only the search index's backend-specific objects (SQLite's FTS5 table and
    its shadow tables, PostgreSQL's tsvector column and GIN index), which no model
    describes: found in the database, absent from the models, and named exactly."""
    return not (reflected and compare_to is None and name in BACKEND_SPECIFIC_OBJECTS)


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": include_object}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_sqlite_runs_with_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
