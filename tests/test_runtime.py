"""`paperbot run` as a real process: one runtime serving HTTP, with or without Telegram."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.network import free_port

PAPERBOT = Path(sys.executable).parent / "paperbot"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "ADMIN_"))
    }
    return {**clean, "DATA_DIR": str(tmp_path / "data"), **extra}


def start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PAPERBOT), "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_health(base: str, process: subprocess.Popen[str], timeout: float = 60) -> Any:
    """The first /healthz answer; fails at once if the process exits instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"paperbot run exited {process.returncode}")
        try:
            response = httpx.get(f"{base}/healthz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 200
        return response.json()
    raise AssertionError(f"/healthz did not answer within {timeout} s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def test_run_without_a_token_keeps_serving_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, HTTP_PORT=str(port))
    process = start(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_for_health(base, process)
        time.sleep(1.0)  # still there a moment later: it did not exit for want of a token
        assert process.poll() is None
        # A lone process leads: its campaign runs beside the server, so the first
        # answer may come before its election (on a loaded machine).
        deadline = time.monotonic() + 30
        while health["role"] != "leader" and time.monotonic() < deadline:
            time.sleep(0.2)
            health = httpx.get(f"{base}/healthz", timeout=5).json()
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200
        names = {family.name for family in text_string_to_metric_families(metrics.text)}
        assert {"paperbot_updates_handled", "paperbot_push_deliveries"} <= names
        # Start-up's heap leaves the collector's walks once jieba's dictionary is in.
        while frozen_objects(metrics.text) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert frozen_objects(metrics.text) > 100_000
    except BaseException:
        print(stop(process))
        raise
    output = stop(process)
    assert process.returncode == 0, output
    assert health["status"] == "ok", health
    assert health["role"] == "leader"
    assert health["database"]["reachable"] is True
    assert health["schema"]["up_to_date"] is True
    assert health["schema"]["current"] == health["schema"]["head"] is not None
    assert health["channels"] == {"telegram": "off", "web": "serving"}
    assert health["last_push"] is None and health["last_arxiv_poll"] is None
    off = [line for line in output.splitlines() if "Telegram is off" in line]
    assert len(off) == 1, output
    assert "TELEGRAM_BOT_TOKEN is not set" in off[0]
    assert f"http://127.0.0.1:{port}" in off[0] and "paperbot console" in off[0]
    assert "Traceback" not in output

    status = subprocess.run(
        [str(PAPERBOT), "status", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    reported = json.loads(status.stdout)
    store = reported.pop("store")  # where the shell found the store (#12.5)
    assert reported.pop("replicas") == []  # the process stopped: its heartbeat row went
    # Only the running process knows which replica answered (its pid, its holder id).
    assert health.pop("pid") == process.pid
    assert health.pop("replica").split(":")[1] == str(process.pid)
    assert reported == health
    assert store["data_dir"] == str((tmp_path / "data").resolve())
    text = subprocess.run(
        [str(PAPERBOT), "status"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == "status: ok"
    assert "role: leader" in lines and "channels: telegram off, web serving" in lines
    assert f"schema: {health['schema']['head']} (head {health['schema']['head']})" in lines


def test_sigint_stops_as_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = start(tmp_path, environment(tmp_path, HTTP_PORT=str(port)))
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopped" in output


def test_an_invalid_webhook_setup_stops_start_up_in_one_line(tmp_path: Path) -> None:
    env = environment(
        tmp_path, TELEGRAM_BOT_TOKEN="123:ABC", TELEGRAM_MODE="webhook", HTTP_PORT="1"
    )
    result = subprocess.run(
        [str(PAPERBOT), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: Invalid TELEGRAM_WEBHOOK_URL"), result.stderr
    assert "TELEGRAM_WEBHOOK_SECRET" in last


def test_telegram_that_cannot_start_shows_failing_and_http_serves_on(tmp_path: Path) -> None:
    port = free_port()
    closed = free_port()  # nothing listens there: every Bot API call is refused
    env = environment(
        tmp_path,
        HTTP_PORT=str(port),
        TELEGRAM_BOT_TOKEN="123:ABC",
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{closed}/bot",
    )
    process = start(tmp_path, env)
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}", process)
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert health["channels"] == {"telegram": "failing", "web": "serving"}
    assert health["status"] == "degraded"
    assert "channel telegram did not start (attempt 1): Telegram is unreachable" in output


def frozen_objects(exposition: str) -> float:
    for family in text_string_to_metric_families(exposition):
        if family.name == "paperbot_gc_frozen_objects":
            return float(family.samples[0].value)
    return 0.0
