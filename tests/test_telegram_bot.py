"""The real python-telegram-bot Application against our fake Bot API, over real HTTP.

Every test ends by checking that the fake server rejected nothing: what passes here is
what Telegram itself would accept (HTML, lengths, button data, entity counts).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.app import Core, build_core
from bot.channels.telegram.app import build_application
from tests.support.fake_telegram import (
    Call,
    FakeTelegramServer,
    SentMessage,
    callback_update,
    inline_callback_update,
    inline_query_update,
    make_chat,
    make_group,
    make_user,
    message_update,
    migrate_update,
    my_chat_member_update,
)
from tests.support.network import free_port
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings
from tests.test_hostile_documents import ALIAS_BOMB

READER = make_user(1001, "读者", language_code="zh-hans")
ENGLISH_READER = make_user(1002, "Reader", language_code="en")
TOKEN = "123:TESTTOKEN"


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


@dataclass
class Bot:
    """The running bot, its core and the fake server, with helpers to talk to it."""

    server: FakeTelegramServer
    core: Core
    application: Application  # type: ignore[type-arg]

    async def send(
        self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None
    ) -> None:
        self.server.push_update(message_update(user, text, chat))

    async def reply_to(
        self, chat_id: int, contains: str, after: int = 0, timeout: float = 10.0
    ) -> SentMessage:
        """The first message to `chat_id` (after the `after`-th) whose text contains it."""

        def found(_calls: list[Call]) -> bool:
            return any(contains in m.text for m in self.server.sent_messages(chat_id)[after:])

        await self.server.await_for(found, timeout)
        return next(m for m in self.server.sent_messages(chat_id)[after:] if contains in m.text)

    async def settle(self) -> None:
        await self.server.await_updates_consumed()
        # Updates are confirmed when the next batch is fetched; wait for the bot to be idle.
        await self.server.await_for(lambda _c: self.server.waiting_pollers > 0)
        # Fetched is not handled: handlers run concurrently with the next poll, so wait
        # until no update is queued or in a handler, twice in a row (a fetched update's
        # task starts one loop turn after it left the queue).
        quiet, deadline = 0, time.monotonic() + 10.0
        while quiet < 2:
            assert time.monotonic() < deadline, "the bot is still handling updates after 10 s"
            await asyncio.sleep(0.05)
            busy = (
                not self.application.update_queue.empty()
                or self.application.update_processor.current_concurrent_updates > 0
            )
            quiet = 0 if busy else quiet + 1

    def sent_count(self, chat_id: int) -> int:
        return len(self.server.sent_messages(chat_id))


@pytest.fixture
async def bot(server: FakeTelegramServer, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(server, f"sqlite:///{tmp_path / 'bot.db'}", tmp_path) as running:
        yield running


@pytest.fixture
async def store_bot(
    server: FakeTelegramServer, database_url: str, tmp_path: Path
) -> AsyncIterator[Bot]:
    """The bot on each backend, for what the store must (not) record."""
    async with running_bot(server, database_url, tmp_path) as running:
        yield running


@asynccontextmanager
async def running_bot(
    server: FakeTelegramServer, database_url: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[Bot]:
    settings = make_settings(
        database_url,
        tmp_path,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=server.base_url,
        admin_ids=[4242],
        **overrides,
    )
    core = build_core(settings)
    application = build_application(core)
    async with application:
        assert application.post_init is not None
        await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        yield Bot(server, core, application)
        await application.updater.stop()
        await application.stop()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)
    rejected = [call.summary() for call in server.rejected_calls()]
    assert rejected == [], "the fake Bot API rejected calls Telegram would reject"


def button_data(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback_data or url) of every inline button of a message."""
    markup = message.reply_markup or {}
    return [
        (button["text"], button.get("callback_data") or button.get("url", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


def tap(bot: Bot, user: dict[str, Any], chat_id: int, label: str) -> str:
    """Tap the button labelled `label` on the newest bot message in the chat."""
    message = bot.server.last_message_to(chat_id)
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                bot.server.push_update(callback_update(user, button["callback_data"], message))
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} on {message.get('text', '')[:80]!r}")


async def test_start_subscribes_and_publishes_both_menus(bot: Bot) -> None:
    await bot.send(READER, "/start")
    await bot.reply_to(1001, "订阅成功")
    subscriber = bot.core.subscriptions.get("telegram", "1001")
    assert subscriber is not None and subscriber.status == "active"
    names = [c.name for c in bot.core.registry.menu()]
    chinese = bot.server.commands(language_code="zh")
    english = bot.server.commands(language_code="en")
    assert [c["command"] for c in chinese] == names == [c["command"] for c in english]
    assert any(c["description"] == "最新论文解读" for c in chinese)
    assert any(c["description"] == "Latest reviews" for c in english)


async def test_commands_and_plain_text_reach_the_core(bot: Bot) -> None:
    """Telegram's routing only: what the lists and searches hold is the core's
    (tests/test_reading_conversation.py)."""
    await bot.send(READER, "/latest")
    latest = await bot.reply_to(1001, "最新论文解读（共 3 篇）")
    assert "Mamba" in latest.text and "LIMA" in latest.text and "Scaling Laws" in latest.text
    await bot.send(READER, "mamba")
    plain = await bot.reply_to(1001, "「mamba」的搜索结果")
    assert "Mamba: Linear-Time" in plain.text


async def test_english_client_gets_english(bot: Bot) -> None:
    await bot.send(ENGLISH_READER, "/latest")
    await bot.reply_to(1002, "Latest reviews (3 in all)")


async def test_read_in_full_and_pagination_buttons(bot: Bot) -> None:
    bot.core.reviews.import_files(
        [DATA_DIR / "column_issue_002.txt", DATA_DIR / "front_matter_review.md"]
    )
    await bot.send(READER, "/latest")
    first_page = await bot.reply_to(1001, "最新论文解读（共 6 篇）")
    labels = [label for label, _ in button_data(first_page)]
    assert "下一页 »" in labels and "« 上一页" not in labels
    assert all(len(data.encode()) <= 64 for _, data in button_data(first_page))

    tap(bot, READER, 1001, "下一页 »")
    await bot.server.await_for(lambda calls: any(c.method == "editMessageText" for c in calls))
    edited = bot.server.last_message_to(1001)
    assert "6." in edited["text"] and "1." not in edited["text"].split("\n")[1]
    await bot.server.await_for(lambda calls: any(c.method == "answerCallbackQuery" for c in calls))

    before = bot.sent_count(1001)
    tap(bot, READER, 1001, "📖 6")
    full = await bot.reply_to(1001, "作者：", after=before)
    assert "#### " not in full.text  # Markdown headings became bold text
    assert any(entity["type"] == "bold" for entity in full.entities)


async def test_stale_and_forged_buttons_get_a_polite_answer(bot: Bot) -> None:
    await bot.send(READER, "/latest")
    list_message = await bot.reply_to(1001, "最新论文解读")
    raw = bot.server.last_message_to(1001)
    for data in ("r:999999", "p:latest:5:9999x", "nonsense", "s:ffffffffffff:0"):
        bot.server.push_update(callback_update(READER, data, raw))
    await bot.server.await_for(
        lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) >= 4
    )
    await bot.reply_to(1001, "这个按钮已失效")
    assert list_message.text  # the list itself was untouched


async def test_a_20000_character_review_arrives_complete_and_in_order(
    bot: Bot, tmp_path: Path
) -> None:
    sentences = [f"第{n}句讲的是长文本拆分，必须完整、有序地送达读者。" for n in range(800)]
    paragraphs = ["".join(sentences[i : i + 40]) for i in range(0, 800, 40)]
    body = "\n\n".join(paragraphs)
    assert len(body) > 20_000
    source = tmp_path / "long.md"
    source.write_text(
        "---\ntitle: 一篇很长的解读\narxiv_id: '2401.99999'\nsection: latest\n---\n\n" + body,
        encoding="utf-8",
    )
    [report] = bot.core.reviews.import_files([source])
    review = report.outcomes[0].review
    await bot.send(READER, f"/review {review.slug}")
    await bot.reply_to(1001, "第799句", timeout=20)
    parts = [m.text for m in bot.server.sent_messages(1001)]
    assert len(parts) >= 6
    assert all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in parts)
    delivered = "".join(parts)
    positions = [delivered.index(f"第{n}句") for n in range(800)]
    assert positions == sorted(positions)
    assert "".join(delivered.split()).count("必须完整、有序地送达读者。") == 800


