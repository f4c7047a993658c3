"""Editors' /stats shows the last broadcasts (WeChat's mass sends, the `broadcasts` rows):
their state, how many reviews, WeChat's counts once MASSSENDJOBFINISH reported them, a
failure's reason. Asked by a WeChat editor through the real `/wechat` callback path; the
core reads the rows of every channel, naming none."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.app import Core
from bot.core.addresses import ChatAddress
from bot.core.broadcasts import BroadcastError, BroadcastService
from bot.core.conversation import Caller
from tests.test_wechat_channel import Served, serving
from tests.test_wechat_push_notices import _finish_xml

EDITOR = "oEDITOR"
FINISHED_ID = "1000001625"


class Broadcaster:
    """A channel's side of a broadcast that WeChat answers with `message_id`, or refuses."""

    channel = "wechat"
    max_items: int | None = None

    def __init__(self, message_id: str = "", refuse: str = "") -> None:
        self.message_id = message_id
        self.refuse = refuse

    async def create_draft(self, push_key: str, reviews: Sequence[Any], language: str) -> str:
        return "DRAFT"

    async def preview(self, draft_id: str) -> None:
        return None

    async def send(self, draft_id: str, push_key: str) -> str:
        if self.refuse:
            raise BroadcastError(self.refuse)
        return self.message_id


class Review:
    def __init__(self, review_id: int) -> None:
        self.id = review_id


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    with serving(tmp_path, sqlite_url, admin_ids=[ChatAddress("wechat", EDITOR)]) as running:
        yield running


def _broadcasts(served: Served) -> None:
    """#1 sent and finished (3 total, 2 sent, 1 error), #2 refused, #3 sent, no report."""
    served.api.state.followers.add(EDITOR)  # the finish notice reaches the editor
    service = BroadcastService(served.core.sessions)
    first = asyncio.run(service.run(Broadcaster(FINISHED_ID), [Review(1), Review(2)]))
    assert first.status == "sent"
    answer = served.client.post(_finish_xml(FINISHED_ID, int(time.time())))
    assert answer.body == "success"
    refused = Broadcaster(refuse="45009 quota reached")
    assert asyncio.run(service.run(refused, [Review(3)])).status == "failed"
    assert asyncio.run(service.run(Broadcaster("2000"), [Review(3)])).status == "sent"


def _lines(content: str) -> dict[str, str]:
    return {line.split(" ", 1)[0]: line for line in content.splitlines() if line.startswith("#")}


def test_a_wechat_editor_sees_the_last_broadcasts_in_stats(served: Served) -> None:
    _broadcasts(served)
    content = served.client.send(EDITOR, "/stats").content
    assert "【统计】" in content and "最近的群发：" in content, content
    lines = _lines(content)
    finished, failed, sent = lines["#1"], lines["#2"], lines["#3"]
    assert "wechat" in finished and "（已结束）：2 篇解读" in finished, finished
    assert "共 3 人，过滤后 3 人，成功 2，失败 1" in finished
    assert "原因" not in finished  # WeChat said `send success`
    assert "（失败）：1 篇解读" in failed and "原因：45009 quota reached" in failed, failed
    assert "共" not in failed
    assert "（已发出，等待结果）：1 篇解读" in sent and "共" not in sent, sent
    # Newest first.
    assert content.index("#3") < content.index("#2") < content.index("#1 wechat")


def test_an_english_editor_reads_them_in_english(served: Served) -> None:
    _broadcasts(served)
    served.client.post(served.client.event(EDITOR, "subscribe"))
    served.core.subscriptions.update_preferences("wechat", EDITOR, language="en")
    content = served.client.send(EDITOR, "/stats").content
    assert "Recent broadcasts:" in content, content
    lines = _lines(content)
    assert "(finished): 2 reviews; 3 total, 3 after filtering, 2 sent, 1 failed" in lines["#1"]
    assert "(failed): 1 review; reason: 45009 quota reached" in lines["#2"]
    assert "(sent, awaiting the result): 1 review" in lines["#3"]


def test_readers_get_no_stats(served: Served) -> None:
    _broadcasts(served)
    content = served.client.send("oREADER", "/stats").content
    assert "群发" not in content and "wechat:oREADER" in content, content


def test_without_broadcasts_stats_is_as_before(seeded_core: Core) -> None:
    caller = Caller(channel="console", user_id="me", chat_id="me", trusted=True)
    (reply,) = asyncio.run(seeded_core.conversation.handle_text(caller, "/stats"))
    text = reply.body.plain_text
    assert "订阅者" in text and "最近的群发" not in text, text
