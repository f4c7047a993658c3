"""Editors on every channel hear of jobs: a composite notifier routes each editor's
notice through the channel of that editor's address."""

from __future__ import annotations

import asyncio

from bot.core.addresses import ChatAddress
from bot.core.conversation import Reply
from bot.core.notify import CompositeNotifier, notify_admins
from bot.core.richtext import paragraph, rich


class RecordingNotifier:
    def __init__(self, channel: str, fail_for: str = "") -> None:
        self.channel = channel
        self.sent: list[str] = []
        self._fail_for = fail_for

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        if chat_id == self._fail_for:
            raise RuntimeError("unreachable editor")
        self.sent.append(chat_id)


def _notice() -> list[Reply]:
    return [Reply(rich(paragraph("push done")))]


def test_each_editor_is_reached_on_their_own_channel() -> None:
    telegram = RecordingNotifier("telegram")
    wechat = RecordingNotifier("wechat", fail_for="oBROKEN")
    composite = CompositeNotifier([telegram, wechat])
    admins = [
        ChatAddress("telegram", "4242"),
        ChatAddress("wechat", "oEDITOR"),
        ChatAddress("wechat", "oBROKEN"),
        ChatAddress("web", "nobody"),
    ]
    delivered = asyncio.run(notify_admins(composite, admins, _notice()))
    assert delivered == 2
    assert telegram.sent == ["4242"]
    assert wechat.sent == ["oEDITOR"]


def test_a_single_channel_notifier_still_reaches_only_its_editors() -> None:
    wechat = RecordingNotifier("wechat")
    admins = [ChatAddress("telegram", "4242"), ChatAddress("wechat", "oEDITOR")]
    assert asyncio.run(notify_admins(wechat, admins, _notice())) == 1
    assert wechat.sent == ["oEDITOR"]


def test_composite_send_takes_a_full_address() -> None:
    wechat = RecordingNotifier("wechat")
    composite = CompositeNotifier([wechat])
    asyncio.run(composite.send("wechat:oEDITOR", _notice()))
    assert wechat.sent == ["oEDITOR"]
