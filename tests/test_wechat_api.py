"""The WeChat API client against the fake WeChat server over real HTTP: tokens shared
through the store, errors as WeChat sends them, mass-send dedupe by clientmsgid."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.app import Core
from bot.channels.wechat.api import (
    WeChatApi,
    WeChatApiError,
    WeChatIpWhitelistError,
    WeChatPermissionError,
    WeChatQuotaError,
)
from bot.core.shared_credentials import SharedCredentials
from tests.support.fake_wechat import FakeWeChatServer

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
def wechat() -> Iterator[FakeWeChatServer]:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as server:
        server.state.followers.add(OPENID)
        yield server


def make_api(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient, secret: str = "s3cret"
) -> WeChatApi:
    return wechat.client(http, SharedCredentials(core.sessions), secret=secret)


async def test_one_token_serves_every_client_of_the_store(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    first, second = make_api(core, wechat, http), make_api(core, wechat, http)
    await first.send_text(OPENID, "你好")
    await second.send_text(OPENID, "再见")
    assert wechat.state.token_requests == 1
    assert [m["text"]["content"] for m in wechat.state.customer_messages] == ["你好", "再见"]


async def test_a_stale_token_is_replaced_once(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    await api.send_text(OPENID, "一")
    wechat.expire_tokens()
    await api.send_text(OPENID, "二")
    assert wechat.state.token_requests == 2
    assert len(wechat.state.customer_messages) == 2


async def test_busy_and_gateway_errors_are_retried(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    wechat.inject("message/custom/send", errcode=-1)
    wechat.inject("message/custom/send", status=502)
    await api.send_text(OPENID, "终于")
    assert len(wechat.state.customer_messages) == 1


async def test_busy_for_good_gives_up_with_the_code(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    wechat.inject("message/custom/send", errcode=-1, times=5)
    with pytest.raises(WeChatApiError) as raised:
        await api.send_text(OPENID, "x")
    assert raised.value.errcode == -1
    assert wechat.state.customer_messages == []


@pytest.mark.parametrize(
    "errcode, error",
    [(45009, WeChatQuotaError), (48001, WeChatPermissionError), (40003, WeChatApiError)],
)
async def test_errors_that_retrying_cannot_fix_are_raised_at_once(
    core: Core,
    wechat: FakeWeChatServer,
    http: httpx.AsyncClient,
    errcode: int,
    error: type[Exception],
) -> None:
    api = make_api(core, wechat, http)
    wechat.inject("message/custom/send", errcode=errcode)
    with pytest.raises(error):
        await api.send_text(OPENID, "x")
    assert len(wechat.calls_to("message/custom/send")) == 1


async def test_an_unwhitelisted_address_is_named(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    wechat.state.whitelist = {"203.0.113.9"}
    with pytest.raises(WeChatIpWhitelistError) as raised:
        await api.callback_ips()
    assert raised.value.address == "127.0.0.1"


async def test_a_wrong_secret_is_a_clear_error(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http, secret="wrong")
    with pytest.raises(WeChatApiError, match="40125"):
        await api.callback_ips()


async def test_an_unverified_account_cannot_mass_send(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    wechat.state.permissions = set()
    cover = await api.upload_image(b"\xff\xd8jpeg", "cover.jpg")
    draft = await api.add_draft([{"title": "本周", "content": "<p>x</p>", "thumb_media_id": cover}])
    with pytest.raises(WeChatPermissionError):
        await api.mass_send_all(draft, "push-1")
    assert wechat.state.mass_jobs == {}


async def test_a_repeated_clientmsgid_is_the_same_send(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    cover = await api.upload_image(b"\xff\xd8jpeg", "cover.jpg")
    draft = await api.add_draft(
        [{"title": "本周论文", "content": "<p>对齐</p>", "thumb_media_id": cover}]
    )
    await api.mass_preview(OPENID, draft)
    first = await api.mass_send_all(draft, "push-7")
    again = await api.mass_send_all(draft, "push-7")
    assert not first.already_sent and again.already_sent
    assert again.msg_id == first.msg_id
    assert len(wechat.state.mass_jobs) == 1
    assert len(wechat.state.previews) == 1


async def test_a_draft_needs_an_uploaded_cover(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    with pytest.raises(WeChatApiError, match="40007"):
        await api.add_draft([{"title": "t", "content": "c", "thumb_media_id": "nope"}])


async def test_a_menu_over_the_limits_is_refused(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient
) -> None:
    api = make_api(core, wechat, http)
    with pytest.raises(WeChatApiError, match="40016"):
        await api.create_menu([{"type": "click", "name": str(n), "key": str(n)} for n in range(4)])
    await api.create_menu([{"type": "click", "name": "最新", "key": "latest"}])
    assert wechat.state.menu == [{"type": "click", "name": "最新", "key": "latest"}]
