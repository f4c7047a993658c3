"""The custom menu end to end: the keys `paperbot wechat menu` gives WeChat come back as
CLICK events and are answered like the words they are, a VIEW (a link the follower opened)
is acknowledged and nothing is sent; and hostile callbacks the channel tests do not
cover yet (an XML bomb in the safe-mode envelope itself, an external entity, `]]>` in a
review's title on a news card)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.db.models import SeenInbound
from tests.support.cli import run_cli
from tests.test_wechat_channel import (
    AES_KEY,
    APP_ID,
    PUBLIC,
    READER,
    SECRET,
    TOKEN,
    Served,
    serving,
)

OTHER = "o6_bmjrPTlm6_2sgVt7hMZOPfOther"


@pytest.fixture
def served(tmp_path: Path, sqlite_url: str) -> Iterator[Served]:
    with serving(tmp_path, sqlite_url) as running:
        running.api.state.followers.update({READER, OTHER})
        yield running


def menu_from_the_cli(served: Served, tmp_path: Path) -> list[dict[str, Any]]:
    """What `paperbot wechat menu` set on the (fake) account."""
    (tmp_path / "cli").mkdir()
    result = run_cli(
        ["wechat", "menu"],
        tmp_path / "cli",
        WECHAT_APP_ID=APP_ID,
        WECHAT_APP_SECRET=SECRET,
        WECHAT_TOKEN=TOKEN,
        WECHAT_ENCODING_AES_KEY=AES_KEY,
        WECHAT_API_BASE_URL=served.api.base_url,
        PUBLIC_URL=PUBLIC,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert served.api.state.menu is not None
    return served.api.state.menu


def leaves(menu: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        item
        for button in menu
        for item in button.get("sub_button") or [button]
        if item.get("type") == kind
    ]


def test_menu_clicks_are_answered_like_the_typed_words(served: Served, tmp_path: Path) -> None:
    menu = menu_from_the_cli(served, tmp_path)
    clicks = leaves(menu, "click")
    assert [item["key"] for item in clicks] == ["最新", "经典", "帮助"]
    client = served.client
    for item in clicks:
        key = item["key"]
        clicked = client.post(client.event(READER, "CLICK", key=key))
        typed = client.send(OTHER, key)
        assert clicked.is_reply and clicked.msg_type == "text", (key, clicked.body)
        assert clicked.fields["ToUserName"] == READER
        # The same text a follower typing the word gets (another follower: same store).
        assert clicked.content == typed.content, key
    # A later tap (another CreateTime: one within the same second as the loop's tap of
    # the same key is taken for WeChat's retry of it, and answered `success`).
    later = int(time.time()) + 1
    latest = client.post(client.event(READER, "CLICK", key="最新", create_time=later))
    assert "最新论文解读" in latest.content and "回复 1–" in latest.content
    # The click's list keeps its choices like a typed one: `1` opens its first review.
    first = served.core.reviews.page("latest", 1, 0).items[0]
    opened = client.send(READER, "1")
    assert opened.msg_type == "news" and opened.articles[0]["Title"] == first.title


def test_two_buttons_tapped_within_one_second_are_both_answered(served: Served) -> None:
    """Events have no MsgId: a retry is the same sender, CreateTime and EventKey; a
    second button in the same second is another event."""
    client = served.client
    now = int(time.time())
    latest = client.post(client.event(READER, "CLICK", key="最新", create_time=now))
    classic = client.post(client.event(READER, "CLICK", key="经典", create_time=now))
    again = client.post(client.event(READER, "CLICK", key="经典", create_time=now))
    assert "最新论文解读" in latest.content and "经典论文回顾" in classic.content
    assert (again.status, again.body) == (200, "success")


def test_a_click_retried_by_wechat_is_answered_once(served: Served) -> None:
    client = served.client
    xml = client.event(READER, "CLICK", key="经典")
    answers = client.post_with_retries(xml, attempts=3, delay=0.2, concurrent=3)
    replies = [answer for answer in answers if answer.is_reply]
    assert len(answers) == 9 and len(replies) == 1, [a.body for a in answers]
    assert "经典论文回顾" in replies[0].content
    assert all(a.body == "success" for a in answers if not a.is_reply)


def test_a_view_is_acknowledged_and_nothing_is_sent(served: Served, tmp_path: Path) -> None:
    menu = menu_from_the_cli(served, tmp_path)
    (view,) = leaves(menu, "view")
    assert view["url"] == PUBLIC + "/"
    client = served.client
    answer = client.post(client.event(READER, "VIEW", key=view["url"]))
    assert (answer.status, answer.body) == (200, "success")
    assert served.subscriber(READER) is None  # opening a link subscribes no one
    # The follower's next message is answered after the VIEW (one follower's callbacks
    # are handled in order): had the VIEW sent anything, it would be there by now.
    assert "最新论文解读" in client.send(READER, "最新").content
    assert served.api.state.customer_messages == []
    assert served.api.calls_to("message/custom/send") == []
    assert served.count(SeenInbound) == 2  # the VIEW was claimed once, like any callback


def test_a_bomb_in_the_safe_mode_envelope_is_refused_before_decrypting(served: Served) -> None:
    client = served.client
    url, body = client.signed_request(client.text(READER, "对齐"))
    # WeChat's envelope with a DTD and nested entities in front: never expanded.
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    bomb = b"<?xml version='1.0'?><!DOCTYPE xml [" + entities.encode() + b"]>" + body
    bomb = bomb.replace(b"</xml>", b"<Extra>&i;</Extra></xml>")
    refused = client.post_raw(url, bomb)
    assert (refused.status, refused.body) == (400, "")
    # An external entity inside the encrypted XML (file disclosure): refused the same.
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<xml><ToUserName>gh</ToUserName><FromUserName>{READER}</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&x;</Content>"
        "<MsgId>77</MsgId></xml>"
    )
    assert (client.post(xxe).status, client.post(xxe).body) == (400, "")
    assert served.count(SeenInbound) == 0
    # The envelope as WeChat sends it still works.
    assert "「对齐」的搜索结果" in client.post_raw(url, body).content


def test_cdata_ends_in_a_review_title_keep_the_news_card_valid(
    served: Served, tmp_path: Path
) -> None:
    title = "Breaking ]]> Out: CDATA ]]]]> in Titles"
    source = tmp_path / "cdata-title.md"
    source.write_text(
        f"---\ntitle: '{title}'\nsection: latest\n---\n\n标题里有 ]]> 的解读。\n",
        encoding="utf-8",
    )
    served.core.reviews.import_files([source])
    (review,) = [item for item in served.core.reviews.all() if item.title == title]
    client = served.client
    opened = client.send(READER, f"/review {review.slug}")
    # The client parsed the decrypted news XML: the title came through whole.
    assert opened.msg_type == "news", opened.xml
    assert opened.articles[0]["Title"] == title
    listed = client.send(READER, "最新")
    assert title in listed.content, listed.content
