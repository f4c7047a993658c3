"""PostgreSQL restarted in the middle of a push (issue 13, point 2, last part).

The deployment of tests/test_replica_faults.py (three `paperbot run` replicas in webhook
mode behind the test's nginx from deploy/, the fake Telegram), but on a private
PostgreSQL the test starts itself (tests/support/private_postgres.py), never the
machine's shared one. The leader pushes to PUSH_READERS readers; once a third of them
have their message, the server is stopped (`pg_ctl stop -m fast`: every connection
terminated; `-m immediate`: no shutdown checkpoint, crash recovery at the start), left
down for DOWN_SECONDS and started again on the same port. Asserted, with nobody
restarting anything but the database:

* every replica process is still the one the test started (none exited);
* each reconnects by itself: its /healthz says `ok` with the database reachable, and
  its heartbeat row in `replicas` is written again after the restart;
* there is a leader again (the same one, or another after a step-down) and the push
  completes: every reader has exactly one `sent` delivery and its message, none missed,
  duplicates at most PUSH_CONCURRENCY (the README's crash bound: messages in flight);
* no replica logged a traceback; each logged the outage (one WARNING when it began,
  one INFO when the database answered again: bot/db/retry.py's OUTAGE) and at most
  OUTAGE_LINES warnings about the database, the lease or a heartbeat in all.

The lease is short (3 s, as in the takeover test), so a restart of 2-3 s usually makes
the leader step down and another replica (or the same one) is elected and finishes the
push. The deposed leader's sends in flight, unrecorded while the database was away, are
written by it once the database answers (bot/core/push.py, `_write_backlog`), before
their claims expire: 0 duplicates in 11 of 12 runs measured, 1 in the other (4, the
bound, in every run before that fix). The assertion is the documented bound, not 0:
on a loaded machine the database may come back after the claims' lease. With the
default 15 s lease the leader rides the restart out.

600 readers rather than 2,000: the bot paces Telegram's 30 msg/s, so 2,000 would take
70 s of pushing alone; 600 take ~20 s, a third of them before the restart, and the test
stays near a minute (PostgreSQL's init and three replicas' start take the rest). The
counts are printed and shown in the run's "counts" section (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from bot.app import Core, build_core
from bot.core.push_requests import Requester
from bot.core.sources import read_source
from bot.db.models import Delivery, Replica
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.paths import DATA_DIR
from tests.support.private_postgres import PrivatePostgres, StopMode
from tests.support.replicas import sent_per_reader, webhook_replicas
from tests.support.stores import make_settings
from tests.test_push import received, received_by_readers
from tests.test_push_scaling import add_subscribers

TOKEN = "123:PGRESTART"
PUBLIC_URL = "https://bot.example.org/telegram/webhook"
SECRET = "pgrestart_Secret-13"
REPLICAS = 3
LEASE = 3.0
#: Messages a push has in flight: the documented duplicate bound (README).
PUSH_CONCURRENCY = 4
PUSH_READERS = range(20_000, 20_600)
DOWN_SECONDS = 2.0
#: WARNING lines about the database, the lease or a heartbeat one replica may log for
#: one outage: the outage itself (bot/db/retry.py's OUTAGE, once for all its duties), a
#: leader's step-down, one slow renewal. A line per retry (every 0.25-2 s per sender,
#: lease and heartbeat, as before) is ten times that.
OUTAGE_LINES = 3

# Its own xdist group: it runs beside the other heavy tests, on its own server.
pytestmark = [pytest.mark.xdist_group("replica-pg-restart")]


@dataclass
class Deployment:
    postgres: PrivatePostgres
    fake: FakeTelegramServer
    replicas: list[subprocess.Popen[str]]
    logs: list[Path]
    ports: list[int]


@pytest.fixture
def deployment(private_pg: PrivatePostgres, tmp_path: Path) -> Iterator[Deployment]:
    with (
        FakeTelegramServer(webhook_retry_base=0.2, webhook_retry_cap=2.0) as fake,
        webhook_replicas(
            tmp_path,
            private_pg.url,
            fake,
            count=REPLICAS,
            token=TOKEN,
            secret=SECRET,
            public_url=PUBLIC_URL,
            health_timeout=120,
            LEADER_LEASE_SECONDS=str(LEASE),
            PUSH_LEASE_SECONDS="6",
            PUSH_CONCURRENCY=str(PUSH_CONCURRENCY),
        ) as replicas,
    ):
        yield Deployment(private_pg, fake, replicas.processes, replicas.logs, replicas.ports)


def _health(port: int) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def _reconnected(port: int) -> bool:
    """/healthz answers 200, `ok`, with the database reachable (it always answers 200;
    a replica that lost the database says `degraded`)."""
    health = _health(port)
    return health is not None and health["status"] == "ok" and bool(health["database"]["reachable"])


def _poll(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    state: Callable[[], object] | None = None,
) -> Any:
    """The condition's first true value; a database error while polling (the test's
    own engine across the restart) counts as "not yet". On a timeout the message has
    the last error and `state()`, what the condition looked at."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as exc:
            value, last_error = None, exc
        if value is not None and value is not False:
            return value
        time.sleep(0.25)
    seen = state() if state is not None else None
    raise AssertionError(f"not within {timeout:.0f} s: {what}; last error {last_error!r}; {seen}")


