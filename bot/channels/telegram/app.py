"""Builds the python-telegram-bot Application around the core (ApplicationBuilder)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, Defaults

from bot.app import Core, scheduled_jobs
from bot.channels.telegram.bridge import TelegramBridge, TelegramNotifier, publish_commands
from scheduler.runner import build_scheduler

log = logging.getLogger(__name__)


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log with the update, never leak details to readers."""
    log.error("error while handling update %r", update, exc_info=context.error)


def build_application(core: Core) -> Application:  # type: ignore[type-arg]
    settings = core.settings

    scheduler: AsyncIOScheduler | None = None

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        nonlocal scheduler
        await publish_commands(application, core.registry, settings.admin_ids)
        me = await application.bot.get_me()
        log.info("bot @%s is up; %d reviews in the store", me.username, core.reviews.count())
        jobs = scheduled_jobs(core, TelegramNotifier(application.bot))
        scheduler = build_scheduler(jobs, settings.zone)
        scheduler.start()

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        core.close()

    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(_file_url(settings.telegram_api_base_url))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    TelegramBridge(core.conversation).register(application, core.registry)
    application.add_error_handler(log_error)
    return application


def _file_url(base_url: str) -> str:
    """https://api.telegram.org/bot -> https://api.telegram.org/file/bot"""
    root, _, last = base_url.rstrip("/").rpartition("/")
    return f"{root}/file/{last}"


def run_polling(core: Core) -> None:
    application = build_application(core)
    application.run_polling(allowed_updates=Update.ALL_TYPES)
