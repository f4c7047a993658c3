"""Pacing sends under a channel's limits (each channel declares its own, see
bot/channels/), shared by all concurrent senders of one process.

Each send reserves a time slot synchronously (no await between reading and writing
the schedule), sleeps until it, then starts once the real starts of the sends before
it allow (see `SendRateLimiter`). A 429 pauses every sender until `retry_after`, then
sending resumes at pace.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendLimits:
    """Rates a channel allows; 0 means no limit (the neutral default: the core knows
    no channel's numbers, each channel declares its own)."""

    per_second: float = 0.0
    private_per_second: float = 0.0
    group_per_minute: float = 0.0
    #: Aim this much below the limit: the server counts arrivals in a sliding second,
    #: and the network, its queue and our loop bunch them. At 2 %, 31 sends span at
    #: least 1.02 s, so arrivals may bunch by 20 ms before a 429 (a 429 costs a second's
    #: pause); a send held up for longer is caught by the answers (`SendRateLimiter`),
    #: which is why 2 % is enough where starts alone needed 4 % and still saw 5 × 429
    #: per 10,000. What the answers hold back after a late send costs rate too: 0.98 of
    #: the limit leaves room for that and a push's start within the issue's 0.95.
    margin: float = 0.02

    @property
    def global_interval(self) -> float:
        return 1.0 / (self.per_second * (1 - self.margin)) if self.per_second > 0 else 0.0

    def capped_by(self, ceiling: SendLimits) -> SendLimits:
        """These limits, lowered to `ceiling` where it sets one (an operator's override
        can only lower what a channel declares, never raise it; 0 = no ceiling)."""
        return SendLimits(
            per_second=_lower(self.per_second, ceiling.per_second),
            private_per_second=_lower(self.private_per_second, ceiling.private_per_second),
            group_per_minute=_lower(self.group_per_minute, ceiling.group_per_minute),
            margin=self.margin,
        )

    def chat_interval(self, is_group: bool) -> float:
        rate = self.group_per_minute / 60.0 if is_group else self.private_per_second
        return 1.0 / (rate * (1 - self.margin)) if rate > 0 else 0.0


def _lower(declared: float, ceiling: float) -> float:
    """The lower of two rates where 0 means unlimited."""
    if ceiling <= 0:
        return declared
    return ceiling if declared <= 0 else min(declared, ceiling)


@dataclass(frozen=True)
class Reservation:
    """Slots a `SlotSource` handed out: `count` starts `interval` apart from `first`
    (wall clock, `time.time()`), and the channel's shared pause (until `paused_until`,
    wall clock; 0 = none), which another process may have set after a 429."""

    first: float
    count: int
    paused_until: float = 0.0


class SlotSource(Protocol):
    """One schedule of sends for a channel, shared by every process that sends on it."""

    async def reserve(self, count: int, interval: float) -> Reservation:
        """The next `count` free slots `interval` apart, none before now or the shared
        pause."""
        ...

    async def pause(self, until: float) -> None:
        """Extend the shared pause to `until` (wall clock): a 429 this process got holds
        the other processes too."""
        ...


#: A shared slot is used only when its sender starts at most this share of the margin's
#: slack (margin / (1 - margin) s, 42 ms at 4 %) after it; a later waker leaves it and
#: takes the next. So no send starts before its slot or more than 21 ms after it, and
#: any 31 sends of all the processes together span at least 1.042 s - 21 ms: the other
#: half of the slack is for the network and the server's queue.
SHARED_LATENESS = 0.5
#: The shared schedule keeps at least this margin below the limit even where one process
#: alone paces closer (2 %): sends of several processes cross different connections and
#: event loops, and no process sees the others' answers. Each process's own answers
#: still hold its sends back after one was held up (`_answered_floor`, as when it paces
#: alone). 3 % was tried with that floor (2026-12-03, 10,000 through the fake's 30/s
#: with 50 ms, 0 × 429 throughout): 28.8 msg/s at load 0.8-2.3 but 28.0 under a loaded
#: machine (load up to 3.8), where 4 % gave 28.7 under the same load: the lateness a
#: slot allows shrinks with the margin, and a busy loop then misses more slots.
SHARED_MIN_MARGIN = 0.04
#: A process reserves this many seconds' worth of slots at a time: one short
#: transaction per batch, not per message (6 slots at 30/s, 200 at 1,000/s).
SHARED_BATCH_SECONDS = 0.2


#: Every so many sends the limiter forgets the chats it no longer needs to pace.
PRUNE_EVERY = 1024
#: At most this many past starts are kept for the overall limit (a channel's count per
#: second; a lifted limit of a million a second needs no record that long).
MAX_WINDOW = 100
#: A send may follow its predecessor after this share of the interval when the sends
#: before it were late, no sooner: lateness is made up for, never with a burst.
MIN_GAP = 0.5


@dataclass(eq=False)
class SendStart:
    """One send's real start, and when its answer came back (None while in flight):
    the server counted the send's arrival somewhere in between."""

    at: float
    answered: float | None = None


class SendRateLimiter:
    """Paces the starts of sends, as the channel's server counts their arrivals.

    Telegram counts the messages that arrive in any sliding second (the fake Bot API
    does exactly that). So the limiter keeps the real start times of the last
    `window` sends (the channel's count per second, e.g. 30) and lets a send start only
    when the `window`-th before it started `window` intervals ago: any `window` + 1
    sends span at least `window` / (rate × (1 - margin)) seconds, which leaves
    margin / (1 - margin) of a second (42 ms at 4 %) for the network, the server's
    queue and the loop's lateness to bunch arrivals before a 429. Measuring from real
    starts (not the planned slots) means a late waker never lets the next send crowd it;
    and because the constraint spans `window` sends, the usual sleep overshoots do not
    add up into a slower rate: a send after late ones may follow its predecessor after
    half an interval (`MIN_GAP`), never sooner. A chat's own limit (1/s private,
    20/min group) is a plain spacing between its sends.

    Starts alone cannot see a send that was held up after it started (our loop or the
    server's busy, a connection waiting): it arrives late and is counted together with
    the on-time sends a second later, the 429s that remained at 30/s with 50 ms of
    latency. So the answers count too (`answered`, called when a send's answer came
    back, which is after the server counted it): a send starts only once every send
    but the `window` - 1 latest was answered at least a window's span (1 s) before
    this send can arrive, that is, at least half the fastest recent round trip from
    now. Then at most `window` - 1 others share its second, however late they came.
    In steady state this waits for nothing (answers come back in a round trip, far
    within the interval rule); it only holds back sends after one that was late.
    """

    def __init__(
        self,
        limits: SendLimits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        slots: SlotSource | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self.interval = limits.global_interval
        #: The schedule shared with the other processes (None: this process alone).
        self.slots = slots if self.interval > 0 else None
        margin = limits.margin
        if self.slots is not None and margin < SHARED_MIN_MARGIN:
            margin = SHARED_MIN_MARGIN
            self.interval = 1.0 / (limits.per_second * (1 - margin))
        self.wall = wall
        #: The reserved batch not yet handed out: slots `_shared_next` + k × interval
        #: for k < `_shared_left` (arithmetic: at 1,000/s a batch is 200 slots).
        self._shared_next = 0.0
        self._shared_left = 0
        #: The next batch, reserved ahead (at half the current one) so that senders
        #: never wait on the store: (first slot in this process's clock, count).
        self._spare: tuple[float, int] | None = None
        self._refill: asyncio.Task[None] | None = None
        self._refill_error: BaseException | None = None
        self._pause_writes: set[asyncio.Task[None]] = set()
        self.lateness = SHARED_LATENESS * margin / (1 - margin)
        self.batch = max(1, math.ceil(limits.per_second * SHARED_BATCH_SECONDS))
        #: Shared slots taken but left because their sender woke too late.
        self.missed_slots = 0
        self.reservations = 0
        self.window = max(1, min(MAX_WINDOW, math.ceil(limits.per_second)))
        self._starts: deque[float] = deque(maxlen=self.window)
        #: The last `window` real sends (`SendStart`), and the latest answer of those
        #: before them.
        self._sends: deque[SendStart] = deque(maxlen=self.window)
        self._older_answered = float("-inf")
        self._global_next = 0.0
        self._chat_next: dict[str, float] = {}
        self._chat_last: dict[str, float] = {}
        self._paused_until = 0.0
        self.pauses = 0
        self._acquired = 0
        self._resume_at(clock())

    async def acquire(self, chat_id: str, is_group: bool) -> SendStart:
        """Wait until a send to `chat_id` may start, and record that it starts now.

        Slots are reserved first (no await between reading and writing the schedule),
        so waiting senders queue in order instead of all polling; then the real starts
        decide, because a sender can wake later than its slot (the event loop was busy).
        Call it right before writing the request: the start is recorded on return;
        pass what it returns to `answered` when the request has been answered.
        """
        if self.slots is not None:
            return await self._acquire_shared(chat_id, is_group)
        now = self.clock()
        chat_interval = self.limits.chat_interval(is_group)
        start = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until)
        slot = max(start, self._global_next)
        self._global_next = slot + self.interval
        self._chat_next[chat_id] = slot + chat_interval
        if slot > now:
            await self.sleep(slot - now)
        while True:
            now = self.clock()
            ready = max(self._ready(), self._chat_ready(chat_id, chat_interval))
            if now >= ready:
                self._starts.append(now)
                return self._start(chat_id, now)
            await self.sleep(ready - now)

    async def _acquire_shared(self, chat_id: str, is_group: bool) -> SendStart:
        """The chat's own limit, any pause and the answers first (here, in this
        process: `_chat_ready`, `_answered_floor`, as `acquire`), then the next slot of
        the shared schedule: the sender waits for its slot and starts at most `lateness`
        after it, or leaves it and takes the next one. It leaves it too when the answers
        no longer allow a start by then (a send of this process that was held up): the
        shared slots pace the starts of all the processes, the answers catch what the
        starts cannot see, as they do for one process alone."""
        chat_interval = self.limits.chat_interval(is_group)
        while True:
            now = self.clock()
            # From `now` on: a floor at or before it allows the start already, and
            # `_answered_floor` answers that without walking the window.
            ready = max(now, self._chat_ready(chat_id, chat_interval), self._paused_until)
            ready = self._answered_floor(ready)
            if ready > now:
                await self.sleep(ready - now)
                continue
            slot = await self._next_slot()
            if slot > self.clock():
                await self.sleep(slot - self.clock())
            now = self.clock()
            if slot < self._paused_until:
                continue  # a 429 came while it waited: after the pause, another slot
            if now - slot > self.lateness or self._answered_floor(now) > now:
                self.missed_slots += 1
                continue
            return self._start(chat_id, now)

    def _chat_ready(self, chat_id: str, chat_interval: float) -> float:
        """When the chat's own limit lets its next send start (by its last real start)."""
        return self._chat_last.get(chat_id, -chat_interval) + chat_interval

    def _start(self, chat_id: str, now: float) -> SendStart:
        """Record a send to `chat_id` starting now (both paths)."""
        self._chat_last[chat_id] = now
        self._acquired += 1
        if self._acquired % PRUNE_EVERY == 0:
            self.prune()
        return self._started(now)

    async def _next_slot(self) -> float:
        """The earliest shared slot this process holds that is still usable (taken
        synchronously, so two senders never get the same one); slots already too late,
        or inside a pause, are skipped. The next batch is reserved in the background
        once half of this one is handed out; a sender waits for it only if it is late."""
        while True:
            usable = max(self.clock() - self.lateness, self._paused_until)
            if self._shared_left and self._shared_next < usable:
                behind = math.ceil((usable - self._shared_next) / self.interval)
                skipped = min(behind, self._shared_left)
                self._shared_left -= skipped
                self._shared_next += skipped * self.interval
                self.missed_slots += skipped
            if not self._shared_left and self._spare is not None:
                (self._shared_next, self._shared_left), self._spare = self._spare, None
                continue
            if self._shared_left:
                slot = self._shared_next
                self._shared_next += self.interval
                self._shared_left -= 1
                if self._shared_left <= self.batch // 2:
                    self._start_refill()
                return slot
            if self._refill_error is not None:
                error, self._refill_error = self._refill_error, None
                raise error
            refill = self._start_refill()
            assert refill is not None  # no spare batch, no error: one is under way
            # Not `await refill`: a sender cancelled while waiting must not cancel the
            # reservation the others wait for.
            await asyncio.wait({refill})

    def _start_refill(self) -> asyncio.Task[None] | None:
        """The reservation of the next batch, started unless one is under way or done
        (then None: the spare batch is there)."""
        if self._refill is None and self._spare is None:
            self._refill = asyncio.get_running_loop().create_task(self._reserve())
            self._refill.add_done_callback(self._refilled)
        return self._refill

    def _refilled(self, task: asyncio.Task[None]) -> None:
        self._refill = None
        if not task.cancelled() and task.exception() is not None:
            self._refill_error = task.exception()

    async def _reserve(self) -> None:
        """One batch of slots (one transaction), in this process's clock; the shared
        pause it reads back holds this process too (another one got the 429)."""
        assert self.slots is not None
        got = await self.slots.reserve(self.batch, self.interval)
        self.reservations += 1
        offset = self.wall() - self.clock()
        if got.paused_until - offset > self._paused_until:
            self._paused_until = got.paused_until - offset
        self._spare = (got.first - offset, got.count)

    def close(self) -> None:
        """Stop a reservation under way (the push is over)."""
        if self._refill is not None:
            self._refill.cancel()
        for write in list(self._pause_writes):
            write.cancel()

    @staticmethod
    async def _write_pause(slots: SlotSource, until: float) -> None:
        """Best effort: a process that misses the pause meets the 429 itself."""
        try:
            await slots.pause(until)
        except Exception as exc:
            log.warning("could not share a 429 pause with the other senders: %s", exc)

    def _started(self, now: float) -> SendStart:
        sends = self._sends
        if len(sends) == self.window and sends[0].answered is not None:
            self._older_answered = max(self._older_answered, sends[0].answered)
        start = SendStart(now)
        sends.append(start)
        return start

    def answered(self, start: SendStart) -> None:
        """The send that `acquire` returned `start` for has its answer (any answer: a
        refused one only makes this stricter than the server)."""
        start.answered = self.clock()
        # Older than the record? The record is in start order, so only a start no later
        # than its oldest can have left it (the identity walk only breaks a tie).
        sends = self._sends
        oldest = sends[0].at if sends else float("inf")
        if start.at < oldest or (start.at == oldest and all(send is not start for send in sends)):
            self._older_answered = max(self._older_answered, start.answered)

    def _answered_floor(self, ready: float) -> float:
        """When the next send may start by the answers (see the class docstring), or
        `ready` when they allow that already."""
        if self.limits.per_second <= 0:
            return ready
        sends = self._sends
        latest = self._older_answered
        if len(sends) == self.window and sends[0].answered is not None:
            latest = max(latest, sends[0].answered)
        span = self.window / self.limits.per_second
        if latest + span <= ready:
            return ready
        trips = [s.answered - s.at for s in sends if s.answered is not None]
        one_way = min(trips) / 2 if trips else 0.0
        return max(ready, latest + span - one_way)

    def _ready(self) -> float:
        """When the next send may start under the overall limit and any pause."""
        starts = self._starts
        if not starts:
            return self._paused_until
        ready = max(self._paused_until, starts[-1] + MIN_GAP * self.interval)
        if len(starts) == self.window:
            ready = self._answered_floor(max(ready, starts[0] + self.window * self.interval))
        return ready

    def _resume_at(self, at: float) -> None:
        """Start (again) at pace from `at`: the record becomes starts one interval apart
        ending one interval before `at`, so the first send may go at `at` and the next
        ones one interval apart, as if sending had never stopped (no burst of the sends a
        pause held back). Where a real start is later than its counterpart (a pause
        shorter than the window), the real one stays: both records are honoured."""
        if self.interval <= 0:
            return
        paced = [at - k * self.interval for k in range(self.window, 0, -1)]
        real = [float("-inf")] * (self.window - len(self._starts)) + list(self._starts)
        self._starts.clear()
        self._starts.extend(max(p, r) for p, r in zip(paced, real, strict=True))

    @property
    def tracked_chats(self) -> int:
        """Chats whose pacing state is kept (bounded by `prune`)."""
        return len(self._chat_next.keys() | self._chat_last.keys())

    def prune(self) -> None:
        """Forget the chats whose every slot lies in the past: a push sends to each chat
        once and moves on, so without this the two maps grow with every chat of the push
        (+14 MB over 100,000). A forgotten chat that comes back starts afresh, which is
        what the kept state would have allowed anyway (its next slot has passed)."""
        now = self.clock()
        longest = max(self.limits.chat_interval(True), self.limits.chat_interval(False))
        never = float("-inf")
        for chat_id in list(self._chat_next.keys() | self._chat_last.keys()):
            next_slot = self._chat_next.get(chat_id, never)
            if next_slot <= now and self._chat_last.get(chat_id, never) + longest <= now:
                self._chat_next.pop(chat_id, None)
                self._chat_last.pop(chat_id, None)

    def paused_for(self) -> float:
        """Seconds left of the current 429 pause (0 when not paused)."""
        return max(0.0, self._paused_until - self.clock())

    def pause(self, seconds: float) -> None:
        """The channel said "too many requests, retry after": every sender waits that
        long, then sending resumes at pace (not with the sends the pause held back)."""
        self.pauses += 1
        until = self.clock() + seconds
        self._paused_until = max(self._paused_until, until)
        if self.slots is not None:
            # The slots this process holds from before the pause are dropped; the other
            # processes pause from their next reservation on (a batch, ~0.2 s, later).
            self._shared_left = 0
            self._spare = None
            write = asyncio.get_running_loop().create_task(
                self._write_pause(self.slots, self.wall() - self.clock() + until)
            )
            self._pause_writes.add(write)
            write.add_done_callback(self._pause_writes.discard)
        self._global_next = max(self._global_next, self._paused_until)
        self._resume_at(self._paused_until)
