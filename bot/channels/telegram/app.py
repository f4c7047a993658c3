"""Builds the python-telegram-bot Application around the core (ApplicationBuilder)."""

from __future__ import annotations

import logging
import re

from telegram import Bot, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

from bot.app import Core
from bot.app import catch_up_reason as catch_up_reason
from bot.channels.telegram.bridge import TelegramBridge, TelegramNotifier, publish_commands
from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.inline import InlineSearch
from bot.channels.telegram.leadership import TelegramLeadership
from bot.channels.telegram.membership import MembershipHandlers
from bot.channels.telegram.ordering import PerChatUpdateProcessor
from bot.channels.telegram.sender import TelegramSender
from bot.core.push import PushSummary
from bot.core.texts import language_of, t
from bot.settings import Settings
from scheduler.push import run_push_until_done

log = logging.getLogger(__name__)


_COMMAND_NAME = re.compile(r"/[A-Za-z0-9_]{1,32}")


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


def build_application(core: Core) -> Application:  # type: ignore[type-arg]
    settings = core.settings

    # Pushes go through their own Bot: no PTB rate limiter (the push paces itself under
    # Telegram's limits and handles 429s for all its senders at once).
    push_bot = build_push_bot(settings)
    leadership: TelegramLeadership | None = None

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        nonlocal leadership
        await publish_commands(application, core.registry, settings.admin_ids)
        me = await application.bot.get_me()
        log.info("bot @%s is up; %d reviews in the store", me.username, core.reviews.count())
        await push_bot.initialize()
        notifier = TelegramNotifier(application.bot)
        sender = TelegramSender(push_bot)

        async def push_now(trigger: str) -> PushSummary:
            # A push the database interrupted is resumed here, by the running bot.
            return await run_push_until_done(
                core.push, sender, core.job_state, notifier, settings.admin_ids, trigger
            )

        # Scheduled jobs, the catch-up and push requests run on the leader only.
        leadership = TelegramLeadership(core, application, notifier, push_now)
        leadership.start()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        if leadership is not None:
            await leadership.stop()
        await push_bot.shutdown()
        await core.aclose()

    request = AiohttpRequest()
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        .request(request)
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
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
        .build()
    )
    # Membership first: its updates are not text, but it must see them all.
    MembershipHandlers(core.subscriptions).register(application)
    InlineSearch(core.reading, core.conversation).register(application)
    TelegramBridge(core.conversation, request).register(application, core.registry)
    application.add_error_handler(log_error)
    return application


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


def run_polling(core: Core) -> None:
    application = build_application(core)
    application.run_polling(allowed_updates=Update.ALL_TYPES)
