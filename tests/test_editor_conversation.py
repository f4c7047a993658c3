"""The editors' commands through the conversation core alone, with no channel in sight:
queueing a review (pasted or attached), its preview and confirmation, unqueueing, /publish
recording a push request, and the refusals (audited) for anyone else.

What a channel adds (downloading the document, drawing the buttons, sending the leader's
summary) is tested with that channel, e.g. tests/test_telegram_bot.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.core.conversation import Attachment, Caller, Reply
from bot.db.models import Delivery
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings
from tests.test_hostile_documents import ALIAS_BOMB

#: An editor on a channel that is not Telegram: editors are addresses, not Telegram ids.
EDITOR = Caller(channel="wechat", user_id="o6_editor_openid", chat_id="o6_editor_openid")
READER = Caller(channel="wechat", user_id="o6_reader_openid", chat_id="o6_reader_openid")
REVIEW_SOURCE = (DATA_DIR / "front_matter_review.md").read_bytes()


@pytest.fixture
def editors_core(database_url: str, tmp_path: Path) -> Iterator[Core]:
    settings = make_settings(database_url, tmp_path, admin_ids=[f"wechat:{EDITOR.user_id}"])
    core = build_core(settings, seed=True)
    yield core
    core.close()


def say(core: Core, caller: Caller, text: str, attachment: Attachment | None = None) -> str:
    if attachment is not None:
        caller = Caller(**{**caller.__dict__, "attachment": attachment})
    replies = asyncio.run(core.conversation.handle_text(caller, text))
    return "\n".join(reply.body.plain_text for reply in replies)


def tap(core: Core, caller: Caller, replies: list[Reply], label: str) -> str:
    for reply in replies:
        for row in reply.buttons:
            for button in row:
                if button.label == label and button.action is not None:
                    answers = asyncio.run(core.conversation.handle_action(caller, button.action))
                    return "\n".join(answer.body.plain_text for answer in answers)
    raise AssertionError(f"no button {label!r} in {[r.buttons for r in replies]}")


def test_a_reader_is_refused_every_editor_command_audited_and_nothing_changes(
    editors_core: Core,
) -> None:
    core = editors_core
    before = core.reviews.count()
    pasted = "/queue\n" + REVIEW_SOURCE.decode()
    for text in (pasted, "/publish 1", "/stats", "/queued"):
        assert "只对编辑开放" in say(core, READER, text), text
    assert core.reviews.count() == before
    assert core.reviews.in_queue() == []
    refused = [entry for entry in core.audit.recent() if not entry.allowed]
    assert {entry.action for entry in refused} >= {"/queue", "/publish", "/stats", "/queued"}
    assert all(entry.actor == READER.user_id for entry in refused)
    # A stranger's text is theirs, not the audit log's: only its size is kept.
    (queue_entry,) = [entry for entry in refused if entry.action == "/queue"]
    assert "Toolformer" not in queue_entry.detail and "characters" in queue_entry.detail


def test_an_editor_queues_an_attached_review_previews_confirms_and_unqueues(
    editors_core: Core,
) -> None:
    core = editors_core
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    attachment = Attachment("toolformer.md", REVIEW_SOURCE)
    caller = Caller(**{**EDITOR.__dict__, "attachment": attachment})
    preview = asyncio.run(core.conversation.handle_text(caller, f"/queue {day}"))
    shown = "\n".join(reply.body.plain_text for reply in preview)
    assert "确认加入发布队列？" in shown
    assert f"{day} 09:00 CST" in shown
    assert "核心思想" in shown and "Timo Schick" in shown
    [draft] = core.reviews.in_queue()
    assert draft.status == "draft"

    assert "已加入队列" in tap(core, EDITOR, preview, "✅ 确认")
    [queued] = core.reviews.in_queue()
    assert queued.status == "queued" and queued.id == draft.id
    assert "待发布（1 篇）" in say(core, EDITOR, "/queued")
    assert "已撤回为草稿" in say(core, EDITOR, f"/unqueue {queued.id}")
    [back] = core.reviews.in_queue()
    assert back.status == "draft"
    allowed = {entry.action for entry in core.audit.recent() if entry.allowed}
    assert {"/queue", "/queued", "/unqueue"} <= allowed


def test_a_pasted_review_with_errors_gets_line_numbers(editors_core: Core) -> None:
    pasted = "/queue\n---\ntitle: Broken\ndate: 2023年13月\narxiv_id: 2401.00001\n---\nbody"
    answer = say(editors_core, EDITOR, pasted)
    assert "这篇解读有问题" in answer
    assert "message:3: cannot read the date" in answer
    assert editors_core.reviews.in_queue() == []


def test_an_attached_alias_bomb_gets_one_clear_answer(editors_core: Core) -> None:
    """393 bytes of nested YAML aliases once stored a 312-million-character title."""
    attachment = Attachment("bomb.md", ALIAS_BOMB.encode())
    caller = Caller(**{**EDITOR.__dict__, "attachment": attachment})
    replies = asyncio.run(editors_core.conversation.handle_text(caller, "/queue"))
    assert len(replies) == 1
    text = replies[0].body.plain_text
    assert "这篇解读有问题" in text
    assert "bomb.md:2: front matter: YAML aliases are not allowed" in text
    assert editors_core.reviews.in_queue() == []


def test_publish_records_a_push_request_and_sends_nothing_itself(editors_core: Core) -> None:
    core = editors_core
    for address in ("o6_sub_one", "o6_sub_two"):
        core.subscriptions.subscribe("wechat", address)
    assert "确认加入发布队列？" in say(core, EDITOR, "/queue\n" + REVIEW_SOURCE.decode())
    [draft] = core.reviews.in_queue()
    answer = say(core, EDITOR, f"/publish {draft.id}")
    assert "已加入推送队列，2 位订阅者" in answer
    request = core.push_requests.get(1)
    assert request is not None and request.status == "pending"
    assert request.requester.channel == "wechat"
    assert request.requester.address == EDITOR.chat_id
    assert draft.id in request.reviews
    with core.sessions() as session:  # the leader runs it later, not the handler
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_editor_commands_with_unicode_digits_get_their_usage(editors_core: Core) -> None:
    for text, expected in (
        ("/publish ²", "/publish"),
        ("/unqueue ³", "/unqueue"),
        ("/candidates ¹", "arXiv"),
    ):
        assert expected in say(editors_core, EDITOR, text), text
