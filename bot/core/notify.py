"""How the core sends unprompted messages (pushes, editor alerts) without knowing the channel."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from bot.core.conversation import Reply

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """A channel's way to send replies to a chat it was not asked by."""

    async def send(self, chat_id: int, replies: list[Reply]) -> None: ...


async def notify_admins(notifier: Notifier, admin_ids: Iterable[int], replies: list[Reply]) -> int:
    """Send to every editor; one unreachable editor does not stop the others."""
    delivered = 0
    for admin_id in admin_ids:
        try:
            await notifier.send(admin_id, replies)
            delivered += 1
        except Exception:
            log.exception("could not notify admin %s", admin_id)
    return delivered
