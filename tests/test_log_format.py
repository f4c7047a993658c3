"""LOG_FORMAT=json read from a real `paperbot run` process's stderr (webhook mode, the
fake Bot API): every line one JSON object; the lines logged while an update is handled
carry its channel, chat and update ids; the token appears nowhere (DEBUG included,
where python-telegram-bot logs its URLs); a reader's text appears at no level above
DEBUG."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cli import PAPERBOT
from tests.support.fake_telegram import (
    FakeTelegramServer,
    callback_update,
    make_user,
    message_update,
)
from tests.support.network import free_port
from tests.test_runtime import environment, wait_for_health

TOKEN = "123456:JSONlogSecretPartThatMustNeverShow"
SECRET = "json_Secret-1"
#: What the reader writes: a search no review matches, and a private sentence.
READER_TEXT = "我的私人消息不应出现在日志里"
SEARCH_TEXT = "独一无二的查询词"


def test_json_lines_with_ids_and_nothing_secret(tmp_path: Path) -> None:
    port = free_port()
    stderr_path = tmp_path / "stderr.log"
    with FakeTelegramServer() as fake:
        env = environment(
            tmp_path,
            HTTP_PORT=str(port),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_MODE="webhook",
            TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET=SECRET,
            LOG_FORMAT="json",
            LOG_LEVEL="DEBUG",
        )
        with stderr_path.open("w") as sink:
            process = subprocess.Popen(
                [str(PAPERBOT), "run"], cwd=tmp_path, env=env, stdout=sink, stderr=sink, text=True
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_health(base, process)
            target = f"{base}/telegram/webhook"
            reader = make_user(8123, "日志读者", language_code="zh-hans")
            text_update, status = fake.post_to_webhook(target, message_update(reader, READER_TEXT))
            assert status == 200
            _, status = fake.post_to_webhook(
                target, message_update(reader, f"/search {SEARCH_TEXT}")
            )
            assert status == 200
            shown = fake.last_message_to(8123)
            forged, status = fake.post_to_webhook(
                target, callback_update(reader, "forged button!", shown)
            )
            assert status == 200
            refused = httpx.post(target, json={}, timeout=10)
            assert refused.status_code == 403
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    assert process.returncode == 0
    raw = stderr_path.read_text(encoding="utf-8")
    lines = [line for line in raw.splitlines() if line.strip()]
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]  # each line: JSON
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)

    assert TOKEN not in raw and TOKEN.split(":")[1] not in raw
    assert any("<redacted>" in r["message"] for r in records), "PTB's DEBUG URLs were seen"

    loud = [r for r in records if r["level"] != "DEBUG"]
    assert loud, "start-up logs at INFO"
    for record in loud:
        dumped = json.dumps(record, ensure_ascii=False)
        assert READER_TEXT not in dumped and SEARCH_TEXT not in dumped, record

    handled = [r for r in records if r["message"].startswith("update handled")]
    update_id = text_update["update_id"]
    mine = [r for r in handled if r.get("update_id") == update_id]
    assert mine and mine[0]["channel"] == "telegram" and mine[0]["chat_id"] == 8123, handled
    # An INFO line logged inside the core while the forged tap was handled has its ids.
    refusal = [r for r in loud if "malformed action data" in r["message"]]
    assert refusal and refusal[0]["update_id"] == forged["update_id"], refusal
    assert refusal[0]["chat_id"] == 8123 and refusal[0]["channel"] == "telegram"
    assert any("refused a webhook update from 127.0.0.1" in r["message"] for r in loud)


def test_context_reaches_the_tasks_a_handler_starts_and_ends_with_it() -> None:
    """What the WeChat channel relies on: its late replies run in a task started while a
    callback is handled; their lines carry the callback's ids, later lines do not."""
    import asyncio
    import io
    import logging

    from bot.log_format import ContextFilter, JsonFormatter, TextFormatter, log_context

    stream, text_stream = io.StringIO(), io.StringIO()
    logger = logging.getLogger("tests.log_format.context")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for target, formatter in ((stream, JsonFormatter()), (text_stream, TextFormatter())):
        handler = logging.StreamHandler(target)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        logger.addHandler(handler)

    async def handle() -> None:
        with log_context(channel="wechat", chat_id="o_follower", update_id="msg:42"):
            await asyncio.create_task(asyncio.to_thread(logger.info, "late reply sent"))
            logger.info("answered\nsuccess")  # a newline stays inside one JSON line
        logger.info("idle")

    try:
        asyncio.run(handle())
    finally:
        logger.handlers.clear()
    late, answered, idle = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (late["channel"], late["chat_id"], late["update_id"]) == (
        "wechat",
        "o_follower",
        "msg:42",
    )
    assert answered["message"] == "answered\nsuccess" and answered["chat_id"] == "o_follower"
    assert "chat_id" not in idle and "channel" not in idle
    first = text_stream.getvalue().splitlines()[0]
    assert first.endswith("late reply sent [channel=wechat chat_id=o_follower update_id=msg:42]")


def test_contexts_nest_leave_out_missing_ids_and_end_with_their_block() -> None:
    from bot.log_format import current_context, log_context

    assert current_context() == {}
    with log_context(channel="telegram", chat_id=7, update_id=None):
        assert current_context() == {"channel": "telegram", "chat_id": 7}
        with pytest.raises(ValueError), log_context(update_id=99):
            assert current_context() == {"channel": "telegram", "chat_id": 7, "update_id": 99}
            raise ValueError("a handler failed")
        assert current_context() == {"channel": "telegram", "chat_id": 7}
    assert current_context() == {}
