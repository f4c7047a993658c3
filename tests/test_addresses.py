"""Addresses that are not Telegram ids: a chat is `(channel, address)` with a string
address, from the schema (migration 0007) through subscriptions, the push and the
senders, to the admins named in ADMIN_IDS."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from bot.db import migrate
from bot.db.engine import make_engine

WECHAT_OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
CREATED = "2026-01-01 00:00:00"
#: Telegram ids as they come: a private chat, a group, a supergroup/channel (-100...).
TELEGRAM_IDS = (4242, -987654, -1001234567890)


def _fill_at_0005(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO reviews (id, slug, title, authors, section, tags, body, summary, "
                "status, published_at, content_hash, created_at, updated_at) VALUES "
                "(:id, :slug, 't', '', 'latest', '[]', '', '', 'published', :t, 'h', :t, :t)"
            ),
            [{"id": 1, "slug": "r1", "t": CREATED}, {"id": 2, "slug": "r2", "t": CREATED}],
        )
        connection.execute(
            text(
                "INSERT INTO subscribers (id, channel, chat_id, chat_type, language, topics, "
                "push_format, status, subscribed_at, created_at, updated_at) VALUES "
                "(:id, 'telegram', :chat, 'private', 'zh', '[]', 'digest', 'active', :t, :t, :t)"
            ),
            [
                {"id": index + 1, "chat": chat_id, "t": CREATED}
                for index, chat_id in enumerate(TELEGRAM_IDS)
            ],
        )
        connection.execute(
            text(
                "INSERT INTO deliveries (id, subscriber_id, review_id, status, attempts, "
                "message_ids, created_at, retry_runs) VALUES "
                "(:id, :subscriber, :review, 'sent', 1, '[7]', :t, 0)"
            ),
            [
                {"id": 1, "subscriber": 1, "review": 1, "t": CREATED},
                {"id": 2, "subscriber": 2, "review": 1, "t": CREATED},
                {"id": 3, "subscriber": 3, "review": 2, "t": CREATED},
            ],
        )
        connection.execute(
            text(
                "INSERT INTO audit_log (at, channel, actor, action, target, allowed, detail) "
                "VALUES (:t, 'telegram', '4242', 'publish', 'r1', :allowed, '')"
            ),
            {"t": CREATED, "allowed": True},
        )


def _snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            "subscribers": [
                tuple(row)
                for row in connection.execute(
                    text("SELECT id, channel, chat_id, status FROM subscribers ORDER BY id")
                )
            ],
            "deliveries": [
                tuple(row)
                for row in connection.execute(
                    text("SELECT id, subscriber_id, review_id, status FROM deliveries ORDER BY id")
                )
            ],
            "audit": [
                tuple(row)
                for row in connection.execute(text("SELECT channel, actor, action FROM audit_log"))
            ],
        }


def test_0007_turns_chat_ids_into_strings_and_keeps_every_row(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0005")
        _fill_at_0005(engine)
        before = _snapshot(engine)
        assert [row[2] for row in before["subscribers"]] == list(TELEGRAM_IDS)

        migrate.upgrade(engine, "0007")
        after = _snapshot(engine)
        assert [row[2] for row in after["subscribers"]] == [str(i) for i in TELEGRAM_IDS]
        assert after["deliveries"] == before["deliveries"]
        assert after["audit"] == before["audit"] == [("telegram", "4242", "publish")]
        with engine.connect() as connection:
            # The rebuilt table still enforces its constraints, and foreign keys are on
            # again for the application's connections.
            if engine.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            found = connection.execute(
                text("SELECT id FROM subscribers WHERE channel = 'telegram' AND chat_id = :c"),
                {"c": "-1001234567890"},
            ).scalar()
            assert found == 3

        migrate.downgrade(engine, "0005")
        assert _snapshot(engine) == before
        migrate.upgrade(engine, "0007")
        assert _snapshot(engine) == after
    finally:
        engine.dispose()


def test_0007_downgrade_refuses_addresses_that_are_not_integers(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0005")
        _fill_at_0005(engine)
        migrate.upgrade(engine, "0007")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO subscribers (id, channel, chat_id, chat_type, language, topics, "
                    "push_format, status, subscribed_at, created_at, updated_at) VALUES "
                    "(9, 'wechat', :chat, 'private', 'zh', '[]', 'digest', 'active', :t, :t, :t)"
                ),
                {"chat": WECHAT_OPENID, "t": CREATED},
            )
        before = _snapshot(engine)
        with pytest.raises(RuntimeError, match=f"1 subscriber.*wechat:{WECHAT_OPENID}"):
            migrate.downgrade(engine, "0005")
        assert migrate.current_revision(engine) == "0007"
        assert _snapshot(engine) == before
    finally:
        engine.dispose()
