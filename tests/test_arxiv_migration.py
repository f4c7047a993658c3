"""Migration 0003 (arXiv watcher) keeps existing candidates and undoes itself fully."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, text

from bot.db import migrate
from bot.db.engine import make_engine


def schema(engine: Engine) -> dict[str, Any]:
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"])
                for i in inspector.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(c["name"] for c in inspector.get_check_constraints(table)),
        }
    return tables


def test_0003_keeps_candidates_and_downgrades_to_exactly_0001(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        before = schema(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO arxiv_candidates (arxiv_id, version, title, authors, abstract, "
                    "categories, announce_type, score, reason, status, first_seen_at, updated_at) "
                    "VALUES ('2508.13167', 1, 'Chain-of-Agents', '[]', '', '[]', 'new', 1.5, "
                    "'kept', 'pending', '2025-08-20 04:00:00', '2025-08-20 04:00:00')"
                )
            )
        migrate.upgrade(engine, "0003")
        after_upgrade = schema(engine)
        assert {"arxiv_feed_state", "arxiv_records"} <= set(after_upgrade)
        columns = [name for name, *_ in after_upgrade["arxiv_candidates"]["columns"]]
        assert {"signals", "review_id", "decided_at", "alerted_at"} <= set(columns)
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT reason, review_id, alerted_at FROM arxiv_candidates")
            ).one()
        assert tuple(row) == ("kept", None, None)

        migrate.downgrade(engine, "0001")
        assert schema(engine) == before
        with engine.connect() as connection:
            assert connection.execute(text("SELECT reason FROM arxiv_candidates")).scalar() == (
                "kept"
            )
    finally:
        engine.dispose()
