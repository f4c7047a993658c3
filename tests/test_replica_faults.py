"""Replicas under a fault, deployed the way an operator runs them (issue 13, point 2).

Three `paperbot run` replicas in webhook mode on one fresh PostgreSQL schema, behind the
test's nginx rendered from deploy/nginx; the fake Telegram delivers updates through nginx
as Telegram does (a chat's next update only after a 2xx, retries with backoff on errors
and timeouts). 1,000 updates from 200 chats, one replica SIGKILLed in the middle:

* every update is answered (the fake ends with none pending, each one's last POST 2xx);
* none is lost and each chat's replies come in the order of its updates;
* duplicates (an update the killed replica answered but never acknowledged, handled
  again on a survivor when Telegram resent it) are at most the updates that were in
  flight on the killed replica: the POSTs started before the kill that ended without a
  2xx (nginx answers 502 for them; it never resends a POST a replica may have started).

The same deployment pushes 5,000 deliveries and its leader is SIGKILLed halfway: a
survivor is elected and finishes the push, no reader missed, duplicates at most
PUSH_CONCURRENCY (the README's bound: the messages a push has in flight).

The counts are printed, and shown in the run's "counts" section (tests/conftest.py).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import build_core
from bot.core.push_requests import Requester
from bot.core.sources import read_source
from bot.db.models import Delivery
from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.paths import DATA_DIR
from tests.support.replicas import last_epoch, sent_per_reader, webhook_replicas
from tests.support.stores import fresh_postgres_schema, make_settings
from tests.test_push import LONG_AGO, received, received_by_readers, subscribe

TOKEN = "123:FAULTS"
PUBLIC_URL = "https://bot.example.org/telegram/webhook"
SECRET = "faults_Secret-13"
REPLICAS = 3
CHATS = 200
UPDATES_PER_CHAT = 5
KILL_AFTER = CHATS * UPDATES_PER_CHAT // 2
LEASE = 3.0
#: Messages a push has in flight: the documented duplicate bound after a crash (README).
PUSH_CONCURRENCY = 4
PUSH_READERS = range(5000, 10_000)

# Heavy: three replicas, nginx and 1,000 updates; kept off the other heavy tests' worker.
pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("replica-faults")]


@dataclass
class Deployment:
    fake: FakeTelegramServer
    base: str  # nginx
    replicas: list[subprocess.Popen[str]]
    logs: list[Path]
    ports: list[int]
    database_url: str


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    # Retries come quickly (Telegram's own backoff is longer; its shape is the same).
    with (
        fresh_postgres_schema() as url,
        FakeTelegramServer(webhook_retry_base=0.2, webhook_retry_cap=2.0) as fake,
        webhook_replicas(
            tmp_path,
            url,
            fake,
            count=REPLICAS,
            token=TOKEN,
            secret=SECRET,
            public_url=PUBLIC_URL,
            health_timeout=120,
            LEADER_LEASE_SECONDS=str(LEASE),
            # A dead leader's delivery claims come back soon (the takeover test's
            # value: short, yet longer than a loaded machine's late heartbeat).
            PUSH_LEASE_SECONDS="6",
            PUSH_CONCURRENCY=str(PUSH_CONCURRENCY),
        ) as replicas,
    ):
        yield Deployment(
            fake, replicas.base, replicas.processes, replicas.logs, replicas.ports, url
        )


def query(chat: int, index: int) -> str:
    """A search no review matches, unique to the update: its reply names it."""
    return f"zq{chat}n{index}"


def marker(chat: int, index: int) -> str:
    """What identifies the reply to a chat's `index`-th update in its text."""
    return "最新论文解读" if index == 2 else f"「{query(chat, index)}」"


