"""The scheduled work of a running process: the push, arXiv polls and retries, and the
start-up catch-up push, over whatever channels can send.

The runtime starts it inside the web server's lifespan once the channels are up, and
stops it on shutdown. A channel that cannot send (e.g. Telegram off) gives no sender:
its subscribers are then not pushed to and the push job is not scheduled, while the
arXiv jobs still run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import Core, scheduled_jobs
from bot.core.arxiv.watcher import PollReport
from bot.core.jobs import missed_fire_time
from bot.core.notify import Notifier
from bot.core.push import PushSummary, Sender
from bot.db.models import utcnow
from bot.metrics import Metrics
from scheduler.push import JOB_NAME as PUSH_JOB
from scheduler.push import run_push_until_done
from scheduler.runner import ScheduledJob, build_scheduler

log = logging.getLogger(__name__)

#: The arXiv jobs whose reports the metrics count.
_ARXIV_JOBS = frozenset({"arxiv-poll", "arxiv-retry"})


class Background:
    def __init__(self, core: Core, metrics: Metrics | None = None) -> None:
        self.core = core
        self.metrics = metrics
        self.scheduler: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._senders: tuple[Sender, ...] = ()
        self._notifier: Notifier | None = None

    def start(self, senders: Sequence[Sender], notifier: Notifier | None) -> None:
        """Schedule the jobs and, if one is due, the catch-up push."""
        core = self.core
        self._senders = tuple(senders)
        self._notifier = notifier
        push_now = self.push_now if self._senders else None
        core.editors.push_now = push_now
        jobs = [self._counted(job) for job in scheduled_jobs(core, notifier, push_now)]
        self.scheduler = build_scheduler(jobs, core.settings.zone)
        self.scheduler.start()
        if not self._senders:
            log.info("no channel can send: pushes are not scheduled")
            return
        channels = [sender.channel for sender in self._senders]
        if reason := catch_up_reason(core, channels):
            log.info("running a push at start-up: %s", reason)
            task: asyncio.Task[object] = asyncio.create_task(self.push_now("catch-up"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def push_now(self, trigger: str) -> PushSummary:
        """One push per channel that can send; the last summary is returned (one
        channel sends today). A push the database interrupted is resumed here."""
        core = self.core
        summary: PushSummary | None = None
        for sender in self._senders:
            summary = await run_push_until_done(
                core.push,
                sender,
                core.job_state,
                self._notifier,
                core.settings.admin_ids,
                trigger,
            )
            if self.metrics is not None:
                self.metrics.count_push(summary)
        assert summary is not None, "push_now is only offered with a sender"
        return summary

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.core.editors.push_now = None

    def _counted(self, job: ScheduledJob) -> ScheduledJob:
        metrics = self.metrics
        if metrics is None or job.name not in _ARXIV_JOBS:
            return job
        run = job.run

        async def counted() -> object:
            try:
                report = await run()
            except Exception:
                metrics.arxiv_polls.labels("error").inc()
                raise
            if isinstance(report, PollReport):
                for outcome in report.outcomes:
                    metrics.arxiv_polls.labels(outcome.status).inc()
            return report

        return dataclasses.replace(job, run=counted)


def catch_up_reason(core: Core, channels: Sequence[str]) -> str | None:
    """Why the bot should push as soon as it starts, if it should: an unfinished push
    of one of `channels` (crash), or a scheduled one missed while the bot was down
    (within the grace)."""
    if any(core.push.outstanding(channel) for channel in channels):
        return "an earlier push did not finish"
    settings = core.settings
    missed = missed_fire_time(
        settings.push_cron,
        settings.zone,
        core.job_state.last_run(PUSH_JOB),
        utcnow(),
        dt.timedelta(seconds=settings.push_grace_seconds),
    )
    return f"the push due at {missed:%Y-%m-%d %H:%M} UTC was missed" if missed else None
