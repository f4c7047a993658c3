"""Nothing lost, nothing frozen: transient failures retried by later pushes, a deadline
that stops an endless 429 or a hung API cleanly, an honest planned count, and a clear
error when the Bot API cannot be reached. Fake Bot API over real HTTP; SQLite and
PostgreSQL; real `paperbot push` processes where the exit matters."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import Core, build_core
from bot.db.models import Delivery, PushRun
from tests.support.cli import run_cli
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.paths import DATA_DIR
from tests.test_push import LONG_AGO, push_settings, queue_now, received, subscribe
from tests.test_push_processes import environment, prepare

#: Long enough for any push here to finish; the old code hung past it.
TEST_TIMEOUT = 60


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


def make_core(
    database_url: str, tmp_path: Path, server: FakeTelegramServer, **extra: object
) -> Core:
    core = build_core(push_settings(database_url, tmp_path, server, **extra), seed=True)
    # Quick backoff between attempts; everything else comes from the settings.
    core.push.options = replace(core.push.options, retry_base_seconds=0.01, retry_max_seconds=0.05)
    return core


def deliveries(core: Core) -> list[Delivery]:
    with core.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        session.expunge_all()
        return list(rows)


async def timed_push(core: Core, **kwargs: object):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(push_with(core, **kwargs), timeout=TEST_TIMEOUT)


async def push_with(core: Core, retry_failed: bool = False):  # type: ignore[no-untyped-def]
    from bot.channels.telegram.app import build_push_bot
    from bot.channels.telegram.sender import TelegramSender

    bot = build_push_bot(core.settings)
    async with bot:
        sender = TelegramSender(bot)
        if retry_failed:
            return await core.push.run(sender, "test", retry_failed=True)
        return await core.push.run(sender, "test")


async def test_a_burst_of_5xx_is_retried_by_the_next_push_exactly_once(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    chats = list(range(1100, 1110))
    core = make_core(database_url, tmp_path, server, push_concurrency=1, push_max_attempts=2)
    try:
        for chat_id in [*chats, 1199]:
            subscribe(core, chat_id, when=LONG_AGO)
        server.block_user(1199)
        queue_now(core)
        # Concurrency 1, two attempts each: the burst uses up the first two readers.
        server.fail_next("sendMessage", count=4, status=502)

        first = await timed_push(core)
        assert first.failed == 2 and first.blocked == 1
        assert received(server) == Counter(dict.fromkeys(chats[2:], 1))

        second = await timed_push(core)
        # Every reader has it exactly once; the blocked chat was not tried again.
        assert received(server) == Counter(dict.fromkeys(chats, 1))
        assert sum(c.params.get("chat_id") == 1199 for c in server.calls_to("sendMessage")) == 1
        assert second.requeued == 2 and second.deliveries_sent == 2
        rows = deliveries(core)
        assert Counter(d.status for d in rows) == Counter({"sent": 10, "failed": 1})
        [blocked] = [d for d in rows if d.status == "failed"]
        assert blocked.error_kind == "final" and (blocked.last_error or "").startswith("blocked")
        # The retried ones keep why they failed the first time.
        retried = [d for d in rows if d.retry_runs]
        assert [d.error_kind for d in retried] == ["transient", "transient"]
        assert all("gave up after 2 attempts" in (d.last_error or "") for d in retried)

        third = await timed_push(core)
        assert third.requeued == 0 and third.messages_sent == 0
    finally:
        core.close()


async def test_retries_are_capped_and_retry_failed_goes_past_the_cap(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = make_core(
        database_url,
        tmp_path,
        server,
        push_concurrency=1,
        push_max_attempts=1,
        push_max_retry_runs=1,
    )
    try:
        for chat_id in (1201, 1202, 1203):
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core)
        server.fail_next("sendMessage", count=1, status=500)
        assert (await timed_push(core)).failed == 1
        server.fail_next("sendMessage", count=1, status=500)
        again = await timed_push(core)  # the one retry the cap allows fails too
        assert again.requeued == 1 and again.failed == 1
        capped = await timed_push(core)
        assert capped.requeued == 0 and capped.messages_sent == 0
        assert received(server) == Counter({1202: 1, 1203: 1})

        forced = await timed_push(core, retry_failed=True)
        assert forced.requeued == 1 and forced.deliveries_sent == 1
        assert received(server) == Counter({1201: 1, 1202: 1, 1203: 1})
    finally:
        core.close()


async def test_an_endless_429_stops_at_the_deadline_and_the_next_push_resumes(
    database_url: str,
    tmp_path: Path,
    server: FakeTelegramServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chats = list(range(1300, 1306))
    core = make_core(
        database_url, tmp_path, server, push_deadline_seconds=2.5, push_progress_seconds=0.5
    )
    try:
        for chat_id in chats:
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core)
        server.fail_next("sendMessage", count=1_000_000, status=429, retry_after=1)

        with caplog.at_level(logging.INFO, logger="bot.core.push"):
            stopped = await timed_push(core)
        assert stopped.timed_out and stopped.deliveries_sent == 0
        assert stopped.left_pending == len(chats)
        assert "waiting for 429 retry_after 1s" in caplog.text
        assert "deadline of 2 s passed" in caplog.text
        # Unsent deliveries are pending, not failed, and the run says it timed out.
        assert Counter(d.status for d in deliveries(core)) == Counter({"pending": len(chats)})
        with core.sessions() as session:
            [run] = session.scalars(select(PushRun)).all()
            assert run.status == "timed_out"

        server.clear_failures()
        # The resumed push gets room: six sends on a loaded machine may take over 2.5 s.
        core.push.options = replace(core.push.options, deadline_seconds=60.0)
        resumed = await timed_push(core)
        assert not resumed.timed_out and resumed.deliveries_sent == len(chats)
        assert received(server) == Counter(dict.fromkeys(chats, 1))
    finally:
        core.close()


async def test_a_hung_api_is_logged_and_the_push_stops_at_the_deadline(
    database_url: str,
    tmp_path: Path,
    server: FakeTelegramServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chats = [1401, 1402]
    core = make_core(
        database_url,
        tmp_path,
        server,
        push_deadline_seconds=2.5,
        push_progress_seconds=0.5,
        push_concurrency=1,
    )
    try:
        for chat_id in chats:
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core)
        server.delay_next("sendMessage", seconds=4.0, count=1)

        with caplog.at_level(logging.INFO, logger="bot.core.push"):
            stopped = await timed_push(core)
        assert stopped.timed_out
        assert "send to chat 1401 hanging for" in caplog.text
        assert Counter(d.status for d in deliveries(core)) == Counter({"pending": 2})

        resumed = await timed_push(core)
        assert resumed.deliveries_sent == 2
        assert received(server) == Counter({1401: 1, 1402: 1})
    finally:
        core.close()


async def test_a_send_that_never_answers_times_out_and_is_retried(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    """PUSH_SEND_TIMEOUT_SECONDS bounds each send whatever the HTTP layer's own timeouts."""
    core = make_core(database_url, tmp_path, server, push_send_timeout_seconds=0.5)
    try:
        subscribe(core, 1501, when=LONG_AGO)
        queue_now(core)
        server.delay_next("sendMessage", seconds=3.0, count=1)
        summary = await timed_push(core)
        assert summary.retried == 1 and summary.deliveries_sent == 1
        assert received(server) == Counter({1501: 1})
    finally:
        core.close()


