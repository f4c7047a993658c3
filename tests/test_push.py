"""The weekly push against the fake Bot API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.app import Core, build_core
from bot.channels.telegram.app import build_push_bot
from bot.channels.telegram.sender import TelegramSender
from bot.core.jobs import missed_fire_time
from bot.core.ratelimit import SendLimits, SendRateLimiter
from bot.db.models import Delivery, Subscriber
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings

UTC = dt.UTC
REVIEW = DATA_DIR / "front_matter_review.md"


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


def push_settings(database_url: str, tmp_path: Path, server: FakeTelegramServer, **extra: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "telegram_bot_token": "123:PUSH",
        "telegram_api_base_url": server.base_url,
        "admin_ids": [9000],
        "push_max_per_second": 10_000.0,
        "push_private_per_second": 10_000.0,
        "push_group_per_minute": 600_000.0,
        "push_concurrency": 8,
    }
    values.update(extra)
    return make_settings(database_url, tmp_path, **values)


@pytest.fixture
async def push_core(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> AsyncIterator[Core]:
    core = build_core(push_settings(database_url, tmp_path, server), seed=True)
    yield core
    core.close()


async def push(core: Core, trigger: str = "test"):  # type: ignore[no-untyped-def]
    bot = build_push_bot(core.settings)
    async with bot:
        return await core.push.run(TelegramSender(bot), trigger)


def subscribe(core: Core, chat_id: int, *, when: dt.datetime, **preferences: object) -> None:
    """Subscribe the Telegram chat `chat_id` (the fake server's integer id)."""
    chat_type = str(preferences.pop("chat_type", "private" if chat_id > 0 else "group"))
    address = str(chat_id)
    core.subscriptions.subscribe("telegram", address, chat_type, "zh")
    if preferences:
        core.subscriptions.update_preferences(
            "telegram", address, chat_type=chat_type, **preferences
        )  # type: ignore[arg-type]
    with core.sessions.begin() as session:
        session.execute(
            update(Subscriber).where(Subscriber.chat_id == address).values(subscribed_at=when)
        )


def queue_now(core: Core, path: Path = REVIEW) -> int:
    """Queue a review due now (as `paperbot queue add` does)."""
    from bot.core.sources import read_source

    [parsed] = read_source(path)
    staged = core.reviews.stage(parsed, dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    return core.reviews.set_status(staged.review.id, "queued", expected=("draft",)).id


def received(server: FakeTelegramServer) -> Counter[int]:
    return Counter(m.chat_id for m in server.sent_messages() if m.chat_id is not None)


def received_by_readers(
    server: FakeTelegramServer, readers: Iterable[int], requester: int = 9000
) -> Counter[int]:
    """The push's messages to `readers`. The editor who asked for the push gets its
    summary once it is over, which may or may not have arrived when a test reads the
    server; any other chat is a message that should not exist."""
    wanted = set(readers)
    messages = received(server)
    assert set(messages) - wanted <= {requester}, (set(messages) - wanted, requester)
    return Counter({chat: count for chat, count in messages.items() if chat in wanted})


#: After content/ was published (2025) and before anything a test queues.
LONG_AGO = dt.datetime(2026, 6, 1, tzinfo=UTC)


async def test_queued_review_goes_once_to_each_active_subscriber(
    push_core: Core, server: FakeTelegramServer
) -> None:
    for chat_id in (101, 102, 103):
        subscribe(push_core, chat_id, when=LONG_AGO)
    subscribe(push_core, 104, when=LONG_AGO)
    push_core.subscriptions.unsubscribe("telegram", "104")
    review_id = queue_now(push_core)

    summary = await push(push_core)
    assert summary.published == ["toolformer-language-models-can-teach"]
    assert summary.deliveries_sent == 3 and summary.failed == 0 and summary.blocked == 0
    assert received(server) == Counter({101: 1, 102: 1, 103: 1})
    message = server.sent_messages(101)[0]
    assert "本周新解读（1 篇）" in message.text and "Toolformer" in message.text
    buttons = message.reply_markup["inline_keyboard"][0]  # type: ignore[index]
    assert buttons[0]["callback_data"] == f"r:{review_id}"

    again = await push(push_core)
    assert again.deliveries_sent == 0 and again.messages_sent == 0
    assert received(server) == Counter({101: 1, 102: 1, 103: 1})
    assert server.rejected_calls() == []


async def test_back_catalogue_is_not_pushed_to_newcomers(
    push_core: Core, server: FakeTelegramServer
) -> None:
    """content/ was published in 2025; someone subscribing now gets only what comes next."""
    push_core.subscriptions.subscribe("telegram", "201", "private", "zh")
    summary = await push(push_core)
    assert summary.planned == 0 and server.sent_messages() == []


async def test_topics_and_full_format(push_core: Core, server: FakeTelegramServer) -> None:
    subscribe(push_core, 301, when=LONG_AGO, topics=["工具使用"], push_format="full")
    subscribe(push_core, 302, when=LONG_AGO, topics=["对齐"])  # not a Toolformer tag
    queue_now(push_core)
    await push(push_core)
    assert received(server) == Counter({301: 1})
    full = server.sent_messages(301)[0].text
    assert "核心思想" in full and "本周新解读" not in full


async def test_blocked_deactivated_migrated_429_and_5xx(
    push_core: Core, server: FakeTelegramServer
) -> None:
    chats = list(range(1000, 1500))
    for chat_id in chats:
        subscribe(push_core, chat_id, when=LONG_AGO)
    subscribe(push_core, -500, when=LONG_AGO)
    server.migrate_chat(-500, -1000000000500)
    blocked, deactivated = chats[10:20], chats[20:25]
    for chat_id in blocked:
        server.block_user(chat_id)
    for chat_id in deactivated:
        server.deactivate_user(chat_id)
    server.fail_next("sendMessage", count=3, status=429, retry_after=1)
    server.fail_next("sendMessage", count=4, status=502)
    queue_now(push_core)

    summary = await push(push_core)

    gone = set(blocked) | set(deactivated)
    expected = {chat_id: 1 for chat_id in chats if chat_id not in gone}
    expected[-1000000000500] = 1
    assert received(server) == Counter(expected)
    assert summary.blocked == len(gone)
    assert summary.deliveries_sent == len(expected)
    assert summary.rate_limited >= 1 and summary.retried >= 1
    for chat_id in gone:
        view = push_core.subscriptions.get("telegram", str(chat_id))
        assert view is not None and view.status == "blocked"
    moved = push_core.subscriptions.get("telegram", "-1000000000500")
    assert moved is not None and moved.status == "active"
    with push_core.sessions() as session:
        statuses = Counter(session.scalars(select(Delivery.status)))
    assert statuses == Counter({"sent": len(expected), "failed": len(gone)})
    # The admins get the summary from the scheduled job (see test_scheduled_job...).
    assert (await push(push_core)).messages_sent == 0


async def test_network_errors_give_up_after_the_limit(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = build_core(push_settings(database_url, tmp_path, server, push_max_attempts=3), seed=True)
    try:
        subscribe(core, 401, when=LONG_AGO)
        queue_now(core)
        server.fail_next("sendMessage", count=10, status=500)
        core.push.options = type(core.push.options)(
            limits=core.push.options.limits, max_attempts=3, retry_base_seconds=0.01
        )
        summary = await push(core)
        assert summary.failed == 1 and summary.deliveries_sent == 0
        with core.sessions() as session:
            delivery = session.scalars(select(Delivery)).one()
        assert delivery.status == "failed" and "gave up after 3 attempts" in (
            delivery.last_error or ""
        )
    finally:
        core.close()


async def test_dry_run_sends_nothing_and_changes_nothing(
    push_core: Core, server: FakeTelegramServer
) -> None:
    subscribe(push_core, 501, when=LONG_AGO)
    review_id = queue_now(push_core)
    [plan] = push_core.push.preview("telegram")
    assert plan.subscriber.chat_id == "501" and [r.id for r in plan.reviews] == [review_id]
    assert server.sent_messages() == []
    review = push_core.reviews.find(str(review_id), published_only=False)
    assert review is not None and review.status == "queued"
    with push_core.sessions() as session:
        assert session.scalars(select(Delivery)).all() == []


async def test_telegram_channel_gets_each_new_review_once(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = build_core(
        push_settings(database_url, tmp_path, server, telegram_channel_id=-1001234), seed=True
    )
    try:
        await push(core)  # registers the channel; the back catalogue is not posted
        assert server.sent_messages() == []
        queue_now(core)
        await push(core)
        await push(core)
        assert received(server) == Counter({-1001234: 1})
    finally:
        core.close()


def test_missed_push_detection() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    cron = "0 9 * * mon"
    monday_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=zone).astimezone(UTC)
    last_week = monday_9 - dt.timedelta(days=7)
    grace = dt.timedelta(hours=24)
    # Ran last week, down over this Monday 09:00, back at 10:00: run once now.
    assert (
        missed_fire_time(cron, zone, last_week, monday_9 + dt.timedelta(hours=1), grace) == monday_9
    )
    # Back two days later: beyond the grace, wait for next week.
    assert missed_fire_time(cron, zone, last_week, monday_9 + dt.timedelta(days=2), grace) is None
    # Ran at 09:00 today: nothing missed.
    assert missed_fire_time(cron, zone, monday_9, monday_9 + dt.timedelta(hours=1), grace) is None
    # Down for three weeks: the missed runs coalesce into the latest one.
    assert (
        missed_fire_time(
            cron, zone, last_week - dt.timedelta(days=14), monday_9 + dt.timedelta(minutes=5), grace
        )
        == monday_9
    )
    # Never ran: a new install does not push at once.
    assert missed_fire_time(cron, zone, None, monday_9, grace) is None


async def test_rate_limiter_paces_overall_and_per_chat() -> None:
    now = [0.0]
    sent: list[tuple[float, int]] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = SendRateLimiter(
        SendLimits(per_second=30, private_per_second=1, group_per_minute=20, margin=0.0),
        clock=lambda: now[0],
        sleep=sleep,
    )
    for n in range(60):
        await limiter.acquire(n, is_group=False)
        sent.append((now[0], n))
    assert sent[-1][0] == pytest.approx(59 / 30)
    for _ in range(3):
        await limiter.acquire(7, is_group=False)
        sent.append((now[0], 7))
    times_for_7 = [t for t, chat in sent if chat == 7]
    assert all(b - a >= 1.0 - 1e-9 for a, b in pairwise(times_for_7))
    start = now[0]
    limiter.pause(5)
    await limiter.acquire(99, is_group=False)
    assert now[0] >= start + 5
    group_times = []
    for _ in range(3):
        await limiter.acquire(-1, is_group=True)
        group_times.append(now[0])
    assert group_times[2] - group_times[0] == pytest.approx(6.0)


async def test_scheduled_job_tells_the_admins(push_core: Core, server: FakeTelegramServer) -> None:
    from bot.channels.telegram.bridge import TelegramNotifier
    from scheduler.push import JOB_NAME, run_push

    subscribe(push_core, 601, when=LONG_AGO)
    queue_now(push_core)
    bot = build_push_bot(push_core.settings)
    async with bot:
        summary = await run_push(
            push_core.push,
            TelegramSender(bot),
            push_core.job_state,
            TelegramNotifier(bot),
            push_core.settings.admin_ids,
        )
    assert summary.deliveries_sent == 1
    [report] = server.sent_messages(9000)
    assert "推送完成" in report.text and "送达 1 份" in report.text
    # The editors read Chinese: no English words in the summary (#12 point 10).
    assert not re.search(r"[A-Za-z]{3,}", report.text), report.text
    assert push_core.job_state.last_run(JOB_NAME) is not None


async def test_concurrent_pushes_in_one_process_never_double_send(
    push_core: Core, server: FakeTelegramServer
) -> None:
    for chat_id in range(2000, 2200):
        subscribe(push_core, chat_id, when=LONG_AGO)
    queue_now(push_core)
    first, second = await asyncio.gather(push(push_core, "a"), push(push_core, "b"))
    assert first.deliveries_sent + second.deliveries_sent == 200
    assert set(received(server).values()) == {1} and len(received(server)) == 200


async def test_other_channels_subscribers_are_not_pushed_on_telegram(
    push_core: Core, server: FakeTelegramServer
) -> None:
    """A console (or, later, WeChat) subscriber is neither sent to nor waited for."""
    subscribe(push_core, 701, when=LONG_AGO)
    push_core.subscriptions.subscribe("console", "0", "private", "zh")
    with push_core.sessions.begin() as session:
        session.execute(
            update(Subscriber).where(Subscriber.channel == "console").values(subscribed_at=LONG_AGO)
        )
    queue_now(push_core)
    summary = await asyncio.wait_for(push(push_core), timeout=30)
    assert summary.deliveries_sent == 1 and received(server) == Counter({701: 1})
    console = push_core.subscriptions.get("console", "0")
    assert console is not None and console.status == "active"
    assert push_core.push.preview("console") != []
