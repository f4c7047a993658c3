"""The audit log names who tried what, briefly, and keeps no message bodies."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.app import Core
from bot.core.conversation import Attachment, Caller
from tests.support.paths import DATA_DIR

REVIEW = (DATA_DIR / "front_matter_review.md").read_text(encoding="utf-8")
STRANGER = Caller(channel="telegram", user_id="1001", chat_id="1001")
EDITOR = Caller(channel="telegram", user_id="4242", chat_id="4242", trusted=True)


def _say(core: Core, caller: Caller, text: str) -> None:
    replies = asyncio.run(core.conversation.handle_text(caller, text))
    assert replies


def test_refused_attempts_keep_the_command_and_sizes_only(core: Core) -> None:
    private = "我的手机号是 13800000000，请帮我发布"
    _say(core, STRANGER, f"/queue\n{REVIEW}")
    _say(core, STRANGER, f"/stats {private}")
    document = Attachment("toolformer.md", b"", size=1234)
    _say(core, replace(STRANGER, attachment=document), "/queue 2030-01-07")
    entries = list(reversed(core.audit.recent()))
    assert [(e.action, e.allowed, e.actor) for e in entries] == [
        ("/queue", False, "1001"),
        ("/stats", False, "1001"),
        ("/queue", False, "1001"),
    ]
    pasted, stats, attached = (e.detail for e in entries)
    assert pasted == f"text, {len(REVIEW.strip())} characters"
    assert stats == f"text, {len(private)} characters"
    assert attached == "text, 10 characters; document, 1234 bytes"
    for entry in entries:
        assert len(entry.detail) <= 120
        assert "Toolformer" not in entry.detail and "13800000000" not in entry.detail


def test_an_editors_short_arguments_are_kept(core: Core) -> None:
    _say(core, EDITOR, "/publish 12")
    _say(core, EDITOR, f"/queue 2030-01-07\n{REVIEW}")
    _say(core, EDITOR, "/queued")
    entries = list(reversed(core.audit.recent()))
    assert [(e.action, e.allowed, e.detail) for e in entries] == [
        ("/publish", True, "12"),
        ("/queue", True, f"2030-01-07; text, {len(REVIEW.strip())} characters"),
        ("/queued", True, "no arguments"),
    ]
