"""Concurrent update handling that still answers each chat in order.

python-telegram-bot's concurrent mode runs updates side by side with no regard for
chats, so a reader who sends /latest then /classic could get the answers swapped.
Here updates of different chats overlap while those of one chat wait their turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._pending: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._pending[chat.id] = self._pending.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._pending[chat.id] -= 1
            if self._pending[chat.id] == 0:
                del self._pending[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
