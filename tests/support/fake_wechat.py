"""A fake WeChat server API (`/cgi-bin/...`) over real HTTP, for the WeChat channel's tests.

It rejects what WeChat rejects, the way WeChat does (HTTP 200 with an `errcode`): a
missing or stale access_token (40001), an unknown media_id (40007), a menu over WeChat's
limits (40016–40020, 40023), an unknown follower (40003), text over the size limit (45002),
an article whose content holds a script or iframe element, an `on…` handler or a
`javascript:` URL, or has 20,000 characters or 1 MB and more (45166), a
repeated `clientmsgid` (45065, with the existing job's msg_id). It can be told to fail
like WeChat fails: `-1` (busy), a quota (45009), no permission (48001, an unverified
account), an IP not whitelisted (40164), a 5xx from the gateway, or a hang. And it can
`hold` a call, so a test can kill the caller at a moment the fake observes: before the
call is carried out (it never is: the caller died waiting, the request is dropped) or
after (carried out, the answer never arrives), as a crash looks to WeChat.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bot.channels.wechat.api import ApiRetry, WeChatApi
from bot.core.shared_credentials import SharedCredentials

JSONDict = dict[str, Any]

#: WeChat's customer-service text limit, in UTF-8 bytes.
MAX_TEXT_BYTES = 2048
MAX_MENU_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_BUTTON_NAME_BYTES = 16
MAX_SUB_BUTTON_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
#: draft/add: an article's content has fewer than 20,000 characters and under 1 MB.
MAX_ARTICLE_CHARS = 20_000
MAX_ARTICLE_BYTES = 1_000_000
#: Elements an article may not hold (WeChat removes or refuses active content).
ACTIVE_TAGS = frozenset({"script", "iframe", "object", "embed", "frame", "applet", "form"})


class _ActiveContent(HTMLParser):
    """Finds active markup in an article's HTML: a script-like element, an `on…`
    handler, a `javascript:` URL (text that merely reads like one is no markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            scheme = re.sub(r"[\s\x00-\x1f]", "", value or "").lower()
            if scheme.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"{tag} {name}={scheme[:20]}")


@dataclass
class Injection:
    method: str
    errcode: int = 0
    status: int = 200
    hang: float = 0.0
    times: int = 1


#: The longest a held call waits for its release (a test that forgot it does not hang).
HOLD_LIMIT_SECONDS = 120.0


@dataclass
class Hold:
    """One held call of `method`: `arrived` is set once the fake holds it (before it is
    carried out, or after with `after=True`), `released` lets it go on."""

    method: str
    after: bool
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    taken: bool = False

    def wait(self, timeout: float) -> None:
        assert self.arrived.wait(timeout), f"no {self.method} call within {timeout:.0f} s"


@dataclass
class FakeWeChatState:
    app_id: str
    app_secret: str
    followers: set[str] = field(default_factory=set)
    tokens: dict[str, float] = field(default_factory=dict)
    token_requests: int = 0
    calls: list[tuple[str, JSONDict]] = field(default_factory=list)
    customer_messages: list[JSONDict] = field(default_factory=list)
    menu: list[JSONDict] | None = None
    materials: dict[str, bytes] = field(default_factory=dict)
    drafts: dict[str, list[JSONDict]] = field(default_factory=dict)
    previews: list[JSONDict] = field(default_factory=list)
    mass_jobs: dict[str, JSONDict] = field(default_factory=dict)
    permissions: set[str] = field(default_factory=lambda: {"menu", "custom", "mass"})
    whitelist: set[str] | None = None
    injections: list[Injection] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)


_IDS = itertools.count(3_147_494_000)


