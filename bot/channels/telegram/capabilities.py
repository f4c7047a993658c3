"""Telegram's declared capabilities (https://core.telegram.org/bots/api, /bots/faq)."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.channels.base import ChannelCapabilities
from bot.core.ratelimit import SendLimits

#: The channel name Telegram's subscribers, callers and audit entries carry.
TELEGRAM = "telegram"

TELEGRAM_CAPABILITIES = ChannelCapabilities(
    name=TELEGRAM,
    buttons=True,
    can_edit=True,
    # callback_data: 1-64 bytes.
    max_action_bytes=64,
    # sendMessage text: 1-4096 characters after entities parsing (UTF-16 code units).
    max_text_units=4096,
    # Bulk notifications: about 30 messages/s overall, 1/s to one private chat,
    # 20/min to one group (PUSH_MAX_PER_SECOND etc. override these).
    send_limits=SendLimits(per_second=30.0, private_per_second=1.0, group_per_minute=20.0),
)

#: Telegram's paid broadcast (`allow_paid_broadcast`): up to 1000 messages/s overall,
#: those beyond the free 30/s paid in Stars; the chat limits stay.
PAID_BROADCAST_MAX_PER_SECOND = 1000.0


def telegram_capabilities(paid_broadcast: bool = False) -> ChannelCapabilities:
    """Telegram's capabilities; with PUSH_PAID_BROADCAST its declared overall limit is
    the paid broadcast's (which PUSH_MAX_PER_SECOND lowers as any other)."""
    if not paid_broadcast:
        return TELEGRAM_CAPABILITIES
    limits = replace(TELEGRAM_CAPABILITIES.send_limits, per_second=PAID_BROADCAST_MAX_PER_SECOND)
    return replace(TELEGRAM_CAPABILITIES, send_limits=limits)


def telegram_id(address: str) -> int:
    """The core's string address back to the integer chat or user id PTB takes."""
    return int(address)


_TELEGRAM_ID = re.compile(r"-?[0-9]{1,20}")


def is_telegram_id(address: str) -> bool:
    """Telegram's chats and users are integers (negative for groups and channels)."""
    return _TELEGRAM_ID.fullmatch(address) is not None
