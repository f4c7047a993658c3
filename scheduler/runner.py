"""APScheduler in the bot's event loop, built from a plain list of jobs.

Jobs themselves are plain async functions that take their dependencies (see the
other modules of this package); this module only knows *when* to call them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    """A coroutine function to run on a crontab schedule."""

    name: str
    cron: str
    run: Callable[[], Awaitable[object]]
    #: How late a run may still start (seconds), e.g. after the event loop was busy.
    grace_seconds: int = 3600


def build_scheduler(jobs: list[ScheduledJob], timezone: ZoneInfo) -> AsyncIOScheduler:
    """A scheduler with one instance per job at a time; missed runs coalesce into one."""
    scheduler = AsyncIOScheduler(timezone=timezone)
    for job in jobs:
        scheduler.add_job(
            _logged(job),
            CronTrigger.from_crontab(job.cron, timezone=timezone),
            id=job.name,
            name=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=job.grace_seconds,
        )
    return scheduler


def _logged(job: ScheduledJob) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        log.info("job %s starting", job.name)
        try:
            await job.run()
        except Exception:
            log.exception("job %s failed", job.name)
        else:
            log.info("job %s done", job.name)

    return run
