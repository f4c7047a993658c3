"""The texts readers and editors get (#12 point 10): Chinese replies without English,
ASCII colons in English, schedules in words, zones on times, English plurals, a
single-spaced /help, one /start message (a group is asked first), and no card summary
that is a lead-in ending with a colon."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bot.app import Core, build_core
from bot.channels.telegram.render import render_messages
from bot.core.conversation import Caller, Reply
from bot.core.cron_words import cron_in_words
from bot.core.push import PushSummary
from bot.core.sources import derive_summary
from bot.core.views import push_summary_text, review_card
from tests.support.cli import run_cli
from tests.support.stores import make_settings

EDITOR = Caller(channel="telegram", user_id="4242", chat_id="4242")
EDITOR_EN = Caller(channel="telegram", user_id="4242", chat_id="4242", language="en")
REVIEW = """## 最新论文解读

### A Paper About Lists

**链接**: https://arxiv.org/abs/2401.00001

#### 核心创新

本文提出三点：

- 第一点
- 第二点
"""


@pytest.fixture
def editor_core(sqlite_url: str, tmp_path: Path) -> Core:
    core = build_core(make_settings(sqlite_url, tmp_path, admin_ids="4242"), seed=True)
    yield core  # type: ignore[misc]
    core.close()


def ask(core: Core, caller: Caller, text: str) -> list[Reply]:
    return asyncio.run(core.conversation.handle_text(caller, text))


def said(core: Core, caller: Caller, text: str) -> str:
    return "\n".join(reply.body.plain_text for reply in ask(core, caller, text))


def english_words(value: str) -> list[str]:
    """English words in a Chinese reply, beyond names the column itself uses."""
    allowed = {"ADMIN_IDS", "arXiv", "LLM", "paperbot", "UTF", "Markdown"}
    return [w for w in re.findall(r"[A-Za-z]{3,}", value) if w not in allowed]


def test_a_state_refusal_is_chinese_for_a_chinese_editor(editor_core: Core) -> None:
    [queued] = [r for r in editor_core.reviews.all() if r.status == "published"][:1]
    answer = said(editor_core, EDITOR, f"/unqueue {queued.id}")
    assert f"#{queued.id}" in answer and "已发布" in answer
    assert english_words(answer) == [], answer
    assert "there is no review #99999" in said(editor_core, EDITOR_EN, "/unqueue 99999")
    english = said(editor_core, EDITOR_EN, f"/unqueue {queued.id}")
    assert f"#{queued.id} is published, not queued" in english


def test_the_push_summary_speaks_the_editors_language() -> None:
    summary = PushSummary(run_id=3, trigger="schedule", deliveries_sent=1, messages_sent=1)
    chinese = push_summary_text(summary, "zh")
    assert "送达 1 份" in chinese and english_words(chinese) == []
    english = push_summary_text(summary, "en")
    assert "1 delivery sent in 1 message," in english
    many = push_summary_text(PushSummary(run_id=4, trigger="cli", deliveries_sent=2), "en")
    assert "2 deliveries sent" in many


def test_english_cards_use_ascii_colons(editor_core: Core) -> None:
    review = editor_core.reviews.find("2312.00752")
    assert review is not None
    english = review_card(review, "en").body.plain_text
    assert "Authors: " in english and "Published: " in english and "：" not in english
    assert "作者：" in review_card(review, "zh").body.plain_text


@pytest.mark.parametrize(
    ("cron", "zh", "en"),
    [
        ("0 9 * * mon", "每周一 09:00", "Mondays 09:00"),
        ("30 13 * * mon-fri", "每周一至周五 13:30", "weekdays 13:30"),
        ("5 8 * * *", "每天 08:05", "daily 08:05"),
        ("0 9 * * mon,thu", "每周一、四 09:00", "Mondays and Thursdays 09:00"),
        ("*/5 * * * *", "cron 表达式「*/5 * * * *」", "cron “*/5 * * * *”"),
    ],
)
def test_cron_expressions_in_words(cron: str, zh: str, en: str) -> None:
    assert cron_in_words(cron, "zh") == zh
    assert cron_in_words(cron, "en") == en


def test_editors_see_schedules_in_words_with_their_zone(editor_core: Core) -> None:
    empty = said(editor_core, EDITOR, "/candidates")
    assert "在每周一至周五 13:30（Asia/Shanghai）轮询" in empty
    assert "30 13" not in empty
    stats = said(editor_core, EDITOR, "/stats")
    assert "每周一 09:00" in stats
    assert re.search(r"下次推送：\d{4}-\d\d-\d\d \d\d:\d\d \S+", stats)  # a zone after the time


def test_english_counts_have_plurals(editor_core: Core) -> None:
    assert "Mamba" in said(editor_core, EDITOR_EN, "/search mamba")
    assert "(1 review)" in said(editor_core, EDITOR_EN, "/search mamba")
    assert "5 reviews so far" in said(editor_core, EDITOR_EN, "/about")


def test_help_is_single_spaced(editor_core: Core) -> None:
    [reply] = ask(editor_core, EDITOR, "/help")
    [message] = render_messages(reply.body)
    assert "/latest" in message and "/classic" in message
    commands = message.split("可用命令：")[1]
    latest, classic = commands.index("/latest"), commands.index("/classic")
    assert "\n\n" not in commands[latest:classic]


def test_start_in_a_private_chat_is_one_message(editor_core: Core) -> None:
    reader = Caller(channel="telegram", user_id="501", chat_id="501")
    [reply] = ask(editor_core, reader, "/start")
    assert "订阅成功" in reply.body.plain_text and "/latest" in reply.body.plain_text


def test_start_in_a_group_asks_before_subscribing(editor_core: Core) -> None:
    async def admin() -> bool:
        return True

    group = Caller("telegram", "777", "-100500", chat_type="group", chat_admin_check=admin)
    [reply] = ask(editor_core, group, "/start")
    assert editor_core.subscriptions.get("telegram", "-100500") is None
    [[button]] = reply.buttons
    assert button.action is not None
    [done] = asyncio.run(editor_core.conversation.handle_action(group, button.action))
    assert "订阅成功" in done.body.plain_text
    view = editor_core.subscriptions.get("telegram", "-100500")
    assert view is not None and view.status == "active"


def test_a_lead_in_ending_with_a_colon_is_no_card_summary(
    editor_core: Core, tmp_path: Path
) -> None:
    assert derive_summary("本文提出三点：\n\n## 方法\n\n第二段讲方法。") == "第二段讲方法。"
    path = tmp_path / "lists.txt"
    path.write_text(REVIEW, encoding="utf-8")
    editor_core.reviews.import_files([path])
    review = editor_core.reviews.find("2401.00001")
    assert review is not None
    card = review_card(review, "zh").body.plain_text
    assert "本文提出三点：第一点；第二点" in card
    assert not any(line.rstrip().endswith("：") for line in card.splitlines())


def test_the_shell_counts_in_english_plurals(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text(REVIEW, encoding="utf-8")
    result = run_cli(["import", str(path)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 review: 1 added, 0 updated, 0 unchanged" in result.stdout
    exported = run_cli(["export", str(tmp_path / "out")], tmp_path)
    assert "wrote 1 review to" in exported.stdout
