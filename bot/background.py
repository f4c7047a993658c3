"""The scheduled work of a running process, on the leader only: the push, arXiv polls
and retries, the start-up catch-up and the editors' push requests, over whatever
channels can send.

The runtime starts it inside the web server's lifespan once the channels are up, and
stops it on shutdown. It campaigns for the scheduler lease (bot/core/leadership.py):
on election it starts the leader's duties (bot/core/leader_duties.py) and tells each
channel it leads (Telegram then polls: two pollers would fight, 409 Conflict); on
demotion it stops both. A channel that cannot send (e.g. Telegram off) gives no
sender: its subscribers are then not pushed to and the push job is not scheduled,
while the arXiv jobs still run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.app import Core, leader_elector, start_leader_duties
from bot.core.arxiv.watcher import PollReport
from bot.core.conversation import Reply
from bot.core.leader_duties import LeaderDuties
from bot.core.leadership import LeaderElector
from bot.core.notify import Notifier
from bot.core.push import PushSummary, Sender
from bot.metrics import Metrics
from scheduler.push import run_push_until_done
from scheduler.runner import ScheduledJob

log = logging.getLogger(__name__)

#: The arXiv jobs whose reports the metrics count.
_ARXIV_JOBS = frozenset({"arxiv-poll", "arxiv-retry"})

#: Told True when this process becomes the leader, False when it stops being one.
LeadershipHook = Callable[[bool], Awaitable[None]]


class Background:
    def __init__(
        self,
        core: Core,
        metrics: Metrics | None = None,
        on_leadership: Sequence[LeadershipHook] = (),
    ) -> None:
        self.core = core
        self.metrics = metrics
        self.on_leadership = list(on_leadership)
        self.elector: LeaderElector | None = None
        self.duties: LeaderDuties | None = None
        self._senders: tuple[Sender, ...] = ()
        self._notifier: Notifier | None = None

    @property
    def role(self) -> str:
        """`leader` or `follower`, for /healthz."""
        return self.elector.role if self.elector is not None else "follower"

    def start(self, senders: Sequence[Sender], notifier: Notifier | None) -> None:
        """Campaign for the lease; the jobs start when this process is elected."""
        self._senders = tuple(senders)
        self._notifier = notifier
        if not self._senders:
            log.info("no channel can send: pushes are not scheduled")
        self.elector = leader_elector(self.core, self._on_elected, self._on_demoted)
        self.elector.start()

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
        """Stop campaigning (a leader stops its duties and frees the lease)."""
        if self.elector is not None:
            await self.elector.stop()
        await self._stop_duties()

    async def _on_elected(self, epoch: int) -> None:
        self.duties = start_leader_duties(
            self.core,
            self._notifier,
            self.push_now if self._senders else None,
            self._notify,
            channels=[sender.channel for sender in self._senders],
            wrap_job=self._counted,
        )
        for hook in self.on_leadership:
            await hook(True)

    async def _on_demoted(self, epoch: int) -> None:
        await self._stop_duties()
        for hook in self.on_leadership:
            await hook(False)

    async def _stop_duties(self) -> None:
        duties, self.duties = self.duties, None
        if duties is not None:
            await duties.stop()

    async def _notify(self, channel: str, address: str, replies: list[Reply]) -> None:
        """A push request's summary goes back on the channel it was asked on."""
        notifier = self._notifier
        if notifier is None or notifier.channel != channel:
            log.info("a push request's summary for channel %s is only logged", channel)
            return
        await notifier.send(address, replies)

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
