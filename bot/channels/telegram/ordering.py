"""Concurrent update handling that still answers each chat in order.

python-telegram-bot's concurrent mode runs updates side by side with no regard for
chats, so a reader who sends /latest then /classic could get the answers swapped.
Here updates of different chats overlap while those of one chat wait their turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.log_format import log_context

log = logging.getLogger(__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._pending: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Handle `update` after the chat's earlier ones, every line logged meanwhile
        carrying its channel, chat and update ids (bot/log_format.py); one DEBUG line
        when it is handled (ids and time only; DEBUG: at INFO a busy bot's log would be
        mostly these)."""
        chat = update.effective_chat if isinstance(update, Update) else None
        update_id = update.update_id if isinstance(update, Update) else None
        started = time.monotonic()
        with log_context(
            channel="telegram", chat_id=None if chat is None else chat.id, update_id=update_id
        ):
            await self._in_order(chat.id if chat is not None else None, coroutine)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("update handled in %.0f ms", (time.monotonic() - started) * 1000)

    async def _in_order(self, chat_id: int | None, coroutine: Awaitable[Any]) -> None:
        if chat_id is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._pending[chat_id] = self._pending.get(chat_id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._pending[chat_id] -= 1
            if self._pending[chat_id] == 0:
                del self._pending[chat_id]
                del self._locks[chat_id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
