"""Fencing: a push started under a leader epoch stops once that epoch is not current.

A deposed leader (its lease expired and another process took it, epoch + 1) must not
keep sending next to the new leader. Its push notices within `fence_seconds`, starts no
new send (at most one per worker was already under way), records what it sent, gives
its other claims back as pending and closes its run as `interrupted`; the new leader's
push then completes with every subscriber served exactly once (duplicates at most the
sends in flight at the deposal).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select, update

from bot.app import Core
from bot.core.conversation import Reply
from bot.core.leadership import LeaderElector, LeaseStore
from bot.core.sources import read_source
from bot.db.models import Delivery, LeaderLease, PushRun, Subscriber, utcnow
from tests.support.paths import DATA_DIR

LONG_AGO = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CHANNEL = "alpha"
SUBSCRIBERS = 30
CONCURRENCY = 3


class SlowSender:
    """Each send takes a while, so the push is still running when the leader changes."""

    max_reviews_per_message = 10

    def __init__(self) -> None:
        self.channel = CHANNEL
        self.sent: list[str] = []

    def render(self, replies: list[Reply]) -> Sequence[object]:
        return list(replies)

    async def send_one(self, chat_id: str, message: object) -> int:
        self.sent.append(chat_id)
        await asyncio.sleep(0.03)
        return len(self.sent)


class WatchedFence:
    """The fence the leader's duties build (LeaderElector.holds), noting how many sends
    had started when it first said "no longer current"."""

    def __init__(self, store: LeaseStore, holder: str, epoch: int, sender: SlowSender) -> None:
        self.store, self.holder, self.epoch, self.sender = store, holder, epoch, sender
        self.fell_at: int | None = None

    def __call__(self) -> bool:
        current = self.store.holds(self.holder, self.epoch)
        if not current and self.fell_at is None:
            self.fell_at = len(self.sender.sent)
        return current


def _prepare(core: Core) -> None:
    for number in range(SUBSCRIBERS):
        core.subscriptions.subscribe(CHANNEL, f"reader-{number}", "private", "zh")
    with core.sessions.begin() as session:
        session.execute(update(Subscriber).values(subscribed_at=LONG_AGO))
    [parsed] = read_source(DATA_DIR / "front_matter_review.md")
    staged = core.reviews.stage(parsed, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    core.reviews.set_status(staged.review.id, "queued", expected=("draft",))


def _take_over(store: LeaseStore, core: Core, holder: str) -> int:
    """What another process does once the old leader's lease ran out."""
    with core.sessions.begin() as session:
        session.execute(update(LeaderLease).values(expires_at=utcnow()))
    epoch = store.try_take(holder, 60)
    assert epoch is not None
    return epoch


def _statuses(core: Core) -> Counter[str]:
    with core.sessions() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return Counter(dict(rows.tuples().all()))


async def test_a_deposed_leader_s_push_stops_and_the_new_leader_finishes_it(core: Core) -> None:
    core.push.options = replace(core.push.options, concurrency=CONCURRENCY, fence_seconds=0.02)
    _prepare(core)
    store = LeaseStore(core.sessions)
    old_epoch = store.try_take("old-leader", 60)
    assert old_epoch == 1
    sender = SlowSender()
    fence = WatchedFence(store, "old-leader", old_epoch, sender)

    deposed_push = asyncio.create_task(core.push.run(sender, "test", fence=fence))
    while len(sender.sent) < 6:
        await asyncio.sleep(0.01)
    new_epoch = _take_over(store, core, "new-leader")
    assert new_epoch == old_epoch + 1
    summary = await asyncio.wait_for(deposed_push, 30)

    assert summary.deposed and not summary.timed_out
    assert fence.fell_at is not None
    # No send started once the fence fell, but the one each worker already had under way.
    assert len(sender.sent) - fence.fell_at <= CONCURRENCY
    assert summary.deliveries_sent < SUBSCRIBERS
    statuses = _statuses(core)
    # Claims given back at once (pending), not left `sending` for the lease to expire.
    assert statuses["sending"] == 0
    assert statuses["sent"] == summary.deliveries_sent
    assert statuses["pending"] == SUBSCRIBERS - summary.deliveries_sent
    with core.sessions() as session:
        run = session.get(PushRun, summary.run_id)
        assert run is not None and run.status == "interrupted"

    new_sender = SlowSender()
    new_fence = WatchedFence(store, "new-leader", new_epoch, new_sender)
    finished = await core.push.run(new_sender, "catch-up", fence=new_fence)

    assert not finished.deposed and new_fence.fell_at is None
    assert _statuses(core) == Counter({"sent": SUBSCRIBERS})
    received = Counter(sender.sent) + Counter(new_sender.sent)
    assert set(received) == {f"reader-{n}" for n in range(SUBSCRIBERS)}
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= CONCURRENCY


async def test_the_elector_s_fence_falls_when_another_process_holds_the_lease(
    core: Core,
) -> None:
    store = LeaseStore(core.sessions)
    elector = LeaderElector(store, lease_seconds=60, holder="old-leader")
    elector.start()
    try:
        await asyncio.wait_for(elector.elected.wait(), 10)
        epoch = elector.epoch
        assert epoch is not None and elector.holds(epoch)
        _take_over(store, core, "new-leader")
        # The elector has not noticed yet (its renewal is 20 s away): the store decides.
        assert elector.epoch == epoch and not elector.holds(epoch)
    finally:
        await elector.stop(release=False)
