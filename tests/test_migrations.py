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


def test_0005_classifies_old_failures_and_announces_only_pushed_or_published_reviews(
    database_url: str,
) -> None:
    """Data kept through 0005: failures get a kind from their text, published reviews an
    announcement time only when they were pushed or published after creation (an
    import's back catalogue stays unannounced), and the downgrade keeps the rows."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    created, later = "2026-01-01 00:00:00", "2026-02-01 00:00:00"
    try:
        migrate.upgrade(engine, "0004")
        with engine.begin() as connection:
            for review_id, published_at in ((1, later), (2, created), (3, created), (4, created)):
                connection.execute(
                    text(
                        "INSERT INTO reviews (id, slug, title, authors, section, tags, body, "
                        "summary, status, published_at, content_hash, created_at, updated_at) "
                        "VALUES (:id, :slug, 't', '', 'latest', '[]', '', '', 'published', "
                        ":published_at, 'h', :created, :created)"
                    ),
                    {
                        "id": review_id,
                        "slug": f"r{review_id}",
                        "published_at": published_at,
                        "created": created,
                    },
                )
            connection.execute(
                text(
                    "INSERT INTO subscribers (id, channel, chat_id, chat_type, language, topics, "
                    "push_format, status, subscribed_at, created_at, updated_at) VALUES "
                    "(:id, 'telegram', :id, 'private', 'zh', '[]', 'digest', 'active', :t, :t, :t)"
                ),
                [{"id": 1, "t": created}, {"id": 2, "t": created}],
            )
            for delivery_id, review_id, error in (
                (1, 2, "gave up after 5 attempts: Bad Gateway"),
                (2, 3, "blocked: Forbidden: bot was blocked by the user"),
                (3, 3, None),
            ):
                connection.execute(
                    text(
                        "INSERT INTO deliveries (id, subscriber_id, review_id, status, attempts, "
                        "last_error, message_ids, created_at) VALUES (:id, :subscriber, :review, "
                        ":status, 1, :error, '[]', :t)"
                    ),
                    {
                        "id": delivery_id,
                        "subscriber": 1 if delivery_id < 3 else 2,
                        "review": review_id,
                        "error": error,
                        "t": created,
                        "status": "failed" if error else "sent",
                    },
                )
        migrate.upgrade(engine)
        with engine.connect() as connection:
            kinds = connection.execute(
                text("SELECT id, error_kind, retry_runs FROM deliveries ORDER BY id")
            ).all()
            announced = connection.execute(
                text("SELECT id, announced_at IS NOT NULL FROM reviews ORDER BY id")
            ).all()
        assert [tuple(row) for row in kinds] == [
            (1, "transient", 0),
            (2, "final", 0),
            (3, None, 0),
        ]
        # 1 was published after it was created (the queue), 2 and 3 were pushed, 4 was
        # born published by an import and never pushed: back catalogue.
        assert [(row[0], bool(row[1])) for row in announced] == [
            (1, True),
            (2, True),
            (3, True),
            (4, False),
        ]
        migrate.downgrade(engine, "0004")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM deliveries")).scalar() == 3
            assert connection.execute(text("SELECT count(*) FROM reviews")).scalar() == 4
    finally:
        engine.dispose()