async def test_blocking_and_returning_reader(bot: Bot) -> None:
    await bot.send(READER, "/subscribe")
    await bot.reply_to(1001, "订阅成功")
    bot.server.push_update(my_chat_member_update(READER, None, "member", "kicked"))
    await bot.settle()
    blocked = bot.core.subscriptions.get("telegram", "1001")
    assert blocked is not None and blocked.status == "blocked"
    bot.server.push_update(my_chat_member_update(READER, None, "kicked", "member"))
    await bot.settle()
    back = bot.core.subscriptions.get("telegram", "1001")
    assert back is not None and back.status == "active"


async def test_groups_subscribe_by_admins_and_survive_migration(bot: Bot) -> None:
    group = make_group(-5005, "读书会")
    admin, member = make_user(2001, "群主"), make_user(2002, "群员")
    bot.server.set_admins(-5005, [admin], owner=admin)
    await bot.send(member, "/subscribe", group)
    await bot.reply_to(-5005, "只有群管理员")
    assert bot.core.subscriptions.get("telegram", "-5005") is None
    await bot.send(admin, "/subscribe", group)
    await bot.reply_to(-5005, "订阅成功")
    # Plain chatter in a group is not a search, and unknown commands may be another bot's.
    before = bot.sent_count(-5005)
    await bot.send(member, "今天天气不错", group)
    await bot.send(member, "/weather", group)
    await bot.settle()
    assert bot.sent_count(-5005) == before

    bot.server.push_update(migrate_update(-5005, -1005005))
    await bot.settle()
    moved = bot.core.subscriptions.get("telegram", "-1005005")
    assert moved is not None and moved.status == "active"
    assert bot.core.subscriptions.get("telegram", "-5005") is None


