"""The arXiv poll job: fetch the feeds, then tell the editors what is worth reviewing.

A plain async function over its dependencies, so the scheduler, the CLI and tests all
call the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.core.addresses import ChatAddress
from bot.core.arxiv.views import poll_alert
from bot.core.arxiv.watcher import ArxivWatcher, CategoryOutcome, PollReport
from bot.core.notify import Notifier, notify_admins

log = logging.getLogger(__name__)


async def poll_arxiv(
    watcher: ArxivWatcher,
    notifier: Notifier | None,
    admin_ids: Sequence[ChatAddress],
    top_n: int,
    *,
    force: bool = False,
    only_failed: bool = False,
    deadline_seconds: float | None = None,
    on_progress: Callable[[CategoryOutcome], None] | None = None,
) -> PollReport:
    """Poll once; then send the editors the top `top_n` candidates no alert named yet.

    Candidates are marked as announced only once an editor received them, and that
    mark lives in the store, so a failed send is retried after the next poll and a
    paper is never announced twice. Failed categories are reported by the daily run
    (`only_failed=False`), not by every retry.
    """
    report = await watcher.poll(
        force=force,
        only_failed=only_failed,
        deadline_seconds=deadline_seconds,
        on_progress=on_progress,
    )
    if notifier is None or not admin_ids or top_n <= 0:
        return report
    picks = watcher.unalerted(top_n)
    failures = () if only_failed else report.failures
    if not picks and not failures:
        return report
    alert = poll_alert(picks, report.added, failures)
    delivered = await notify_admins(notifier, admin_ids, [alert])
    if delivered and picks:
        watcher.mark_alerted(candidate.id for candidate in picks)
    log.info("arXiv alert: %d candidates sent to %d editors", len(picks), delivered)
    return report
