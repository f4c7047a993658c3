"""The scheduled work of a running process, on the leader only: the push, arXiv polls
and retries, the start-up catch-up and the editors' push requests, over whatever
channels can send.

The runtime starts it inside the web server's lifespan once the channels are up, and
stops it on shutdown. It campaigns for the scheduler lease (bot/core/leadership.py):
on election it starts the leader's duties (bot/core/leader_duties.py) and tells each
channel it leads (Telegram then polls: two pollers would fight, 409 Conflict); on
demotion it stops both. A channel that cannot send (e.g. Telegram off) gives no
sender: its subscribers are then not pushed to and the push job is not scheduled,
while the arXiv jobs still run. A push goes to every channel that can send at once
(per-reader deliveries, each paced by its own declared limits, and the broadcasts of the
channels that declare a broadcaster: `scheduler.push.run_everywhere`, the same use case
as `paperbot push`), and is fenced by the epoch it was started under: it stops as soon
as that epoch is no longer the lease's (a deposed leader stops sending).
A channel that starts late (its first start failed) joins through `channel_started`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.app import Core, leader_elector, start_leader_duties
from bot.core.arxiv.watcher import PollReport
from bot.core.broadcasts import Broadcaster, BroadcastService
from bot.core.conversation import Reply
from bot.core.leader_duties import LeaderDuties
from bot.core.leadership import LeaderElector
from bot.core.notify import Notifier, route
from bot.core.push import ChannelPush, PushSummary
from bot.metrics import Metrics
from scheduler.push import BROADCAST_RETRY_DELAYS, PushChannels, run_everywhere
from scheduler.runner import ScheduledJob

log = logging.getLogger(__name__)

#: The arXiv jobs whose reports the metrics count.
_ARXIV_JOBS = frozenset({"arxiv-poll", "arxiv-retry"})

#: Told True when this process becomes the leader, False when it stops being one.
LeadershipHook = Callable[[bool], Awaitable[None]]
#: The channels that can push right now, each with its sender and declared limits.
PushesNow = Callable[[], Sequence[ChannelPush]]
#: The channels that broadcast right now (one message to all their followers).
BroadcastersNow = Callable[[], Sequence[Broadcaster]]
NotifierNow = Callable[[], Notifier | None]


def _no_pushes() -> Sequence[ChannelPush]:
    return ()


def _no_broadcasters() -> Sequence[Broadcaster]:
    return ()


def _no_notifier() -> Notifier | None:
    return None


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
        self._pushes: PushesNow = _no_pushes
        self._broadcasters: BroadcastersNow = _no_broadcasters
        self._notifier_now: NotifierNow = _no_notifier
        self._notifier: Notifier | None = None
        #: The channels that push (or will, once started): their unfinished pushes are
        #: caught up on election, and the push job is scheduled if there is any.
        self._push_channels: tuple[str, ...] = ()
        self._epoch: int | None = None
        #: Waits before a broadcast left to resume is tried again within the push.
        self.broadcast_retry_delays: Sequence[float] = BROADCAST_RETRY_DELAYS

    @property
    def role(self) -> str:
        """`leader` or `follower`, for /healthz."""
        return self.elector.role if self.elector is not None else "follower"

    def start(
        self,
        pushes: PushesNow,
        notifier: NotifierNow,
        push_channels: Sequence[str],
        broadcasters: BroadcastersNow = _no_broadcasters,
    ) -> None:
        """Campaign for the lease; the jobs start when this process is elected.
        `pushes()`, `broadcasters()` and `notifier()` are asked at each election and
        push (a channel may come up late); `push_channels` name the channels that push
        (deliver or broadcast) once they are up."""
        self._pushes = pushes
        self._broadcasters = broadcasters
        self._notifier_now = notifier
        self._push_channels = tuple(push_channels)
        if not self._push_channels:
            log.info("no channel can send: pushes are not scheduled")
        self.elector = leader_elector(self.core, self._on_elected, self._on_demoted)
        self.elector.start()

    async def push_now(self, trigger: str) -> PushSummary:
        """One push over every channel that can send now, concurrently: each channel's
        deliveries paced by its own limits, each broadcaster's one message, all fenced
        by this leadership's epoch; one summary back (the deliveries added up, the
        broadcasts' outcomes beside them). A push the database interrupted is resumed
        here."""
        core = self.core
        channels = PushChannels(list(self._pushes()), list(self._broadcasters()))
        if not channels:
            raise RuntimeError(f"no channel can send now, so no push ({trigger})")
        summary = await run_everywhere(
            core.push,
            BroadcastService(core.sessions, core.reviews.published_by_ids),
            channels,
            core.job_state,
            self._notifier,
            core.settings.admin_ids,
            trigger,
            fence=self._fence(),
            broadcast_retry_delays=self.broadcast_retry_delays,
        )
        if self.metrics is not None:
            self.metrics.count_push(summary)
        return summary

    def _fence(self) -> Callable[[], bool] | None:
        """Is the epoch this push starts under still this process's and the lease's?"""
        elector, epoch = self.elector, self._epoch
        if elector is None or epoch is None:
            return None
        return lambda: elector.holds(epoch)

    async def channel_started(self, channel: str) -> None:
        """A channel came up after the jobs started (its first start failed): a leader
        restarts its duties so the push and the alerts use it (the catch-up then runs
        what it missed), and tells the channel it leads."""
        if self.elector is None or not self.elector.is_leader or self._epoch is None:
            return
        log.info("channel %s started late: restarting the leader's duties with it", channel)
        epoch = self._epoch
        await self._stop_duties()
        await self._start_duties(epoch)
        for hook in self.on_leadership:
            await hook(True)

    async def stop(self) -> None:
        """Stop campaigning (a leader stops its duties and frees the lease)."""
        if self.elector is not None:
            await self.elector.stop()
        await self._stop_duties()

    async def _on_elected(self, epoch: int) -> None:
        await self._start_duties(epoch)
        for hook in self.on_leadership:
            await hook(True)

    async def _start_duties(self, epoch: int) -> None:
        self._epoch = epoch
        self._notifier = self._notifier_now()
        self.duties = start_leader_duties(
            self.core,
            self._notifier,
            self.push_now if self._push_channels else None,
            self._notify,
            channels=self._push_channels,
            wrap_job=self._counted,
        )

    async def _on_demoted(self, epoch: int) -> None:
        self._epoch = None
        await self._stop_duties()
        for hook in self.on_leadership:
            await hook(False)

    async def _stop_duties(self) -> None:
        duties, self.duties = self.duties, None
        if duties is not None:
            await duties.stop()

    async def _notify(self, channel: str, address: str, replies: list[Reply]) -> None:
        """A push request's summary goes back on the channel it was asked on."""
        notifier = route(self._notifier, channel)
        if notifier is None:
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
