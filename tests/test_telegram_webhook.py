"""Telegram in webhook mode: `paperbot run` as a real process, the fake Bot API posting
updates to its route as Telegram does (with the secret header)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from bot.db.models import Subscriber
from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.network import free_port
from tests.test_runtime import environment, start, wait_for_health

TOKEN = "123:WEBHOOK"
PUBLIC_URL = "https://bot.example.org/telegram/webhook"
SECRET = "s3cret_-Token"
READER = make_user(1001, "读者", language_code="zh-hans")


def updates_counted(base: str, command: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "paperbot_updates_handled"
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels == {"channel": "telegram", "command": command}
    )


def subscribers(tmp_path: Path) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'paperbot.db'}")
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Subscriber)) or 0)
    finally:
        engine.dispose()


def run_once(tmp_path: Path, fake: FakeTelegramServer, port: int) -> subprocess.Popen[str]:
    env = environment(
        tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_URL=PUBLIC_URL,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        HTTP_PORT=str(port),
    )
    return start(tmp_path, env)


def stopped(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    return output


def test_webhook_answers_the_right_secret_only_and_keeps_the_webhook(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    target = f"{base}/telegram/webhook"
    with FakeTelegramServer() as fake:
        process = run_once(tmp_path, fake, port)
        try:
            health = wait_for_health(base, process)
            assert health["channels"] == {"telegram": "webhook", "web": "serving"}, health
            assert fake.webhook_url == PUBLIC_URL
            assert fake.webhook_secret == SECRET
            (set_call,) = fake.calls_to("setWebhook")
            assert not set_call.params.get("drop_pending_updates")

            for secret in (None, "wrong", SECRET + "x"):
                _, status = fake.post_to_webhook(
                    target, message_update(READER, "/start"), secret=secret
                )
                assert status == 403, secret
            assert fake.sent_messages(1001) == []
            assert subscribers(tmp_path) == 0
            assert updates_counted(base, "/start") == 0

            _, status = fake.post_to_webhook(target, message_update(READER, "/start"))
            assert status == 200
            # Answered only once handled: the reply went out before the 200 came back.
            assert any("订阅成功" in m.text for m in fake.sent_messages(1001))
            assert subscribers(tmp_path) == 1
            _, status = fake.post_to_webhook(target, message_update(READER, "/latest"))
            assert status == 200
            assert any("最新论文解读" in m.text for m in fake.sent_messages(1001))
            _, status = fake.post_to_webhook(target, message_update(READER, "/search 对齐"))
            assert status == 200
            assert any("「对齐」的搜索结果" in m.text for m in fake.sent_messages(1001))
            assert updates_counted(base, "/start") == 1
            assert updates_counted(base, "/latest") == 1
            families = text_string_to_metric_families(httpx.get(f"{base}/metrics").text)
            samples = {s.name: s.value for family in families for s in family.samples}
            assert samples["paperbot_search_seconds_count"] == 1
            assert samples["paperbot_replies_total"] >= 3
        finally:
            output = stopped(process)
        assert "bot @paperbot_test_bot is up" in output
        assert "webhook set" in output

        # A restart with the same URL leaves the webhook alone (and pending updates kept).
        process = run_once(tmp_path, fake, port)
        try:
            assert wait_for_health(base, process)["channels"] == {
                "telegram": "webhook",
                "web": "serving",
            }
        finally:
            output = stopped(process)
        assert len(fake.calls_to("setWebhook")) == 1, output
        assert len(fake.calls_to("getWebhookInfo")) == 2
        assert "webhook already set" in output
        assert fake.rejected_calls() == []


def test_sigterm_lets_an_update_in_flight_finish(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeTelegramServer() as fake:
        process = run_once(tmp_path, fake, port)
        try:
            wait_for_health(base, process)
            fake.delay_next("sendMessage", 3.0)
            statuses: list[int] = []
            poster = threading.Thread(
                target=lambda: statuses.append(
                    fake.post_to_webhook(
                        f"{base}/telegram/webhook", message_update(READER, "/latest")
                    )[1]
                )
            )
            poster.start()
            time.sleep(1.0)  # the update is in its handler, its reply held up by the fake
        finally:
            output = stopped(process)
        poster.join(30)
        assert statuses == [200], output
        assert any("最新论文解读" in m.text for m in fake.sent_messages(1001)), output
        assert fake.rejected_calls() == []
