"""Telegram webhook mode with two replicas: two real `paperbot run` processes on one PostgreSQL
schema (same TELEGRAM_WEBHOOK_SECRET, different HTTP_PORT) behind the fake Bot API. Either
answers an update posted with the right secret; without it both answer 403 and the store is
unchanged; a "next page" button drawn by one process works when the tap reaches the other."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, select, text

from bot.db.models import Subscriber
from tests.support.fake_telegram import (
    FakeTelegramServer,
    SentMessage,
    callback_update,
    make_user,
    message_update,
)
from tests.support.network import free_port
from tests.support.paging_store import PAGING_MATCHES, PAGING_QUERY, prepare_paging_store
from tests.support.stores import fresh_postgres_schema
from tests.test_runtime import environment, start, stop, wait_for_health

TOKEN = "123:REPLICAS"
PUBLIC_URL = "https://bot.example.org/telegram/webhook"
SECRET = "replica_Secret-42"
MATCHES = PAGING_MATCHES
QUERY = PAGING_QUERY

pytestmark = pytest.mark.postgres


@dataclass
class Replicas:
    fake: FakeTelegramServer
    database_url: str
    targets: tuple[str, str]  # each process's /telegram/webhook


#: What a handled update could add to; a refused one must leave them as they were.
READER_TABLES = ("subscribers", "audit_log", "button_states", "push_requests", "deliveries")


def row_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in READER_TABLES
            }
    finally:
        engine.dispose()


def subscriber_status(database_url: str, chat_id: int) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(Subscriber.status).where(
                    Subscriber.channel == "telegram", Subscriber.chat_id == str(chat_id)
                )
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def schema_url() -> Iterator[str]:
    """One fresh PostgreSQL schema for the module's two processes, dropped afterwards."""
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def replicas(schema_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """The fake Bot API and two `paperbot run` processes, started once for the module."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    prepare_paging_store(schema_url, tmp_path)
    with FakeTelegramServer() as fake:
        processes: list[subprocess.Popen[str]] = []
        bases = []
        try:
            for name in ("one", "two"):
                port = free_port()
                env = environment(
                    tmp_path,
                    DATA_DIR=str(tmp_path / name),
                    DATABASE_URL=schema_url,
                    TELEGRAM_BOT_TOKEN=TOKEN,
                    TELEGRAM_API_BASE_URL=fake.base_url,
                    TELEGRAM_MODE="webhook",
                    TELEGRAM_WEBHOOK_URL=PUBLIC_URL,
                    TELEGRAM_WEBHOOK_SECRET=SECRET,
                    HTTP_PORT=str(port),
                )
                processes.append(start(tmp_path, env))
                bases.append(f"http://127.0.0.1:{port}")
            for base, process in zip(bases, processes, strict=True):
                assert wait_for_health(base, process)["channels"] == {
                    "telegram": "webhook",
                    "web": "serving",
                }
            yield Replicas(
                fake, schema_url, (f"{bases[0]}/telegram/webhook", f"{bases[1]}/telegram/webhook")
            )
        finally:
            outputs = [stop(process) for process in processes]
        for process, output in zip(processes, outputs, strict=True):
            assert process.returncode == 0, output
            assert "Traceback" not in output, output
        assert fake.rejected_calls() == []


def replies_after(fake: FakeTelegramServer, chat_id: int, before: int) -> list[SentMessage]:
    return fake.sent_messages(chat_id)[before:]


def test_either_process_answers_an_update_with_the_secret(replicas: Replicas) -> None:
    fake = replicas.fake
    reader = make_user(2001, "读者", language_code="zh-hans")
    assert fake.webhook_url == PUBLIC_URL and fake.webhook_secret == SECRET
    _, status = fake.post_to_webhook(replicas.targets[0], message_update(reader, "/start"))
    assert status == 200
    assert any("订阅成功" in m.text for m in fake.sent_messages(2001))
    assert subscriber_status(replicas.database_url, 2001) == "active"
    before = len(fake.sent_messages(2001))
    _, status = fake.post_to_webhook(replicas.targets[1], message_update(reader, "/subscribe"))
    assert status == 200
    # The other process sees the subscription the first one stored.
    assert any("已经订阅" in m.text for m in replies_after(fake, 2001, before))


def test_without_the_secret_both_answer_403_and_nothing_changes(replicas: Replicas) -> None:
    fake = replicas.fake
    stranger = make_user(2002, "陌生人", language_code="zh-hans")
    before = row_counts(replicas.database_url)
    for target in replicas.targets:
        for secret in (None, "wrong", SECRET + "x"):
            for update in (
                message_update(stranger, "/start"),
                message_update(stranger, f"/search {QUERY}"),
            ):
                _, status = fake.post_to_webhook(target, update, secret=secret)
                assert status == 403, (target, secret)
    assert fake.sent_messages(2002) == []
    assert row_counts(replicas.database_url) == before
    assert subscriber_status(replicas.database_url, 2002) is None


def test_next_page_drawn_by_one_process_is_shown_by_the_other(replicas: Replicas) -> None:
    fake = replicas.fake
    reader = make_user(2003, "翻页读者", language_code="zh-hans")
    _, status = fake.post_to_webhook(
        replicas.targets[0], message_update(reader, f"/search {QUERY}")
    )
    assert status == 200
    page_one = fake.last_message_to(2003)
    first_titles = {n for n in range(MATCHES) if f"Study {n}" in page_one["text"]}
    assert len(first_titles) == 5, page_one["text"]
    buttons = [b for row in page_one["reply_markup"]["inline_keyboard"] for b in row]
    (next_page,) = [b for b in buttons if b["text"] == "下一页 »"]

    tap = callback_update(reader, next_page["callback_data"], page_one)
    _, status = fake.post_to_webhook(replicas.targets[1], tap)
    assert status == 200
    page_two = fake.last_message_to(2003)
    assert "这个按钮已失效" not in page_two["text"]
    second_titles = {n for n in range(MATCHES) if f"Study {n}" in page_two["text"]}
    assert second_titles == set(range(MATCHES)) - first_titles
    assert any(c.ok for c in fake.calls_to("answerCallbackQuery"))


def test_updates_spread_over_both_processes_are_answered_in_order(replicas: Replicas) -> None:
    """The fake delivers as Telegram does behind a load balancer: in turn to each process,
    a chat's next update only after the 2xx for its previous one."""
    fake = replicas.fake
    reader = make_user(2004, "轮流", language_code="zh-hans")
    commands = ["/subscribe", "/latest", "/search 对齐", "/unsubscribe", "/subscribe"]
    fake.deliver_webhook_to(*replicas.targets)
    try:
        for command in commands:
            fake.push_update(message_update(reader, command))
        fake.wait_for_webhook_idle(timeout=60)
    finally:
        fake.deliver_webhook_to()
    attempts = [a for a in fake.webhook_attempts if a.chat_key == "2004"]
    assert [a.status for a in attempts] == [200] * len(commands)
    assert {a.target for a in attempts} == set(replicas.targets)
    texts = fake.sent_texts(2004)
    assert len(texts) == len(commands), texts
    for sent, expected in zip(
        texts,
        ["订阅成功", "最新论文解读", "「对齐」的搜索结果", "已退订", "订阅已恢复"],
        strict=True,
    ):
        assert expected in sent, texts
    assert subscriber_status(replicas.database_url, 2004) == "active"
