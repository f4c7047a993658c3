"""WeChat's broadcast over real HTTP to the fake API: one sendall holding the reviews as
articles, nothing more on a second run; a crash between draft and sendall resumes the
stored draft and sends once; 45009 fails the broadcast with its reason; -1 is retried."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.app import Core
from bot.channels.wechat.broadcast import WeChatBroadcaster
from bot.core.broadcasts import BroadcastService
from bot.core.shared_credentials import SharedCredentials
from tests.support.fake_wechat import FakeWeChatServer

EDITOR = "oEDITOR"


@dataclass(frozen=True)
class R:
    id: int
    title: str = "对齐"
    body: str = "第一段\n\n第二段 <script>x</script>"
    summary: str = "摘要"
    slug: str = "align"


class CrashError(Exception):
    pass


class CrashBeforeSend(WeChatBroadcaster):
    async def send(self, draft_id: str, push_key: str) -> str:
        raise CrashError


@pytest.fixture
def wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as server:
        server.state.followers.update({EDITOR, "oREADER"})
        yield server


def _broadcaster(
    core: Core,
    wechat: FakeWeChatServer,
    http: httpx.AsyncClient,
    cls: type[Any] = WeChatBroadcaster,
) -> Any:
    credentials = SharedCredentials(core.sessions)
    api = wechat.client(http, credentials)
    return cls(
        api, credentials, lambda: b"\xff\xd8cover", editors=[EDITOR], public_url="https://x.org"
    )


def _sendalls(wechat: FakeWeChatServer) -> Sequence[Any]:
    return list(wechat.state.mass_jobs.values())


async def test_one_sendall_with_the_reviews_and_none_on_a_second_run(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    service = BroadcastService(core.sessions)
    wechat.inject("message/mass/sendall", errcode=-1)  # busy once: retried
    result = await service.run(_broadcaster(core, wechat, http), [R(1), R(2, slug="b")])
    assert result.status == "sent", result
    jobs = _sendalls(wechat)
    assert len(jobs) == 1
    articles = next(iter(wechat.state.drafts.values()))
    assert [a["content_source_url"] for a in articles] == [
        "https://x.org/r/align",
        "https://x.org/r/b",
    ]
    assert "<script>" not in articles[0]["content"]
    assert [p["touser"] for p in wechat.state.previews] == [EDITOR]
    again = await service.run(_broadcaster(core, wechat, http), [R(1), R(2, slug="b")])
    assert again.status == "nothing"
    assert len(_sendalls(wechat)) == 1
    assert len(wechat.calls_to("material/add_material")) == 1


async def test_crash_between_draft_and_sendall_sends_once(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    service = BroadcastService(core.sessions)
    with contextlib.suppress(CrashError):
        await service.run(_broadcaster(core, wechat, http, CrashBeforeSend), [R(1)])
    assert _sendalls(wechat) == []
    result = await service.run(_broadcaster(core, wechat, http), [R(1)])
    assert result.status == "sent"
    assert len(wechat.state.drafts) == 1  # the stored draft was reused
    assert len(_sendalls(wechat)) == 1


async def test_quota_fails_the_broadcast_with_a_clear_reason(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    service = BroadcastService(core.sessions)
    wechat.inject("message/mass/sendall", errcode=45009)
    result = await service.run(_broadcaster(core, wechat, http), [R(1)])
    assert result.status == "failed"
    assert result.error is not None and "45009" in result.error
    assert _sendalls(wechat) == []
