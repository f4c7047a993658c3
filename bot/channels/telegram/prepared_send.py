"""sendMessage with its body encoded once per message, for sends of one message to many.

A push sends the same rendered message to thousands of chats. Through `Bot._post` every
send built PTB's request parameters again (a `RequestParameter` and a `json.dumps` per
field, then a `RequestData`), and the transport encoded the whole dict once more: about
a seventh of a push's CPU for bytes that differ only in the chat id. A `PreparedMessage`
holds the JSON body without the chat id, and each send splices the id in front.

The answer is read the way PTB's `BaseRequest` reads it: a 2xx gives the `result`;
anything else raises the exception PTB raises for that status and body (`ChatMigrated`
and `RetryAfter` from the response's parameters, `Forbidden` for 403, `BadRequest` for
400, `InvalidToken` for 401/404, `Conflict` for 409, `NetworkError` otherwise), so the
callers' handling of errors does not depend on which path sent the message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels.telegram.http import AiohttpRequest


class PreparedMessage:
    """A sendMessage body minus its chat id: `parameters` are PTB's JSON parameters
    (strings; objects such as a keyboard already JSON text), as `http._body` sends them."""

    __slots__ = ("_tail",)

    def __init__(self, parameters: Mapping[str, str]) -> None:
        rest = json.dumps(dict(parameters), ensure_ascii=False).encode()
        # '{"text": ...}' -> ', "text": ...}' after the chat id ('}' alone when empty).
        self._tail = b", " + rest[1:] if len(rest) > 2 else b"}"

    def body(self, chat_id: int | str) -> bytes:
        return b'{"chat_id": ' + json.dumps(str(chat_id)).encode() + self._tail


def can_send_prepared(bot: Bot) -> bool:
    """Prepared bodies need our transport (`AiohttpRequest.post_json`)."""
    return isinstance(bot.request, AiohttpRequest)


async def send_prepared(bot: Bot, chat_id: int | str, message: PreparedMessage) -> Any:
    """POST sendMessage with `message`'s body to `chat_id`; the Bot API's `result`."""
    request = bot.request
    assert isinstance(request, AiohttpRequest)
    code, payload = await request.post_json(f"{bot.base_url}/sendMessage", message.body(chat_id))
    return answer_result(code, payload)


def answer_result(code: int, payload: bytes) -> Any:
    """The `result` of a Bot API answer, or PTB's exception for it (see the module doc)."""
    if HTTPStatus.OK <= code <= 299:
        return _parsed(payload)["result"]
    try:
        message = f"{HTTPStatus(code).phrase} ({code})"
    except ValueError:
        message = f"Unknown HTTPError ({code})"
    parsing: TelegramError | None = None
    try:
        data = _parsed(payload)
    except TelegramError as exc:
        message += f". Parsing the server response {payload!r} failed"
        parsing = exc
    else:
        message = data.get("description") or message
        parameters = data.get("parameters")
        if parameters:
            if parameters.get("migrate_to_chat_id"):
                raise ChatMigrated(parameters["migrate_to_chat_id"])
            if parameters.get("retry_after"):
                raise RetryAfter(parameters["retry_after"])
            message += f". The server response contained unknown parameters: {parameters}"
    raise _error(code, message) from parsing


def _error(code: int, message: str) -> TelegramError:
    if code == HTTPStatus.FORBIDDEN:
        return Forbidden(message)
    if code in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        return InvalidToken(message)
    if code == HTTPStatus.BAD_REQUEST:
        return BadRequest(message)
    if code == HTTPStatus.CONFLICT:
        return Conflict(message)
    return NetworkError(message)


def _parsed(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
    except ValueError as exc:
        raise TelegramError("Invalid server response") from exc
    if not isinstance(data, dict):
        raise TelegramError("Invalid server response")
    return data
