"""/settings where the push cannot differ by reader (WeChat's mass send: every follower
gets the same message): no push-format choice, which would change nothing, but a line
saying why; the language stays a choice. Read from the channel's capabilities
(`per_reader_topics=False`, `Caller.lacks`), not from its name. Through the real
`/wechat` callback path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Core
from bot.channels.wechat.capabilities import WECHAT_CAPABILITIES
from bot.core.conversation import Caller
from tests.test_wechat_channel import READER, Served, serving

WHY_ZH = "无法按读者选择格式"
WHY_EN = "no format can be chosen per reader"
FORMAT_LABELS = ("推送摘要", "推送全文", "Digest", "Full text")


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    with serving(tmp_path, sqlite_url) as running:
        yield running


def test_wechat_settings_offer_the_language_only_and_say_why(served: Served) -> None:
    served.client.post(served.client.event(READER, "subscribe"))
    content = served.client.send(READER, "/settings").content
    assert WHY_ZH in content, content
    assert not any(label in content for label in FORMAT_LABELS), content
    assert "1. ✅ 中文" in content and "2. English" in content
    # Choices that are no reads are not announced as reads.
    assert "回复 1–2 选择" in content and "阅读全文" not in content

    # Choosing English: the settings again, in English, still without a format.
    english = served.client.send(READER, "2").content
    assert "Settings" in english and WHY_EN in english, english
    assert not any(label in english for label in FORMAT_LABELS), english
    assert "Reply 1–2 to choose" in english
    subscriber = served.subscriber(READER)
    assert subscriber is not None and subscriber.language == "en"
    assert subscriber.push_format == "digest"


def test_wechat_help_does_not_promise_a_push_format(served: Served) -> None:
    helped = served.client.send(READER, "帮助").content
    assert "/settings — 语言" in helped and "推送格式" not in helped, helped


def test_a_format_choice_changes_nothing_where_it_has_no_effect(seeded_core: Core) -> None:
    """An old choice or forged data asking for a format on such a channel: the settings
    again, the stored format unchanged."""
    conversation = seeded_core.conversation
    caller = Caller(
        channel="wechat", user_id="o-reader", chat_id="o-reader", lacks=WECHAT_CAPABILITIES.lacks()
    )
    asyncio.run(conversation.handle_text(caller, "/subscribe"))
    (reply,) = asyncio.run(conversation.handle_action(caller, "set:fmt:full"))
    assert WHY_ZH in reply.body.plain_text
    view = seeded_core.subscriptions.get("wechat", "o-reader")
    assert view is not None and view.push_format == "digest"


def test_where_the_push_is_per_reader_the_format_is_still_offered(seeded_core: Core) -> None:
    conversation = seeded_core.conversation
    caller = Caller(channel="telegram", user_id="7", chat_id="7")
    asyncio.run(conversation.handle_text(caller, "/subscribe"))
    (reply,) = asyncio.run(conversation.handle_text(caller, "/settings"))
    actions = {button.action for row in reply.buttons for button in row}
    assert {"set:fmt:digest", "set:fmt:full"} <= actions
    assert WHY_ZH not in reply.body.plain_text
    (changed,) = asyncio.run(conversation.handle_action(caller, "set:fmt:full"))
    assert any(button.label == "✅ 推送全文" for row in changed.buttons for button in row)
    view = seeded_core.subscriptions.get("telegram", "7")
    assert view is not None and view.push_format == "full"
    helped = asyncio.run(conversation.handle_text(caller, "/help"))
    assert "语言与推送格式" in helped[0].body.plain_text
