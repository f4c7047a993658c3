"""A throttled push against a server that enforces its limit, and the limiter's pacing.

The fake Bot API counts the messages that arrive in any sliding second and answers 429
beyond its limit, after a latency, in its own thread: the push must stay under that
limit by pacing the real starts of its sends (not the slots it planned), and resume at
pace after a 429. Counts are asserted at the fake (what Telegram would have seen), never
durations. The limiter's own tests run on a fake clock whose sleeps overshoot.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import Core, build_core
from bot.channels.telegram.app import build_push_bot
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from bot.channels.telegram.sender import TelegramSender
from bot.core.ratelimit import SendLimits, SendRateLimiter, SendStart
from bot.db.models import Subscriber
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.stores import make_settings
from tests.test_push import LONG_AGO, queue_now, received

#: The server's limit in this test (Telegram's is 30/s; 20 keeps the test short).
RATE = 20
PRIVATE_CHATS = 280
GROUPS = 20


@pytest.fixture
def limited_server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer(latency=0.05, enforce_rate_limits=True, global_rate=RATE) as fake:
        yield fake


def _subscribe_many(core: Core) -> list[int]:
    chats = [200_000 + n for n in range(PRIVATE_CHATS)] + [-300_000 - n for n in range(GROUPS)]
    for chat_id in chats:
        chat_type = "private" if chat_id > 0 else "group"
        core.subscriptions.subscribe("telegram", str(chat_id), chat_type, "zh")
    with core.sessions.begin() as session:
        session.execute(update(Subscriber).values(subscribed_at=LONG_AGO))
    return chats


async def test_a_throttled_push_stays_under_the_server_s_limit_and_resumes_after_a_429(
    sqlite_url: str, tmp_path: Path, limited_server: FakeTelegramServer
) -> None:
    server = limited_server
    # Telegram's declared limits under an operator ceiling of RATE/s: the path `paperbot
    # run` takes (run_channel_pushes passes the channel's limits).
    settings = make_settings(
        sqlite_url,
        tmp_path,
        telegram_bot_token="123:PUSH",
        telegram_api_base_url=server.base_url,
        push_max_per_second=float(RATE),
        push_concurrency=8,
    )
    core = build_core(settings, seed=False)
    try:
        chats = _subscribe_many(core)
        queue_now(core)
        # The first send is refused with retry_after 1 (injected: not one of the server's
        # own 429s): the push must wait it out and go on at pace, not burst.
        server.fail_next("sendMessage", status=429, retry_after=1)
        bot = build_push_bot(settings)
        async with bot:
            summary = await core.push.run(
                TelegramSender(bot), "test", limits=TELEGRAM_CAPABILITIES.send_limits
            )
    finally:
        core.close()

    assert summary.limits.per_second == RATE
    assert summary.deliveries_sent == len(chats) and summary.failed == 0
    assert received(server) == Counter(dict.fromkeys(chats, 1))  # no miss, no dup
    assert summary.rate_limited >= 1  # the injected 429 was honoured
    # The server's own flood control: at most one 429 over 300 sends at its limit.
    assert server.rate_limit_hits <= 1, server.rate_limit_hits
    assert len(server.rejected_calls()) <= 1  # and nothing else refused


# --- the limiter on a fake clock ----------------------------------------------------------


class LateClock:
    """A clock whose sleeps overshoot by up to `late` × the interval (seeded), as an
    event loop that is busy elsewhere wakes its sleepers late."""

    def __init__(self, late: float, interval: float) -> None:
        self.now = 0.0
        self.random = random.Random(14)
        self.late = late * interval

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.random.uniform(0.0, self.late)


async def test_late_wakers_never_let_the_next_sends_crowd_them() -> None:
    limits = SendLimits(per_second=30.0)
    interval = limits.global_interval
    time = LateClock(late=0.45, interval=interval)
    limiter = SendRateLimiter(limits, time.clock, time.sleep)
    starts: list[float] = []
    for n in range(1000):
        await limiter.acquire(str(n), is_group=False)
        starts.append(time.now)
    window = limiter.window
    assert window == 30
    # Any window + 1 starts span at least window intervals: a server counting 30 per
    # sliding second sees at most 30 even if arrivals bunch by margin / (1 - margin) s.
    spans = [b - a for a, b in zip(starts, starts[window:], strict=False)]
    assert min(spans) >= window * interval - 1e-9
    # No send crowds its predecessor by more than half an interval.
    gaps = [b - a for a, b in pairwise(starts)]
    assert min(gaps) >= interval / 2 - 1e-9
    # The overshoots are made up for: the rate does not drift below the limit by their
    # average (0.225 interval a send, 18 % slower if each counted from the last start).
    assert (starts[-1] - starts[0]) / (len(starts) - 1) <= interval * 1.05


async def test_after_a_pause_sending_resumes_at_pace() -> None:
    limits = SendLimits(per_second=30.0)
    interval = limits.global_interval
    time = LateClock(late=0.0, interval=interval)
    limiter = SendRateLimiter(limits, time.clock, time.sleep)
    for n in range(50):
        await limiter.acquire(str(n), is_group=False)
    limiter.pause(1.0)
    until = time.now + 1.0
    assert limiter.paused_for() == pytest.approx(1.0)
    after: list[float] = []
    for n in range(60):
        await limiter.acquire(f"after-{n}", is_group=False)
        after.append(time.now)
    assert after[0] >= until - 1e-9
    # At pace from the end of the pause, not a burst of the sends it held back.
    gaps = [b - a for a, b in pairwise(after)]
    assert min(gaps) == pytest.approx(interval)
    assert limiter.paused_for() == 0.0


async def test_a_fresh_limiter_starts_at_pace() -> None:
    limits = SendLimits(per_second=30.0)
    time = LateClock(late=0.0, interval=limits.global_interval)
    limiter = SendRateLimiter(limits, time.clock, time.sleep)
    starts = []
    for n in range(40):
        await limiter.acquire(str(n), is_group=False)
        starts.append(time.now)
    assert starts[0] == 0.0
    gaps = [b - a for a, b in pairwise(starts)]
    assert min(gaps) == pytest.approx(limits.global_interval)


class StallingServer:
    """A clock, and a server 50 ms away that now and then stalls (its loop busy): the
    sends started during a stall all arrive, and are counted, when it ends. Answers
    come back 1 ms after the arrival and are given to the limiter at that time."""

    def __init__(self, limiter_of: Callable[[StallingServer], SendRateLimiter]) -> None:
        self.now = 0.0
        self.random = random.Random(14)
        self.pending: list[tuple[float, int, SendStart]] = []
        self.arrivals: list[float] = []
        self.tell = True
        self.limiter = limiter_of(self)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.advance(self.now + seconds)

    def advance(self, until: float) -> None:
        while self.pending and self.pending[0][0] <= until:
            self.now, _, start = heapq.heappop(self.pending)
            if self.tell:
                self.limiter.answered(start)
        self.now = until

    def send(self, start: SendStart) -> None:
        arrival = start.at + 0.05
        stall = arrival % 3.0  # a 150 ms stall every 3 s
        if stall < 0.15:
            arrival += 0.15 - stall
        self.arrivals.append(arrival)
        heapq.heappush(self.pending, (arrival + 0.001, len(self.arrivals), start))

    def crowded_seconds(self, limit: int) -> int:
        """How many arrivals found `limit` others in the second before them (429s)."""
        arrivals = sorted(self.arrivals)
        return sum(1 for a, b in zip(arrivals, arrivals[limit:], strict=False) if b - a <= 1.0)


async def run_stalling(tell: bool) -> StallingServer:
    limits = SendLimits(per_second=30.0)
    server = StallingServer(lambda s: SendRateLimiter(limits, s.clock, s.sleep))
    server.tell = tell
    for n in range(900):
        start = await server.limiter.acquire(str(n), is_group=False)
        server.send(start)
    return server


async def test_sends_held_up_after_their_start_do_not_crowd_the_next_second() -> None:
    told = await run_stalling(tell=True)
    assert told.crowded_seconds(30) == 0
    # The same stalls, the answers not told: the starts alone pace as before, and the
    # sends a stall held back share their second with the on-time ones after it.
    untold = await run_stalling(tell=False)
    assert untold.crowded_seconds(30) > 0
    # What waiting for the answers costs is about the stalls' own share of the time
    # (5 % here), not a slower pace between them.
    seconds = told.limiter._sends[-1].at
    assert 900 / seconds >= 0.9 * 30
