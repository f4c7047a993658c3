"""The push's sender on Telegram: PTB errors become the core's delivery outcomes."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.channels.telegram.render import keyboard, render_messages
from bot.core.conversation import Reply
from bot.core.push import (
    ChatMovedError,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientGoneError,
    TemporaryDeliveryError,
)

#: 400s that mean the chat is gone for good rather than that our message was wrong.
_GONE = ("chat not found", "user not found", "peer_id_invalid", "have no rights to send")


@dataclass(frozen=True)
class OutgoingMessage:
    html: str
    markup: InlineKeyboardMarkup | None


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB is moving retry_after from int to timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class TelegramSender:
    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def render(self, replies: list[Reply]) -> Sequence[object]:
        messages: list[OutgoingMessage] = []
        for reply in replies:
            parts = render_messages(reply.body)
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                messages.append(OutgoingMessage(part, keyboard(reply.buttons) if last else None))
        return messages

    async def send_one(self, chat_id: int, message: object) -> int:
        assert isinstance(message, OutgoingMessage)
        try:
            sent = await self.bot.send_message(
                chat_id,
                message.html,
                parse_mode=ParseMode.HTML,
                reply_markup=message.markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            raise RateLimitedError(retry_after_seconds(exc)) from exc
        except ChatMigrated as exc:
            raise ChatMovedError(exc.new_chat_id) from exc
        except Forbidden as exc:
            raise RecipientGoneError(exc.message) from exc
        except BadRequest as exc:
            if any(marker in exc.message.lower() for marker in _GONE):
                raise RecipientGoneError(exc.message) from exc
            raise PermanentDeliveryError(exc.message) from exc
        except NetworkError as exc:  # timeouts, connection errors, 5xx
            raise TemporaryDeliveryError(exc.message) from exc
        return sent.message_id
