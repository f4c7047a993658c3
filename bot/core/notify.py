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


class CompositeNotifier:
    """Several channels' notifiers as one: each editor's notice goes through the
    notifier of that editor's address's channel (ADMIN_IDS `telegram:4242`,
    `wechat:<openid>`), so editors on every channel hear of jobs. Its `channel` is the
    first one's (a caller that only compares it reaches those editors, as before);
    `route` finds the others."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self._by_channel: dict[str, Notifier] = {}
        for notifier in notifiers:
            self._by_channel.setdefault(notifier.channel, notifier)
        if not self._by_channel:
            raise ValueError("a composite notifier needs at least one notifier")
        self.channel = next(iter(self._by_channel))

    @property
    def channels(self) -> list[str]:
        return list(self._by_channel)

    def for_channel(self, channel: str) -> Notifier | None:
        return self._by_channel.get(channel)

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        """`chat_id` on the first channel (as a single notifier's `send`)."""
        await self._by_channel[self.channel].send(chat_id, replies)


def route(notifier: Notifier | None, channel: str) -> Notifier | None:
    """The notifier that reaches an address on `channel`, if `notifier` can."""
    if notifier is None:
        return None
    if isinstance(notifier, CompositeNotifier):
        return notifier.for_channel(channel)
    return notifier if notifier.channel == channel else None


def combine(notifiers: Iterable[Notifier | None]) -> Notifier | None:
    """One notifier over the given ones (None left out): None, the only one, or a
    composite routing by channel."""
    present = [notifier for notifier in notifiers if notifier is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return CompositeNotifier(present)


async def notify_admins(
    notifier: Notifier, admin_ids: Iterable[ChatAddress], replies: list[Reply]
) -> int:
    """Send to every editor the notifier reaches (a `CompositeNotifier`: each on their
    own channel); one unreachable editor does not stop the others."""
    delivered = 0
    for admin_id in admin_ids:
        target = route(notifier, admin_id.channel)
        if target is None:
            continue
        try:
            await target.send(admin_id.address, replies)
            delivered += 1
        except Exception:
            log.exception("could not notify admin %s", admin_id)
    return delivered