async def test_inline_mode_offers_shareable_cards(bot: Bot) -> None:
    bot.server.push_update(inline_query_update(READER, "对齐"))
    calls = await bot.server.await_for(
        lambda calls: any(c.method == "answerInlineQuery" for c in calls)
    )
    answer = next(c for c in calls if c.method == "answerInlineQuery")
    assert answer.ok
    results = answer.params["results"]
    titles = [result["title"] for result in results]
    assert "LIMA: Less Is More for Alignment" in titles
    first = results[0]
    assert first["input_message_content"]["parse_mode"] == "HTML"
    urls = [button["url"] for row in first["reply_markup"]["inline_keyboard"] for button in row]
    assert any(url.startswith("https://t.me/paperbot_test_bot?start=r_") for url in urls)


async def test_inline_cards_link_to_the_web_page_with_a_public_url(
    server: FakeTelegramServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    async with running_bot(server, url, tmp_path, public_url="https://papers.example.org") as bot:
        bot.server.push_update(inline_query_update(READER, "对齐"))
        calls = await bot.server.await_for(
            lambda calls: any(c.method == "answerInlineQuery" for c in calls)
        )
    answer = next(c for c in calls if c.method == "answerInlineQuery")
    for result in answer.params["results"]:
        slug = bot.core.reviews.find(result["id"]).slug  # type: ignore[union-attr]
        page = f"https://papers.example.org/r/{slug}"
        assert result["url"] == page
        buttons = [b["url"] for row in result["reply_markup"]["inline_keyboard"] for b in row]
        assert page in buttons
        assert f'<a href="{page}">' in result["input_message_content"]["message_text"]


async def test_deep_link_from_a_shared_card_opens_the_review(bot: Bot) -> None:
    await bot.send(READER, "/start r_lima-less-is-more-for-alignment")
    await bot.reply_to(1001, "Chunting Zhou")


async def test_non_admin_cannot_use_editor_only_commands(bot: Bot) -> None:
    editor_only = [c for c in bot.core.registry.commands.values() if c.admin_only]
    if not editor_only:
        pytest.skip("no editor-only command registered yet")
    await bot.send(READER, f"/{editor_only[0].name}")
    await bot.reply_to(1001, "只对编辑开放")
    entries = bot.core.audit.recent()
    assert entries and entries[0].allowed is False and entries[0].actor == "1001"


def _ids(messages: list[SentMessage], pick: Callable[[SentMessage], bool]) -> list[int | None]:
    return [m.message_id for m in messages if pick(m)]


async def test_one_chats_messages_are_answered_in_order(bot: Bot) -> None:
    for text in ("/latest", "/classic", "/about", "/help"):
        await bot.send(READER, text)
    await bot.reply_to(1001, "可用命令")
    texts = [m.text for m in bot.server.sent_messages(1001)]
    order = [
        next(i for i, t in enumerate(texts) if marker in t)
        for marker in ("最新论文解读（共", "经典论文回顾（共", "目前共有", "可用命令")
    ]
    assert order == sorted(order)


async def test_hostile_content_is_escaped_everywhere(bot: Bot, tmp_path: Path) -> None:
    source = tmp_path / "hostile.md"
    source.write_text(
        "---\ntitle: 'R1 <think> & <answer> tags: p < 0.001'\narxiv_id: '2501.12948'\n"
        "authors: A & B <Lab>\nsection: latest\n---\n\n"
        "#### 方法 <b>不是标签</b>\n\n"
        "模型输出 `<think>…</think>` 再给出 <answer>；p < 0.001 &amp; 更多。\n",
        encoding="utf-8",
    )
    bot.core.reviews.import_files([source])
    await bot.send(READER, "/search think")
    await bot.reply_to(1001, "R1 <think> & <answer> tags")
    await bot.send(READER, "/review 2501.12948")
    full = await bot.reply_to(1001, "A & B <Lab>")
    assert "模型输出 <think>…</think> 再给出 <answer>；p < 0.001 &amp; 更多。" in full.text
    bot.server.push_update(inline_query_update(READER, "think"))
    await bot.server.await_for(lambda calls: any(c.method == "answerInlineQuery" for c in calls))


async def test_aiohttp_transport_uploads_downloads_and_times_out(bot: Bot) -> None:
    from telegram.error import TimedOut

    telegram_bot = bot.application.bot
    await telegram_bot.send_document(1001, document=b"# review\n", filename="review.md")
    [upload] = bot.server.calls_to("sendDocument")
    assert upload.ok and upload.files["document"].data == b"# review\n"

    bot.server.add_file("file-1", "导入的解读".encode(), "issue.md")
    downloaded = await (await telegram_bot.get_file("file-1")).download_as_bytearray()
    assert downloaded.decode() == "导入的解读"

    bot.server.delay_next("sendMessage", 2.0)
    with pytest.raises(TimedOut):
        await telegram_bot.send_message(1001, "slow", read_timeout=0.3)
    # The server records the abandoned request as closed by the client (499); that one
    # is this test's doing, not a call Telegram would reject.
    await bot.server.await_for(lambda calls: any(c.error_code == 499 for c in calls))
    bot.server.reset_calls()


EDITOR = make_user(4242, "编辑", language_code="zh-hans")
REVIEW_SOURCE = (DATA_DIR / "front_matter_review.md").read_bytes()


async def test_non_admin_queue_changes_nothing_and_is_audited(bot: Bot) -> None:
    before = bot.core.reviews.count()
    bot.server.add_file("doc-1", REVIEW_SOURCE, "toolformer.md")
    document = {
        "file_id": "doc-1",
        "file_unique_id": "u1",
        "file_name": "toolformer.md",
        "file_size": len(REVIEW_SOURCE),
    }
    bot.server.push_update(message_update(READER, None, document=document, caption="/queue"))
    await bot.reply_to(1001, "只对编辑开放")
    await bot.send(READER, "/publish 1")
    await bot.send(READER, "/stats")
    # Each refusal is audited before it is answered: three answers, three audit rows.
    await bot.server.await_for(
        lambda _calls: sum("只对编辑开放" in m.text for m in bot.server.sent_messages(1001)) >= 3
    )
    assert bot.core.reviews.count() == before
    assert bot.server.downloads == []  # a stranger's file is not even fetched
    refused = [e for e in bot.core.audit.recent() if not e.allowed]
    assert {e.action for e in refused} >= {"/queue", "/publish", "/stats"}
    assert all(e.actor == "1001" for e in refused)


async def test_editor_queues_a_document_previews_and_confirms(bot: Bot) -> None:
    bot.server.add_file("doc-2", REVIEW_SOURCE, "toolformer.md")
    document = {
        "file_id": "doc-2",
        "file_unique_id": "u2",
        "file_name": "toolformer.md",
        "file_size": len(REVIEW_SOURCE),
    }
    # A month ahead: far enough to be in the future, near enough to be allowed.
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    bot.server.push_update(message_update(EDITOR, None, document=document, caption=f"/queue {day}"))
    await bot.reply_to(4242, "确认加入发布队列？")
    texts = [m.text for m in bot.server.sent_messages(4242)]
    assert any(f"{day} 09:00 CST" in text for text in texts)
    assert any("核心思想" in text and "Timo Schick" in text for text in texts)
    [draft] = bot.core.reviews.in_queue()
    assert draft.status == "draft"

    tap(bot, EDITOR, 4242, "✅ 确认")
    await bot.reply_to(4242, "已加入队列")
    [queued] = bot.core.reviews.in_queue()
    assert queued.status == "queued"
    await bot.send(EDITOR, "/queued")
    await bot.reply_to(4242, "待发布（1 篇）")
    await bot.send(EDITOR, f"/unqueue {queued.id}")
    await bot.reply_to(4242, "已撤回为草稿")


async def test_editor_sending_an_alias_bomb_gets_one_clear_reply(bot: Bot) -> None:
    """393 bytes of nested YAML aliases stored a 312-million-character title."""
    source = ALIAS_BOMB.encode()
    bot.server.add_file("doc-bomb", source, "bomb.md")
    document = {
        "file_id": "doc-bomb",
        "file_unique_id": "ub",
        "file_name": "bomb.md",
        "file_size": len(source),
    }
    bot.server.push_update(message_update(EDITOR, None, document=document, caption="/queue"))
    reply = await bot.reply_to(4242, "这篇解读有问题")
    assert "bomb.md:2: front matter: YAML aliases are not allowed" in reply.text
    await bot.settle()
    assert bot.sent_count(4242) == 1
    assert bot.core.reviews.in_queue() == []


async def test_editor_publish_queues_a_push_the_leader_runs_and_reports(bot: Bot) -> None:
    from sqlalchemy import update

    from bot.db.models import Subscriber

    for user_id in (7001, 7002):
        bot.core.subscriptions.subscribe("telegram", str(user_id))
    with bot.core.sessions.begin() as session:
        session.execute(
            update(Subscriber).values(subscribed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        )
    await bot.send(EDITOR, "/queue\n" + REVIEW_SOURCE.decode())
    await bot.reply_to(4242, "确认加入发布队列？")
    [draft] = bot.core.reviews.in_queue()
    await bot.send(EDITOR, f"/publish {draft.id}")
    await bot.reply_to(4242, "已加入推送队列，2 位订阅者")
    # The leader (this process) picks the request up and sends the editor the summary.
    done = await bot.reply_to(4242, "推送请求 #1 已完成", timeout=20)
    assert "送达 2 份" in done.text
    assert len(bot.server.sent_messages(7001)) == 1 and len(bot.server.sent_messages(7002)) == 1
    await bot.send(EDITOR, "/stats")
    stats = await bot.reply_to(4242, "订阅者：2 活跃")
    assert "送达 2" in stats.text


def test_paperbot_run_polls_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real entry point: `paperbot run` as a process, long polling our fake API."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    with FakeTelegramServer() as fake:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))},
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "DATA_DIR": str(tmp_path / "data"),
            "HTTP_PORT": str(free_port()),
        }
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "paperbot"), "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            fake.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls), 60)
            fake.push_update(message_update(READER, "/latest"))
            fake.wait_for(
                lambda calls: any(
                    c.method == "sendMessage" and "最新论文解读" in str(c.params.get("text"))
                    for c in calls
                ),
                30,
            )
            assert fake.commands(language_code="en"), "the English menu was not published"
            base = f"http://127.0.0.1:{env['HTTP_PORT']}"
            health = httpx.get(f"{base}/healthz", timeout=10).json()
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            # The web archive learnt the bot's username from getMe: its deep links.
            review_page = httpx.get(f"{base}/r/lima-less-is-more-for-alignment", timeout=10).text
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "bot @paperbot_test_bot is up" in output
        assert "Telegram: polling" in output
        assert health["channels"] == {"telegram": "polling", "web": "serving"}
        assert health["status"] == "ok"
        deep_link = "https://t.me/paperbot_test_bot?start=r_lima-less-is-more-for-alignment"
        assert f'href="{deep_link}"' in review_page
        assert 'paperbot_updates_handled_total{channel="telegram",command="/latest"} 1.0' in metrics
        assert fake.rejected_calls() == []


