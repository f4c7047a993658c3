"""The weekly push job: a plain async function over its dependencies.

`run_everywhere` is the push, the one use case behind both `paperbot push` and the
running bot's scheduled job (and editors' push requests): it publishes what is due,
then runs every channel's per-reader deliveries (`ChannelPush`) and every channel's
broadcast (`Broadcaster`: one message to all followers) at once, and tells the editors
one summary holding all of it. It knows channels only as what they declare.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.core.addresses import ChatAddress
from bot.core.broadcasts import Broadcaster, BroadcastResult, BroadcastService
from bot.core.conversation import Reply
from bot.core.editorial import PUBLISH_TRIGGER
from bot.core.jobs import JobStateService
from bot.core.notify import Notifier, notify_admins
from bot.core.push import ChannelPush, Fence, PushService, PushSummary, Sender
from bot.core.ratelimit import SendLimits
from bot.core.richtext import paragraph, rich
from bot.core.texts import t
from bot.core.views import push_summary_text
from bot.db.retry import first_line, is_transient

log = logging.getLogger(__name__)

JOB_NAME = "push"
#: The trigger of a push the running bot restarts after the database came back.
RESUME_TRIGGER = "resume"
#: Waits between such restarts: doubling from the first, capped at the last.
RESUME_FIRST_DELAY = 2.0
RESUME_MAX_DELAY = 60.0
#: The running bot tries a broadcast the channel left to resume (busy past its client's
#: retries) again after these waits, in seconds, before leaving it to the next push.
BROADCAST_RETRY_DELAYS = (60.0, 300.0, 900.0)

T = TypeVar("T")


#: Pushes that send no broadcast. A publish announces one review to the readers each
#: channel reaches one by one; a broadcast (WeChat's mass send) is rationed by the
#: platform (a subscription account: one a day; a service account: four a month per
#: follower), so a review published between pushes waits for the weekly one there.
NO_BROADCAST_TRIGGERS = frozenset({PUBLISH_TRIGGER})


@dataclass(frozen=True)
class PushChannels:
    """What a push goes through: the channels that deliver to each reader, and the
    channels that broadcast one message to all their followers."""

    deliveries: Sequence[ChannelPush] = ()
    broadcasters: Sequence[Broadcaster] = ()

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.broadcasters)


async def run_push(
    push: PushService,
    sender: Sender,
    job_state: JobStateService,
    notifier: Notifier | None,
    admin_ids: Collection[ChatAddress],
    trigger: str = "schedule",
    *,
    retry_failed: bool = False,
    limits: SendLimits | None = None,
    fence: Fence | None = None,
) -> PushSummary:
    """Run one push to completion, remember it ran, and tell the editors how it went
    (a push stopped by its fence says nothing: the new leader's push will)."""
    job_state.mark_run(JOB_NAME)
    summary = await push.run(
        sender, trigger=trigger, retry_failed=retry_failed, limits=limits, fence=fence
    )
    if notifier is not None and admin_ids and not summary.deposed:
        text = t("zh", "push_summary", summary=push_summary_text(summary, "zh"))
        await notify_admins(notifier, admin_ids, [Reply(rich(paragraph(text)))])
    return summary


async def run_push_until_done(
    push: PushService,
    sender: Sender,
    job_state: JobStateService,
    notifier: Notifier | None,
    admin_ids: Collection[ChatAddress],
    trigger: str = "schedule",
    *,
    retry_failed: bool = False,
    limits: SendLimits | None = None,
    fence: Fence | None = None,
) -> PushSummary:
    """`run_push`, started again (trigger "resume") for as long as it ends because the
    database is away: the running bot finishes an interrupted push by itself once the
    database answers, without a restart. Any other error ends it as before."""
    triggers = iter([trigger])

    def attempt() -> Awaitable[PushSummary]:
        return run_push(
            push,
            sender,
            job_state,
            notifier,
            admin_ids,
            next(triggers, RESUME_TRIGGER),
            retry_failed=retry_failed,
            limits=limits,
            fence=fence,
        )

    return await _until_the_database_answers(attempt, fence, f"push ({trigger})")


async def _attempt(
    attempt: Callable[[], Awaitable[T]], fence: Fence | None, what: str, until_done: bool
) -> T:
    """`attempt()` once, or with `until_done` until the database answers."""
    if until_done:
        return await _until_the_database_answers(attempt, fence, what)
    return await attempt()


async def _until_the_database_answers(
    attempt: Callable[[], Awaitable[T]], fence: Fence | None, what: str
) -> T:
    """`attempt()` again, with a doubling wait, for as long as it fails because the
    database is away (and this process still leads); any other error is raised."""
    tries = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if fence is not None and not _still_current(fence):
                raise
            tries += 1
            delay = min(RESUME_FIRST_DELAY * 2 ** (tries - 1), RESUME_MAX_DELAY)
            log.warning(
                "%s stopped, the database is away: %s; resuming in %.0f s",
                what,
                first_line(exc),
                delay,
            )
            await asyncio.sleep(delay)


def _still_current(fence: Fence) -> bool:
    try:
        return fence()
    except Exception:
        return True  # cannot tell while the database is away: the elector decides


async def run_channel_pushes(
    push: PushService,
    channels: Sequence[ChannelPush],
    job_state: JobStateService,
    notifier: Notifier | None,
    admin_ids: Collection[ChatAddress],
    trigger: str = "schedule",
    *,
    retry_failed: bool = False,
    fence: Fence | None = None,
    until_done: bool = True,
) -> list[PushSummary]:
    """The deliveries' part of the push (`run_everywhere`) over every channel that
    delivers to each reader, at once: each channel's run is paced by its own sender's
    declared limits (under the operator's ceiling), so a slow channel does not hold
    back a fast one. The summaries, in the channels' order (a `notifier` tells the
    editors each one; `run_everywhere` gives none and tells them once). `until_done`:
    a run the database's absence stopped is resumed when it answers (the running bot);
    without, it fails (`paperbot push`: one line, and a rerun finishes it)."""
    one_channel = run_push_until_done if until_done else run_push
    runs = [
        asyncio.ensure_future(
            one_channel(
                push,
                channel.sender,
                job_state,
                notifier,
                admin_ids,
                trigger,
                retry_failed=retry_failed,
                limits=channel.limits,
                fence=fence,
            )
        )
        for channel in channels
    ]
    try:
        return list(await asyncio.gather(*runs))
    except BaseException:
        # One channel's push failed (or all are cancelled): stop the others too, so
        # their claims go back now rather than run on unowned.
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        raise


async def run_everywhere(
    push: PushService,
    broadcasts: BroadcastService,
    channels: PushChannels,
    job_state: JobStateService,
    notifier: Notifier | None,
    admin_ids: Collection[ChatAddress],
    trigger: str = "schedule",
    *,
    retry_failed: bool = False,
    fence: Fence | None = None,
    language: str = "zh",
    broadcast_retry_delays: Sequence[float] = (),
    until_done: bool = True,
) -> PushSummary:
    """The push: publish what is due, then every channel's deliveries and every
    channel's broadcast at once; one summary (the deliveries added up, each broadcast's
    outcome beside them), told to the editors once (each on their own channel, through
    `notifier`), unless the push was stopped by its fence. A broadcast never fails the
    push: its error is in the summary (a quota: the editors read why); one the channel
    left to resume is tried again after each of `broadcast_retry_delays` seconds, and
    one the database's absence stopped is resumed when it answers, as the deliveries
    (with `until_done`, the running bot's push; `paperbot push` fails instead)."""
    if trigger in NO_BROADCAST_TRIGGERS and channels.broadcasters:
        log.info("push (%s): the broadcasts wait for the weekly push", trigger)
        channels = PushChannels(deliveries=channels.deliveries)
        if not channels:
            return PushSummary(run_id=None, trigger=trigger)
    if not channels:
        raise RuntimeError(f"no channel can send now, so no push ({trigger})")
    job_state.mark_run(JOB_NAME)
    published: list[str] = []
    if channels.broadcasters:
        # Published before anything is sent, so this push's broadcasts carry them (the
        # deliveries' own publishing then finds nothing left to publish).
        db = push.options.db_retry

        async def publish() -> list[str]:
            return [r.slug for r in await db.arun(push.publish_due, "publishing due reviews")]

        published = await _attempt(publish, fence, f"push ({trigger})", until_done)
    delivering = asyncio.ensure_future(
        run_channel_pushes(
            push,
            channels.deliveries,
            job_state,
            None,
            admin_ids,
            trigger,
            retry_failed=retry_failed,
            fence=fence,
            until_done=until_done,
        )
    )

    def broadcast(broadcaster: Broadcaster) -> Callable[[], Awaitable[BroadcastResult]]:
        return lambda: broadcasts.push(
            broadcaster, language, fence=fence, retry_delays=broadcast_retry_delays
        )

    broadcasting = [
        asyncio.ensure_future(
            _attempt(
                broadcast(broadcaster),
                fence,
                f"{broadcaster.channel} broadcast ({trigger})",
                until_done,
            )
        )
        for broadcaster in channels.broadcasters
    ]
    try:
        summaries = await delivering
        results: list[BroadcastResult] = list(await asyncio.gather(*broadcasting))
    except BaseException:
        # The deliveries failed (or all are cancelled): stop the broadcasts too (a row
        # left drafted is resumed by the next push).
        for run in [delivering, *broadcasting]:
            run.cancel()
        await asyncio.gather(delivering, *broadcasting, return_exceptions=True)
        raise
    if summaries:
        summary = summaries[0] if len(summaries) == 1 else PushSummary.combined(summaries)
    else:
        summary = PushSummary(run_id=None, trigger=trigger)
    summary.published = sorted({*summary.published, *published})
    summary.broadcasts = [*summary.broadcasts, *results]
    summary.deposed = summary.deposed or any(result.deposed for result in results)
    if notifier is not None and admin_ids and not summary.deposed:
        text = t(language, "push_summary", summary=push_summary_text(summary, language))
        await notify_admins(notifier, admin_ids, [Reply(rich(paragraph(text)))])
    return summary
