"""Done-when of the runtime issue: three `paperbot run` processes started at the same
moment on a fresh PostgreSQL schema, Telegram (the fake Bot API) in polling mode.

All come up (every process migrates under the advisory lock); /healthz shows exactly
one leader; only the leader's log shows the jobs scheduled. An editor's push request
starts a push over slow sends; SIGKILL the leader mid-push: another process reports
`leader` (epoch 2) and finishes the push, so every subscriber has exactly one `sent`
delivery, and the only duplicate messages are those the dead leader had in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import Core, build_core
from bot.core.push_requests import Requester
from bot.core.sources import read_source
from bot.db.models import Delivery
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.network import free_port
from tests.support.paths import DATA_DIR
from tests.support.replicas import last_epoch
from tests.support.stores import make_settings
from tests.test_push import LONG_AGO, received, received_by_readers, subscribe

PAPERBOT = Path(sys.executable).parent / "paperbot"
LEASE = 3.0
CONCURRENCY = 4
CHATS = range(5000, 5150)


def _environment(database_url: str, fake: FakeTelegramServer, tmp_path: Path) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "ADMIN_", "PUSH_", "LEADER_"))
    }
    return {
        **clean,
        "TELEGRAM_BOT_TOKEN": "123:THREE",
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LEADER_LEASE_SECONDS": str(LEASE),
        # A dead leader's claims come back soon, so the new leader need not wait long; but
        # not so soon that a live process's own heartbeat (every third of the lease), late
        # on a loaded two-core CI machine, lets its claims lapse while they are in flight
        # (seen at 2 s: 9 duplicates, the first row of several claims of 25).
        "PUSH_LEASE_SECONDS": "6",
        "PUSH_CONCURRENCY": str(CONCURRENCY),
    }


def _poll(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """The condition's first value that is neither None nor False. (Not "truthy": the
    new leader may be process 0, and 0 is an answer; taking it for "not yet" failed
    this test whenever the first process won the takeover.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value is not None and value is not False:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def _health(port: int) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    # A degraded process (503: e.g. a channel retrying its start) still says its role.
    return response.json() if response.status_code in (200, 503) else None


def _roles(ports: list[int]) -> list[str | None]:
    return [(health or {}).get("role") for health in map(_health, ports)]


def _all_up_with_a_leader(ports: list[int]) -> list[str | None] | None:
    roles = _roles(ports)
    return roles if None not in roles and "leader" in roles else None


def _sent_per_subscriber(core: Core) -> Counter[int]:
    with core.sessions() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, func.count())
            .where(Delivery.status == "sent")
            .group_by(Delivery.subscriber_id)
        ).tuples()
        return Counter(dict(rows.all()))


def _start_a_push(core: Core) -> None:
    """What an editor's /publish does: a review due now and a push request for it."""
    for chat_id in CHATS:
        subscribe(core, chat_id, when=LONG_AGO)
    [parsed] = read_source(DATA_DIR / "front_matter_review.md")
    review = core.editorial.queue(parsed, None).review  # the next push publishes it
    core.push_requests.record(Requester("telegram", "9000"), "publish", (review.id,))


@pytest.mark.postgres
def test_three_runs_one_leader_and_a_killed_leader_s_push_completes(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    with FakeTelegramServer(latency=0.05) as fake:
        env = _environment(postgres_schema_url, fake, tmp_path)
        ports = [free_port() for _ in range(3)]
        logs = [tmp_path / f"run-{n}.log" for n in range(3)]
        processes = [
            subprocess.Popen(
                [str(PAPERBOT), "run"],
                cwd=tmp_path,
                env={**env, "HTTP_PORT": str(port)},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            for port, log in zip(ports, logs, strict=True)
        ]
        core: Core | None = None
        try:
            # All three come up on the fresh schema, and exactly one leads.
            roles = _poll(
                lambda: _all_up_with_a_leader(ports), 120, "all three answering with a leader"
            )
            assert sorted(roles) == ["follower", "follower", "leader"], roles
            assert all(process.poll() is None for process in processes)
            leader = roles.index("leader")
            time.sleep(LEASE)  # several renewals later, still one leader
            assert _roles(ports).count("leader") == 1
            texts = [log.read_text(errors="replace") for log in logs]
            assert ["jobs scheduled" in text for text in texts] == [n == leader for n in range(3)]

            core = build_core(make_settings(postgres_schema_url, tmp_path))
            _start_a_push(core)
            # Mid-push (sends are slow), the leader dies without a word.
            _poll(lambda: sum(received(fake).values()) >= 30, 90, "the push under way")
            processes[leader].send_signal(signal.SIGKILL)
            processes[leader].wait(timeout=10)
            survivors = [n for n in range(3) if n != leader]

            def new_leader() -> int | None:
                roles = _roles([ports[n] for n in survivors])
                return survivors[roles.index("leader")] if "leader" in roles else None

            # The lease runs out after LEASE; a survivor's next campaign takes it. On a
            # loaded CI machine a survivor's /healthz can take seconds to answer (its loop
            # also starts the unfinished push), so the wait is generous; the takeover's
            # order is checked by the epoch below, not by this bound.
            successor = _poll(new_leader, LEASE * 20, "a survivor reporting leader")
            dead_epoch = last_epoch(logs[leader].read_text(errors="replace"))
            assert dead_epoch >= 1
            assert last_epoch(logs[successor].read_text(errors="replace")) > dead_epoch
            assert _roles([ports[n] for n in survivors]).count("leader") == 1

            _poll(
                lambda: len(_sent_per_subscriber(core)) == len(CHATS),
                120,
                "every subscriber served",
            )
            sent = _sent_per_subscriber(core)
            assert set(sent.values()) == {1}  # exactly one sent delivery each
            messages = received_by_readers(fake, CHATS)
            assert set(messages) == set(CHATS)  # no miss
            duplicates = sum(count - 1 for count in messages.values())
            assert duplicates <= CONCURRENCY, messages.most_common(5)  # at most in flight
        finally:
            if core is not None:
                core.close()
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
        for n in survivors:
            assert processes[n].returncode == 0, logs[n].read_text(errors="replace")
