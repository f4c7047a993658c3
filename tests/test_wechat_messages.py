"""WeChat callback XML in, passive replies out: real callback shapes, hostile bodies."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot.channels.wechat.crypto import EncryptedMessage
from bot.channels.wechat.messages import (
    MAX_BODY_BYTES,
    CallbackFormatError,
    NewsArticle,
    encrypted_field,
    encrypted_reply,
    news_reply,
    parse_callback,
    text_reply,
)
from tests.support.paths import DATA_DIR

CALLBACKS = DATA_DIR / "wechat" / "callbacks"


def load(name: str) -> bytes:
    return (CALLBACKS / f"{name}.xml").read_bytes()


def test_a_text_message() -> None:
    callback = parse_callback(load("text"))
    assert (callback.msg_type, callback.content, callback.msg_id) == (
        "text",
        "this is a test",
        "1234567890123456",
    )
    assert (callback.from_user, callback.to_user, callback.create_time) == (
        "fromUser",
        "toUser",
        1348831860,
    )
    assert callback.dedupe_key == "msg:1234567890123456"


@pytest.mark.parametrize(
    "name, event, key",
    [
        ("subscribe", "subscribe", ""),
        ("subscribe_qrscene", "subscribe", "qrscene_123123"),
        ("unsubscribe", "unsubscribe", ""),
        ("scan", "SCAN", "123123"),
        ("click", "CLICK", "EVENTKEY"),
        ("view", "VIEW", "www.qq.com"),
    ],
)
def test_events(name: str, event: str, key: str) -> None:
    callback = parse_callback(load(name))
    assert (callback.msg_type, callback.event, callback.event_key) == ("event", event, key)
    base = f"event:{callback.from_user}:{callback.create_time}:{event.lower()}"
    # Two buttons tapped in one second are two events: the key tells them apart.
    assert callback.dedupe_key == (f"{base}:{key}" if key else base)


def test_a_long_event_key_is_digested_within_the_dedupe_column() -> None:
    long_key = "https://papers.example.org/" + "x" * 300
    first = parse_callback(load("view").replace(b"www.qq.com", long_key.encode()))
    other = parse_callback(load("view").replace(b"www.qq.com", (long_key + "y").encode()))
    assert len(first.dedupe_key) <= 200
    assert first.dedupe_key != other.dedupe_key


def test_the_mass_send_result_keeps_its_counts() -> None:
    callback = parse_callback(load("masssendjobfinish"))
    assert callback.event == "MASSSENDJOBFINISH"
    assert callback.msg_id == "1000001625"
    assert callback.extra["Status"] == "err(30003)"
    assert callback.extra["TotalCount"] == "0"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize(
    "body, reason",
    [
        (BILLION_LAUGHS, "forbidden XML"),
        (EXTERNAL_ENTITY, "forbidden XML"),
        (b"<!DOCTYPE xml><xml/>", "forbidden XML"),
        (b"<xml><ToUserName>a", "not XML"),
        (b"", "not XML"),
        ("对齐".encode(), "not XML"),
        (b"<html/>", "not <xml>"),
        (b"<xml><ToUserName>a</ToUserName></xml>", "FromUserName is missing"),
        (
            b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>x</CreateTime>"
            b"<MsgType>text</MsgType></xml>",
            "CreateTime",
        ),
        (b"<xml>" + b" " * MAX_BODY_BYTES + b"</xml>", "over"),
    ],
)
def test_hostile_or_broken_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(CallbackFormatError, match=reason):
        parse_callback(body)


def test_a_text_reply_survives_cdata_terminators_in_the_content() -> None:
    content = 'a]]>b <a href="https://x/r/y">链接</a> ]]]]> & <![CDATA[ end'
    xml = text_reply("oUser", "gh_account", 1700000000, content)
    root = ET.fromstring(xml)
    assert root.findtext("Content") == content
    assert root.findtext("ToUserName") == "oUser"
    assert root.findtext("MsgType") == "text"
    assert parse_callback(xml).content == content.strip()


def test_a_news_reply_has_one_card() -> None:
    article = NewsArticle(title="对齐]]>", description="摘要", url="https://example.org/r/lima")
    root = ET.fromstring(news_reply("oUser", "gh", 1, article))
    assert root.findtext("ArticleCount") == "1"
    assert root.findtext("Articles/item/Title") == "对齐]]>"
    assert root.findtext("Articles/item/Url") == "https://example.org/r/lima"


def test_the_encrypted_envelope_round_trips() -> None:
    sealed = EncryptedMessage(encrypt="QUJD", msg_signature="ab" * 20, timestamp="1", nonce="n")
    body = encrypted_reply(sealed).encode()
    assert encrypted_field(body) == "QUJD"
    with pytest.raises(CallbackFormatError, match="Encrypt is missing"):
        encrypted_field(b"<xml><ToUserName>a</ToUserName></xml>")
