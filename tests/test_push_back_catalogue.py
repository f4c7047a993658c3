"""The back catalogue is not a push: reviews imported already published are pushed only
when an editor asks, a push sends each reader at most PUSH_MAX_REVIEWS_PER_READER
reviews, and a long digest goes out as several messages Telegram accepts. Fake Bot
API over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.channels.telegram.app import build_push_bot
from bot.channels.telegram.sender import TelegramSender
from bot.core.conversation import Button, Reply
from bot.core.richtext import paragraph, rich
from bot.db.models import Delivery
from tests.support.cli import run_cli
from tests.support.fake_telegram import FakeTelegramServer
from tests.test_push import LONG_AGO, push, push_settings, queue_now, received, subscribe
from tests.test_push_processes import environment, prepare

UTC = dt.UTC


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


def write_classics(directory: Path, count: int) -> Path:
    """`count` classic reviews as an editor would import them: some say `status:
    published`, some give a past `published_at`, some say nothing (published on import)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        state = ("status: published\n", "published_at: 2021-03-01T08:00:00+00:00\n", "")[n % 3]
        (directory / f"classic-{n:03d}.md").write_text(
            "---\n"
            f"title: Classic paper number {n}\n"
            f"slug: classic-{n:03d}\n"
            "authors: A. Author\n"
            "date: 2019-05\n"
            "section: classic\n"
            "tags: [经典]\n"
            f"{state}"
            f"summary: 第 {n} 篇经典论文的一句话总结。\n"
            "---\n\n"
            f"#### 核心思想\n\n经典论文 {n} 的解读正文。\n",
            encoding="utf-8",
        )
    return directory


def make_core(
    database_url: str, tmp_path: Path, server: FakeTelegramServer, **extra: object
) -> Core:
    return build_core(push_settings(database_url, tmp_path, server, **extra), seed=True)


def import_classics(core: Core, tmp_path: Path, count: int) -> list[int]:
    reports = core.reviews.import_files([write_classics(tmp_path / "classics", count)])
    assert all(report.error is None for report in reports)
    ids = [outcome.review.id for report in reports for outcome in report.outcomes]
    assert len(ids) == count
    return ids


def delivery_count(core: Core) -> int:
    with core.sessions() as session:
        return int(session.scalar(select(func.count(Delivery.id))) or 0)


def buttons_of(markup: object) -> int:
    if not isinstance(markup, dict):
        return 0
    return sum(len(row) for row in markup["inline_keyboard"])


