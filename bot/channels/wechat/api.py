"""WeChat's server API (`/cgi-bin/...`) on the project's async httpx client.

What WeChat does that a client must follow:
- every call carries an `access_token`; it is fetched with `POST /cgi-bin/stable_token`
  (normal mode: every caller gets the same token until it nears expiry, so replicas do
  not invalidate each other), kept in the database for every process
  (`SharedCredentials`), refreshed ahead of expiry by one request at a time, and once
  more when a call answers `40001`/`42001`/`40014` (the token went stale early);
- errors come as HTTP 200 with `{"errcode": N, "errmsg": ...}`: `-1` (system busy) and
  network failures are retried with backoff; `45009` (quota), `48001` (the account has no
  permission for this API: unverified accounts have no menu, customer-service or mass
  send) and `40164` (the caller's IP is not whitelisted; WeChat names it in errmsg) are
  raised as their own exceptions so the channel can say what to do;
- `message/mass/sendall` with a `clientmsgid` it has seen in the last 24 h answers
  `45065` with the existing job's `msg_id`: the send already happened, which is success.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from bot.core.shared_credentials import SharedCredentials
from bot.db.models import utcnow

if TYPE_CHECKING:
    from bot.settings import Settings

_LOG = logging.getLogger(__name__)

CHANNEL = "wechat"
#: Refresh the token when less than this is left of it.
REFRESH_AHEAD = dt.timedelta(minutes=5)
STALE_TOKEN_CODES = frozenset({40001, 40014, 42001})
BUSY_CODES = frozenset({-1, 45066})


class WeChatApiError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str, method: str) -> None:
        super().__init__(f"WeChat {method} failed: {errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.method = method


class WeChatPermissionError(WeChatApiError):
    """48001: this account may not use the API (unverified, or the wrong account type)."""


class WeChatQuotaError(WeChatApiError):
    """45009: the API's daily quota is used up; retrying today cannot help."""


class WeChatIpWhitelistError(WeChatApiError):
    """40164: the calling server's address is not on the account's IP whitelist."""

    @property
    def address(self) -> str | None:
        match = re.search(r"invalid ip ([0-9a-fA-F.:]+)", self.errmsg)
        return match.group(1) if match else None


def _raise_for(errcode: int, errmsg: str, method: str) -> None:
    if errcode == 48001:
        raise WeChatPermissionError(errcode, errmsg, method)
    if errcode == 45009:
        raise WeChatQuotaError(errcode, errmsg, method)
    if errcode == 40164:
        raise WeChatIpWhitelistError(errcode, errmsg, method)
    raise WeChatApiError(errcode, errmsg, method)


@dataclass(frozen=True, slots=True)
class MassSend:
    msg_id: int
    #: True when WeChat answered that this clientmsgid was already sent (45065).
    already_sent: bool


@dataclass(frozen=True, slots=True)
class ApiRetry:
    """How transient failures (-1, timeouts, 5xx) are retried."""

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 8.0


Sleep = Callable[[float], Awaitable[None]]
#: A multipart upload: field name -> (file name, content, content type).
Files = Mapping[str, tuple[str, bytes, str]]


def refusal_message(exc: WeChatApiError) -> str:
    """What the operator must fix when WeChat refuses a call: the setting that is wrong,
    or the address to whitelist (`paperbot wechat`, the mass push and the log say it
    the same way)."""
    if exc.errcode in (40001, 40125):
        return f"invalid WECHAT_APP_SECRET ({exc.errcode}): reset or copy it from the admin console"
    if exc.errcode == 40013:
        return f"invalid WECHAT_APP_ID ({exc.errcode}): it starts with wx, see the admin console"
    if isinstance(exc, WeChatIpWhitelistError):
        return (
            f"this server's IP {exc.address or '(unknown)'} is not on the account's IP whitelist"
            " (40164; admin console: 设置与开发 > 基本配置 > IP白名单)"
        )
    return f"WeChat {exc.method} failed: {exc.errcode} {exc.errmsg}"