# Nothing lost, nothing frozen (issue #8): odd input, forged taps, big files, timeouts.


async def test_an_inline_query_with_odd_digits_as_offset_is_answered(bot: Bot) -> None:
    """The inline offset is Telegram's; the readers' odd digits elsewhere are the core's
    (tests/test_reading_conversation.py, tests/test_editor_conversation.py)."""
    bot.server.push_update(inline_query_update(READER, "", offset="²"))
    await bot.server.await_for(lambda calls: any(c.method == "answerInlineQuery" for c in calls))


async def test_forged_taps_on_a_channel_post_or_inline_message_change_nothing(
    store_bot: Bot,
) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    bot = store_bot
    channel = make_chat(-1001234567890, "channel", "论文频道")
    channel_admin = make_user(3001, "频道管理员")
    bot.server.add_chat(channel)
    bot.server.set_admins(channel["id"], [channel_admin], owner=channel_admin)
    buttons = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("English", callback_data="set:lang:en")],
            [InlineKeyboardButton("全部主题", callback_data="tp:all")],
        ]
    )
    await bot.application.bot.send_message(channel["id"], "频道帖子", reply_markup=buttons)
    post = bot.server.last_message_to(channel["id"])
    assert post["sender_chat"]["id"] == channel["id"]  # as Telegram signs channel posts
    posts_before = bot.sent_count(channel["id"])

    for data in ("set:lang:en", "tp:all"):
        bot.server.push_update(callback_update(READER, data, post))
        bot.server.push_update(inline_callback_update(READER, data))
    answers = await bot.server.await_for(
        lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) >= 4
    )
    texts = [str(c.params.get("text")) for c in answers if c.method == "answerCallbackQuery"]
    assert sum("只有群管理员" in text for text in texts) == 2
    assert sum("这个按钮在这里无法使用" in text for text in texts) == 2
    assert bot.core.subscriptions.counts_by_status() == {}
    assert bot.sent_count(channel["id"]) == posts_before  # nothing posted for the forger

    # The channel's real admin, asked of Telegram with getChatMember, may.
    bot.server.push_update(callback_update(channel_admin, "set:lang:en", post))
    await bot.server.await_for(
        lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) >= 5
    )
    await bot.settle()
    changed = bot.core.subscriptions.get("telegram", str(channel["id"]))
    assert changed is not None and changed.language == "en"
    assert bot.core.subscriptions.get("telegram", "0") is None


