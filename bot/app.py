"""The composition root: settings in, a wired core out. Nothing else builds engines."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.core.audit import AuditService
from bot.core.conversation import Conversation, Registry
from bot.core.features.reading import ReadingFeature
from bot.core.features.subscription import SubscriptionFeature
from bot.core.notify import Notifier
from bot.core.reviews import ReviewService
from bot.core.search import SearchService
from bot.core.subscriptions import SubscriptionService
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from bot.settings import Settings
from scheduler.runner import ScheduledJob


@dataclass
class Core:
    """Everything a channel adapter or CLI command needs, built once."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    reviews: ReviewService
    search: SearchService
    audit: AuditService
    registry: Registry
    subscriptions: SubscriptionService
    reading: ReadingFeature
    conversation: Conversation

    def close(self) -> None:
        self.engine.dispose()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO, which would include the bot token in the URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates every migration check at INFO; start-up should stay quiet.
    logging.getLogger("alembic").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )


def build_core(settings: Settings, *, upgrade: bool = True, seed: bool = True) -> Core:
    """Open the store (migrating it to the latest schema) and wire the services."""
    engine = make_engine(settings.effective_database_url)
    if upgrade:
        migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    reviews = ReviewService(sessions)
    if seed:
        reviews.seed_if_empty(settings.content_dir)
    search = SearchService(sessions)
    audit = AuditService(sessions)
    subscriptions = SubscriptionService(sessions)
    registry = Registry()
    reading = ReadingFeature(reviews, search)
    # Registration order is menu order: start first, the reading commands next.
    SubscriptionFeature(subscriptions, reviews, reading).register(registry)
    reading.register(registry)
    return Core(
        settings=settings,
        engine=engine,
        sessions=sessions,
        reviews=reviews,
        search=search,
        audit=audit,
        registry=registry,
        subscriptions=subscriptions,
        reading=reading,
        conversation=Conversation(registry, audit, settings.admin_ids, subscriptions.language_of),
    )


def scheduled_jobs(core: Core, notifier: Notifier) -> list[ScheduledJob]:
    """Every job the running bot schedules; each is a plain async function's closure."""
    jobs: list[ScheduledJob] = []
    return jobs
