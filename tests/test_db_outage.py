"""A database outage does not end a push (issue #8, point 3).

The outage is real but local: the process under test reaches PostgreSQL through a TCP
proxy (tests/support_tcp_proxy.py) that closes every connection and refuses new ones
for a few seconds. The machine's PostgreSQL itself is never stopped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.app import Core, build_core
from bot.db.engine import make_engine
from bot.db.models import Delivery, PushRun, Subscriber
from bot.db.retry import OUTAGE, DatabaseUnavailableError, DbRetry
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.network import free_port
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings
from tests.support.tcp_proxy import TcpProxy
from tests.test_push import LONG_AGO, push, push_settings, queue_now, received, subscribe

PAPERBOT = Path(sys.executable).parent / "paperbot"
OUTAGE_SECONDS = 6.0


def add_dead_run(core: Core) -> int:
    """A `running` row whose process died an hour ago (its heartbeat stopped then)."""
    with core.sessions.begin() as session:
        run = PushRun(
            trigger="crashed",
            started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
            status="running",
            seconds=5.0,
        )
        session.add(run)
        session.flush()
        return run.id


def runs(core: Core) -> dict[int, str]:
    with core.sessions() as session:
        return {run.id: run.status for run in session.scalars(select(PushRun))}


# --- in process, both backends ---------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


async def test_a_push_closes_a_dead_runs_row(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    core = build_core(push_settings(database_url, tmp_path, server), seed=True)
    try:
        for chat_id in (101, 102):
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core)
        dead = add_dead_run(core)
        summary = await push(core)
        assert summary.deliveries_sent == 2
        assert runs(core) == {dead: "interrupted", summary.run_id: "done"}
    finally:
        core.close()


async def test_a_live_runs_row_is_left_alone(
    database_url: str, tmp_path: Path, server: FakeTelegramServer
) -> None:
    """Another process's push whose heartbeat is fresh is not closed by ours."""
    core = build_core(push_settings(database_url, tmp_path, server), seed=True)
    try:
        with core.sessions.begin() as session:
            live = PushRun(trigger="other", started_at=dt.datetime.now(dt.UTC), status="running")
            session.add(live)
            session.flush()
            live_id = live.id
        summary = await push(core)
        assert runs(core) == {live_id: "running", summary.run_id: "done"}
    finally:
        core.close()


# --- the retry helper against a real disconnect ----------------------------------------


@pytest.mark.postgres
def test_retry_rides_out_an_outage_on_fresh_connections(postgres_schema_url: str) -> None:
    with TcpProxy() as proxy:
        engine = make_engine(proxy.url(postgres_schema_url))
        with engine.connect() as connection:  # a pooled connection the outage will kill
            assert connection.execute(text("SELECT 1")).scalar_one() == 1

        def select_one() -> int:
            with engine.connect() as connection:
                return int(connection.execute(text("SELECT 1")).scalar_one())

        proxy.cut()
        with pytest.raises(DatabaseUnavailableError, match="while selecting"):
            DbRetry(patience=0.5, base_delay=0.1).run(select_one, "selecting")

        async def come_back_later() -> None:
            await asyncio.sleep(1.5)
            proxy.restore()

        async def scenario() -> int:
            back = asyncio.create_task(come_back_later())
            result = await DbRetry(patience=30, base_delay=0.1).arun(select_one, "selecting")
            await back
            return result

        assert asyncio.run(scenario()) == 1
        engine.dispose()


