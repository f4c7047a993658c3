"""/publish records a push request and answers at once; the leader runs it and tells
the editor. Two cores (two processes' engines) on one database, both backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Core, build_core, start_leader_duties
from bot.core.conversation import Caller, Reply
from bot.core.push import PushSummary
from bot.core.push_requests import Requester
from bot.db.models import PushRequest
from tests.support.fake_telegram import FakeTelegramServer
from tests.test_push import LONG_AGO, push, push_settings, queue_now, received, subscribe

EDITOR = Caller(channel="console", user_id="1", chat_id="1", trusted=True)


class RecordingNotifier:
    """The notifier protocol, keeping what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        self.sent.append((chat_id, replies))


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
def two_cores(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> Iterator[tuple[Core, Core]]:
    settings = push_settings(database_url, tmp_path, server)
    follower = build_core(settings, seed=True)
    leader = build_core(push_settings(database_url, tmp_path, server), seed=False)
    yield follower, leader
    follower.close()
    leader.close()


async def wait_until(condition: object, timeout: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def requests(core: Core) -> list[PushRequest]:
    with core.sessions() as session:
        return list(session.scalars(select(PushRequest).order_by(PushRequest.id)))


def text_of(replies: list[Reply]) -> str:
    return "\n".join(reply.body.plain_text for reply in replies)


async def test_publish_is_queued_at_once_and_run_by_the_leader(
    two_cores: tuple[Core, Core], server: FakeTelegramServer
) -> None:
    follower, leader = two_cores
    for chat_id in (101, 102, 103):
        subscribe(follower, chat_id, when=LONG_AGO)
    draft = queue_now(follower)

    answer = await follower.conversation.handle_text(EDITOR, f"/publish {draft}")
    assert "已加入推送队列，3 位订阅者" in text_of(answer)
    [request] = requests(follower)
    assert (request.status, request.channel, request.requested_by) == ("pending", "console", "1")
    assert request.reviews == [draft]
    assert received(server) == {}  # the handler pushed nothing

    notified: list[tuple[str, str, str]] = []

    async def notify(channel: str, address: str, replies: list[Reply]) -> None:
        notified.append((channel, address, text_of(replies)))

    async def push_now(trigger: str) -> PushSummary:
        return await push(leader, trigger)  # type: ignore[no-any-return]

    duties = start_leader_duties(leader, RecordingNotifier(), push_now, notify)
    try:
        await wait_until(lambda: notified != [])
    finally:
        await duties.stop()
    [(channel, address, summary)] = notified
    assert (channel, address) == ("console", "1")
    assert f"推送请求 #{request.id} 已完成" in summary
    assert received(server) == {101: 1, 102: 1, 103: 1}
    [done] = requests(leader)
    assert done.status == "done" and done.finished_at is not None
    assert done.summary is not None and "3 deliveries sent" in done.summary


async def test_a_request_a_dead_leader_started_is_run_by_the_next(
    two_cores: tuple[Core, Core], server: FakeTelegramServer
) -> None:
    old, new = two_cores
    subscribe(old, 101, when=LONG_AGO)
    published = old.editorial.publish(queue_now(old), Requester("console", "1"))
    assert published.request is not None
    claimed = old.push_requests.claim_next()  # the old leader took it, then died
    assert claimed is not None and claimed.id == published.request.id
    assert old.push_requests.claim_next() is None  # nobody else takes a running one

    async def push_now(trigger: str) -> PushSummary:
        return await push(new, trigger)  # type: ignore[no-any-return]

    async def notify(channel: str, address: str, replies: list[Reply]) -> None:
        return None

    duties = start_leader_duties(new, RecordingNotifier(), push_now, notify)
    try:
        await wait_until(lambda: requests(new)[0].status == "done")
    finally:
        await duties.stop()
    assert received(server) == {101: 1}


def test_unqueue_and_publish_refuse_the_wrong_state(two_cores: tuple[Core, Core]) -> None:
    from bot.core.reviews import ReviewStateError

    core, _ = two_cores
    review = core.reviews.all()[0]
    assert review.status == "published"
    with pytest.raises(ReviewStateError):
        core.editorial.unqueue(review.id)  # published, not queued
    with pytest.raises(ReviewStateError):
        core.editorial.publish(review.id, Requester("console", "1"))
    assert requests(core) == []


def test_paperbot_publish_queues_for_a_running_bot(
    two_cores: tuple[Core, Core], server: FakeTelegramServer, tmp_path: Path
) -> None:
    """With a live leader lease the CLI records a request and returns; nothing is sent."""
    import datetime as dt
    import os
    import subprocess
    import sys

    from bot.db.models import LeaderLease, utcnow

    core, _ = two_cores
    subscribe(core, 101, when=LONG_AGO)
    review_id = queue_now(core)
    with core.sessions.begin() as session:
        now = utcnow()
        session.add(
            LeaderLease(
                name="scheduler",
                holder="bot-host:1:abc",
                epoch=1,
                expires_at=now + dt.timedelta(minutes=5),
                renewed_at=now,
            )
        )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))},
        "DATABASE_URL": core.settings.database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": core.settings.telegram_bot_token,
        "TELEGRAM_API_BASE_URL": core.settings.telegram_api_base_url,
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "paperbot"), "publish", str(review_id)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "queued for push (request #1), 1 subscriber:" in result.stdout
    assert "bot-host:1:abc" in result.stdout
    [request] = requests(core)
    assert (request.status, request.channel, request.reviews) == ("pending", "cli", [review_id])
    assert received(server) == {}


async def test_stopping_the_duties_stops_the_jobs_and_the_running_push(
    two_cores: tuple[Core, Core],
) -> None:
    """On demotion the scheduler stops and a push in progress is cancelled (the next
    leader finishes it from the outbox); the request is left for the next leader."""
    core, _ = two_cores
    core.editorial.publish(queue_now(core), Requester("console", "1"))
    started = asyncio.Event()

    async def slow_push(trigger: str) -> PushSummary:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    async def notify(channel: str, address: str, replies: list[Reply]) -> None:
        raise AssertionError("a cancelled request sends no summary")

    duties = start_leader_duties(core, RecordingNotifier(), slow_push, notify)
    assert duties.scheduler.running
    assert {job.id for job in duties.scheduler.get_jobs()} >= {"push", "arxiv-poll"}
    await asyncio.wait_for(started.wait(), 10)
    await wait_until(lambda: requests(core)[0].status == "running")
    await duties.stop()
    assert not duties.scheduler.running
    assert requests(core)[0].status == "running"  # requeued by the next leader
    assert core.push_requests.requeue_unfinished() == 1
