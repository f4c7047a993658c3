"""The start-up lines of `paperbot run` (issue 13, point 6), read from real processes'
stderr: at INFO, one line each, the version, the database without its password, each
channel's mode, the role once known, and on the leader the next push and arXiv poll
(at the times the crons say). Two processes on one PostgreSQL schema: the first leads,
the second says it follows. The bot token appears nowhere."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.replicas import paperbot_version
from tests.support.cli import PAPERBOT
from tests.support.fake_telegram import FakeTelegramServer
from tests.support.network import free_port
from tests.support.stores import fresh_postgres_schema
from tests.test_runtime import environment, wait_for_health

TOKEN = "123456:StartupSecretPartThatMustNeverShow"
PASSWORD = "Db-Pa55word-never-logged"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ZONE = "Asia/Shanghai"

pytestmark = pytest.mark.postgres


def _records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _wait_for(path: Path, prefix: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(r["message"].startswith(prefix) for r in _records(path)):
            return
        assert process.poll() is None, path.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no {prefix!r} line: {path.read_text()}")


def _info(records: list[dict[str, Any]], prefix: str) -> str:
    """The one INFO line starting with `prefix`."""
    found = [r["message"] for r in records if r["message"].startswith(prefix)]
    assert len(found) == 1, (prefix, [r["message"] for r in records])
    (record,) = [r for r in records if r["message"].startswith(prefix)]
    assert record["level"] == "INFO", record
    return found[0]


def test_startup_lines_of_a_leader_and_a_follower(tmp_path: Path) -> None:
    with fresh_postgres_schema() as url, FakeTelegramServer() as fake:
        # Trust auth at the test server: the password is sent nowhere, but it is in the URL.
        secret_url = url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
        assert PASSWORD in secret_url
        common = {
            "DATABASE_URL": secret_url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "WECHAT_APP_ID": "wx_startup",
            "WECHAT_APP_SECRET": "wechat-app-secret",
            "WECHAT_TOKEN": "wechattoken",
            "WECHAT_API_BASE_URL": "http://127.0.0.1:9",
            "PUBLIC_URL": "https://bot.example.org",
            "PUSH_CRON": "15 9 * * mon",
            "ARXIV_POLL_CRON": "45 6 * * *",
            "TIMEZONE": ZONE,
            "LOG_FORMAT": "json",
            "LEADER_LEASE_SECONDS": "3",
        }
        leader_env = environment(
            tmp_path,
            **common,
            DATA_DIR=str(tmp_path / "one"),
            HTTP_PORT=str(free_port()),
            TELEGRAM_MODE="webhook",
            TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook",
            TELEGRAM_WEBHOOK_SECRET="startup_Secret",
            WECHAT_ENCODING_AES_KEY=AES_KEY,
        )
        follower_env = environment(
            tmp_path,
            **common,
            DATA_DIR=str(tmp_path / "two"),
            HTTP_PORT=str(free_port()),
            TELEGRAM_MODE="polling",
            WEB_ENABLED="false",
        )
        logs = [tmp_path / "leader.log", tmp_path / "follower.log"]
        processes: list[subprocess.Popen[str]] = []
        try:
            for env, log in zip((leader_env, follower_env), logs, strict=True):
                with log.open("w") as sink:
                    processes.append(
                        subprocess.Popen(
                            [str(PAPERBOT), "run"],
                            cwd=tmp_path,
                            env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=sink,
                            text=True,
                        )
                    )
                wait_for_health(f"http://127.0.0.1:{env['HTTP_PORT']}", processes[-1])
                _wait_for(log, "next arXiv poll" if log == logs[0] else "role:", processes[-1])
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(60)
    assert [p.returncode for p in processes] == [0, 0]
    leader, follower = (_records(log) for log in logs)
    raw = "".join(log.read_text(encoding="utf-8") for log in logs)
    assert TOKEN not in raw and TOKEN.split(":")[1] not in raw
    assert PASSWORD not in raw

    for records in (leader, follower):
        assert _info(records, "paperbot ") == f"paperbot {paperbot_version()}"
        database = _info(records, "database: ")
        assert database.startswith("database: postgresql+psycopg://postgres:***@127.0.0.1")
        assert "search_path" in database  # the schema is part of what it says
    assert _info(leader, "channels: ") == "channels: telegram webhook, wechat safe, web on"
    assert _info(follower, "channels: ") == "channels: telegram polling, wechat plaintext, web off"
    assert _info(leader, "elected leader").startswith("elected leader (epoch 1")
    assert _info(follower, "role: ") == "role: follower (another process holds the leader lease)"
    assert not any(r["message"].startswith(("next ", "elected")) for r in follower)

    zone = ZoneInfo(ZONE)
    push = dt.datetime.fromisoformat(_info(leader, "next push: ").removeprefix("next push: "))
    poll = dt.datetime.fromisoformat(
        _info(leader, "next arXiv poll: ").removeprefix("next arXiv poll: ")
    )
    for moment, (hour, minute) in ((push, (9, 15)), (poll, (6, 45))):
        local = moment.astimezone(zone)
        assert (local.hour, local.minute) == (hour, minute), moment
        assert moment.utcoffset() == local.utcoffset()  # said in the bot's own zone
    assert push.astimezone(zone).weekday() == 0  # Monday