class WeChatApi:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        credentials: SharedCredentials,
        retry: ApiRetry | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._credentials = credentials
        self._retry = retry or ApiRetry()
        self._sleep = sleep
        self._refresh_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, http: httpx.AsyncClient, credentials: SharedCredentials
    ) -> WeChatApi:
        """The account's API as the settings name it (the channel, the mass push and
        `paperbot wechat` all reach WeChat through this one)."""
        return cls(
            http,
            base_url=settings.wechat_api_base_url,
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            credentials=credentials,
        )

    @property
    def _token_name(self) -> str:
        return f"access_token:{self._app_id}"

    async def access_token(self, *, stale: str | None = None) -> str:
        """A valid token from the store, or a fresh one; `stale` is a token a call has
        just been refused with (refresh unless another request already replaced it)."""
        cached = await asyncio.to_thread(self._credentials.get, CHANNEL, self._token_name)
        if cached and cached.value != stale and cached.expires_at - utcnow() > REFRESH_AHEAD:
            return cached.value
        async with self._refresh_lock:
            cached = await asyncio.to_thread(self._credentials.get, CHANNEL, self._token_name)
            if cached and cached.value != stale and cached.expires_at - utcnow() > REFRESH_AHEAD:
                return cached.value
            return await self._fetch_token()

    async def _fetch_token(self) -> str:
        body = {
            "grant_type": "client_credential",
            "appid": self._app_id,
            "secret": self._secret,
            "force_refresh": False,
        }
        answer = await self._post_with_retry(
            "stable_token", f"{self._base}/cgi-bin/stable_token", body
        )
        token = str(answer["access_token"])
        expires = utcnow() + dt.timedelta(seconds=int(answer.get("expires_in", 7200)))
        await asyncio.to_thread(self._credentials.put, CHANNEL, self._token_name, token, expires)
        _LOG.info(
            "wechat access_token refreshed, valid until %s", expires.isoformat(timespec="seconds")
        )
        return token

    async def call(
        self,
        method: str,
        body: Mapping[str, Any] | None = None,
        *,
        get: bool = False,
        files: Files | None = None,
        query: str = "",
    ) -> dict[str, Any]:
        """`/cgi-bin/<method>` with the token; a stale token is replaced once. `files`:
        a multipart upload instead of a JSON body; `query`: more URL parameters."""
        token = await self.access_token()
        try:
            return await self._post_with_retry(
                method, self._url(method, token, query), body, get=get, files=files
            )
        except WeChatApiError as exc:
            if exc.errcode not in STALE_TOKEN_CODES:
                raise
        token = await self.access_token(stale=token)
        return await self._post_with_retry(
            method, self._url(method, token, query), body, get=get, files=files
        )

    def _url(self, method: str, token: str, query: str = "") -> str:
        return f"{self._base}/cgi-bin/{method}?access_token={token}" + (
            f"&{query}" if query else ""
        )

    async def _post_with_retry(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        *,
        get: bool = False,
        files: Files | None = None,
    ) -> dict[str, Any]:
        delay = self._retry.first_delay
        for attempt in range(1, self._retry.attempts + 1):
            last = attempt == self._retry.attempts
            try:
                answer = await self._once(method, url, body, get=get, files=files)
            except (httpx.TransportError, _ServerError) as exc:
                if last:
                    raise WeChatApiError(-1, f"unreachable: {exc}", method) from exc
                _LOG.warning("wechat %s: %s; retrying in %.1fs", method, exc, delay)
            else:
                errcode = int(answer.get("errcode", 0) or 0)
                if errcode == 0:
                    return answer
                if errcode not in BUSY_CODES or last:
                    if errcode == 45065 and method == "message/mass/sendall":
                        return answer
                    _raise_for(errcode, str(answer.get("errmsg", "")), method)
                _LOG.warning("wechat %s: busy (%s); retrying in %.1fs", method, errcode, delay)
            await self._sleep(delay)
            delay = min(delay * 2, self._retry.max_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        *,
        get: bool,
        files: Files | None = None,
    ) -> dict[str, Any]:
        if get:
            response = await self._http.get(url)
        elif files is not None:
            response = await self._http.post(url, files=files)
        else:
            response = await self._http.post(url, json=dict(body or {}))
        if response.status_code >= 500:
            raise _ServerError(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise WeChatApiError(response.status_code, response.text[:200], method)
        try:
            answer = response.json()
        except ValueError as exc:
            raise WeChatApiError(-2, "answer is not JSON", method) from exc
        if not isinstance(answer, dict):
            raise WeChatApiError(-2, "answer is not a JSON object", method)
        return answer

    # The calls the channel makes -------------------------------------------------

    async def send_text(self, openid: str, content: str) -> None:
        """A customer-service text message (allowed within 48 h of the follower's last
        message; verified accounts only)."""
        await self.call(
            "message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
        )

    async def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        await self.call("menu/create", {"button": buttons})

    async def callback_ips(self) -> list[str]:
        answer = await self.call("getcallbackip", get=True)
        return [str(ip) for ip in answer.get("ip_list", [])]

    async def upload_image(self, content: bytes, filename: str) -> str:
        """A permanent image material (a cover for articles); its media_id. Retried
        and re-tokened like every other call."""
        answer = await self.call(
            "material/add_material",
            files={"media": (filename, content, "image/jpeg")},
            query="type=image",
        )
        return str(answer["media_id"])

    async def add_draft(self, articles: list[dict[str, Any]]) -> str:
        answer = await self.call("draft/add", {"articles": articles})
        return str(answer["media_id"])

    async def mass_preview(self, openid: str, media_id: str) -> None:
        await self.call(
            "message/mass/preview",
            {"touser": openid, "mpnews": {"media_id": media_id}, "msgtype": "mpnews"},
        )

    async def mass_send_all(
        self, media_id: str, clientmsgid: str, tag_id: int | None = None
    ) -> MassSend:
        target: dict[str, Any] = (
            {"is_to_all": True} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
        )
        answer = await self.call(
            "message/mass/sendall",
            {
                "filter": target,
                "mpnews": {"media_id": media_id},
                "msgtype": "mpnews",
                "send_ignore_reprint": 0,
                "clientmsgid": clientmsgid,
            },
        )
        return MassSend(
            msg_id=int(answer.get("msg_id", 0)),
            already_sent=int(answer.get("errcode", 0) or 0) == 45065,
        )


class _ServerError(Exception):
    """A 5xx from WeChat's gateway: transient, retried like `-1`."""
