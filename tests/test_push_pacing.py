"""A push is paced per channel: each channel's sends by the limits it declares (lowered,
never raised, by the operator's PUSH_MAX_PER_SECOND), all channels at once.

Two plain Python channels over the real store: "alpha" declares 20 messages/s, "beta"
5/s. The limiter never lets k+1 sends of one channel span less than (k - 0.5) of its
interval (it only ever waits longer), so each channel's recorded send times must keep
that spacing for its own rate; and the two runs overlap in time (one push, concurrently).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import Core, build_core
from bot.channels.base import ChannelCapabilities
from bot.core.conversation import Reply
from bot.core.ratelimit import SendLimits
from bot.core.sources import read_source
from bot.db.models import Subscriber
from bot.runtime import channel_pushes
from scheduler.push import run_channel_pushes
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings

LONG_AGO = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ALPHA = SendLimits(per_second=20.0)
BETA = SendLimits(per_second=5.0)


class TimedSender:
    """Records when each message went out (the monotonic clock the limiter uses)."""

    max_reviews_per_message = 10

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[tuple[float, str]] = []

    def render(self, replies: list[Reply]) -> Sequence[object]:
        return list(replies)

    async def send_one(self, chat_id: str, message: object) -> int:
        self.sent.append((time.monotonic(), chat_id))
        return len(self.sent)


class PacedChannel:
    """A channel as the runtime sees one: a name, capabilities, a sender."""

    state = "polling"
    notifier = None

    def __init__(self, name: str, limits: SendLimits) -> None:
        self.name = name
        self.capabilities = ChannelCapabilities(
            name=name,
            buttons=False,
            can_edit=False,
            max_action_bytes=64,
            max_text_units=4096,
            send_limits=limits,
        )
        self.sender = TimedSender(name)

    def routes(self) -> list[object]:
        return []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def on_leadership(self, leading: bool) -> None: ...


def _subscribe(core: Core, channel: str, count: int) -> None:
    for number in range(count):
        core.subscriptions.subscribe(channel, f"{channel}-{number}", "private", "zh")
    with core.sessions.begin() as session:
        session.execute(
            update(Subscriber).where(Subscriber.channel == channel).values(subscribed_at=LONG_AGO)
        )


def _queue_now(core: Core) -> None:
    [parsed] = read_source(DATA_DIR / "front_matter_review.md")
    staged = core.reviews.stage(parsed, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    core.reviews.set_status(staged.review.id, "queued", expected=("draft",))


def _assert_paced(sender: TimedSender, limits: SendLimits) -> None:
    times = sorted(at for at, _ in sender.sent)
    interval = limits.global_interval
    # k + 1 sends span at least (k - 0.5) intervals; 10 % for the sender's own lag.
    for k in range(2, len(times)):
        assert times[k] - times[0] >= (k - 0.5) * interval * 0.9, (sender.channel, k)


@pytest.fixture
def pacing_core(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Core:
    ceiling = getattr(request, "param", 0.0)
    core = build_core(make_settings(database_url, tmp_path, push_max_per_second=ceiling))
    request.addfinalizer(core.close)
    return core


async def test_each_channel_is_paced_by_its_own_declared_limits(pacing_core: Core) -> None:
    core = pacing_core
    alpha, beta = PacedChannel("alpha", ALPHA), PacedChannel("beta", BETA)
    _subscribe(core, "alpha", 12)
    _subscribe(core, "beta", 5)
    _queue_now(core)

    summaries = await run_channel_pushes(
        core.push, channel_pushes([alpha, beta]), core.job_state, None, [], "test"
    )

    assert [s.deliveries_sent for s in summaries] == [12, 5]
    # The limiter of each run took that channel's declared limits.
    assert [s.limits for s in summaries] == [ALPHA, BETA]
    assert sorted(chat for _, chat in alpha.sender.sent) == sorted(f"alpha-{n}" for n in range(12))
    _assert_paced(alpha.sender, ALPHA)
    _assert_paced(beta.sender, BETA)
    # One push, both channels at once: each started before the other finished.
    alpha_times = [at for at, _ in alpha.sender.sent]
    beta_times = [at for at, _ in beta.sender.sent]
    assert max(min(alpha_times), min(beta_times)) < min(max(alpha_times), max(beta_times))


@pytest.mark.parametrize("pacing_core", [10.0], indirect=True)
async def test_the_operator_ceiling_lowers_a_channel_s_limit_and_never_raises_one(
    pacing_core: Core,
) -> None:
    core = pacing_core  # PUSH_MAX_PER_SECOND=10: below alpha's 20/s, above beta's 5/s
    alpha, beta = PacedChannel("alpha", ALPHA), PacedChannel("beta", BETA)
    _subscribe(core, "alpha", 6)
    _subscribe(core, "beta", 4)
    _queue_now(core)

    summaries = await run_channel_pushes(
        core.push, channel_pushes([alpha, beta]), core.job_state, None, [], "test"
    )

    lowered = SendLimits(per_second=10.0)
    assert [s.limits for s in summaries] == [lowered, BETA]
    _assert_paced(alpha.sender, lowered)
    _assert_paced(beta.sender, BETA)


def test_the_ceiling_settings_default_to_the_channel_s_own(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, tmp_path)
    assert (
        settings.push_max_per_second,
        settings.push_private_per_second,
        settings.push_group_per_minute,
    ) == (0, 0, 0)
    declared = SendLimits(per_second=30, private_per_second=1, group_per_minute=20)
    assert declared.capped_by(SendLimits()) == declared
    assert declared.capped_by(SendLimits(per_second=100, private_per_second=0.5)) == SendLimits(
        per_second=30, private_per_second=0.5, group_per_minute=20
    )
    # A channel that declares no limit gets the ceiling.
    assert SendLimits().capped_by(SendLimits(per_second=7)) == SendLimits(per_second=7)
