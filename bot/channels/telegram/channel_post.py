"""The optional public Telegram channel (TELEGRAM_CHANNEL_ID) that gets every newly
published review once: a standing subscriber of the Telegram channel, in full."""

from __future__ import annotations

from bot.channels.telegram.capabilities import TELEGRAM
from bot.core.push import StandingSubscriber


def telegram_standing_subscribers(channel_id: int | None) -> tuple[StandingSubscriber, ...]:
    if channel_id is None:
        return ()
    return (StandingSubscriber(TELEGRAM, str(channel_id), chat_type="channel", push_format="full"),)
