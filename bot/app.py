"""The composition root: settings in, a wired core out. Nothing else builds engines."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.console import CONSOLE
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from bot.channels.telegram.channel_post import telegram_standing_subscribers
from bot.core.arxiv.api import ArxivApi
from bot.core.arxiv.drafts import DraftService
from bot.core.arxiv.http import PoliteClient
from bot.core.arxiv.lint import LintService
from bot.core.arxiv.records import ArxivRecords
from bot.core.arxiv.watcher import ArxivWatcher
from bot.core.audit import AuditService
from bot.core.broadcasts import BroadcastService
from bot.core.button_state import ButtonStateStore
from bot.core.chat_lists import ChatListStore
from bot.core.conversation import Conversation, Registry
from bot.core.editorial import Editorial
from bot.core.features.arxiv import ArxivFeature
from bot.core.features.editors import EditorsFeature
from bot.core.features.identity import IdentityFeature
from bot.core.features.reading import ReadingFeature
from bot.core.features.subscription import SubscriptionFeature
from bot.core.jobs import JobStateService, missed_fire_time
from bot.core.leader_duties import LeaderDuties, Notify, PushNow
from bot.core.leadership import Callback as LeaderCallback
from bot.core.leadership import LeaderElector, LeaseStore
from bot.core.notify import Notifier
from bot.core.pacer import SharedPacer
from bot.core.push import PushOptions, PushService, PushSummary
from bot.core.push_requests import PushRequestService
from bot.core.ratelimit import SendLimits
from bot.core.reviews import ReviewService
from bot.core.search import SearchService, ensure_default_aliases
from bot.core.search_index import ensure_index
from bot.core.subscriptions import SubscriptionService
from bot.core.tag_suggestions import TagSuggester
from bot.db import group_commit, migrate
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import utcnow
from bot.db.retry import DbRetry
from bot.log_format import install_formatter
from bot.log_redaction import install_excepthook, install_redactor
from bot.settings import Settings
from scheduler.arxiv_poll import poll_arxiv
from scheduler.push import JOB_NAME as PUSH_JOB
from scheduler.runner import ScheduledJob, build_scheduler

#: Categories whose poll failed are retried this often, each within its own backoff.
ARXIV_RETRY_CRON = "*/30 * * * *"


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
    #: The one door to arXiv (spacing, retries, User-Agent), shared by all arXiv services.
    arxiv_client: PoliteClient
    arxiv: ArxivWatcher
    arxiv_records: ArxivRecords
    drafts: DraftService
    lint: LintService
    push: PushService
    editors: EditorsFeature
    job_state: JobStateService
    push_requests: PushRequestService
    editorial: Editorial

    def close(self) -> None:
        # The writes still queued for a shared transaction commit first.
        group_commit.close(self.engine)
        self.engine.dispose()

    async def aclose(self) -> None:
        """Close the HTTP client inside the event loop that used it, then the store."""
        await self.arxiv_client.aclose()
        self.close()


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # LOG_FORMAT: text (with the channel/chat/update ids appended) or one JSON object a
    # line (bot/log_format.py).
    install_formatter(settings.log_format)
    # The bot token is in every Bot API URL (PTB logs them at DEBUG): redact it everywhere.
    # WeChat's AppSecret and EncodingAESKey are secrets of the same kind.
    install_excepthook(
        install_redactor(
            [
                settings.telegram_bot_token,
                settings.wechat_app_secret,
                settings.wechat_encoding_aes_key,
            ]
        )
    )
    # httpx logs every request at INFO, which would include the bot token in the URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates every migration check at INFO; start-up should stay quiet.
    logging.getLogger("alembic").setLevel(
        max(logging.WARNING, logging.getLevelName(settings.log_level))
    )


def make_http_client(settings: Settings, connections: int = 1) -> httpx.AsyncClient:
    """The outgoing HTTP client: a descriptive User-Agent, timeouts, one connection
    (arXiv's politeness) unless a service needs several at once (WeChat's API)."""
    return httpx.AsyncClient(
        headers={"User-Agent": settings.http_user_agent},
        timeout=httpx.Timeout(30.0, connect=10.0),
        follow_redirects=True,
        limits=httpx.Limits(max_connections=connections),
    )


def build_core(settings: Settings, *, upgrade: bool = True, seed: bool = True) -> Core:
    """Open the store (migrating it to the latest schema) and wire the services."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    reviews = ReviewService(sessions)
    prepare_store(settings, engine, sessions, reviews, upgrade=upgrade, seed=seed)
    search = SearchService(sessions)
    audit = AuditService(sessions)
    # The console's one chat is the operator trying the bot, not a reader.
    subscriptions = SubscriptionService(sessions, uncounted_channels=(CONSOLE,))
    registry = Registry()
    button_states = ButtonStateStore(sessions, settings.button_state_seconds)
    reading = ReadingFeature(reviews, search, button_states, ChatListStore(sessions))
    # Registration order is menu order: start first, the reading commands next.
    SubscriptionFeature(subscriptions, reviews, reading).register(registry)
    reading.register(registry)
    IdentityFeature().register(registry)
    # Built lazily by the client on its first request: most commands never reach arXiv.
    arxiv_client = PoliteClient(
        partial(make_http_client, settings), settings.arxiv_request_interval
    )
    arxiv_records = ArxivRecords(sessions, ArxivApi(arxiv_client, settings.arxiv_api_url))
    watcher = ArxivWatcher(
        sessions,
        arxiv_client,
        arxiv_records,
        feed_url_template=settings.arxiv_feed_url,
        categories=settings.arxiv_categories,
        keywords=settings.arxiv_keywords,
        include_replacements=settings.arxiv_include_replacements,
    )
    drafts = DraftService(reviews, arxiv_records, watcher)
    ArxivFeature(watcher, drafts, settings.arxiv_poll_cron, settings.timezone).register(registry)
    options = push_options(settings)
    push = PushService(
        sessions,
        reviews,
        subscriptions,
        options,
        standing_subscribers=telegram_standing_subscribers(settings.telegram_channel_id),
        # Always: any other process may push on this store (a replica, `paperbot push`
        # beside the bot), and the channel's limit is for all of them together.
        pacer=SharedPacer(sessions, options.db_retry).for_channel,
    )
    push_requests = PushRequestService(sessions)
    editorial = Editorial(reviews, subscriptions, push_requests, TagSuggester(sessions))
    editors = EditorsFeature(
        reviews,
        subscriptions,
        push,
        editorial,
        settings.push_cron,
        settings.zone,
        BroadcastService(sessions),
    )
    editors.register(registry)
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
        conversation=Conversation(
            registry,
            audit,
            settings.admin_ids,
            subscriptions.language_of,
            max_action_bytes=TELEGRAM_CAPABILITIES.max_action_bytes,
        ),
        arxiv_client=arxiv_client,
        arxiv=watcher,
        arxiv_records=arxiv_records,
        drafts=drafts,
        lint=LintService(arxiv_records),
        push=push,
        editors=editors,
        job_state=JobStateService(sessions),
        push_requests=push_requests,
        editorial=editorial,
    )