async def test_the_planned_count_is_the_rows_created(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    """psycopg reports an executemany's rowcount as 0/-1: PostgreSQL logged 0 planned."""
    core = make_core(database_url, tmp_path, server)
    try:
        for chat_id in range(1600, 1607):
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core)
        summary = await timed_push(core)
        assert summary.planned == len(deliveries(core)) == 7
        with core.sessions() as session:
            [run] = session.scalars(select(PushRun)).all()
            assert run.planned == 7
        assert core.push.plan("telegram") == 0  # planning again adds (and counts) nothing
    finally:
        core.close()


# --- as `paperbot push` processes -------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_push_against_an_unreachable_api_is_one_clear_line(
    database_url: str, tmp_path: Path
) -> None:
    with FakeTelegramServer() as server:
        prepare(database_url, tmp_path, range(1700, 1703))
        env = environment(database_url, server)
        queued = run_cli(
            ["queue", "add", str(DATA_DIR / "front_matter_review.md")],
            tmp_path,
            **env,
        )
        assert queued.returncode == 0, queued.stderr
        for base_url in (
            f"http://127.0.0.1:{closed_port()}/bot",
            "http://no-such-host.invalid/bot",
        ):
            down = run_cli(["push"], tmp_path, **{**env, "TELEGRAM_API_BASE_URL": base_url})
            assert down.returncode != 0
            assert "Traceback" not in down.stderr, down.stderr
            last = down.stderr.strip().splitlines()[-1]
            assert last.startswith("Error: cannot reach the Telegram Bot API at "), down.stderr
        assert server.sent_messages() == []

        up = run_cli(["push"], tmp_path, **env)
        assert up.returncode == 0, up.stderr
        assert received(server) == Counter(dict.fromkeys(range(1700, 1703), 1))


def test_push_at_its_deadline_exits_non_zero_and_the_next_one_resumes(
    database_url: str, tmp_path: Path
) -> None:
    chats = range(1800, 1805)
    with FakeTelegramServer() as server:
        prepare(database_url, tmp_path, chats)
        env = environment(
            database_url, server, PUSH_DEADLINE_SECONDS="2", PUSH_PROGRESS_SECONDS="0.5"
        )
        queued = run_cli(
            ["queue", "add", str(DATA_DIR / "front_matter_review.md")],
            tmp_path,
            **env,
        )
        assert queued.returncode == 0, queued.stderr
        server.fail_next("sendMessage", count=1_000_000, status=429, retry_after=1)

        try:
            stopped = run_cli(["push"], tmp_path, timeout=TEST_TIMEOUT, **env)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`paperbot push` was still waiting after {TEST_TIMEOUT} s")
        assert stopped.returncode != 0
        assert "Traceback" not in stopped.stderr
        assert "waiting for 429 retry_after 1s" in stopped.stderr
        assert (
            stopped.stderr.strip()
            .splitlines()[-1]
            .startswith("Error: push #1 stopped at its deadline")
        )
        assert "5 deliveries left pending" in stopped.stderr

        server.clear_failures()
        resumed = run_cli(["push"], tmp_path, **env)
        assert resumed.returncode == 0, resumed.stderr
        assert received(server) == Counter(dict.fromkeys(chats, 1))