def test_a_sigkilled_replica_loses_no_update_and_breaks_no_order(
    deployment: Deployment, record_property: Callable[[str, object], None]
) -> None:
    fake = deployment.fake
    chats = [9_000_000 + n for n in range(CHATS)]
    for index in range(UPDATES_PER_CHAT):
        for chat in chats:
            reader = make_user(chat, f"读者{chat}", language_code="zh-hans")
            text = "/latest" if index == 2 else f"/search {query(chat, index)}"
            fake.push_update(message_update(reader, text))
    total = CHATS * UPDATES_PER_CHAT

    fake.wait_for_webhook_attempts(KILL_AFTER, timeout=600)
    victim = deployment.replicas[0]
    killed_at = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    fake.wait_for_webhook_idle(timeout=600)

    attempts = fake.webhook_attempts
    failed = [a for a in attempts if not a.ok]
    in_flight_at_kill = {a.update_id for a in failed if a.started <= killed_at}
    answered = {a.update_id for a in attempts if a.ok}
    out_of_order: dict[int, list[str]] = {}
    duplicates = 0
    for chat in chats:
        expected = [marker(chat, index) for index in range(UPDATES_PER_CHAT)]
        texts = fake.sent_texts(chat)
        seen: list[str] = []
        for sent in texts:
            (which,) = [m for m in expected if m in sent] or [None]
            assert which is not None, (chat, sent)
            if seen and seen[-1] == which:
                duplicates += 1  # the same update answered again, right after itself
            else:
                seen.append(which)
        if seen != expected:
            out_of_order[chat] = texts
    counts = (
        f"replica faults: {total} updates from {CHATS} chats over {REPLICAS} replicas; "
        f"{len(attempts)} POSTs, {len(failed)} failed and resent; "
        f"{len(in_flight_at_kill)} in flight on the killed replica; "
        f"{duplicates} duplicate replies; "
        f"{len(out_of_order)} chats with a reply lost or out of order"
    )
    print("\n" + counts)
    record_property("counts", counts)
    assert len(answered) == total, "every update ends with a 2xx"
    assert out_of_order == {}, "none lost, each chat's replies in order"
    assert duplicates <= len(in_flight_at_kill), (duplicates, sorted(in_flight_at_kill))
    # The survivors stayed up and the kill did not leave the deployment broken.
    for process, log in zip(deployment.replicas[1:], deployment.logs[1:], strict=True):
        assert process.poll() is None, log.read_text()
        assert "Traceback" not in log.read_text()
    assert fake.rejected_calls() == []


def _role(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    return response.json().get("role") if response.status_code in (200, 503) else None


def _poll(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value is not None and value is not False:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def test_the_leader_sigkilled_mid_push_a_new_leader_finishes_it(
    deployment: Deployment, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """5,000 deliveries from the deployment's leader; SIGKILL it halfway: a survivor is
    elected (epoch 2) and finishes the push; every reader has exactly one `sent`
    delivery and one message at least, duplicates at most PUSH_CONCURRENCY."""
    fake = deployment.fake
    ports = deployment.ports
    leader = _poll(
        lambda: next((n for n, p in enumerate(ports) if _role(p) == "leader"), None),
        60,
        "a leader",
    )
    core = build_core(make_settings(deployment.database_url, tmp_path))
    try:
        for chat_id in PUSH_READERS:
            subscribe(core, chat_id, when=LONG_AGO)
        [parsed] = read_source(DATA_DIR / "front_matter_review.md")
        review = core.editorial.queue(parsed, None).review  # the next push publishes it
        core.push_requests.record(Requester("telegram", "9000"), "publish", (review.id,))

        half = len(PUSH_READERS) // 2
        _poll(lambda: sum(received(fake).values()) >= half, 600, "the push half done")
        victim = deployment.replicas[leader]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        sent_at_kill = sum(received(fake).values())
        survivors = [n for n in range(REPLICAS) if n != leader]
        successor = _poll(
            lambda: next((n for n in survivors if _role(ports[n]) == "leader"), None),
            LEASE * 20,
            "a survivor reporting leader",
        )
        dead_epoch = last_epoch(deployment.logs[leader].read_text())
        assert dead_epoch >= 1
        assert last_epoch(deployment.logs[successor].read_text()) > dead_epoch

        def served() -> bool:
            with core.sessions() as session:
                count = session.scalar(
                    select(func.count(func.distinct(Delivery.subscriber_id))).where(
                        Delivery.status == "sent"
                    )
                )
            return count == len(PUSH_READERS)

        _poll(served, 900, "every reader served")
        per_reader = sent_per_reader(core)
    finally:
        core.close()
    messages = received_by_readers(fake, PUSH_READERS)
    duplicates = sum(count - 1 for count in messages.values())
    missed = set(PUSH_READERS) - set(messages)
    counts = (
        f"leader takeover behind nginx: {len(PUSH_READERS)} readers; leader killed after "
        f"{sent_at_kill} messages; {sum(messages.values())} messages in all, "
        f"{duplicates} duplicates (bound {PUSH_CONCURRENCY}), {len(missed)} missed"
    )
    print("\n" + counts)
    record_property("counts", counts)
    assert set(per_reader.values()) == {1}  # exactly one sent delivery each
    assert missed == set() and set(messages) == set(PUSH_READERS)
    assert duplicates <= PUSH_CONCURRENCY, messages.most_common(5)
    assert fake.rejected_calls() == []