@pytest.mark.postgres
def test_an_outage_is_logged_once_however_many_units_retry(
    postgres_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Four units of work retrying through one outage (a push's senders): one WARNING,
    the other failures at DEBUG, one INFO when the database answers (bot.db.retry.OUTAGE)."""
    OUTAGE.answered()  # no outage left open by an earlier test in this process
    with TcpProxy() as proxy:
        engine = make_engine(proxy.url(postgres_schema_url))

        def select_one() -> int:
            with engine.connect() as connection:
                return int(connection.execute(text("SELECT 1")).scalar_one())

        assert select_one() == 1
        proxy.cut()

        async def scenario() -> list[int]:
            async def come_back_later() -> None:
                await asyncio.sleep(1.5)
                proxy.restore()

            back = asyncio.create_task(come_back_later())
            retry = DbRetry(patience=30, base_delay=0.1, max_delay=0.2)
            results = await asyncio.gather(*(retry.arun(select_one, f"unit {n}") for n in range(4)))
            await back
            return list(results)

        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="bot.db.retry"):
            assert asyncio.run(scenario()) == [1, 1, 1, 1]
        engine.dispose()
    records = [r for r in caplog.records if r.name == "bot.db.retry"]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    debugs = [r for r in records if r.levelno == logging.DEBUG]
    assert len(warnings) == 1 and "database error while unit" in warnings[0], warnings
    assert len(infos) == 1 and infos[0].startswith("database answers again after"), infos
    assert len(debugs) >= 4, "every unit failed more than once while the database was away"
    assert not OUTAGE.open


@pytest.mark.postgres
async def test_a_push_stopped_in_an_outage_writes_its_sends_once_the_database_is_back(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """A leader stepping down while the database is away cancels its push with sends
    done but not recorded. Once the database answers, that process writes them (and
    closes the run) long before their claims' lease runs out, so the next leader does
    not send them again."""
    chats = range(7000, 7200)
    with FakeTelegramServer(latency=0.05) as server, TcpProxy() as proxy:
        settings = push_settings(
            proxy.url(postgres_schema_url),
            tmp_path,
            server,
            push_concurrency=4,
            push_lease_seconds=60.0,  # the claims outlive the test: only the writer helps
        )
        core = build_core(settings, seed=True)
        try:
            for chat_id in chats:
                subscribe(core, chat_id, when=LONG_AGO)
            queue_now(core)
            running = asyncio.create_task(push(core))
            while sum(received(server).values()) < 20:
                await asyncio.sleep(0.02)
            proxy.cut()
            await asyncio.sleep(0.5)  # the sends in flight end; their records fail
            running.cancel()  # what the leader's step-down does to its push
            with pytest.raises(asyncio.CancelledError):
                await running
            sent = set(received(server))
            proxy.restore()

            direct = make_engine(postgres_schema_url)  # the test's view, not via the proxy
            try:

                def recorded() -> tuple[set[int], list[str]]:
                    with direct.connect() as connection:
                        chats_sent = {
                            int(chat)
                            for chat in connection.execute(
                                select(Subscriber.chat_id)
                                .join(Delivery, Delivery.subscriber_id == Subscriber.id)
                                .where(Delivery.status == "sent")
                            ).scalars()
                        }
                        statuses = list(connection.execute(select(PushRun.status)).scalars())
                    return chats_sent, statuses

                deadline = time.monotonic() + 15
                while recorded() != (sent, ["interrupted"]) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                chats_sent, statuses = recorded()
            finally:
                direct.dispose()
        finally:
            core.close()
    print(f"{len(sent)} chats messaged before the cancel; {len(chats_sent)} recorded sent")
    assert chats_sent == sent, sorted(sent ^ chats_sent)
    assert statuses == ["interrupted"]


# --- real processes through the proxy --------------------------------------------------


def prepare(database_url: str, tmp_path: Path, chats: range, *, plan: bool) -> int:
    """Subscribers and a review due; with `plan`, planned (so a starting bot catches up).
    Returns the id of a dead run's row left `running`."""
    core = build_core(make_settings(database_url, tmp_path), seed=True)
    try:
        for chat_id in chats:
            subscribe(core, chat_id, when=LONG_AGO)
        queue_now(core, DATA_DIR / "front_matter_review.md")
        if plan:
            core.push.publish_due()
            core.push.plan("telegram")
        return add_dead_run(core)
    finally:
        core.close()


def spawn(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "PUSH_", "ARXIV_", "DB_"))
    }
    return subprocess.Popen(
        [str(PAPERBOT), *args],
        cwd=tmp_path,
        env={**clean, "DATA_DIR": str(tmp_path / "data"), "HTTP_PORT": str(free_port()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def environment(database_url: str, server: FakeTelegramServer, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": "123:OUTAGE",
        "TELEGRAM_API_BASE_URL": server.base_url,
        "PUSH_MAX_PER_SECOND": "40",
        "PUSH_CONCURRENCY": "4",
        **extra,
    }


def outage_after(server: FakeTelegramServer, proxy: TcpProxy, messages: int) -> int:
    """Once `messages` push messages went out, cut the database off for a while."""
    server.wait_for(
        lambda calls: sum(c.method == "sendMessage" and c.ok for c in calls) >= messages,
        timeout=60,
    )
    proxy.cut()
    at_cut = len(server.sent_messages())
    time.sleep(OUTAGE_SECONDS)
    proxy.restore()
    return at_cut


@pytest.mark.postgres
@pytest.mark.parametrize("record_batch", [1, 16])
def test_push_process_rides_out_a_database_restart(
    postgres_schema_url: str, tmp_path: Path, record_batch: int
) -> None:
    chats = range(6000, 6200)
    dead = prepare(postgres_schema_url, tmp_path, chats, plan=False)
    with FakeTelegramServer(latency=0.002) as server, TcpProxy() as proxy:
        env = environment(
            proxy.url(postgres_schema_url), server, PUSH_RECORD_BATCH=str(record_batch)
        )
        process = spawn(["push"], tmp_path, env)
        at_cut = outage_after(server, proxy, 50)
        _stdout, stderr = process.communicate(timeout=180)
    print(f"cut after {at_cut} messages; {proxy.connections} connections through the proxy")
    assert at_cut < len(chats), "the push finished before the outage"
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "database error while" in stderr, "the outage was not noticed"
    assert received(server) == Counter(dict.fromkeys(chats, 1))
    core = build_core(make_settings(postgres_schema_url, tmp_path), seed=False)
    try:
        statuses = runs(core)
        assert statuses.pop(dead) == "interrupted"
        assert list(statuses.values()) == ["done"]
    finally:
        core.close()


@pytest.mark.postgres
def test_push_process_gives_up_with_one_line_then_a_rerun_finishes(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    chats = range(6500, 6700)
    concurrency = 4
    prepare(postgres_schema_url, tmp_path, chats, plan=False)
    with FakeTelegramServer(latency=0.002) as server, TcpProxy() as proxy:
        env = environment(
            proxy.url(postgres_schema_url),
            server,
            DB_RETRY_SECONDS="3",
            PUSH_LEASE_SECONDS="2",
            PUSH_CONCURRENCY=str(concurrency),
        )
        process = spawn(["push"], tmp_path, env)
        server.wait_for(
            lambda calls: sum(c.method == "sendMessage" and c.ok for c in calls) >= 50, 60
        )
        proxy.cut()  # and it does not come back while this push lives
        _stdout, stderr = process.communicate(timeout=120)
        at_exit = sum(received(server).values())
        assert process.returncode == 1, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        [error] = [line for line in stderr.splitlines() if line.startswith("Error:")]
        assert "push stopped: database unavailable" in error, error
        assert "run `paperbot push` again" in error

        proxy.restore()
        time.sleep(2.5)  # the dead process's claims outlive their (short) lease
        rerun = spawn(["push"], tmp_path, env)
        _, rerun_err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, rerun_err[-3000:]
    counts = received(server)
    duplicates = sum(count - 1 for count in counts.values())
    print(f"gave up after {at_exit} messages; {duplicates} duplicates after the rerun")
    assert set(counts) == set(chats), "a subscriber was skipped"
    # Only the subscribers in flight when the database went away: one per sender.
    assert duplicates <= concurrency, counts.most_common(10)
    core = build_core(make_settings(postgres_schema_url, tmp_path), seed=False)
    try:
        assert sorted(runs(core).values()) == ["done", "interrupted", "interrupted"]
    finally:
        core.close()


def wait_until_a_run_is_done(database_url: str, tmp_path: Path, timeout: float = 60) -> None:
    core = build_core(make_settings(database_url, tmp_path), upgrade=False, seed=False)
    try:
        deadline = time.monotonic() + timeout
        while "done" not in runs(core).values():
            assert time.monotonic() < deadline, f"no push run finished: {runs(core)}"
            time.sleep(0.2)
    finally:
        core.close()


@pytest.mark.postgres
def test_running_bot_resumes_a_push_the_database_interrupted(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """Shorter patience than the outage: the push inside `paperbot run` gives up, and the
    running bot starts it again by itself once the database answers."""
    chats = range(7000, 7200)
    dead = prepare(postgres_schema_url, tmp_path, chats, plan=True)
    with FakeTelegramServer(latency=0.002) as server, TcpProxy() as proxy:
        env = environment(proxy.url(postgres_schema_url), server, DB_RETRY_SECONDS="2")
        bot = spawn(["run"], tmp_path, env)
        try:
            at_cut = outage_after(server, proxy, 50)
            server.wait_for(lambda _: set(received(server)) >= set(chats), timeout=150)
            wait_until_a_run_is_done(postgres_schema_url, tmp_path)
            assert bot.poll() is None, "the bot stopped"
        finally:
            bot.send_signal(signal.SIGTERM)
            _, stderr = bot.communicate(timeout=60)
    print(f"cut after {at_cut} messages")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "resuming in" in stderr, "the push was not interrupted (outage too short?)"
    counts = received(server)
    duplicates = sum(count - 1 for count in counts.values())
    assert set(counts) == set(chats)
    assert duplicates <= 8, counts.most_common(10)
    core = build_core(make_settings(postgres_schema_url, tmp_path), seed=False)
    try:
        statuses = runs(core)
        assert statuses.pop(dead) == "interrupted"
        # The interrupted catch-up push, then the one the bot resumed by itself.
        first, *_, last = sorted(statuses)
        assert (statuses[first], statuses[last]) == ("interrupted", "done"), statuses
        assert "running" not in statuses.values(), statuses
    finally:
        core.close()
