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


async def notify_admins(
    notifier: Notifier, admin_ids: Iterable[ChatAddress], replies: list[Reply]
) -> int:
    """Send to every editor on the notifier's channel; one unreachable editor does not
    stop the others."""
    delivered = 0
    for admin_id in admin_ids:
        if admin_id.channel != notifier.channel:
            continue
        try:
            await notifier.send(admin_id.address, replies)
            delivered += 1
        except Exception:
            log.exception("could not notify admin %s", admin_id)
    return delivered
