"""What the leader does, and only the leader: scheduled jobs, the start-up catch-up and
the editors' push requests. Started on election, stopped on demotion (or shutdown).

Channel-agnostic: the caller passes the notifier and the `push_now` it has built (a
push through its channel's sender). Any runtime calls `start_leader_duties(...)` from
the elector's `on_elected` and `LeaderDuties.stop()` from its `on_demoted`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.conversation import Reply
from bot.core.push import PushSummary
from bot.core.push_requests import PushRequestService, PushRequestView
from bot.core.richtext import paragraph, rich
from bot.core.texts import t
from bot.core.views import push_summary_text
from scheduler.push import JOB_NAME as PUSH_JOB

log = logging.getLogger(__name__)

PushNow = Callable[[str], Awaitable[PushSummary]]
#: Sends replies to (channel, address): the runtime routes it to that channel's notifier.
Notify = Callable[[str, str, list[Reply]], Awaitable[None]]

#: How often the leader looks for push requests.
REQUEST_POLL_SECONDS = 2.0
#: The jobs whose next run the leader logs at start-up, and how the line names them.
STARTUP_JOBS = {PUSH_JOB: "push", "arxiv-poll": "arXiv poll"}


class LeaderDuties:
    """The scheduler, the catch-up push and the push-request loop of one leadership."""

    def __init__(
        self,
        schedule: Callable[[PushNow], AsyncIOScheduler],
        catch_up_reason: Callable[[], str | None],
        push_now: PushNow,
        requests: PushRequestService,
        notify: Notify,
        poll_seconds: float = REQUEST_POLL_SECONDS,
    ) -> None:
        #: The jobs, built around this leadership's (serialised) push.
        self.scheduler = schedule(self.push_now)
        self.catch_up_reason = catch_up_reason
        self.requests = requests
        self.notify = notify
        self.poll_seconds = poll_seconds
        self._push_now = push_now
        #: One push at a time in this process: a request waits for a scheduled push.
        self._pushing = asyncio.Lock()
        self._tasks: set[asyncio.Task[object]] = set()

    async def push_now(self, trigger: str) -> PushSummary:
        async with self._pushing:
            return await self._push_now(trigger)

    def start(self) -> None:
        self.scheduler.start()
        jobs = self.scheduler.get_jobs()
        log.info("jobs scheduled: %s", ", ".join(job.id for job in jobs))
        # The operator's two questions at start-up: when is the next push, the next poll.
        for job in jobs:
            if job.id in STARTUP_JOBS and job.next_run_time is not None:
                when = job.next_run_time.isoformat(timespec="minutes")
                log.info("next %s: %s", STARTUP_JOBS[job.id], when)
        if reason := self.catch_up_reason():
            log.info("running a push at start-up: %s", reason)
            self._spawn(self.push_now("catch-up"))
        self._spawn(self._serve_requests())

    async def stop(self) -> None:
        """Stop the jobs and everything running (a push stops where it is: the outbox's
        claims let the next leader finish it)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("leader duties stopped")

    def _spawn(self, work: Awaitable[object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_requests(self) -> None:
        await asyncio.to_thread(self.requests.requeue_unfinished)
        while True:
            try:
                request = await asyncio.to_thread(self.requests.claim_next)
            except Exception as exc:  # the database is away: the renewal will tell
                log.warning("could not read push requests: %s", exc.__class__.__name__)
                request = None
            if request is None:
                await asyncio.sleep(self.poll_seconds)
                continue
            await self._run_request(request)

    async def _run_request(self, request: PushRequestView) -> None:
        language = request.requester.language
        log.info("running push request #%d (%s)", request.id, request.trigger)
        try:
            summary = await self.push_now(request.trigger)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("push request #%d failed", request.id)
            error = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
            await asyncio.to_thread(self.requests.finish, request.id, ok=False, summary=error)
            text = t(language, "push_request_failed", id=request.id, error=error)
        else:
            described = summary.describe()
            await asyncio.to_thread(self.requests.finish, request.id, ok=True, summary=described)
            localized = push_summary_text(summary, language)
            text = t(language, "push_request_done", id=request.id, summary=localized)
        requester = request.requester
        try:
            await self.notify(requester.channel, requester.address, [Reply(rich(paragraph(text)))])
        except Exception:
            log.exception("could not send push request #%d's summary", request.id)
