"""Channels declare their limits; the core is handed the numbers and names no channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import push_options
from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES, is_telegram_id
from bot.core.audit import AuditService
from bot.core.conversation import Button, Caller, Command, Conversation, Registry, Reply
from bot.core.ratelimit import SendLimits, SendRateLimiter
from bot.core.richtext import paragraph, rich
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory
from tests.support.stores import make_settings

CORE = Path(__file__).resolve().parent.parent / "bot" / "core"


def test_the_core_names_no_channel() -> None:
    """Telegram's name, like any channel's, is the adapter's: `grep '"telegram"' bot/core`."""
    offenders = [
        f"{path.relative_to(CORE)}:{number}"
        for path in sorted(CORE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if '"telegram"' in line.lower() or "'telegram'" in line.lower()
    ]
    assert offenders == []


def test_telegram_declares_its_limits_and_the_settings_only_lower_them(
    tmp_path: Path, sqlite_url: str
) -> None:
    assert TELEGRAM_CAPABILITIES.max_action_bytes == 64
    limits = TELEGRAM_CAPABILITIES.send_limits
    assert (limits.per_second, limits.private_per_second, limits.group_per_minute) == (30, 1, 20)
    settings = make_settings(sqlite_url, tmp_path, push_max_per_second=100, push_group_per_minute=6)
    ceiling = push_options(settings).limits
    assert limits.capped_by(ceiling) == SendLimits(
        per_second=30, private_per_second=1, group_per_minute=6
    )
    assert is_telegram_id("-1001234567890") and not is_telegram_id("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")


async def test_the_core_s_own_default_is_no_limit() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    limiter = SendRateLimiter(SendLimits(), clock=lambda: 0.0, sleep=sleep)
    for _ in range(100):
        await limiter.acquire("o6_bmjrPTlm6_2sgVt7hMZOPfL2M", is_group=False)
    assert slept == []


def _conversation(sqlite_url: str, limit: int | None) -> Conversation:
    registry = Registry()
    action = "page:" + "x" * 40 + ":" + "y" * 30  # 76 bytes: fits no Telegram button
    registry.add_command(
        Command(
            "long",
            "help_title",
            lambda caller, args: [Reply(rich(paragraph("p")), ((Button("next", action),),))],
        )
    )
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    return Conversation(
        registry, AuditService(make_session_factory(engine)), max_action_bytes=limit
    )


async def test_a_button_over_the_channel_s_limit_is_refused(sqlite_url: str) -> None:
    caller = Caller(channel="wechat", user_id="u", chat_id="u")
    limited = _conversation(sqlite_url, TELEGRAM_CAPABILITIES.max_action_bytes)
    with pytest.raises(ValueError, match="exceeds 64 bytes"):
        await limited.handle_text(caller, "/long")
    # A core told of no limit (no channel with one in use) lets it through.
    [reply] = await _conversation(sqlite_url, None).handle_text(caller, "/long")
    assert reply.buttons[0][0].label == "next"
