"""sendMessage with a body encoded once (bot/channels/telegram/prepared_send.py) is, at
the Bot API, the request `Bot._post` makes, and its failures are PTB's own exceptions
with PTB's messages: checked against the fake Bot API over real HTTP, one send through
each path for every kind of answer the push meets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.prepared_send import PreparedMessage, can_send_prepared, send_prepared
from bot.channels.telegram.sender import OutgoingMessage
from tests.support.fake_telegram import FakeTelegramServer

CHAT = 4242
MESSAGE = OutgoingMessage(
    '本周新解读：<b>Toolformer</b> &amp; "引号" \\ 反斜杠',
    InlineKeyboardMarkup([[InlineKeyboardButton("阅读 1", callback_data="r:1")]]),
)


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot("123:PREPARED", base_url=server.base_url, request=AiohttpRequest()) as bot:
        yield bot


def _through_ptb(bot: Bot, parameters: dict[str, object]) -> Callable[[int], Any]:
    return lambda chat: bot._post("sendMessage", {"chat_id": chat, **parameters})


async def test_the_prepared_body_is_the_request_ptb_makes(
    bot: Bot, server: FakeTelegramServer
) -> None:
    assert can_send_prepared(bot)
    cases = [
        (MESSAGE.prepared, MESSAGE.parameters),
        (MESSAGE.prepared_paid, {**MESSAGE.parameters, "allow_paid_broadcast": True}),
        (OutgoingMessage("纯文本", None).prepared, OutgoingMessage("纯文本", None).parameters),
    ]
    for prepared, parameters in cases:
        ours = await send_prepared(bot, CHAT, prepared)
        theirs = await _through_ptb(bot, parameters)(CHAT)
        first, second = server.calls[-2:]
        assert first.ok and second.ok
        assert first.params == second.params
        assert ours.keys() == theirs.keys()
        assert ours["text"] == theirs["text"] and ours["message_id"] != theirs["message_id"]
    assert server.calls[-2].params["text"] == "纯文本"


def _blocked(server: FakeTelegramServer) -> None:
    server.block_user(CHAT)


def _migrated(server: FakeTelegramServer) -> None:
    server.migrate_chat(CHAT, -1_001_234_567_890)


def _failing(**failure: Any) -> Callable[[FakeTelegramServer], None]:
    # Twice: once for each path.
    return lambda server: server.fail_next("sendMessage", count=2, **failure)


@pytest.mark.parametrize(
    "arrange",
    [
        _blocked,
        _migrated,
        _failing(status=429, retry_after=7),
        _failing(status=400, description="Bad Request: chat not found"),
        _failing(status=500, description="Internal Server Error"),
        _failing(status=502),  # nginx's HTML page, not JSON
        _failing(status=409, description="Conflict: whatever"),
    ],
    ids=["blocked", "migrated", "429", "400", "500", "502-html", "409"],
)
async def test_failures_are_ptbs_exceptions_with_ptbs_messages(
    bot: Bot, server: FakeTelegramServer, arrange: Callable[[FakeTelegramServer], None]
) -> None:
    arrange(server)
    with pytest.raises(TelegramError) as ours:
        await send_prepared(bot, CHAT, MESSAGE.prepared)
    with pytest.raises(TelegramError) as theirs:
        await _through_ptb(bot, MESSAGE.parameters)(CHAT)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
    assert vars(ours.value) == vars(theirs.value)


def test_a_body_with_nothing_but_the_chat_is_valid_json() -> None:
    assert json.loads(PreparedMessage({}).body(7)) == {"chat_id": "7"}
    assert json.loads(PreparedMessage({"text": "x"}).body("@channel")) == {
        "chat_id": "@channel",
        "text": "x",
    }
