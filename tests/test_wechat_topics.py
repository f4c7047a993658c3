"""/topics where the push cannot differ by reader (WeChat's mass send): the reader is told
so, and what they get instead, because the channel declares `per_reader_topics=False`,
not because the core knows which channel it is on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Core
from bot.channels.base import ChannelCapabilities
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from bot.channels.wechat.capabilities import WECHAT_CAPABILITIES
from bot.core.conversation import PER_READER_TOPICS, Caller
from bot.core.ratelimit import SendLimits
from bot.core.texts import t
from tests.test_wechat_channel import READER, Served, serving

NO_TOPICS_ZH = "无法按读者选择主题"
NO_TOPICS_EN = "topics cannot be chosen per reader"


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    with serving(tmp_path, sqlite_url) as running:
        yield running


def _tags(core: Core) -> list[str]:
    return [tag for tag, _ in core.reviews.tag_counts()]


def test_the_capability_names_what_the_channel_lacks() -> None:
    assert WECHAT_CAPABILITIES.per_reader_topics is False
    assert WECHAT_CAPABILITIES.lacks() == {PER_READER_TOPICS}
    assert TELEGRAM_CAPABILITIES.lacks() == frozenset()
    # Any channel declaring the same gets the same: nothing is keyed by the name.
    other = ChannelCapabilities(
        name="pager",
        buttons=False,
        can_edit=False,
        max_action_bytes=10,
        max_text_units=160,
        send_limits=SendLimits(per_second=1.0, private_per_second=1.0),
        per_reader_topics=False,
    )
    assert other.lacks() == {PER_READER_TOPICS}


@pytest.mark.parametrize("typed", ["/topics", "主题", "topics"])
def test_a_wechat_reader_asking_for_topics_is_told_what_they_get_instead(
    served: Served, typed: str
) -> None:
    answer = served.client.send(READER, typed)
    assert answer.msg_type == "text", answer.xml
    content = answer.content
    assert NO_TOPICS_ZH in content, content
    assert "全部新解读" in content and "发送标签即可搜索" in content
    # Real tags of the column, as searches to try; no choices to toggle.
    tags = _tags(served.core)
    assert tags and tags[0] in content
    assert "回复" not in content and "✅" not in content and "▫️" not in content


def test_an_english_reader_is_told_in_english(served: Served) -> None:
    served.client.post(served.client.event(READER, "subscribe"))
    served.core.subscriptions.update_preferences("wechat", READER, language="en")
    content = served.client.send(READER, "/topics").content
    assert NO_TOPICS_EN in content and "send its tag as a search" in content, content
    assert NO_TOPICS_ZH not in content
    assert _tags(served.core)[0] in content


def test_the_tag_named_is_a_search_that_finds_its_reviews(served: Served) -> None:
    """What the reader is told to do works: the first tag, sent as it is, lists reviews."""
    tag = _tags(served.core)[0]
    found = served.client.send(READER, tag).content
    assert f"「{tag}」的搜索结果" in found, found
    expected = [review.title for review in served.core.search.search(tag, 5).items]
    assert expected and all(title in found for title in expected)


def test_wechat_help_and_welcome_do_not_offer_topics(served: Served) -> None:
    welcome = served.client.post(served.client.event(READER, "subscribe")).content
    assert "订阅成功" in welcome and "/topics" not in welcome, welcome
    assert "每次推送包含全部新解读" in welcome
    helped = served.client.send(READER, "帮助").content
    assert "/latest" in helped and "/topics" not in helped, helped


def test_where_the_push_is_per_reader_topics_still_offers_its_choices(
    seeded_core: Core,
) -> None:
    """The same command on a channel that lacks nothing: the toggles, /topics listed."""
    conversation = seeded_core.conversation
    caller = Caller(channel="telegram", user_id="7", chat_id="7")

    async def ask(text: str, who: Caller) -> str:
        replies = await conversation.handle_text(who, text)
        return "\n".join(reply.body.plain_text for reply in replies)

    topics = asyncio.run(conversation.handle_text(caller, "/topics"))
    (reply,) = topics
    assert t("zh", "topics_intro") in reply.body.plain_text
    assert any(button.action == "tp:all" for row in reply.buttons for button in row)
    assert "/topics" in asyncio.run(ask("/help", caller))
    welcome = asyncio.run(ask("/start", caller))
    assert "/topics" in welcome and NO_TOPICS_ZH not in welcome
    lacking = Caller(
        channel="telegram", user_id="8", chat_id="8", lacks=WECHAT_CAPABILITIES.lacks()
    )
    assert NO_TOPICS_ZH in asyncio.run(ask("/topics", lacking))
    assert "/topics" not in asyncio.run(ask("/help", lacking))
