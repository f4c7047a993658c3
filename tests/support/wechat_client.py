"""A fake WeChat platform posting callbacks to a server URL, the way WeChat does.

It builds callback XML like WeChat's (text messages, events), signs the query
(`signature`, and in safe mode `msg_signature` over the ciphertext), encrypts the body
in safe mode, and reads the answer back: a passive reply (decrypted and its signature
checked, in safe mode), `success` or an empty body. Like WeChat it can retry a callback
whose answer did not come in time (`post_with_retries`).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
from defusedxml.ElementTree import fromstring

from bot.channels.wechat.crypto import MessageCrypto, sha1_signature
from bot.channels.wechat.messages import cdata

ACCOUNT = "gh_paperbot_test"
_MSG_IDS = itertools.count(6_054_768_590_064_713_728)


@dataclass
class Answer:
    """What the server answered one callback."""

    status: int
    body: str
    #: The reply's XML (decrypted in safe mode); empty for `success` or no body.
    xml: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    articles: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return bool(self.xml)

    @property
    def msg_type(self) -> str:
        return self.fields.get("MsgType", "")

    @property
    def content(self) -> str:
        return self.fields.get("Content", "")


class WeChatClient:
    def __init__(
        self,
        url: str,
        token: str,
        app_id: str,
        encoding_aes_key: str = "",
        *,
        account: str = ACCOUNT,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.app_id = app_id
        self.account = account
        self.crypto = MessageCrypto(token, encoding_aes_key, app_id) if encoding_aes_key else None
        self.timeout = timeout

    # callback XML ----------------------------------------------------------------------

    def text(self, openid: str, content: str, msg_id: int | None = None) -> str:
        msg_id = next(_MSG_IDS) if msg_id is None else msg_id
        return (
            f"<xml><ToUserName>{cdata(self.account)}</ToUserName>"
            f"<FromUserName>{cdata(openid)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(content)}</Content>"
            f"<MsgId>{msg_id}</MsgId></xml>"
        )

    def event(self, openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
        created = int(time.time()) if create_time is None else create_time
        event_key = f"<EventKey>{cdata(key)}</EventKey>" if key else ""
        return (
            f"<xml><ToUserName>{cdata(self.account)}</ToUserName>"
            f"<FromUserName>{cdata(openid)}</FromUserName>"
            f"<CreateTime>{created}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event>{cdata(event)}</Event>"
            f"{event_key}</xml>"
        )

    # posting ------------------------------------------------------------------------

    def signed_request(
        self,
        xml: str,
        *,
        timestamp: int | None = None,
        forge: bool = False,
    ) -> tuple[str, bytes]:
        """The URL (with its signed query) and the body WeChat would post for `xml`."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        token = "forged" + self.token if forge else self.token
        query = {
            "signature": sha1_signature(token, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": _openid_of(xml),
        }
        body = xml.encode("utf-8")
        if self.crypto is not None:
            message = self.crypto.encrypt(xml, timestamp=stamp, nonce=nonce)
            query["encrypt_type"] = "aes"
            query["msg_signature"] = sha1_signature(token, stamp, nonce, message.encrypt)
            body = (
                f"<xml><ToUserName>{cdata(self.account)}</ToUserName>"
                f"<Encrypt>{cdata(message.encrypt)}</Encrypt></xml>"
            ).encode()
        return f"{self.url}?{urlencode(query)}", body

    def post(self, xml: str, *, timestamp: int | None = None, forge: bool = False) -> Answer:
        url, body = self.signed_request(xml, timestamp=timestamp, forge=forge)
        return self.post_raw(url, body)

    def post_raw(self, url: str, body: bytes) -> Answer:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "text/xml"}, timeout=self.timeout
        )
        return self.read(response)

    def send(self, openid: str, content: str) -> Answer:
        return self.post(self.text(openid, content))

    def post_with_retries(
        self, xml: str, *, attempts: int = 3, delay: float = 5.0, concurrent: int = 1
    ) -> list[Answer]:
        """WeChat's retries: the same callback `attempts` times, `delay` apart, each
        attempt sent `concurrent` times at once (retries overlapping a slow first one)."""
        answers: list[Answer] = []
        lock = threading.Lock()

        def one() -> None:
            answer = self.post(xml)
            with lock:
                answers.append(answer)

        for attempt in range(attempts):
            if attempt:
                time.sleep(delay)
            threads = [threading.Thread(target=one) for _ in range(concurrent)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return answers

    def verify(
        self, echostr: str, *, forge: bool = False, timestamp: int | None = None
    ) -> httpx.Response:
        """The admin console's server check (`GET` with `echostr`)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        token = "forged" + self.token if forge else self.token
        query = {
            "signature": sha1_signature(token, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "echostr": echostr,
        }
        return httpx.get(f"{self.url}?{urlencode(query)}", timeout=self.timeout)

    # answers ---------------------------------------------------------------------------

    def read(self, response: httpx.Response) -> Answer:
        """The answer as WeChat reads it; a reply WeChat would refuse raises AssertionError."""
        text = response.text
        answer = Answer(response.status_code, text)
        if response.status_code != 200 or text in ("", "success"):
            return answer
        root = fromstring(text.encode("utf-8"))
        if self.crypto is not None:
            encrypt = _child(root, "Encrypt")
            expected = sha1_signature(
                self.token, _child(root, "TimeStamp"), _child(root, "Nonce"), encrypt
            )
            assert _child(root, "MsgSignature") == expected, "reply's MsgSignature is wrong"
            answer.xml = self.crypto.decrypt_unsigned(encrypt)
        else:
            answer.xml = text
        reply = fromstring(answer.xml.encode("utf-8"))
        answer.fields = {child.tag: child.text or "" for child in reply if len(child) == 0}
        articles = reply.find("Articles")
        if articles is not None:
            answer.articles = [{child.tag: child.text or "" for child in item} for item in articles]
        content = answer.fields.get("Content", "")
        assert len(content.encode("utf-8")) <= 2048, "a text reply over WeChat's 2,048 bytes"
        return answer


def _child(root: ET.Element, tag: str) -> str:
    element = root.find(tag)
    return (element.text or "") if element is not None else ""


def _openid_of(xml: str) -> str:
    try:
        root = fromstring(xml.encode("utf-8"))
    except Exception:  # a hostile body a test posts on purpose
        return ""
    return _child(root, "FromUserName")
