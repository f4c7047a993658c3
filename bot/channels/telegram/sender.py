"""The push's sender on Telegram: PTB errors become the core's delivery outcomes."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from bot.channels.telegram.capabilities import TELEGRAM, telegram_capabilities, telegram_id
from bot.channels.telegram.prepared_send import (
    PreparedMessage,
    can_send_prepared,
    send_prepared,
)
from bot.channels.telegram.render import keyboard, render_messages, split_keyboard
from bot.core.conversation import Reply
from bot.core.push import (
    ChannelPush,
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

    @cached_property
    def parameters(self) -> dict[str, object]:
        """sendMessage's parameters, the keyboard serialized once: a push sends the same
        rendered message to thousands of chats."""
        parameters: dict[str, object] = {
            "text": self.html,
            "parse_mode": ParseMode.HTML.value,
            "link_preview_options": _NO_PREVIEW,
        }
        if self.markup is not None:
            parameters["reply_markup"] = json.dumps(self.markup.to_dict(), ensure_ascii=False)
        return parameters

    @cached_property
    def prepared(self) -> PreparedMessage:
        """The JSON body once for every chat it goes to (see `prepared_send`)."""
        return PreparedMessage(_json_parameters(self.parameters))

    @cached_property
    def prepared_paid(self) -> PreparedMessage:
        """`prepared`, allowing Telegram's paid broadcast (PUSH_PAID_BROADCAST)."""
        return PreparedMessage(_json_parameters({**self.parameters, **_PAID}))


#: The parameter PUSH_PAID_BROADCAST adds to every push message.
_PAID: dict[str, object] = {"allow_paid_broadcast": True}


def _json_parameters(parameters: dict[str, object]) -> dict[str, str]:
    """As PTB's `RequestData.json_parameters` gives them: text as is, the rest as JSON."""
    return {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in parameters.items()
    }


#: LinkPreviewOptions(is_disabled=True), as the Bot API takes it.
_NO_PREVIEW = json.dumps(LinkPreviewOptions(is_disabled=True).to_dict())


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB is moving retry_after from int to timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


#: Reviews per push digest message: 10 read buttons, and about 10 cards' text fits in
#: one message of 4096 UTF-16 units (a longer digest is split by render_messages).
DIGEST_REVIEWS_PER_MESSAGE = 10
#: Text of a message that only carries the keyboard's overflow (never in practice:
#: digests stay far below MAX_BUTTONS; this keeps a message valid if one does not).
_MORE_BUTTONS = "⋯"


class TelegramSender:
    channel = TELEGRAM
    max_reviews_per_message = DIGEST_REVIEWS_PER_MESSAGE

    def __init__(self, bot: Bot, *, paid_broadcast: bool = False) -> None:
        self.bot = bot
        #: PUSH_PAID_BROADCAST: every push message allows Telegram's paid broadcast.
        self._paid = paid_broadcast
        self._prepared = can_send_prepared(bot)

    def render(self, replies: list[Reply]) -> Sequence[object]:
        """Each reply as messages within Telegram's limits: text split at 4096 units and
        100 entities, the keyboard on the last part (in groups of at most 100 buttons)."""
        messages: list[OutgoingMessage] = []
        for reply in replies:
            parts = render_messages(reply.body)
            groups = split_keyboard(reply.buttons)
            parts += [_MORE_BUTTONS] * max(0, len(groups) - len(parts))
            first_with_buttons = len(parts) - len(groups)
            for index, part in enumerate(parts):
                group = index - first_with_buttons
                markup = keyboard(groups[group]) if group >= 0 else None
                messages.append(OutgoingMessage(part, markup))
        return messages

    async def send_one(self, chat_id: str, message: object) -> int:
        """Send and return the message id, read off the API's answer: building a whole
        `telegram.Message` for it (what `Bot.send_message` does) was 14 % of a push.
        On our transport the body is the message's, encoded once (`prepared_send`);
        on another, `Bot._post`, what `send_message` itself calls. Either way the
        errors are PTB's own."""
        assert isinstance(message, OutgoingMessage)
        try:
            sent = await self._post(telegram_id(chat_id), message)
        except RetryAfter as exc:
            raise RateLimitedError(retry_after_seconds(exc)) from exc
        except ChatMigrated as exc:
            # A group that grew into a supergroup got a new id.
            raise ChatMovedError(str(exc.new_chat_id), "supergroup") from exc
        except Forbidden as exc:
            raise RecipientGoneError(exc.message) from exc
        except BadRequest as exc:
            if any(marker in exc.message.lower() for marker in _GONE):
                raise RecipientGoneError(exc.message) from exc
            raise PermanentDeliveryError(exc.message) from exc
        except NetworkError as exc:  # timeouts, connection errors, 5xx
            raise TemporaryDeliveryError(exc.message) from exc
        return int(sent["message_id"])

    async def _post(self, chat_id: int | str, message: OutgoingMessage) -> Any:
        if self._prepared:
            prepared = message.prepared_paid if self._paid else message.prepared
            return await send_prepared(self.bot, chat_id, prepared)
        extra = _PAID if self._paid else {}
        return await self.bot._post(
            "sendMessage", {"chat_id": chat_id, **message.parameters, **extra}
        )


def telegram_push(bot: Bot, paid_broadcast: bool = False) -> ChannelPush:
    """Telegram's part of a push: its sender and the limits it declares, both as
    PUSH_PAID_BROADCAST says (`allow_paid_broadcast`, 1000/s overall)."""
    return ChannelPush(
        TelegramSender(bot, paid_broadcast=paid_broadcast),
        telegram_capabilities(paid_broadcast).send_limits,
    )
