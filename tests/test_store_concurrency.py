"""One SQLite file, several writers at once: nothing fails with "database is locked".

SQLite's deferred `BEGIN` let a transaction that read, then wrote after another
connection had committed, fail at once (busy_timeout does not apply there). The engine
opens every transaction with `BEGIN IMMEDIATE` (bot/db/engine.py); these tests show the
failure mode directly and then with the real processes: the bot answering commands and
button taps, `paperbot push` and `paperbot import` together on one file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.app import build_core
from bot.db.engine import make_engine
from tests.support.fake_telegram import (
    FakeTelegramServer,
    SentMessage,
    callback_update,
    make_bot_user,
    make_user,
    message_update,
    private_chat,
)
from tests.support.network import free_port
from tests.support.paths import DATA_DIR
from tests.support.stores import make_settings
from tests.test_push import LONG_AGO, subscribe

PAPERBOT = Path(sys.executable).parent / "paperbot"


def test_read_then_write_after_another_commit_waits_instead_of_failing(tmp_path: Path) -> None:
    """Two read-modify-write transactions overlap: the second one to write used to fail
    at once with "database is locked"; now it waits its turn, and no update is lost."""
    engine = make_engine(f"sqlite:///{tmp_path / 'counter.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter (n) VALUES (0)"))
    has_read = threading.Event()
    errors: list[BaseException] = []

    def increment(wait_for_other: bool) -> None:
        try:
            with engine.begin() as connection:
                n = connection.execute(text("SELECT n FROM counter")).scalar_one()
                has_read.set()
                if wait_for_other:
                    # Let the other transaction commit its write before this one writes.
                    time.sleep(0.5)
                connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:
            errors.append(exc)

    first = threading.Thread(target=increment, args=(True,))
    first.start()
    assert has_read.wait(10)
    second = threading.Thread(target=increment, args=(False,))
    second.start()
    first.join(60)
    second.join(60)
    with engine.connect() as connection:
        final = connection.execute(text("SELECT n FROM counter")).scalar_one()
    engine.dispose()
    assert errors == [], [str(error).splitlines()[0] for error in errors]
    assert final == 2, "an update was lost"


REVIEW_TEMPLATE = """---
title: "Concurrent import test paper {n}"
arxiv_id: "2401.{n:05d}"
authors:
  - Test Author
date: 2024-01-02
published_at: 2024-01-02T08:00:00+00:00
section: latest
tags: agent
---

#### 核心思想

第 {n} 篇：并发导入测试。
"""


def write_reviews(directory: Path, count: int) -> None:
    directory.mkdir()
    for n in range(count):
        (directory / f"review_{n:04d}.md").write_text(
            REVIEW_TEMPLATE.format(n=n + 1), encoding="utf-8"
        )


def spawn(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "PUSH_", "ARXIV_"))
    }
    return subprocess.Popen(
        [str(PAPERBOT), *args],
        cwd=tmp_path,
        env={**clean, "DATA_DIR": str(tmp_path / "data"), "HTTP_PORT": str(free_port()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_button(message: dict[str, Any]) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if "callback_data" in button:
                return str(button["callback_data"])
    return None


def as_message(sent: SentMessage, user: dict[str, Any]) -> dict[str, Any]:
    """The message a button was tapped on, as Telegram sends it back in the update."""
    return {
        "message_id": sent.message_id,
        "from": make_bot_user(),
        "chat": private_chat(user),
        "date": int(sent.timestamp),
        "text": sent.text,
        "reply_markup": sent.reply_markup,
    }


def test_bot_push_and_import_on_one_sqlite_file(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'data' / 'paperbot.db'}"
    push_chats = range(5000, 5200)
    users = [make_user(9000 + n, f"读者{n}") for n in range(80)]
    imports = tmp_path / "imports"
    write_reviews(imports, 300)
    core = build_core(make_settings(database_url, tmp_path), seed=True)
    try:
        for chat_id in push_chats:
            subscribe(core, chat_id, when=LONG_AGO)
    finally:
        core.close()

    with FakeTelegramServer(latency=0.002) as server:
        env = {
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": "123:CONCURRENT",
            "TELEGRAM_API_BASE_URL": server.base_url,
            "PUSH_MAX_PER_SECOND": "60",
            "PUSH_CONCURRENCY": "4",
        }
        queued = spawn(
            ["queue", "add", str(DATA_DIR / "front_matter_review.md")],
            tmp_path,
            env,
        )
        assert queued.wait(60) == 0, queued.communicate()
        bot = spawn(["run"], tmp_path, env)
        try:
            server.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls), 60)
            push = spawn(["push"], tmp_path, env)
            importer = spawn(["import", str(imports)], tmp_path, env)
            for user in users:
                server.push_update(message_update(user, "/start"))
                server.push_update(message_update(user, "/topics"))
            # Every user's commands were answered; then each taps a topic button.
            server.wait_for(
                lambda _: all(
                    any(
                        first_button(as_message(sent, user))
                        for sent in server.sent_messages(user["id"])
                    )
                    for user in users
                ),
                timeout=120,
            )
            taps = 0
            for user in users:
                # The newest message with buttons (the push may have come after it).
                for sent in reversed(server.sent_messages(user["id"])):
                    message = as_message(sent, user)
                    data = first_button(message)
                    if data is not None:
                        server.push_update(callback_update(user, data, message))
                        taps += 1
                        break
            assert taps == len(users), "no topic button to tap"
            server.wait_for(
                lambda calls: sum(c.method == "answerCallbackQuery" for c in calls) >= taps,
                timeout=120,
            )
            push_out, push_err = push.communicate(timeout=180)
            import_out, import_err = importer.communicate(timeout=180)
        finally:
            bot.send_signal(signal.SIGTERM)
            bot_out, bot_err = bot.communicate(timeout=60)

    outputs = "\n".join([push_out, push_err, import_out, import_err, bot_out, bot_err])
    print(f"locked: {outputs.count('database is locked')}; taps: {taps}")
    assert "database is locked" not in outputs
    assert "Traceback" not in outputs, outputs[-3000:]
    assert push.returncode == 0, push_err[-2000:]
    assert importer.returncode == 0, import_err[-2000:]
    assert "300 reviews: 300 added, 0 updated, 0 unchanged" in import_out, import_out[-500:]
    received = Counter(m.chat_id for m in server.sent_messages() if m.chat_id in push_chats)
    assert received == Counter(dict.fromkeys(push_chats, 1)), "a delivery missing or doubled"
    assert all(c.ok for c in server.calls_to("answerCallbackQuery"))
    core = build_core(make_settings(database_url, tmp_path), upgrade=False, seed=False)
    try:
        subscribed = [core.subscriptions.get("telegram", str(user["id"])) for user in users]
        assert all(s is not None and s.status == "active" for s in subscribed)
        assert core.reviews.count() >= 300
    finally:
        core.close()
