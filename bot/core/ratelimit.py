"""Pacing sends under a channel's limits (each channel declares its own, see
bot/channels/), shared by all concurrent senders of one process.

Each send reserves a time slot synchronously (no await between reading and writing
the schedule), then sleeps until it. A 429 pauses every sender until `retry_after`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SendLimits:
    """Rates a channel allows; 0 means no limit (the neutral default: the core knows
    no channel's numbers, each channel declares its own)."""

    per_second: float = 0.0
    private_per_second: float = 0.0
    group_per_minute: float = 0.0
    #: Aim this much below the limit: clocks and networks jitter, the server counts
    #: arrivals in a sliding window, and a 429 costs far more than 5 %.
    margin: float = 0.05

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


#: Every so many sends the limiter forgets the chats it no longer needs to pace.
PRUNE_EVERY = 1024


class SendRateLimiter:
    def __init__(
        self,
        limits: SendLimits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._global_next = 0.0
        self._chat_next: dict[str, float] = {}
        self._last_sent = float("-inf")
        self._chat_last: dict[str, float] = {}
        self._paused_until = 0.0
        self.pauses = 0
        self._acquired = 0

    async def acquire(self, chat_id: str, is_group: bool) -> None:
        """Wait for this chat's and the overall next free slot, honouring pauses.

        Slots are reserved first, so waiting senders queue in order instead of all
        polling; then the actual send times are checked, because a sender that wakes
        late (the event loop was busy) must not "catch up" and burst past the limit.
        """
        now = self.clock()
        start = max(now, self._chat_next.get(chat_id, 0.0), self._paused_until)
        slot = max(start, self._global_next)
        self._global_next = slot + self.limits.global_interval
        chat_interval = self.limits.chat_interval(is_group)
        self._chat_next[chat_id] = slot + chat_interval
        if slot > now:
            await self.sleep(slot - now)
        while True:
            now = self.clock()
            ready = max(
                self._paused_until,
                self._last_sent + self.limits.global_interval,
                self._chat_last.get(chat_id, -chat_interval) + chat_interval,
            )
            if now >= ready:
                # Slightly late (the usual sleep overshoot): stay on the grid, or the
                # overshoots add up and the rate drifts below the limit. Very late (the
                # loop was busy): restart the grid from now rather than catch up.
                interval = self.limits.global_interval
                on_grid = now - ready < interval / 2
                self._last_sent = ready if on_grid else now
                self._chat_last[chat_id] = now
                self._acquired += 1
                if self._acquired % PRUNE_EVERY == 0:
                    self.prune()
                return
            await self.sleep(ready - now)

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
        for chat_id in [c for c, slot in self._chat_next.items() if slot <= now]:
            if self._chat_last.get(chat_id, float("-inf")) + longest <= now:
                del self._chat_next[chat_id]
                self._chat_last.pop(chat_id, None)

    def paused_for(self) -> float:
        """Seconds left of the current 429 pause (0 when not paused)."""
        return max(0.0, self._paused_until - self.clock())

    def pause(self, seconds: float) -> None:
        """The channel said "too many requests, retry after": every sender waits that long."""
        self.pauses += 1
        until = self.clock() + seconds
        self._paused_until = max(self._paused_until, until)
        self._global_next = max(self._global_next, until)