async def test_importing_150_classics_plans_nothing(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = make_core(database_url, tmp_path, server)
    try:
        for chat_id in (2101, 2102, 2103):
            subscribe(core, chat_id, when=LONG_AGO)
        # Even a reader who subscribed before content/ (2025) was written gets no seed.
        subscribe(core, 2104, when=dt.datetime(2020, 1, 1, tzinfo=UTC))
        import_classics(core, tmp_path, 150)

        assert core.push.preview("telegram") == []
        summary = await asyncio.wait_for(push(core), timeout=60)
        assert summary.planned == 0 and summary.messages_sent == 0
        assert delivery_count(core) == 0 and server.sent_messages() == []

        # A review queued afterwards still goes out as usual.
        queue_now(core)
        after = await asyncio.wait_for(push(core), timeout=60)
        assert after.planned == 4 and received(server) == Counter(
            dict.fromkeys(range(2101, 2105), 1)
        )
    finally:
        core.close()


async def test_an_editor_can_push_chosen_classics(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = make_core(database_url, tmp_path, server)
    try:
        for chat_id in (2201, 2202):
            subscribe(core, chat_id, when=LONG_AGO)
        ids = import_classics(core, tmp_path, 12)
        chosen = ids[3:6]
        core.reviews.announce(chosen)
        [plan, _] = core.push.preview("telegram")
        assert [review.id for review in plan.reviews] == chosen

        summary = await push(core)
        assert summary.planned == 6 and summary.deliveries_sent == 6
        assert received(server) == Counter({2201: 1, 2202: 1})
        [message] = server.sent_messages(2201)
        assert "Classic paper number 4" in message.text and "number 7" not in message.text
        assert (await push(core)).messages_sent == 0
    finally:
        core.close()


async def test_a_long_digest_is_split_and_the_per_reader_cap_holds(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = make_core(database_url, tmp_path, server, push_max_reviews_per_reader=25)
    try:
        subscribe(core, 2301, when=LONG_AGO)
        subscribe(core, 2302, when=LONG_AGO, topics=["经典"])
        ids = import_classics(core, tmp_path, 30)
        core.reviews.announce(ids)
        assert [len(plan.reviews) for plan in core.push.preview("telegram")] == [25, 25]

        first = await push(core)
        assert first.deliveries_sent == 50 and first.held_back == 10
        assert server.rejected_calls() == []
        per_message = TelegramSender.max_reviews_per_message
        for chat_id in (2301, 2302):
            messages = server.sent_messages(chat_id)
            assert [buttons_of(m.reply_markup) for m in messages] == [per_message, per_message, 5]
            assert "本周新解读（25 篇）" in messages[0].text
            assert (
                "第 11–20 篇" in messages[1].text
                and "21. Classic paper number " in messages[2].text
            )

        second = await push(core)
        assert second.deliveries_sent == 10 and second.held_back == 0
        assert received(server) == Counter({2301: 4, 2302: 4})
        with core.sessions() as session:
            statuses = Counter(session.scalars(select(Delivery.status)))
        assert statuses == Counter({"sent": 60})
    finally:
        core.close()


async def test_a_keyboard_over_telegrams_limit_is_spread_over_messages(
    server: FakeTelegramServer, tmp_path: Path
) -> None:
    """Digests stay far below it, but the renderer never sends more than 100 buttons."""
    from bot.channels.telegram.render import MAX_BUTTONS
    from bot.settings import load_settings

    settings = load_settings(
        telegram_bot_token="123:PUSH", telegram_api_base_url=server.base_url, _env_file=None
    )
    buttons = tuple(Button(f"📖 {n}", action=f"r:{n}") for n in range(1, 151))
    rows = tuple(buttons[i : i + 5] for i in range(0, len(buttons), 5))
    bot = build_push_bot(settings)
    async with bot:
        sender = TelegramSender(bot)
        for message in sender.render([Reply(rich(paragraph("很多按钮")), rows)]):
            await sender.send_one(7001, message)
    counts = [buttons_of(m.reply_markup) for m in server.sent_messages(7001)]
    assert counts == [MAX_BUTTONS, 50] and server.rejected_calls() == []


def test_cli_include_and_dry_run(database_url: str, tmp_path: Path) -> None:
    with FakeTelegramServer() as server:
        prepare(database_url, tmp_path, range(2400, 2403))
        env = environment(database_url, server)
        imported = run_cli(
            ["import", str(write_classics(tmp_path / "classics", 20))], tmp_path, **env
        )
        assert imported.returncode == 0, imported.stderr

        dry = run_cli(["push", "--dry-run"], tmp_path, **env)
        assert "dry run: 0 subscribers would get 0 reviews; nothing sent" in dry.stdout
        pushed = run_cli(["push"], tmp_path, **env)
        assert pushed.returncode == 0 and server.sent_messages() == []

        chosen = ["--include", "classic-002", "--include", "classic-005"]
        dry = run_cli(["push", "--dry-run", *chosen], tmp_path, **env)
        assert "dry run: 3 subscribers would get 6 reviews; nothing sent" in dry.stdout
        assert server.sent_messages() == []

        pushed = run_cli(["push", *chosen], tmp_path, **env)
        assert pushed.returncode == 0, pushed.stderr
        assert "6 deliveries sent in 3 messages" in pushed.stdout
        assert received(server) == Counter(dict.fromkeys(range(2400, 2403), 1))

        missing = run_cli(["push", "--include", "no-such-review"], tmp_path, **env)
        assert (
            missing.returncode != 0 and "--include no-such-review: no such review" in missing.stderr
        )
