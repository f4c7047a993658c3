"""How the core sends unprompted messages (pushes, editor alerts) without knowing the channel."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from bot.core.addresses import ChatAddress
from bot.core.conversation import Reply

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """A channel's way to send replies to a chat it was not asked by."""

    #: The channel it sends on: only the editors on this channel are reached through it.
    channel: str

    async def send(self, chat_id: str, replies: list[Reply]) -> None: ...


#: The `channel` of a notifier that reaches every channel it was built from.
ANY_CHANNEL = "*"


class CompositeNotifier:
    """Several channels' notifiers as one: each editor's notice goes through the
    notifier of the channel of that editor's address (ADMIN_IDS `telegram:4242`,
    `wechat:<openid>`), so editors on every channel hear of jobs."""

    channel = ANY_CHANNEL

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self._by_channel: dict[str, Notifier] = {}
        for notifier in notifiers:
            self._by_channel.setdefault(notifier.channel, notifier)

    @property
    def channels(self) -> list[str]:
        return list(self._by_channel)

    def for_channel(self, channel: str) -> Notifier | None:
        return self._by_channel.get(channel)

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        """`chat_id` is a full address (`wechat:<openid>`): its channel picks the way."""
        channel, _, address = chat_id.partition(":")
        notifier = self._by_channel.get(channel)
        if notifier is None or not address:
            raise LookupError(f"no notifier for {chat_id!r}")
        await notifier.send(address, replies)


def _route(notifier: Notifier, channel: str) -> Notifier | None:
    if isinstance(notifier, CompositeNotifier):
        return notifier.for_channel(channel)
    return notifier if notifier.channel == channel else None


async def notify_admins(
    notifier: Notifier, admin_ids: Iterable[ChatAddress], replies: list[Reply]
) -> int:
    """Send to every editor on the notifier's channel (a `CompositeNotifier`: on each
    editor's own channel); one unreachable editor does not stop the others."""
    delivered = 0
    for admin_id in admin_ids:
        target = _route(notifier, admin_id.channel)
        if target is None:
            continue
        try:
            await target.send(admin_id.address, replies)
            delivered += 1
        except Exception:
            log.exception("could not notify admin %s", admin_id)
    return delivered
