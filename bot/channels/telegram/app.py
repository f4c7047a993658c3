"""Builds the python-telegram-bot Application around the core (ApplicationBuilder)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Bot, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.app import Core
from bot.background import Background
from bot.channels.telegram.bridge import TelegramBridge, TelegramNotifier, publish_commands
from bot.channels.telegram.capabilities import TELEGRAM
from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.inline import InlineSearch
from bot.channels.telegram.membership import MembershipHandlers
from bot.channels.telegram.ordering import PerChatUpdateProcessor
from bot.channels.telegram.sender import telegram_push
from bot.core.search.segment import warm_up
from bot.core.texts import language_of, t
from bot.metrics import Metrics
from bot.settings import Settings

log = logging.getLogger(__name__)


_COMMAND_NAME = re.compile(r"/[A-Za-z0-9_]{1,32}")
#: The channel's name in metrics and on /healthz.
CHANNEL = TELEGRAM
#: The handler group of the metrics counter: before every other, and alone in it (PTB
#: runs one matching handler per group, so sharing a group would hide other handlers).
_METRICS_GROUP = -100


def describe_update(update: object) -> str:
    """An update as a log may name it: its id and kind, and a command's name.

    Never its contents: a reader's text, name and id are theirs, not the log's.
    """
    if not isinstance(update, Update):
        return type(update).__name__
    if update.callback_query is not None:
        prefix = (update.callback_query.data or "").partition(":")[0]
        kind = f"button {prefix[:8]!r}" if prefix.isascii() else "button"
    elif update.inline_query is not None:
        kind = "inline query"
    elif (message := update.effective_message) is not None:
        kind = "document" if message.document else "message"
        command = _COMMAND_NAME.match(message.text or message.caption or "")
        if command:
            kind += f" {command.group()}"
    else:
        kind = next((name for name, value in update.to_dict().items() if name != "update_id"), "")
    return f"update {update.update_id} ({kind})"


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: logs the update's id and kind, never its contents, and
    tells the reader something went wrong rather than nothing (never the details)."""
    log.error("error while handling %s", describe_update(update), exc_info=context.error)
    if isinstance(update, Update):
        await _apologize(update, context.bot)


async def _apologize(update: Update, bot: Bot) -> None:
    """Best effort: if Telegram is what failed, this may fail too, and that is fine."""
    user = update.effective_user
    text = t(language_of(user.language_code if user else None), "internal_error")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text)
        elif update.message is not None and update.effective_chat is not None:
            await bot.send_message(update.effective_chat.id, text)
    except TelegramError as exc:
        log.info("could not tell the reader about the error: %s", exc.__class__.__name__)


def build_application(
    core: Core,
    *,
    metrics: Metrics | None = None,
    webhook: bool = False,
    host_jobs: bool = True,
) -> Application:  # type: ignore[type-arg]
    """PTB's Application around the core: handlers, ordering, transports.

    `webhook`: built without an Updater (updates arrive on the runtime's HTTP route).
    `host_jobs`: `post_init` also starts the scheduled jobs and the catch-up push, for
    a host that is only this Application (the tests); the runtime passes False and runs
    them itself (bot/background.py), whatever channels are on.
    """
    settings = core.settings
    # Pushes go through their own Bot: no PTB rate limiter (the push paces itself under
    # Telegram's limits and handles 429s for all its senders at once).
    push_bot = build_push_bot(settings)
    background = Background(core, metrics)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        # jieba's dictionary (a second or more of CPU) loads beside the menus, as on
        # WeChat, so the first reader's search does not wait for it.
        warming = asyncio.create_task(asyncio.to_thread(warm_up))
        try:
            await announce(application, core)
        finally:
            await warming
        await push_bot.initialize()
        if host_jobs:
            pushes = [telegram_push(push_bot, settings.push_paid_broadcast)]
            notifier = TelegramNotifier(application.bot)
            background.start(lambda: pushes, lambda: notifier, [CHANNEL])

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        await background.stop()
        await push_bot.shutdown()
        if host_jobs:
            await core.aclose()

    request = AiohttpRequest()
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        .request(request)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # Replies are not broadcasts: no overall cap, but group limits and 429 retries.
        .rate_limiter(AIORateLimiter(overall_max_rate=0, max_retries=3))
        .concurrent_updates(PerChatUpdateProcessor(settings.telegram_concurrent_updates))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if webhook:
        builder = builder.updater(None)
    else:
        builder = builder.get_updates_request(AiohttpRequest(connection_pool_size=1))
    application = builder.build()
    application.bot_data["push_bot"] = push_bot
    if metrics is not None:
        counter = _counter(metrics, frozenset(core.registry.commands))
        application.add_handler(TypeHandler(Update, counter), group=_METRICS_GROUP)
    # Membership first: its updates are not text, but it must see them all.
    MembershipHandlers(core.subscriptions).register(application)
    InlineSearch(core.reading, core.conversation, settings.public_url).register(application)
    bridge = TelegramBridge(core.conversation, request)
    if metrics is not None:
        replies = metrics.replies.labels(CHANNEL)
        bridge.on_replies = replies.inc
    bridge.register(application, core.registry)
    application.add_error_handler(_error_handler(metrics))
    return application


async def announce(application: Application, core: Core) -> None:  # type: ignore[type-arg]
    """The menus, and one line that the bot is up (tests and operators look for it)."""
    await publish_commands(application, core.registry, core.settings.admin_ids)
    me = await application.bot.get_me()
    log.info("bot @%s is up; %d reviews in the store", me.username, core.reviews.count())


def _counter(
    metrics: Metrics, commands: frozenset[str]
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    async def count(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        metrics.updates.labels(CHANNEL, update_kind(update, commands)).inc()

    return count


def update_kind(update: Update, commands: frozenset[str]) -> str:
    """A metrics label of bounded cardinality: a known command's name, else the kind."""
    if update.callback_query is not None:
        return "button"
    if update.inline_query is not None:
        return "inline_query"
    message = update.effective_message
    if message is None:
        return "other"
    command = _COMMAND_NAME.match(message.text or message.caption or "")
    if command and command.group()[1:].lower() in commands:
        return command.group()
    return "document" if message.document else "message"


def _error_handler(
    metrics: Metrics | None,
) -> Callable[[object, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    if metrics is None:
        return log_error
    errors = metrics.errors.labels(CHANNEL)

    async def counted(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.inc()
        await log_error(update, context)

    return counted


def build_push_bot(settings: Settings) -> Bot:
    return Bot(
        settings.telegram_bot_token,
        base_url=settings.telegram_api_base_url,
        base_file_url=_file_url(settings.telegram_api_base_url),
        request=AiohttpRequest(connection_pool_size=max(8, settings.push_concurrency * 2)),
    )


def _file_url(base_url: str) -> str:
    """https://api.telegram.org/bot -> https://api.telegram.org/file/bot"""
    root, _, last = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{last}"
