"""The weekly push job: a plain async function over its dependencies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

from bot.core.addresses import ChatAddress
from bot.core.conversation import Reply
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
    limits: SendLimits | None = None,
    fence: Fence | None = None,
) -> PushSummary:
    """`run_push`, started again (trigger "resume") for as long as it ends because the
    database is away: the running bot finishes an interrupted push by itself once the
    database answers, without a restart. Any other error ends it as before."""
    attempt = 0
    while True:
        try:
            return await run_push(
                push, sender, job_state, notifier, admin_ids, trigger, limits=limits, fence=fence
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            if fence is not None and not _still_current(fence):
                raise
            attempt += 1
            delay = min(RESUME_FIRST_DELAY * 2 ** (attempt - 1), RESUME_MAX_DELAY)
            log.warning(
                "push (%s) stopped, the database is away: %s; resuming in %.0f s",
                trigger,
                first_line(exc),
                delay,
            )
            await asyncio.sleep(delay)
            trigger = RESUME_TRIGGER


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
    fence: Fence | None = None,
) -> list[PushSummary]:
    """One push over every channel that can send, at once: each channel's run is paced
    by its own sender's declared limits (under the operator's ceiling), so a slow
    channel does not hold back a fast one. The summaries, in the channels' order."""
    runs = [
        asyncio.ensure_future(
            run_push_until_done(
                push,
                channel.sender,
                job_state,
                notifier,
                admin_ids,
                trigger,
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
