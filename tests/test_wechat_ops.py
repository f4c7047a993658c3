"""The WeChat menu (built from the words the channel answers, WeChat's limits checked
before sending and by the fake) and `wechat check` (token and permission probes)."""

from __future__ import annotations

import httpx
import pytest

from bot.app import Core
from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.channels.wechat.ops import (
    MenuError,
    build_menu,
    check_account,
    menu_keys,
    startup_line,
    validate_menu,
)
from bot.channels.wechat.readers import KEYWORDS
from bot.core.shared_credentials import SharedCredentials
from tests.support.fake_wechat import FakeWeChatServer


def make_api(
    core: Core, wechat: FakeWeChatServer, http: httpx.AsyncClient, secret: str = "s3cret"
) -> WeChatApi:
    return wechat.client(http, SharedCredentials(core.sessions), secret=secret, attempts=2)


def test_menu_keys_are_words_the_channel_answers() -> None:
    for url in ("", "https://papers.example.org"):
        buttons = build_menu(url)
        keys = menu_keys(buttons)
        assert keys == ["最新", "经典", "帮助"]
        assert all(key in KEYWORDS for key in keys)
    assert build_menu("https://papers.example.org")[2]["sub_button"][1]["type"] == "view"


@pytest.mark.parametrize(
    "buttons",
    [
        [{"type": "click", "name": "a", "key": "最新"}] * 4,
        [{"type": "click", "name": "超过十六个字节的名字", "key": "最新"}],
        [{"type": "click", "name": "a", "key": "x" * 129}],
        [{"type": "bogus", "name": "a", "key": "最新"}],
        [{"name": "m", "sub_button": [{"type": "click", "name": "a", "key": "最新"}] * 6}],
        [{"type": "view", "name": "a", "url": "https://e.org/" + "x" * 1024}],
        [{"type": "click", "name": "a", "key": "not-a-keyword"}],
    ],
)
def test_menus_over_the_limits_are_refused_before_sending(buttons: list[dict[str, object]]) -> None:
    with pytest.raises(MenuError):
        validate_menu(buttons)


@pytest.mark.parametrize(
    ("buttons", "errcode"),
    [
        ([{"type": "click", "name": "a", "key": "k"}] * 4, 40016),
        ([{"type": "bogus", "name": "a", "key": "k"}], 40017),
        ([{"type": "click", "name": "超过十六个字节的名字", "key": "k"}], 40018),
        ([{"type": "click", "name": "a", "key": "k" * 129}], 40019),
        ([{"name": "m", "sub_button": [{"type": "click", "name": "a", "key": "k"}] * 6}], 40023),
    ],
)
async def test_the_fake_refuses_menus_like_wechat(
    core: Core, http: httpx.AsyncClient, buttons: list[dict[str, object]], errcode: int
) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as wechat:
        with pytest.raises(WeChatApiError) as caught:
            await make_api(core, wechat, http).create_menu(buttons)
        assert caught.value.errcode == errcode
        assert wechat.state.menu is None


async def test_the_built_menu_is_accepted_and_recorded(core: Core, http: httpx.AsyncClient) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as wechat:
        buttons = build_menu("https://papers.example.org")
        await make_api(core, wechat, http).create_menu(buttons)
        assert wechat.state.menu == buttons


async def test_check_of_a_verified_account(core: Core, http: httpx.AsyncClient) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as wechat:
        report = await check_account(make_api(core, wechat, http))
    assert report.ok and report.missing == []
    assert startup_line(report) is None


async def test_check_of_an_unverified_account_names_what_is_off(
    core: Core, http: httpx.AsyncClient
) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret", permissions=set()) as wechat:
        report = await check_account(make_api(core, wechat, http))
    assert report.ok
    assert report.permissions["menu"] == "not available (unverified account?)"
    assert set(report.missing) == {"menu", "custom_send", "mass"}
    line = startup_line(report)
    assert line is not None and "48001" in line and "mass push" in line


async def test_check_with_a_wrong_secret_names_the_setting(
    core: Core, http: httpx.AsyncClient
) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as wechat:
        report = await check_account(make_api(core, wechat, http, secret="wrong"))
    assert not report.ok and "WECHAT_APP_SECRET" in report.message


async def test_check_names_the_ip_to_whitelist(core: Core, http: httpx.AsyncClient) -> None:
    with FakeWeChatServer(app_id="wxapp", app_secret="s3cret") as wechat:
        wechat.state.whitelist = {"10.9.9.9"}
        report = await check_account(make_api(core, wechat, http))
    assert not report.ok and report.whitelist_ip == "127.0.0.1"
    assert "127.0.0.1" in report.message
