"""What the WeChat channel tells: at start, one log line on the account's permissions
(48001: an unverified account; 40164: the address to whitelist; an unreachable API says
so, and start-up waits for none of it); when WeChat reports a mass send's end
(MASSSENDJOBFINISH), its counts go on the broadcast's row and, once, to the editors."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import build_core
from bot.channels.wechat.channel import WeChatChannel
from bot.core.addresses import ChatAddress
from bot.core.broadcasts import BroadcastService
from tests.support.fake_wechat import FakeWeChatServer
from tests.support.stores import make_settings
from tests.test_wechat_channel import serving

EDITOR = "oEDITOR"
MSG_ID = "1000001625"


async def _started_and_checked(
    tmp_path: Path, base_url: str, app_id: str = "wxapp", secret: str = "s3cret"
) -> WeChatChannel:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'w.db'}",
        tmp_path,
        wechat_app_id=app_id,
        wechat_app_secret=secret,
        wechat_token="spamtest",
        wechat_api_base_url=base_url,
    )
    channel = WeChatChannel(build_core(settings), httpx.AsyncClient())
    await channel.start()
    # Start-up did not wait for the check: the channel answers callbacks already.
    assert channel.state == "webhook"
    assert channel.permission_check is not None
    await asyncio.wait_for(channel.permission_check, timeout=60)
    return channel


def _check_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("WeChat ")]


def _permission_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in _check_lines(caplog)
        if "check" in r.getMessage() or "permission" in r.getMessage()
    ]


async def test_an_unverified_account_is_one_line_naming_what_it_cannot_do(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with FakeWeChatServer("wxapp", "s3cret", permissions=set()) as api:
        channel = await _started_and_checked(tmp_path, api.base_url)
        await channel.stop()
    (line,) = _permission_lines(caplog)
    assert "48001" in line and "custom menu" in line and "mass push" in line, line
    assert "late replies by customer-service message" in line


async def test_an_address_off_the_whitelist_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with FakeWeChatServer("wxapp", "s3cret") as api:
        api.state.whitelist = {"203.0.113.7"}
        channel = await _started_and_checked(tmp_path, api.base_url)
        await channel.stop()
    (line,) = _permission_lines(caplog)
    assert "127.0.0.1" in line and "40164" in line and "whitelist" in line, line


async def test_a_verified_account_is_one_line_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with FakeWeChatServer("wxapp", "s3cret") as api:
        channel = await _started_and_checked(tmp_path, api.base_url)
        await channel.stop()
    (line,) = _permission_lines(caplog)
    assert "available" in line, line


async def test_an_unreachable_api_is_a_warning_not_a_failed_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Nothing listens on port 9: every attempt is refused (retried with backoff).
    channel = await _started_and_checked(tmp_path, "http://127.0.0.1:9")
    await channel.stop()
    (line,) = _permission_lines(caplog)
    assert line.startswith("WeChat check:") and "unreachable" in line, line
    assert "passive replies still work" in line


class SentAs:
    """A broadcaster whose send WeChat gave `MSG_ID` (only the row matters here)."""

    channel = "wechat"
    max_items: int | None = None

    async def create_draft(self, push_key: str, reviews: Sequence[Any], language: str) -> str:
        return "DRAFT"

    async def preview(self, draft_id: str) -> None:
        return None

    async def send(self, draft_id: str, push_key: str) -> str:
        return MSG_ID


def _finish_xml(msg_id: str, created: int) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>"
        "<FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>{msg_id}</MsgID>"
        "<Status><![CDATA[send success]]></Status><TotalCount>3</TotalCount>"
        "<FilterCount>3</FilterCount><SentCount>2</SentCount><ErrorCount>1</ErrorCount></xml>"
    )


def _editor_texts(api: FakeWeChatServer) -> list[str]:
    """The editor's notices of a finished broadcast (the leader's catch-up push may
    send its own summary beside them)."""
    return [
        str(m["text"]["content"])
        for m in api.state.customer_messages
        if m["touser"] == EDITOR and "已结束" in str(m["text"]["content"])
    ]


def test_a_finished_mass_send_goes_on_the_row_and_to_the_editors_once(
    tmp_path: Path, database_url: str
) -> None:
    with serving(
        tmp_path, database_url, admin_ids=[ChatAddress("wechat", EDITOR)], wechat_push="mass"
    ) as served:
        served.api.state.followers.add(EDITOR)
        service = BroadcastService(served.core.sessions)

        class One:
            id = 1

        assert asyncio.run(service.run(SentAs(), [One()])).status == "sent"
        now = int(time.time())
        for xml in (
            _finish_xml(MSG_ID, now),
            _finish_xml(MSG_ID, now + 1),  # reported again: the row is finished already
            _finish_xml("999", now + 2),  # not a send of this store
        ):
            answer = served.client.post(xml)
            assert answer.body == "success", answer
        deadline = time.monotonic() + 20
        while not _editor_texts(served.api):
            assert time.monotonic() < deadline, "the editors heard nothing"
            time.sleep(0.05)
        time.sleep(0.5)  # a second notice, if one were coming, has had its time
        (text,) = _editor_texts(served.api)
        assert "wechat 群发 #1 已结束（send success）" in text, text
        assert "共 3 人" in text and "成功 2" in text and "失败 1" in text, text
        (row,) = service.recent("wechat")
        assert (row.status, row.total_count, row.sent_count, row.error_count) == (
            "finished",
            3,
            2,
            1,
        )