async def test_a_document_without_file_size_is_capped_by_the_bytes_received(bot: Bot) -> None:
    # Over the 1 MB cap, and announced nowhere: neither the Document nor getFile says so.
    big = REVIEW_SOURCE + b"\n" + b"\xff" * 1_500_000
    document = bot.server.add_file("doc-big", big, "big.md", announce_size=False)
    assert "file_size" not in document
    bot.server.push_update(message_update(EDITOR, None, document=document, caption="/queue"))
    await bot.reply_to(4242, "文档太大")
    assert bot.core.reviews.in_queue() == []
    # The editor's ordinary document still goes through the same bounded download.
    small = bot.server.add_file("doc-small", REVIEW_SOURCE, "small.md", announce_size=False)
    bot.server.push_update(message_update(EDITOR, None, document=small, caption="/queue"))
    await bot.reply_to(4242, "确认加入发布队列？")
    [draft] = bot.core.reviews.in_queue()
    assert draft.status == "draft"


async def test_a_reply_that_times_out_is_sent_again(bot: Bot) -> None:
    """The client gives up after its 5 s read timeout; the reply is retried, not dropped.

    The fake abandons a request whose client went away (it was never delivered), so
    exactly one copy arrives; on Telegram a retried reply may arrive twice (see
    bridge.with_retries), which is the lesser evil.
    """
    bot.server.delay_next("sendMessage", 8.0)
    await bot.send(READER, "/about")
    await bot.reply_to(1001, "目前共有", timeout=30)
    assert sum("目前共有" in m.text for m in bot.server.sent_messages(1001)) == 1
    await bot.server.await_for(lambda calls: any(c.error_code == 499 for c in calls))
    bot.server.reset_calls()


async def test_a_failing_update_is_logged_by_id_and_command_not_contents(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    secret_reader = make_user(1003, "张秘密", language_code="zh-hans", username="zhang_mimi")
    bot.server.fail_next("sendMessage", status=400, description="Bad Request: injected")
    sent = bot.server.push_update(message_update(secret_reader, "/search 我的私人问题"))
    # The reader is not left with silence; the error was logged before the apology.
    await bot.reply_to(1003, "抱歉，出错了")
    errors = [r for r in caplog.records if r.name == "bot.channels.telegram.app"]
    assert errors, "the error handler logged nothing"
    logged = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in errors])
    assert f"update {sent['update_id']} (message /search)" in logged
    for private in ("我的私人问题", "张秘密", "zhang_mimi", "1003"):
        assert private not in logged, private
