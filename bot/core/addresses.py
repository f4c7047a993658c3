"""Chat addresses: `(channel, address)`, the address a string whatever the channel.

A Telegram chat id is the decimal text of its integer (`"-1001234567890"`), a WeChat
OpenID is itself (`"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"`). The core compares addresses and
never parses them; each channel converts its own ids at its boundary.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_CHANNEL = re.compile(r"[a-z][a-z0-9_]{0,15}")
_ADDRESS = re.compile(r"[^\s,:]{1,64}")


class ChatAddress(NamedTuple):
    """A user or chat on one channel."""

    channel: str
    address: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"


def parse_address(value: object, default_channel: str) -> ChatAddress:
    """`channel:address`, or a bare address on `default_channel` (ADMIN_IDS' `4242`).

    Raises ValueError with the offending text for anything else.
    """
    if isinstance(value, ChatAddress):
        return value
    if isinstance(value, tuple) and len(value) == 2:
        value = f"{value[0]}:{value[1]}"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a chat address")
    text = str(value).strip()
    channel, colon, address = text.partition(":")
    if not colon:
        channel, address = default_channel, text
    if not _CHANNEL.fullmatch(channel) or not _ADDRESS.fullmatch(address):
        raise ValueError(f"{text!r} is not a chat address (expected channel:address)")
    return ChatAddress(channel, address)