def _error(errcode: int, errmsg: str) -> JSONDict:
    return {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"}


async def _no_sleep(_seconds: float) -> None:
    return None


class FakeWeChatServer:
    """Run with `with FakeWeChatServer(app_id, secret) as server:`; `server.base_url`."""

    def __init__(
        self,
        app_id: str = "wx2c2769f8efd9abc2",
        app_secret: str = "secret",
        *,
        permissions: set[str] | None = None,
    ) -> None:
        """`permissions`: of "menu", "custom" (customer-service), "mass"; the missing
        ones answer 48001 (default: all, a verified account)."""
        self.state = FakeWeChatState(app_id=app_id, app_secret=app_secret)
        if permissions is not None:
            self.state.permissions = set(permissions)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FakeWeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            for hold in self.state.holds:
                hold.released.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def client(
        self,
        http: httpx.AsyncClient,
        credentials: SharedCredentials,
        *,
        secret: str | None = None,
        attempts: int = 3,
    ) -> WeChatApi:
        """The bot's API client pointed at this fake, as this account (or with a wrong
        `secret`); retries come at once, so a test waits for nothing."""
        return WeChatApi(
            http,
            base_url=self.base_url,
            app_id=self.state.app_id,
            app_secret=self.state.app_secret if secret is None else secret,
            credentials=credentials,
            retry=ApiRetry(attempts=attempts, first_delay=0.01),
            sleep=_no_sleep,
        )

    # test controls -----------------------------------------------------------------

    def inject(
        self, method: str, *, errcode: int = 0, status: int = 200, hang: float = 0.0, times: int = 1
    ) -> None:
        with self._lock:
            self.state.injections.append(Injection(method, errcode, status, hang, times))

    def hold(self, method: str, *, after: bool = False) -> Hold:
        """Hold the next call of `method`: without `after`, before it is carried out
        (once held it is never carried out: the caller is to die waiting); with it,
        carried out, its answer held back (the caller dies without it)."""
        hold = Hold(method, after)
        with self._lock:
            self.state.holds.append(hold)
        return hold

    def _take_hold(self, method: str) -> Hold | None:
        with self._lock:
            for hold in self.state.holds:
                if hold.method == method and not hold.taken:
                    hold.taken = True
                    return hold
        return None

    def expire_tokens(self) -> None:
        """Every issued token becomes stale at once (as after a secret reset)."""
        with self._lock:
            self.state.tokens.clear()

    def calls_to(self, method: str) -> list[JSONDict]:
        with self._lock:
            return [body for name, body in self.state.calls if name == method]

    # the API -------------------------------------------------------------------------

    def _take_injection(self, method: str) -> Injection | None:
        with self._lock:
            for injection in self.state.injections:
                if injection.method in (method, "*"):
                    self.state.calls.append(
                        (method, {"injected": injection.errcode or injection.status})
                    )
                    injection.times -= 1
                    if injection.times <= 0:
                        self.state.injections.remove(injection)
                    return injection
        return None

    def _stable_token(self, body: JSONDict) -> JSONDict:
        state = self.state
        if body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if body.get("appid") != state.app_id:
            return _error(40013, "invalid appid")
        if body.get("secret") != state.app_secret:
            return _error(40125, "invalid appsecret")
        state.token_requests += 1
        now = time.time()
        live = [token for token, expires in state.tokens.items() if expires > now + 300]
        if live and not body.get("force_refresh"):
            token = live[0]
        else:
            if body.get("force_refresh"):
                state.tokens.clear()
            token = "TOKEN_" + secrets.token_urlsafe(24)
            state.tokens[token] = now + 7200
        return {"access_token": token, "expires_in": int(state.tokens[token] - now)}

    def handle(
        self, method: str, query: dict[str, str], body: JSONDict, client_ip: str
    ) -> JSONDict:
        state = self.state
        with self._lock:
            state.calls.append((method, body))
            if method == "stable_token":
                return self._stable_token(body)
            if state.whitelist is not None and client_ip not in state.whitelist:
                return _error(
                    40164, f"invalid ip {client_ip} ipv6 ::ffff:{client_ip}, not in whitelist"
                )
            token = query.get("access_token", "")
            if state.tokens.get(token, 0) <= time.time():
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            handler = _METHODS.get(method)
            if handler is None:
                return _error(48001, f"api unauthorized (unknown method {method})")
            return handler(self, body)

    def _custom_send(self, body: JSONDict) -> JSONDict:
        if "custom" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        if body.get("touser") not in self.state.followers:
            return _error(40003, "invalid openid")
        if body.get("msgtype") != "text":
            return _error(40008, "invalid message type")
        content = str(body.get("text", {}).get("content", ""))
        if not content:
            return _error(44004, "empty content")
        if len(content.encode("utf-8")) > MAX_TEXT_BYTES:
            return _error(45002, "content size out of limit")
        self.state.customer_messages.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def _menu_create(self, body: JSONDict) -> JSONDict:
        if "menu" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_MENU_BUTTONS:
            return _error(40016, "invalid button size")
        for button in buttons:
            name = str(button.get("name", ""))
            if not name or len(name.encode()) > MAX_BUTTON_NAME_BYTES:
                return _error(40018, "invalid button name size")
            subs = button.get("sub_button")
            if subs is not None:
                if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
                    return _error(40023, "invalid sub button size")
                for sub in subs:
                    sub_name = str(sub.get("name", ""))
                    if not sub_name or len(sub_name.encode()) > MAX_SUB_BUTTON_NAME_BYTES:
                        return _error(40018, "invalid button name size")
                    error = _leaf_error(sub)
                    if error is not None:
                        return error
            else:
                error = _leaf_error(button)
                if error is not None:
                    return error
        self.state.menu = buttons
        return {"errcode": 0, "errmsg": "ok"}

    def _selfmenu_info(self, _body: JSONDict) -> JSONDict:
        if "menu" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        return {
            "is_menu_open": int(self.state.menu is not None),
            "selfmenu_info": {"button": self.state.menu or []},
        }

    def _api_domain_ip(self, _body: JSONDict) -> JSONDict:
        return {"dns": [{"ip": "101.89.47.18", "real_operator": "CHINA_NET"}], "ping": []}

    def _kf_list(self, _body: JSONDict) -> JSONDict:
        if "custom" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        return {"kf_list": []}

    def _mass_speed(self, _body: JSONDict) -> JSONDict:
        if "mass" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        return {"speed": 0, "realspeed": 15}

    def _callback_ip(self, _body: JSONDict) -> JSONDict:
        return {"ip_list": ["101.226.62.77", "101.226.62.78"]}

    def _draft_add(self, body: JSONDict) -> JSONDict:
        articles = body.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return _error(45008, "article size out of limit")
        for article in articles:
            if not article.get("title") or not article.get("content"):
                return _error(44003, "empty news data")
            if article.get("thumb_media_id") not in self.state.materials:
                return _error(40007, "invalid media_id")
            if refusal := _article_content_refusal(str(article["content"])):
                return _error(45166, refusal)
        media_id = "DRAFT_" + secrets.token_urlsafe(12)
        self.state.drafts[media_id] = articles
        return {"media_id": media_id}

    def _mass_preview(self, body: JSONDict) -> JSONDict:
        if body.get("touser") not in self.state.followers:
            return _error(40003, "invalid openid")
        if body.get("mpnews", {}).get("media_id") not in self.state.drafts:
            return _error(40007, "invalid media_id")
        self.state.previews.append(body)
        return {"errcode": 0, "errmsg": "preview success", "msg_id": next(_IDS)}

    def _mass_sendall(self, body: JSONDict) -> JSONDict:
        if "mass" not in self.state.permissions:
            return _error(48001, "api unauthorized")
        media_id = body.get("mpnews", {}).get("media_id")
        if media_id not in self.state.drafts:
            return _error(40007, "invalid media_id")
        clientmsgid = str(body.get("clientmsgid") or media_id)
        if len(clientmsgid.encode()) > 64:
            return _error(40035, "invalid clientmsgid size")
        existing = self.state.mass_jobs.get(clientmsgid)
        if existing is not None:
            return {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": existing["msg_id"]}
        job = {
            "msg_id": next(_IDS),
            "msg_data_id": next(_IDS),
            "body": body,
            "to": sorted(self.state.followers),
        }
        self.state.mass_jobs[clientmsgid] = job
        return {
            "errcode": 0,
            "errmsg": "send job submission success",
            "msg_id": job["msg_id"],
            "msg_data_id": job["msg_data_id"],
        }

    def add_material(self, query: dict[str, str], content: bytes) -> JSONDict:
        with self._lock:
            self.state.calls.append(("material/add_material", {"type": query.get("type")}))
            if self.state.tokens.get(query.get("access_token", ""), 0) <= time.time():
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            if query.get("type") != "image" or not content:
                return _error(40004, "invalid media type")
            media_id = "MEDIA_" + secrets.token_urlsafe(12)
            self.state.materials[media_id] = content
            return {"media_id": media_id, "url": f"http://mmbiz.qpic.cn/{media_id}"}

    # HTTP ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            _held_after: Hold | None = None

            def log_message(self, *_args: object) -> None:
                return

            def _reply(self, status: int, payload: JSONDict) -> None:
                hold = self._held_after
                if hold is not None:
                    self._held_after = None
                    hold.arrived.set()
                    hold.released.wait(HOLD_LIMIT_SECONDS)
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; encoding=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, body_bytes: bytes) -> None:
                parts = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                method = parts.path.removeprefix("/cgi-bin/")
                hold = fake._take_hold(method)
                self._held_after = hold if hold is not None and hold.after else None
                if hold is not None and not hold.after:
                    hold.arrived.set()
                    hold.released.wait(HOLD_LIMIT_SECONDS)
                    # Never carried out: the caller is gone (or the test is over).
                    self.close_connection = True
                    return
                injection = fake._take_injection(method)
                if injection is not None:
                    if injection.hang:
                        time.sleep(injection.hang)
                    if injection.status != 200:
                        self._reply(injection.status, {"error": "injected"})
                        return
                    if injection.errcode:
                        self._reply(200, _error(injection.errcode, "injected"))
                        return
                if method == "material/add_material":
                    self._reply(
                        200,
                        fake.add_material(
                            query, _multipart_file(self.headers.get("Content-Type", ""), body_bytes)
                        ),
                    )
                    return
                try:
                    body = json.loads(body_bytes or b"{}")
                except ValueError:
                    self._reply(200, _error(47001, "data format error"))
                    return
                self._reply(200, fake.handle(method, query, body, self.client_address[0]))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                # A caller killed while its call was held: nobody reads the answer.
                with contextlib.suppress(ConnectionError):
                    self._serve(self.rfile.read(length))

            def do_GET(self) -> None:
                with contextlib.suppress(ConnectionError):
                    self._serve(b"")

        return Handler


def _leaf_error(item: JSONDict) -> JSONDict | None:
    """WeChat's errcode for a button with an action, or None when it is valid."""
    kind = item.get("type")
    if kind == "click":
        key = str(item.get("key", ""))
        if not key or len(key.encode()) > MAX_KEY_BYTES:
            return _error(40019, "invalid button key size")
    elif kind == "view":
        url = str(item.get("url", ""))
        if not url or len(url.encode()) > MAX_URL_BYTES:
            return _error(40020, "invalid button url size")
    else:
        return _error(40017, "invalid button type")
    return None


def _article_content_refusal(content: str) -> str | None:
    """Why WeChat refuses an article's content (draft/add), or None when it takes it."""
    if len(content) >= MAX_ARTICLE_CHARS or len(content.encode("utf-8")) >= MAX_ARTICLE_BYTES:
        return "invalid content: content size out of limit"
    checker = _ActiveContent()
    checker.feed(content)
    checker.close()
    if checker.found:
        return "invalid content: active markup " + ", ".join(checker.found[:3])
    return None


def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The first part's payload of a multipart/form-data body (enough for `media`)."""
    marker = "boundary="
    if marker not in content_type:
        return b""
    boundary = content_type.split(marker, 1)[1].strip().strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, payload = part.partition(b"\r\n\r\n")
        if b'name="media"' in head:
            return payload.removesuffix(b"\r\n")
    return b""


_METHODS = {
    "message/custom/send": FakeWeChatServer._custom_send,
    "menu/create": FakeWeChatServer._menu_create,
    "getcallbackip": FakeWeChatServer._callback_ip,
    "get_current_selfmenu_info": FakeWeChatServer._selfmenu_info,
    "get_api_domain_ip": FakeWeChatServer._api_domain_ip,
    "customservice/getkflist": FakeWeChatServer._kf_list,
    "message/mass/speed/get": FakeWeChatServer._mass_speed,
    "draft/add": FakeWeChatServer._draft_add,
    "message/mass/preview": FakeWeChatServer._mass_preview,
    "message/mass/sendall": FakeWeChatServer._mass_sendall,
}
