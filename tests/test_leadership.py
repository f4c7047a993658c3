"""One leader for scheduled work: a lease row with an epoch, on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.core.leadership import LeaderElector, LeaseStore
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import LeaderLease, utcnow
from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.network import free_port
from tests.support.tcp_proxy import TcpProxy

READER = make_user(1001, "读者", language_code="zh-hans")

LEASE = 1.5


@dataclass
class Record:
    """What an elector's callbacks saw, and when (UTC)."""

    elected: list[int] = field(default_factory=list)
    demoted: list[tuple[int, dt.datetime]] = field(default_factory=list)


def elector(sessions: sessionmaker[Session], record: Record, lease: float = LEASE) -> LeaderElector:
    async def on_elected(epoch: int) -> None:
        record.elected.append(epoch)

    async def on_demoted(epoch: int) -> None:
        record.demoted.append((epoch, utcnow()))

    return LeaderElector(LeaseStore(sessions), lease, on_elected, on_demoted)


@pytest.fixture
def engines(database_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two processes' engines on one migrated database."""
    first, second = make_engine(database_url), make_engine(database_url)
    migrate.upgrade(first)
    yield first, second
    first.dispose()
    second.dispose()


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def lease_row(sessions: sessionmaker[Session]) -> LeaderLease:
    with sessions() as session:
        row = session.get(LeaderLease, "scheduler")
        assert row is not None
        return row


async def test_exactly_one_of_two_leads_and_the_other_takes_over_a_crash(
    engines: tuple[Engine, Engine],
) -> None:
    sessions = [make_session_factory(engine) for engine in engines]
    records = [Record(), Record()]
    electors = [elector(s, r) for s, r in zip(sessions, records, strict=True)]
    tasks = [e.start() for e in electors]
    try:
        await wait_until(lambda: any(e.is_leader for e in electors))
        # Several renewal periods: never two leaders, and the same one throughout.
        leaders = set()
        for _ in range(30):
            assert sum(e.is_leader for e in electors) == 1
            leaders.add(next(i for i, e in enumerate(electors) if e.is_leader))
            await asyncio.sleep(0.1)
        assert len(leaders) == 1
        [leader] = leaders
        follower = 1 - leader
        first_epoch = electors[leader].epoch
        assert first_epoch is not None and records[follower].elected == []

        # A crash: the leader's task ends without releasing its lease or stepping down.
        tasks[leader].cancel()
        expires = lease_row(sessions[leader]).expires_at
        # The lease must run out first; then the follower's next campaign (every third of
        # the lease, late on a loaded CI machine) takes it: generous, it bounds a hang.
        await wait_until(lambda: electors[follower].is_leader, timeout=30 + 10 * LEASE)
        taken_at = utcnow()
        assert taken_at >= expires  # not before the crashed leader's lease ran out
        assert records[follower].elected == [first_epoch + 1]
        assert lease_row(sessions[follower]).epoch == first_epoch + 1
    finally:
        for e in electors:
            await e.stop()


async def test_a_clean_stop_hands_the_lease_over_at_once(
    engines: tuple[Engine, Engine],
) -> None:
    sessions = [make_session_factory(engine) for engine in engines]
    records = [Record(), Record()]
    # A long lease: the handover must not wait for it to expire.
    electors = [elector(s, r, lease=9.0) for s, r in zip(sessions, records, strict=True)]
    electors[0].start()
    await wait_until(lambda: electors[0].is_leader)
    electors[1].start()
    try:
        await asyncio.sleep(0.3)
        assert not electors[1].is_leader
        await electors[0].stop()
        assert [epoch for epoch, _ in records[0].demoted] == records[0].elected
        await wait_until(lambda: electors[1].is_leader, timeout=15.0)
        assert records[1].elected == [records[0].elected[0] + 1]
    finally:
        for e in electors:
            await e.stop()


async def test_a_leader_told_of_a_newer_epoch_steps_down(
    engines: tuple[Engine, Engine],
) -> None:
    """Another process took the lease (its clock, or a long pause of ours): the next
    renewal fails and the old leader steps down, leaving the new one in place."""
    sessions = make_session_factory(engines[0])
    record = Record()
    leader = elector(sessions, record)
    leader.start()
    try:
        await wait_until(lambda: leader.is_leader)
        with sessions() as session:
            row = session.get(LeaderLease, "scheduler")
            assert row is not None
            row.holder, row.epoch = "someone-else", row.epoch + 1
            row.expires_at = utcnow() + dt.timedelta(seconds=60)
            session.commit()
        await wait_until(lambda: not leader.is_leader, timeout=LEASE * 2)
        assert len(record.demoted) == 1
        assert lease_row(sessions).holder == "someone-else"
    finally:
        await leader.stop()


@pytest.mark.postgres
async def test_a_leader_whose_database_is_away_steps_down_before_its_lease_ends(
    postgres_schema_url: str,
) -> None:
    lease = 3.0
    direct = make_engine(postgres_schema_url)
    migrate.upgrade(direct)
    with TcpProxy() as proxy:
        engine = make_engine(proxy.url(postgres_schema_url))
        record = Record()
        leader = elector(make_session_factory(engine), record, lease=lease)
        leader.start()
        try:
            await wait_until(lambda: leader.is_leader)
            await asyncio.sleep(lease / 2)
            proxy.cut()
            cut_at = utcnow()
            await wait_until(lambda: record.demoted != [], timeout=lease * 2)
            [(epoch, demoted_at)] = record.demoted
            expires = lease_row(make_session_factory(direct)).expires_at
            assert epoch == record.elected[0]
            assert demoted_at < expires, (cut_at, demoted_at, expires)
            assert not leader.is_leader
        finally:
            proxy.restore()
            await leader.stop(release=False)
            engine.dispose()
    direct.dispose()


# --- two real `paperbot run` processes on one database ---------------------------------


def _start_run(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "paperbot"), "run"],
        cwd=cwd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_for_text(logs: list[Path], needle: str, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [i for i, log in enumerate(logs) if needle in log.read_text(errors="replace")]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} in no log: " + "\n---\n".join(p.read_text() for p in logs))


