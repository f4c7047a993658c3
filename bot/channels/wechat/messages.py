"""WeChat callback XML in and passive-reply XML out.

Callbacks are parsed with defusedxml: a DTD, an entity declaration or an external
reference is refused outright (a billion-laughs body never expands), and so is a body
over `MAX_BODY_BYTES`, before parsing. What comes out is one `Callback` dataclass, the
channel-free shape the adapter turns into a conversation call.

Replies are built here, never by string formatting in the adapter: text goes into CDATA
sections, and a `]]>` inside the text (which would end the section early and make the
whole reply invalid, so that the reader sees "该公众号暂时无法提供服务") is split across two
sections.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.channels.wechat.crypto import EncryptedMessage

#: WeChat's callbacks are a few hundred bytes (a text message holds at most 2,048 bytes
#: of content); anything near this is not WeChat.
MAX_BODY_BYTES = 64 * 1024
#: An EventKey longer than this is digested in the dedupe key (WeChat's keys: 128 bytes).
_READABLE_EVENT_KEY = 64


class CallbackFormatError(ValueError):
    """A body that is not a WeChat callback (oversized, not XML, forbidden XML, fields)."""


@dataclass(frozen=True, slots=True)
class Callback:
    """One message or event a follower's action sent to the account."""

    to_user: str
    from_user: str
    create_time: int
    msg_type: str
    content: str = ""
    msg_id: str = ""
    event: str = ""
    event_key: str = ""
    #: Every other child element's text (e.g. MASSSENDJOBFINISH's counts).
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """What makes a retry of this callback the same callback: WeChat resends a
        message with its MsgId, an event with the sender and CreateTime. An event's key
        counts too: two menu buttons tapped within one second are two CLICKs of the same
        sender and CreateTime, and a retry repeats its EventKey (digested when long, so
        the key fits its column)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        key = f"event:{self.from_user}:{self.create_time}:{self.event.lower()}"
        if not self.event_key:
            return key
        event_key = self.event_key
        if len(event_key) > _READABLE_EVENT_KEY:
            event_key = "#" + hashlib.blake2s(event_key.encode()).hexdigest()[:32]
        return f"{key}:{event_key}"


_KNOWN = {
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "Event",
    "EventKey",
}


def _parse_root(body: bytes) -> ET.Element:
    if len(body) > MAX_BODY_BYTES:
        raise CallbackFormatError(f"body of {len(body)} bytes is over {MAX_BODY_BYTES}")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CallbackFormatError(f"forbidden XML: {type(exc).__name__}") from exc
    except ET.ParseError as exc:
        raise CallbackFormatError(f"not XML: {exc}") from exc
    if root.tag != "xml":
        raise CallbackFormatError(f"root element is <{root.tag}>, not <xml>")
    return root


def _texts(root: ET.Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() if len(child) == 0 else "" for child in root}


def parse_callback(body: bytes | str) -> Callback:
    """A plaintext callback (or the decrypted XML of a safe-mode one)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    fields = _texts(_parse_root(raw))
    for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not fields.get(required):
            raise CallbackFormatError(f"{required} is missing")
    try:
        create_time = int(fields["CreateTime"])
    except ValueError as exc:
        raise CallbackFormatError("CreateTime is not a number") from exc
    content = fields.get("Content", "")
    return Callback(
        to_user=fields["ToUserName"],
        from_user=fields["FromUserName"],
        create_time=create_time,
        msg_type=fields["MsgType"].lower(),
        content=content,
        msg_id=fields.get("MsgId", "") or fields.get("MsgID", ""),
        event=fields.get("Event", ""),
        event_key=fields.get("EventKey", ""),
        extra={key: value for key, value in fields.items() if key not in _KNOWN},
    )


def encrypted_field(body: bytes) -> str:
    """The `Encrypt` element of a safe-mode (or compatible-mode) POST body."""
    fields = _texts(_parse_root(body))
    encrypt = fields.get("Encrypt", "")
    if not encrypt:
        raise CallbackFormatError("Encrypt is missing")
    return encrypt


def cdata(text: str) -> str:
    """`text` as CDATA, safe for any content: `]]>` is split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _envelope(to_user: str, from_user: str, create_time: int, msg_type: str, inner: str) -> str:
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        f"<MsgType>{cdata(msg_type)}</MsgType>{inner}</xml>"
    )


def text_reply(to_user: str, from_user: str, create_time: int, content: str) -> str:
    """A passive text reply (to the follower `to_user`, from the account `from_user`)."""
    return _envelope(
        to_user, from_user, create_time, "text", f"<Content>{cdata(content)}</Content>"
    )


@dataclass(frozen=True, slots=True)
class NewsArticle:
    """One card of a news (图文) reply."""

    title: str
    description: str
    url: str
    pic_url: str = ""


def news_reply(to_user: str, from_user: str, create_time: int, article: NewsArticle) -> str:
    """A passive news reply with one card (WeChat allows one per passive reply)."""
    item = (
        f"<item><Title>{cdata(article.title)}</Title>"
        f"<Description>{cdata(article.description)}</Description>"
        f"<PicUrl>{cdata(article.pic_url)}</PicUrl><Url>{cdata(article.url)}</Url></item>"
    )
    inner = f"<ArticleCount>1</ArticleCount><Articles>{item}</Articles>"
    return _envelope(to_user, from_user, create_time, "news", inner)


def encrypted_reply(message: EncryptedMessage) -> str:
    """The safe-mode envelope around an encrypted reply."""
    return (
        f"<xml><Encrypt>{cdata(message.encrypt)}</Encrypt>"
        f"<MsgSignature>{cdata(message.msg_signature)}</MsgSignature>"
        f"<TimeStamp>{message.timestamp}</TimeStamp>"
        f"<Nonce>{cdata(message.nonce)}</Nonce></xml>"
    )