def _heartbeats(core: Core) -> dict[str, dt.datetime]:
    with core.sessions() as session:
        return {r.holder: r.heartbeat_at for r in session.scalars(select(Replica))}


def _activity(core: Core) -> list[tuple[Any, ...]]:
    """What the server's other sessions are doing (state, what they wait for, since
    when, their query): for a timed-out wait, whether a heartbeat waited on a lock."""
    with core.sessions() as session:
        rows = session.execute(
            sql(
                "SELECT pid, state, wait_event_type, wait_event, xact_start, left(query, 120)"
                " FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname IS NOT NULL"
            )
        )
        return [tuple(row) for row in rows]


def _served(core: Core) -> bool:
    with core.sessions() as session:
        count = session.scalar(
            select(func.count(func.distinct(Delivery.subscriber_id))).where(
                Delivery.status == "sent"
            )
        )
    return count == len(PUSH_READERS)


def _outage_lines(log: str) -> int:
    return sum(
        1
        for line in log.splitlines()
        if ("WARNING" in line or "ERROR" in line)
        and ("database" in line.lower() or "lease" in line or "heartbeat" in line)
    )


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_mid_push_every_replica_reconnects_and_the_push_completes(
    deployment: Deployment,
    tmp_path: Path,
    mode: StopMode,
    record_property: Callable[[str, object], None],
) -> None:
    fake = deployment.fake
    ports = deployment.ports
    _poll(lambda: any((_health(p) or {}).get("role") == "leader" for p in ports), 60, "a leader")
    core = build_core(make_settings(deployment.postgres.url, tmp_path))
    try:
        holders = _poll(
            # None, not {}, until every replica beat: `_poll` takes any value but None
            # and False (a leader's index may be 0), so an empty table is "not yet".
            lambda: beats if len(beats := _heartbeats(core)) == REPLICAS else None,
            30,
            "a heartbeat from every replica",
        )
        add_subscribers(core, "telegram", len(PUSH_READERS), start=PUSH_READERS.start)
        [parsed] = read_source(DATA_DIR / "front_matter_review.md")
        review = core.editorial.queue(parsed, None).review  # the next push publishes it
        core.push_requests.record(Requester("telegram", "9000"), "publish", (review.id,))

        _poll(
            lambda: sum(received(fake).values()) >= len(PUSH_READERS) // 3,
            300,
            "a third of the push sent",
        )
        sent_before = sum(received(fake).values())
        stopped_at = dt.datetime.now(dt.UTC)
        down = deployment.postgres.restart(mode, DOWN_SECONDS)
        restarted = time.monotonic()
        sent_while_down = sum(received(fake).values()) - sent_before

        for port in ports:
            _poll(
                lambda port=port: _reconnected(port),
                60,
                f"replica :{port} reconnected",
                lambda port=port: _health(port),
            )
        reconnected_in = time.monotonic() - restarted
        _poll(
            lambda: (
                all(at > stopped_at for at in _heartbeats(core).values())
                and set(_heartbeats(core)) == set(holders)
            ),
            60,
            f"every replica's heartbeat written again after {stopped_at:%H:%M:%S.%f}",
            lambda: (_heartbeats(core), sorted(holders), _activity(core)),
        )
        leader = _poll(
            lambda: next(
                (n for n, p in enumerate(ports) if (_health(p) or {}).get("role") == "leader"),
                None,
            ),
            LEASE * 20,
            "a leader after the restart",
        )
        _poll(lambda: _served(core), 300, "every reader served")
        per_reader = sent_per_reader(core)
    finally:
        core.close()
    messages = received_by_readers(fake, PUSH_READERS)
    duplicates = sum(count - 1 for count in messages.values())
    missed = set(PUSH_READERS) - set(messages)
    logs = [log.read_text(encoding="utf-8", errors="replace") for log in deployment.logs]
    outage_lines = [_outage_lines(text) for text in logs]
    elected = sum(text.count("elected leader") for text in logs)
    counts = (
        f"PostgreSQL restart (-m {mode}) mid-push: {len(PUSH_READERS)} readers over "
        f"{REPLICAS} replicas; stopped after {sent_before} messages, down {down:.1f} s "
        f"({sent_while_down} sent meanwhile); all replicas reconnected {reconnected_in:.1f} s "
        f"after the start; {elected} elections in all, leader now replica {leader}; "
        f"{sum(messages.values())} messages, {duplicates} duplicates "
        f"(bound {PUSH_CONCURRENCY}), {len(missed)} missed; "
        f"database warnings per replica {outage_lines}"
    )
    print("\n" + counts)
    record_property("counts", counts)
    assert sent_before < len(PUSH_READERS), "the push was over before the restart"
    for process, text in zip(deployment.replicas, logs, strict=True):
        assert process.poll() is None, text  # still the process the test started
        assert "Traceback" not in text, text
        # Each one saw the outage and saw it end (the restart really cut it off).
        assert "database error while" in text and "database answers again" in text, text
    assert set(per_reader.values()) == {1}  # exactly one sent delivery each
    assert missed == set() and set(messages) == set(PUSH_READERS)
    assert duplicates <= PUSH_CONCURRENCY, messages.most_common(5)
    assert max(outage_lines) <= OUTAGE_LINES, logs
    assert fake.rejected_calls() == []
