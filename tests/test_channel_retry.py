"""A channel that cannot start is `failing` and retried; a rejected token is not.

Against a real `paperbot run` and the fake Bot API: Telegram unreachable at start (the
TCP proxy in front of the fake refuses connections) leaves the process serving HTTP
with `telegram: failing`, retrying with a doubling, capped delay and one log line per
attempt; once Telegram answers, the channel polls and replies. A token Telegram
rejects (401 from getMe) is one line naming TELEGRAM_BOT_TOKEN, never the token, no
traceback, and no further attempt: the channel stays `failing`.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.network import free_port
from tests.support.tcp_proxy import TcpProxy
from tests.test_runtime import PAPERBOT, environment

TOKEN = "123:SECRET-TOKEN-VALUE"
ATTEMPT = re.compile(
    r"channel telegram did not start \(attempt (\d+)\): Telegram is unreachable .*; "
    r"retrying in ([0-9.]+) s"
)


def _health(port: int) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def _stop(process: subprocess.Popen[str], log: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return log.read_text(errors="replace")


def _start_logged(tmp_path: Path, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PAPERBOT), "run"],
        cwd=tmp_path,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_unreachable_telegram_is_retried_with_backoff_until_it_answers(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    with FakeTelegramServer() as fake, TcpProxy("127.0.0.1", fake.port) as proxy:
        proxy.cut()  # Telegram unreachable: connections refused
        env = environment(
            tmp_path,
            HTTP_PORT=str(port),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{proxy.port}/bot",
            CHANNEL_RETRY_SECONDS="0.2",
            CHANNEL_RETRY_MAX_SECONDS="0.8",
        )
        process = _start_logged(tmp_path, env, log)
        try:
            health = _wait(lambda: _health(port), 60, "/healthz answering")
            assert health["channels"] == {"telegram": "failing", "web": "serving"}
            _wait(lambda: "(attempt 5)" in log.read_text(), 60, "five attempts")
            proxy.restore()
            _wait(
                lambda: (_health(port) or {}).get("channels", {}).get("telegram") == "polling",
                60,
                "telegram polling once it answers",
            )
            _wait(lambda: "the leader polls Telegram" in log.read_text(), 30, "polling")
            fake.push_update(message_update(make_user(1001, "读者"), "/latest"))
            fake.wait_for(
                lambda calls: any(
                    c.method == "sendMessage" and "最新论文解读" in str(c.params.get("text"))
                    for c in calls
                ),
                30,
            )
        finally:
            output = _stop(process, log)
    assert process.returncode == 0, output
    attempts = [(int(n), float(delay)) for n, delay in ATTEMPT.findall(output)]
    numbers = [n for n, _ in attempts]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 5  # one line each
    delays = [delay for _, delay in attempts]
    assert delays[:3] == [0.2, 0.4, 0.8] and set(delays[3:]) == {0.8}  # doubling, capped
    assert re.search(r"channel telegram started \(attempt \d+\): polling", output)
    assert "Traceback" not in output and TOKEN not in output


def test_a_rejected_token_is_one_line_and_not_retried(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    with FakeTelegramServer() as fake:
        fake.fail_next("getMe", count=100, status=401, description="Unauthorized")
        env = environment(
            tmp_path,
            HTTP_PORT=str(port),
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.base_url,
            CHANNEL_RETRY_SECONDS="0.2",
        )
        process = _start_logged(tmp_path, env, log)
        try:
            health = _wait(lambda: _health(port), 60, "/healthz answering")
            assert health["channels"] == {"telegram": "failing", "web": "serving"}
            _wait(lambda: "TELEGRAM_BOT_TOKEN" in log.read_text(), 30, "the token line")
            time.sleep(1.5)  # many retry delays: none may come
            assert process.poll() is None  # no crash, no crash loop
            assert len(fake.calls_to("getMe")) == 1
            assert (_health(port) or {}).get("channels", {}).get("telegram") == "failing"
        finally:
            output = _stop(process, log)
    assert process.returncode == 0, output
    mentions = [line for line in output.splitlines() if "TELEGRAM_BOT_TOKEN" in line]
    assert len(mentions) == 1, output
    assert "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)" in mentions[0]
    assert TOKEN not in output and "SECRET-TOKEN" not in output
    assert "Traceback" not in output
    assert "attempt 2" not in output
