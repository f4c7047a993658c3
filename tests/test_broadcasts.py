"""The core's broadcast state machine on a real SQLite store: a restart after a crash
between the draft and the send reuses the draft and the key; a sent broadcast is not
sent again; a refusal marks it failed with its reason; finish counts land on the row."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import build_core
from bot.core.broadcasts import BroadcastError, BroadcastService
from tests.support.stores import make_settings


@dataclass(frozen=True)
class R:
    id: int


class CrashError(Exception):
    pass


class Recorder:
    channel = "wechat"
    max_items: int | None = None

    def __init__(self, crash_before_send: bool = False, refuse: str = "") -> None:
        self.drafts: list[tuple[str, list[int]]] = []
        self.previews: list[str] = []
        self.sends: list[tuple[str, str]] = []
        self.crash_before_send = crash_before_send
        self.refuse = refuse

    async def create_draft(self, push_key: str, reviews: Sequence[Any], language: str) -> str:
        self.drafts.append((push_key, [r.id for r in reviews]))
        return f"DRAFT{len(self.drafts)}"

    async def preview(self, draft_id: str) -> None:
        self.previews.append(draft_id)

    async def send(self, draft_id: str, push_key: str) -> str:
        if self.crash_before_send:
            raise CrashError
        if self.refuse:
            raise BroadcastError(self.refuse)
        self.sends.append((draft_id, push_key))
        return "1000"


def _service(tmp_path: Path) -> BroadcastService:
    core = build_core(make_settings(f"sqlite:///{tmp_path / 'b.db'}", tmp_path))
    return BroadcastService(core.sessions)


def test_crash_between_draft_and_send_resumes_with_the_same_draft(tmp_path: Path) -> None:
    service = _service(tmp_path)
    reviews = [R(1), R(2)]
    crashing = Recorder(crash_before_send=True)
    with contextlib.suppress(CrashError):
        asyncio.run(service.run(crashing, reviews))
    again = Recorder()
    result = asyncio.run(service.run(again, reviews))
    assert result.status == "sent"
    assert again.drafts == []  # the stored draft is reused
    assert again.sends == [("DRAFT1", crashing.drafts[0][0])]
    # Sent: the same reviews are not broadcast again; a new one is, alone.
    assert asyncio.run(service.run(again, reviews)).status == "nothing"
    third = asyncio.run(service.run(again, [*reviews, R(3)]))
    assert third.review_ids == (3,)
    assert service.finished("wechat", "1000", {"total": 5, "sent": 4, "error": 1, "filter": 5})
    finished = [row for row in service.recent("wechat") if row.status == "finished"]
    assert finished and finished[0].sent_count == 4


def test_a_refusal_fails_the_broadcast_with_its_reason(tmp_path: Path) -> None:
    service = _service(tmp_path)
    result = asyncio.run(service.run(Recorder(refuse="45009 quota reached"), [R(1)]))
    assert result.status == "failed"
    assert result.error == "45009 quota reached"
    assert service.recent("wechat")[0].error == "45009 quota reached"