@pytest.mark.postgres
def test_two_paperbot_runs_schedule_jobs_once_and_the_survivor_takes_over(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    lease = 3.0
    with FakeTelegramServer() as fake:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))},
            "TELEGRAM_BOT_TOKEN": "123:LEADER",
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "DATABASE_URL": postgres_schema_url,
            "DATA_DIR": str(tmp_path / "data"),
            "LEADER_LEASE_SECONDS": str(lease),
        }
        logs = [tmp_path / "one.log", tmp_path / "two.log"]
        # Each process serves HTTP: each on a port of its own.
        processes = [
            _start_run({**env, "HTTP_PORT": str(free_port())}, tmp_path, log) for log in logs
        ]
        try:
            [leader] = _wait_for_text(logs, "jobs scheduled", 90)
            follower = 1 - leader
            # Both are up, and several leases later the follower has still scheduled nothing.
            _wait_for_text([logs[follower]], "is up", 60)
            time.sleep(lease * 2)
            assert "jobs scheduled" not in logs[follower].read_text()
            # Only the leader polls; the follower never started polling.
            assert "the leader polls Telegram" in logs[leader].read_text()
            assert "the leader polls Telegram" not in logs[follower].read_text()
            assert "stepping down" not in logs[leader].read_text()

            processes[leader].send_signal(signal.SIGKILL)
            processes[leader].wait(timeout=10)
            _wait_for_text([logs[follower]], "jobs scheduled", lease * 4)
            assert "epoch 2" in logs[follower].read_text()
            # The new leader polls Telegram and answers.
            _wait_for_text([logs[follower]], "the leader polls Telegram", lease * 2)
            fake.push_update(message_update(READER, "/latest"))
            fake.wait_for(
                lambda calls: any(
                    c.method == "sendMessage" and "最新论文解读" in str(c.params.get("text"))
                    for c in calls
                ),
                30,
            )
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=30)
        assert processes[follower].returncode == 0, logs[follower].read_text()
