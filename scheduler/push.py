"""The weekly push job: a plain async function over its dependencies."""

from __future__ import annotations

import logging
from collections.abc import Collection

from bot.core.conversation import Reply
from bot.core.jobs import JobStateService
from bot.core.notify import Notifier, notify_admins
from bot.core.push import PushService, PushSummary, Sender
from bot.core.richtext import paragraph, rich
from bot.core.texts import t

log = logging.getLogger(__name__)

JOB_NAME = "push"


async def run_push(
    push: PushService,
    sender: Sender,
    job_state: JobStateService,
    notifier: Notifier | None,
    admin_ids: Collection[int],
    trigger: str = "schedule",
    *,
    retry_failed: bool = False,
) -> PushSummary:
    """Run one push to completion, remember it ran, and tell the editors how it went."""
    job_state.mark_run(JOB_NAME)
    summary = await push.run(sender, trigger=trigger, retry_failed=retry_failed)
    if notifier is not None and admin_ids:
        text = t("zh", "push_summary", summary=summary.describe())
        await notify_admins(notifier, admin_ids, [Reply(rich(paragraph(text)))])
    return summary
