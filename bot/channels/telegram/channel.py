"""Telegram as a channel of the runtime: polling, webhook or off (TELEGRAM_MODE).

Follows python-telegram-bot's custom-webhook example (starlettebot): the web server
owns the event loop and PTB's Application is a component started and stopped in the
server's lifespan. In webhook mode the Application has no Updater; updates arrive on
`POST /telegram/webhook` and the route answers only once the update was handled, so
Telegram, which sends a chat's next update only after a 2xx for the previous one, keeps
each chat in order across any number of processes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.app import Core
from bot.channels.plugin import ChannelStartError, ChannelState
from bot.channels.telegram.app import CHANNEL, build_application
from bot.channels.telegram.bridge import TelegramNotifier
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES, telegram_capabilities
from bot.channels.telegram.sender import TelegramSender
from bot.core.broadcasts import Broadcaster
from bot.core.notify import Notifier
from bot.core.push import Sender
from bot.metrics import Metrics

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: How long a stop waits for updates in handlers before giving up on them.
DRAIN_SECONDS = 30.0


class TelegramChannel:
    """The Telegram channel; `mode` is the effective TELEGRAM_MODE."""

    name = CHANNEL
    capabilities = TELEGRAM_CAPABILITIES

    def __init__(self, core: Core, metrics: Metrics | None = None) -> None:
        self.core = core
        #: PUSH_PAID_BROADCAST raises the declared overall limit to the paid one.
        self.paid_broadcast = core.settings.push_paid_broadcast
        self.capabilities = telegram_capabilities(self.paid_broadcast)
        self.mode = core.settings.effective_telegram_mode
        self._state: ChannelState = "off"
        self._sender: TelegramSender | None = None
        self._notifier: TelegramNotifier | None = None
        self.application: Application | None = None  # type: ignore[type-arg]
        if self.mode != "off":
            self.application = build_application(
                core, metrics=metrics, webhook=self.mode == "webhook", host_jobs=False
            )

    @property
    def state(self) -> ChannelState:
        return self._state

    @property
    def sender(self) -> Sender | None:
        return self._sender

    @property
    def broadcaster(self) -> Broadcaster | None:
        """Telegram delivers to each reader (`sender`); it does not broadcast."""
        return None

    @property
    def notifier(self) -> Notifier | None:
        return self._notifier

    def bot_username(self) -> str | None:
        """The bot's @username once Telegram told it (getMe at start), else None."""
        application = self.application
        if application is None or self._state in ("off", "failing"):
            return None
        try:
            username: str = application.bot.username
        except RuntimeError:  # not initialised yet
            return None
        return username

    def routes(self) -> list[BaseRoute]:
        if self.mode != "webhook":
            return []
        return [Route(WEBHOOK_PATH, self._on_webhook, methods=["POST"])]

    async def start(self) -> None:
        """Connect, publish the menus, then poll or make sure the webhook is set. A
        failure leaves the channel `failing` (shown on /healthz) and raises
        ChannelStartError: the runtime retries it, except for a rejected token."""
        application = self.application
        if application is None:
            return
        try:
            await application.initialize()
            assert application.post_init is not None
            await application.post_init(application)
            if self.mode == "webhook":
                await self._ensure_webhook(application.bot)
            if not application.running:
                await application.start()
        except InvalidToken:
            # PTB's message repeats the token: name the setting, never its value.
            self._state = "failing"
            raise ChannelStartError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized); Telegram stays "
                "off until the token is fixed and the process restarted",
                retry=False,
            ) from None
        except (TelegramError, OSError) as exc:
            self._state = "failing"
            raise ChannelStartError(
                f"Telegram is unreachable ({exc.__class__.__name__}: {_one_line(exc)})"
            ) from None
        push_bot = application.bot_data["push_bot"]
        self._sender = TelegramSender(push_bot, paid_broadcast=self.paid_broadcast)
        self._notifier = TelegramNotifier(application.bot)
        self._state = "polling" if self.mode == "polling" else "webhook"

    async def on_leadership(self, leading: bool) -> None:
        """Polling mode: only the leader polls (two pollers get 409 Conflict from
        Telegram). A webhook is served by every process: Telegram picks one."""
        application = self.application
        if self.mode != "polling" or application is None or application.updater is None:
            return
        updater = application.updater
        if leading and application.running and not updater.running:
            log.info("the leader polls Telegram")
            await updater.start_polling(allowed_updates=Update.ALL_TYPES)
        elif not leading and updater.running:
            log.info("not the leader: Telegram polling stopped")
            await updater.stop()

    async def _ensure_webhook(self, bot: Bot) -> None:
        """setWebhook only when Telegram has another URL: a restart changes nothing, and
        pending updates are never dropped."""
        settings = self.core.settings
        info = await bot.get_webhook_info()
        if info.url == settings.telegram_webhook_url:
            log.info("webhook already set; %d updates pending", info.pending_update_count)
            return
        await bot.set_webhook(
            url=settings.telegram_webhook_url,
            secret_token=settings.telegram_webhook_secret,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
        )
        log.info("webhook set (it was %s)", "unset" if not info.url else "another URL")

    async def _on_webhook(self, request: Request) -> Response:
        application = self.application
        assert application is not None
        expected = self.core.settings.telegram_webhook_secret.encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            # The sender's address (the reader's, behind a proxy in FORWARDED_ALLOW_IPS):
            # who is posting to the webhook without Telegram's secret.
            client = request.client.host if request.client is not None else "unknown"
            log.warning("refused a webhook update from %s: wrong or missing secret", client)
            return JSONResponse({"ok": False, "error": "wrong secret"}, status_code=403)
        if not application.running:
            return JSONResponse({"ok": False, "error": "not running"}, status_code=503)
        try:
            data: Any = json.loads(await request.body())
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.info("refused a webhook body that is not an update: %s", exc.__class__.__name__)
            return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
        # Through the per-chat ordering processor, as polled updates go; answered after.
        processor = application.update_processor
        await processor.process_update(update, application.process_update(update))
        return Response(status_code=200)

    async def stop(self) -> None:
        """Stop receiving first, let handlers finish (bounded), then close everything."""
        application = self.application
        if application is None:
            return
        self._sender = None
        self._notifier = None
        try:
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            if application.running:
                await asyncio.wait_for(application.stop(), DRAIN_SECONDS)
        except TimeoutError:
            log.warning("updates still in handlers after %.0f s; stopping anyway", DRAIN_SECONDS)
        finally:
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
            await application.shutdown()
            if self._state != "failing":
                self._state = "off"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]


__all__ = ["TELEGRAM_CAPABILITIES", "TelegramChannel"]
