"""The bot token never reaches a log line, a traceback or a command's output."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.log_redaction import REDACTED, install_redactor
from tests.support.fake_telegram import FakeTelegramServer, make_user, message_update
from tests.support.network import free_port

TOKEN = "987654:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET_HALF = TOKEN.partition(":")[2]
PAPERBOT = Path(sys.executable).parent / "paperbot"


def _isolated_logger(stream: io.StringIO) -> logging.Logger:
    logger = logging.getLogger(f"redaction-test-{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return logger


def test_token_is_redacted_from_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    logger = _isolated_logger(stream)
    install_redactor([TOKEN], root=logger)
    url = f"https://api.telegram.org/bot{TOKEN}/getMe"
    logger.debug("Set Bot API URL: %s", url)
    logger.info(f"inline {url}")
    logger.info("quoted %s", TOKEN.replace(":", "%3A"))
    logger.info("secret half alone: %s", SECRET_HALF)
    try:
        raise ConnectionError(f"Cannot connect to {url}")
    except ConnectionError:
        logger.exception("request failed for %r", {"url": url})
    output = stream.getvalue()
    assert SECRET_HALF not in output
    assert "Traceback (most recent call last)" in output and "ConnectionError" in output
    assert output.count(REDACTED) >= 6
    assert "Set Bot API URL: https://api.telegram.org/bot<redacted>/getMe" in output


def test_a_bad_format_string_neither_raises_nor_leaks() -> None:
    stream = io.StringIO()
    logger = _isolated_logger(stream)
    install_redactor([TOKEN], root=logger)
    logger.info(f"url {TOKEN} %d", "not a number")
    output = stream.getvalue()
    assert "arguments could not be formatted" in output and SECRET_HALF not in output


def test_installing_twice_keeps_one_filter() -> None:
    logger = _isolated_logger(io.StringIO())
    install_redactor([TOKEN], root=logger)
    install_redactor([TOKEN], root=logger)
    assert len(logger.filters) == 1 and len(logger.handlers[0].filters) == 1


def test_no_token_means_nothing_to_redact() -> None:
    stream = io.StringIO()
    logger = _isolated_logger(stream)
    install_redactor([""], root=logger)
    logger.info("plain %d", 3)
    assert "plain 3" in stream.getvalue()


def _environment(fake: FakeTelegramServer, tmp_path: Path) -> dict[str, str]:
    return {
        **{
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "ADMIN_", "LOG_"))
        },
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "DEBUG",
        "HTTP_PORT": str(free_port()),
    }


def test_paperbot_push_at_debug_never_prints_the_token(tmp_path: Path) -> None:
    with FakeTelegramServer() as fake:
        result = subprocess.run(
            [str(PAPERBOT), "push"],
            env=_environment(fake, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert fake.token == TOKEN  # the push did talk to the Bot API with it
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " DEBUG " in output  # the level that used to print the URLs
    assert "bot<redacted>" in output
    assert SECRET_HALF not in output


def test_paperbot_run_at_debug_never_logs_the_token(tmp_path: Path) -> None:
    reader = make_user(1001, "读者")
    with FakeTelegramServer() as fake:
        process = subprocess.Popen(
            [str(PAPERBOT), "run"],
            cwd=tmp_path,
            env=_environment(fake, tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            fake.wait_for(lambda calls: any(c.method == "getUpdates" for c in calls), 60)
            fake.push_update(message_update(reader, "/latest"))
            fake.wait_for(lambda calls: any(c.method == "sendMessage" for c in calls), 30)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output[-2000:]
    assert "bot<redacted>" in output
    assert SECRET_HALF not in output
