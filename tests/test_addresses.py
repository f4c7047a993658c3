"""Addresses that are not Telegram ids: a chat is `(channel, address)` with a string
address, from the schema (migration 0007) through subscriptions, the push and the
senders, to the admins named in ADMIN_IDS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from bot.app import Core, build_core
from bot.core.addresses import ChatAddress
from bot.core.conversation import Caller, Reply
from bot.core.notify import notify_admins
from bot.core.richtext import paragraph, rich
from bot.core.sources import read_source
from bot.db import migrate
from bot.db.engine import make_engine
from bot.db.models import Delivery, Subscriber
from bot.settings import SettingsError
from tests.support.cli import run_cli
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings

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


def test_paperbot_db_downgrade_explains_the_refusal(tmp_path: Path, sqlite_url: str) -> None:
    """The operator's view of the refusal: one clear line, not a traceback."""
    assert run_cli(["db", "upgrade"], tmp_path, DATABASE_URL=sqlite_url).returncode == 0
    engine = make_engine(sqlite_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO subscribers (channel, chat_id, chat_type, language, topics, "
                    "push_format, status, subscribed_at, created_at, updated_at) VALUES "
                    "('wechat', :chat, 'private', 'zh', '[]', 'digest', 'active', :t, :t, :t)"
                ),
                {"chat": WECHAT_OPENID, "t": CREATED},
            )
    finally:
        engine.dispose()
    refused = run_cli(["db", "downgrade", "0005"], tmp_path, DATABASE_URL=sqlite_url)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: cannot downgrade below 0007: 1 subscriber(s) have an address that is not an "
        f"integer (e.g. wechat:{WECHAT_OPENID}); before 0007 a chat id was a Telegram "
        "integer. Remove or export those subscribers first."
    )


# --- a WeChat subscriber through the store, the plan and the push -----------------------


class RecordingSender:
    """A channel's sender that records what it sends instead of calling a platform: the
    push's real collaborator, as a new channel would implement it."""

    max_reviews_per_message = 10

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[tuple[str, Reply]] = []

    def render(self, replies: list[Reply]) -> Sequence[object]:
        return list(replies)

    async def send_one(self, chat_id: str, message: object) -> int:
        assert isinstance(message, Reply)
        self.sent.append((chat_id, message))
        return len(self.sent)


class RecordingNotifier:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[str] = []

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        self.sent.append(chat_id)


#: Before anything a test queues (subscribers who came later do not get older reviews).
LONG_AGO = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _subscribe(core: Core, channel: str, address: str) -> None:
    core.subscriptions.subscribe(channel, address, "private", "zh")
    with core.sessions.begin() as session:
        session.execute(
            update(Subscriber)
            .where(Subscriber.channel == channel, Subscriber.chat_id == address)
            .values(subscribed_at=LONG_AGO)
        )


def _queue_now(core: Core) -> int:
    [parsed] = read_source(DATA_DIR / "front_matter_review.md")
    staged = core.reviews.stage(parsed, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    return core.reviews.set_status(staged.review.id, "queued", expected=("draft",)).id


async def test_wechat_subscriber_is_stored_planned_and_pushed(core: Core) -> None:
    _subscribe(core, "wechat", WECHAT_OPENID)
    _subscribe(core, "telegram", "4242")
    review_id = _queue_now(core)

    stored = core.subscriptions.get("wechat", WECHAT_OPENID)
    assert stored is not None and stored.chat_id == WECHAT_OPENID and stored.is_active
    assert core.subscriptions.get("telegram", WECHAT_OPENID) is None

    wechat = RecordingSender("wechat")
    summary = await core.push.run(wechat, "test")
    assert summary.planned == 1 and summary.deliveries_sent == 1 and summary.failed == 0
    assert [chat_id for chat_id, _ in wechat.sent] == [WECHAT_OPENID]
    with core.sessions() as session:
        [delivery] = session.scalars(select(Delivery)).all()
        subscriber = session.get(Subscriber, delivery.subscriber_id)
        assert subscriber is not None and subscriber.chat_id == WECHAT_OPENID
        assert delivery.status == "sent" and delivery.review_id == review_id

    # The Telegram subscriber in the same store: untouched by WeChat's push, still due.
    [plan] = core.push.preview("telegram")
    assert plan.subscriber.chat_id == "4242" and [r.id for r in plan.reviews] == [review_id]
    telegram = RecordingSender("telegram")
    summary = await core.push.run(telegram, "test")
    assert summary.deliveries_sent == 1
    assert [chat_id for chat_id, _ in telegram.sent] == ["4242"]
    # Nothing is owed to anyone now: a second WeChat push sends nothing again.
    again = await core.push.run(wechat, "test")
    assert again.planned == 0 and len(wechat.sent) == 1


# --- ADMIN_IDS: channel:address, a bare number is Telegram ------------------------------


def test_admin_ids_name_a_channel_or_mean_telegram(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url, tmp_path, admin_ids=f" 4242, telegram:-77 ,wechat:{WECHAT_OPENID}"
    )
    assert settings.admin_ids == [
        ChatAddress("telegram", "4242"),
        ChatAddress("telegram", "-77"),
        ChatAddress("wechat", WECHAT_OPENID),
    ]
    # Integers given in code (as tests and older callers do) are Telegram ids too.
    assert make_settings(sqlite_url, tmp_path, admin_ids=[9000]).admin_ids == [
        ChatAddress("telegram", "9000")
    ]


@pytest.mark.parametrize("value", ["bob", "wechat:", ":4242", "Tele gram:1", "wechat:a:b"])
def test_admin_ids_refuse_what_is_not_an_address(
    tmp_path: Path, sqlite_url: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=r"Invalid ADMIN_IDS: .*is not (an|a Telegram) id"):
        make_settings(sqlite_url, tmp_path, admin_ids=f"4242,{value}")


async def test_admins_are_compared_by_channel_and_user(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, tmp_path, admin_ids=f"4242,wechat:{WECHAT_OPENID}")
    core = build_core(settings, seed=False)
    try:
        identify = core.conversation.identify

        def caller(channel: str, user: str) -> Caller:
            return Caller(channel=channel, user_id=user, chat_id=user)

        assert identify(caller("telegram", "4242")).is_admin
        assert identify(caller("wechat", WECHAT_OPENID)).is_admin
        # The same id on another channel is somebody else.
        assert not identify(caller("wechat", "4242")).is_admin
        assert not identify(caller("telegram", WECHAT_OPENID)).is_admin

        # A caller who is what they say comes back as they are; one who claims more
        # than ADMIN_IDS gives is corrected.
        reader = caller("telegram", "77")
        assert identify(reader) is reader
        forged = Caller(channel="telegram", user_id="77", chat_id="77", is_admin=True)
        assert not identify(forged).is_admin
        editor = identify(caller("telegram", "4242"))
        assert identify(editor) is editor
        # A chat's own language choice (/settings) wins over the client's.
        core.subscriptions.subscribe("telegram", "88", language="en")
        chose = identify(caller("telegram", "88"))
        assert (chose.language, chose.is_admin) == ("en", False)

        # An alert reaches each editor through their own channel's notifier only.
        notifier = RecordingNotifier("wechat")
        alert = [Reply(rich(paragraph("x")))]
        assert await notify_admins(notifier, settings.admin_ids, alert) == 1
        assert notifier.sent == [WECHAT_OPENID]
    finally:
        core.close()
