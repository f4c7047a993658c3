"""The Telegram bot's part in leadership: the leader's duties, and polling only there.

`paperbot run` campaigns for the scheduler lease (bot/core/leadership.py). On election
it starts the leader's duties (`start_leader_duties`: scheduled jobs, catch-up, push
requests) and, in polling mode, polls Telegram; on demotion it stops both. Followers
answer nothing from Telegram in polling mode (two pollers would fight: 409 Conflict).

A limitation of hosting this in PTB's `run_polling`: that call starts the updater right
after `post_init`, whatever the role, so a follower polls for a moment (one long poll)
before the reconciler stops it. A runtime that owns the process should instead start
polling from `on_elected` only (`LeaderRole.elected` is an asyncio.Event for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Update
from telegram.ext import Application

from bot.app import Core, leader_elector, start_leader_duties
from bot.core.conversation import Reply
from bot.core.leader_duties import LeaderDuties, PushNow
from bot.core.leadership import LeaderElector
from bot.core.notify import Notifier

log = logging.getLogger(__name__)

#: The name this channel gives its callers (Caller.channel), so replies find their way.
CHANNEL = "telegram"


class TelegramLeadership:
    def __init__(
        self,
        core: Core,
        application: Application,  # type: ignore[type-arg]
        notifier: Notifier,
        push_now: PushNow,
    ) -> None:
        self.core = core
        self.application = application
        self.notifier = notifier
        self.push_now = push_now
        self.duties: LeaderDuties | None = None
        self.elector: LeaderElector = leader_elector(core, self._on_elected, self._on_demoted)
        self._reconciler: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self.elector.start()
        self._reconciler = asyncio.create_task(self._reconcile_polling())

    async def stop(self) -> None:
        self._stopping = True
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        await self.elector.stop()

    async def _notify(self, channel: str, address: str, replies: list[Reply]) -> None:
        if channel != CHANNEL:
            log.info("a push request's summary for channel %s is only logged", channel)
            return
        await self.notifier.send(int(address), replies)

    async def _on_elected(self, epoch: int) -> None:
        self.duties = start_leader_duties(self.core, self.notifier, self.push_now, self._notify)

    async def _on_demoted(self, epoch: int) -> None:
        duties, self.duties = self.duties, None
        if duties is not None:
            await duties.stop()
        await self._stop_polling()

    async def _stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            log.info("not the leader: Telegram polling stopped")
            await updater.stop()

    async def _reconcile_polling(self) -> None:
        """Poll Telegram exactly while this process leads."""
        updater = self.application.updater
        if updater is None:
            return
        while not self._stopping:
            await asyncio.sleep(min(0.5, self.elector.renew_every))
            try:
                if self.elector.is_leader and not updater.running:
                    log.info("the leader polls Telegram")
                    await updater.start_polling(allowed_updates=Update.ALL_TYPES)
                elif not self.elector.is_leader and updater.running:
                    await self._stop_polling()
            except RuntimeError as exc:  # started or stopped by run_polling meanwhile
                log.debug("polling reconcile: %s", exc)