def prepare_store(
    settings: Settings,
    engine: Engine,
    sessions: sessionmaker[Session],
    reviews: ReviewService,
    *,
    upgrade: bool,
    seed: bool,
) -> None:
    """Migrate (unless DB_AUTO_UPGRADE=false), index and seed, under the migration lock,
    so any number of processes may start at once on a fresh or an old schema."""

    def after_upgrade() -> None:
        # A store migrated from an older version, or changed behind the ORM's back,
        # gets its search index (re)built; a consistent one costs two small queries.
        ensure_index(sessions)
        ensure_default_aliases(sessions)
        if seed:
            reviews.seed_if_empty(settings.content_dir)

    if upgrade and settings.db_auto_upgrade:
        migrate.upgrade(engine, then=after_upgrade)
        return
    if upgrade:
        migrate.require_head(engine)
    if seed:
        reviews.seed_if_empty(settings.content_dir)


def push_options(settings: Settings) -> PushOptions:
    # Telegram's declared limits (TELEGRAM_CAPABILITIES), as the settings override them.
    limits = SendLimits(
        per_second=settings.push_max_per_second,
        private_per_second=settings.push_private_per_second,
        group_per_minute=settings.push_group_per_minute,
    )
    return PushOptions(
        limits=limits,
        concurrency=settings.push_concurrency,
        max_attempts=settings.push_max_attempts,
        lease_seconds=settings.push_lease_seconds,
        record_batch=settings.push_record_batch,
        db_retry=DbRetry(patience=settings.db_retry_seconds),
        max_retry_runs=settings.push_max_retry_runs,
        max_reviews_per_reader=settings.push_max_reviews_per_reader,
        deadline_seconds=settings.push_deadline_seconds,
        send_timeout_seconds=settings.push_send_timeout_seconds,
        progress_seconds=settings.push_progress_seconds,
        public_url=settings.public_url,
    )


def scheduled_jobs(
    core: Core,
    notifier: Notifier | None,
    push_now: Callable[[str], Awaitable[object]] | None = None,
) -> list[ScheduledJob]:
    """Every job the running bot schedules; each is a plain async function's closure."""
    jobs: list[ScheduledJob] = []
    settings = core.settings
    if push_now is not None:
        jobs.append(
            ScheduledJob(
                PUSH_JOB,
                settings.push_cron,
                partial(push_now, "schedule"),
                grace_seconds=settings.push_grace_seconds,
            )
        )
    poll = partial(
        poll_arxiv,
        core.arxiv,
        notifier,
        settings.admin_ids,
        settings.arxiv_top_n,
        deadline_seconds=settings.arxiv_deadline_seconds,
    )
    jobs.append(ScheduledJob("arxiv-poll", settings.arxiv_poll_cron, poll))
    retry = partial(poll, only_failed=True)
    jobs.append(ScheduledJob("arxiv-retry", ARXIV_RETRY_CRON, retry, grace_seconds=600))
    return jobs


def catch_up_reason(core: Core, channels: Sequence[str]) -> str | None:
    """Why a new leader should push at once, if it should: an unfinished push of one of
    `channels` (a crash, or a former leader's), or a scheduled one missed while no one
    led."""
    if any(core.push.outstanding(channel) for channel in channels):
        return "an earlier push did not finish"
    broadcasts = BroadcastService(core.sessions)
    if any(broadcasts.unfinished(channel) for channel in channels):
        return "an earlier broadcast was not sent"
    settings = core.settings
    missed = missed_fire_time(
        settings.push_cron,
        settings.zone,
        core.job_state.last_run(PUSH_JOB),
        utcnow(),
        dt.timedelta(seconds=settings.push_grace_seconds),
    )
    return f"the push due at {missed:%Y-%m-%d %H:%M} UTC was missed" if missed else None


def start_leader_duties(
    core: Core,
    notifier: Notifier | None,
    push_now: PushNow | None,
    notify: Notify,
    *,
    channels: Sequence[str] = (),
    wrap_job: Callable[[ScheduledJob], ScheduledJob] | None = None,
) -> LeaderDuties:
    """The leader's work, started: the scheduled jobs (push, arXiv polls and retries),
    the start-up catch-up and the push requests. Call from `on_elected`; `stop()` the
    result from `on_demoted` and at shutdown. `notify(channel, address, replies)` sends
    a push request's summary to whoever asked; `channels` are those whose unfinished
    pushes the catch-up finishes; `push_now` None: no channel can send (no push job,
    push requests fail with a reason); `wrap_job` decorates each job (metrics)."""

    def schedule(serialised_push: PushNow) -> AsyncIOScheduler:
        jobs = scheduled_jobs(core, notifier, serialised_push if push_now else None)
        return build_scheduler(
            [wrap_job(job) if wrap_job else job for job in jobs], core.settings.zone
        )

    async def no_push(trigger: str) -> PushSummary:
        raise RuntimeError(f"no channel can send, so no push ({trigger})")

    duties = LeaderDuties(
        schedule,
        partial(catch_up_reason, core, channels) if push_now else lambda: None,
        push_now or no_push,
        core.push_requests,
        notify,
    )
    duties.start()
    return duties


def leader_elector(
    core: Core, on_elected: LeaderCallback, on_demoted: LeaderCallback
) -> LeaderElector:
    """This process's campaign for the scheduler lease (LEADER_LEASE_SECONDS)."""
    return LeaderElector(
        LeaseStore(core.sessions),
        core.settings.leader_lease_seconds,
        on_elected=on_elected,
        on_demoted=on_demoted,
    )
