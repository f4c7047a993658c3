"""WeChat (公众号) as a channel of the runtime: WeChat's callbacks on `/wechat`.

`GET /wechat` is the server check of the admin console (echo `echostr` when signed);
`POST /wechat` carries followers' messages and events, plaintext or in safe mode
(`encrypt_type=aes`). Anything not signed with our Token, older than
`MAX_CLOCK_SKEW_SECONDS`, or not a callback gets an empty 403/400 and changes nothing.

WeChat waits 5 s for the answer to a callback, then retries (three attempts in all, and a
retry may reach another process while the first is still working). So each callback is
claimed once in the store (`InboundDedupe`, by MsgId or sender + CreateTime + event); a
later attempt answers `success` (WeChat's "nothing to say") and does nothing. A reply
ready within `WECHAT_REPLY_SECONDS` (4 s) is the passive reply; one that is not is
answered `success` now and sent as a customer-service message when it is ready.

What followers get is `readers.WeChatReaders`' (the conversation core, rendered for
WeChat); this module is the HTTP, signatures, dedupe and deadline around it. A passive
reply is one message: any further one (the welcome after a review's QR code opened it)
follows as a customer-service message.

With WECHAT_PUSH=mass the channel declares a `broadcaster` (broadcast.py): the push
(`paperbot push`, the running bot's schedule) mass-sends the week's reviews through it.
WeChat's report of the job's end (MASSSENDJOBFINISH) goes on the broadcast's row and to
the editors through `notices()` (the runtime's notifier: each editor on their channel).
At start the account's permissions are checked in the background (ops.check_account,
bounded by PERMISSION_CHECK_SECONDS): one log line says what is missing (48001) or which
address to whitelist (40164); start-up neither waits for it nor fails with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Core
from bot.channels.plugin import ChannelState
from bot.channels.wechat.api import CHANNEL, WeChatApi, WeChatApiError
from bot.channels.wechat.broadcast import WeChatBroadcaster, broadcaster_for
from bot.channels.wechat.capabilities import WECHAT_CAPABILITIES
from bot.channels.wechat.crypto import (
    MessageCrypto,
    WeChatCryptoError,
    check_signature,
    sha1_signature,
    signature_matches,
)
from bot.channels.wechat.messages import (
    MAX_BODY_BYTES,
    Callback,
    CallbackFormatError,
    encrypted_field,
    encrypted_reply,
    news_reply,
    parse_callback,
    text_reply,
)
from bot.channels.wechat.ops import check_account, startup_line
from bot.channels.wechat.readers import Outgoing, WeChatReaders
from bot.core.broadcasts import Broadcaster, FinishedBroadcast
from bot.core.conversation import Reply
from bot.core.inbound_dedupe import InboundDedupe
from bot.core.notify import Notifier, notify_admins
from bot.core.push import Sender
from bot.core.richtext import paragraph, rich
from bot.core.search.segment import warm_up
from bot.core.shared_credentials import SharedCredentials
from bot.core.texts import t
from bot.core.views import broadcast_finished_text
from bot.log_format import log_context
from bot.metrics import Metrics

log = logging.getLogger(__name__)

WECHAT_PATH = "/wechat"
#: A callback whose timestamp is further than this from our clock is refused (a replay).
MAX_CLOCK_SKEW_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
#: WeChat's answer for "received, no reply": it neither retries nor shows an error.
SUCCESS = "success"
#: A reply finished this much past WECHAT_REPLY_SECONDS is treated as late.
LATE_SLACK = 0.5
#: How long a stop waits for replies still being prepared before giving up on them.
DRAIN_SECONDS = 30.0
#: The start's permission check gives up after this (it runs beside start-up).
PERMISSION_CHECK_SECONDS = 20.0
#: The editors' language for the notices the channel sends them.
EDITOR_LANGUAGE = "zh"


class WeChatChannel:
    """The WeChat channel; `http` is the composition root's client, closed on stop."""

    name = CHANNEL
    capabilities = WECHAT_CAPABILITIES

    def __init__(
        self,
        core: Core,
        http: httpx.AsyncClient,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = core.settings
        self.core = core
        self._http = http
        self._metrics = metrics
        self._clock = clock
        self._token = settings.wechat_token
        self._reply_seconds = settings.wechat_reply_seconds
        self.readers = WeChatReaders(core, CHANNEL, settings.public_url)
        self.crypto = (
            MessageCrypto(
                settings.wechat_token, settings.wechat_encoding_aes_key, settings.wechat_app_id
            )
            if settings.wechat_encoding_aes_key
            else None
        )
        self.api = WeChatApi.from_settings(settings, http, SharedCredentials(core.sessions))
        self._notifier = WeChatNotifier(self.readers, self.api)
        self._broadcaster: WeChatBroadcaster | None = (
            broadcaster_for(core, self.api) if settings.wechat_push == "mass" else None
        )
        #: Where editors' notices go: the runtime wires its notifier (every editor on
        #: their own channel); alone, the channel's own.
        self.notices: Callable[[], Notifier | None] = lambda: self.notifier
        self.readers.on_broadcast_finished = self._broadcast_finished
        self._dedupe = InboundDedupe(core.sessions)
        self._state: ChannelState = "off"
        self._warm_up: asyncio.Task[None] | None = None
        #: The start's permission check, running beside start-up (done: logged).
        self.permission_check: asyncio.Task[None] | None = None
        #: Replies that missed the passive deadline, on their way as customer-service
        #: messages; a stop waits for them (bounded).
        self._late: set[asyncio.Task[None]] = set()
        #: One follower's messages are answered in order (their choices depend on it).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # the runtime's protocol ------------------------------------------------------------

    @property
    def state(self) -> ChannelState:
        return self._state

    @property
    def sender(self) -> Sender | None:
        # Pushes to WeChat followers go through mass sending (issue #11, point 5).
        return None

    @property
    def broadcaster(self) -> Broadcaster | None:
        """The mass push (WECHAT_PUSH=mass) while the channel is up."""
        return self._broadcaster if self._state == "webhook" else None

    @property
    def notifier(self) -> Notifier | None:
        return self._notifier if self._state == "webhook" else None

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WECHAT_PATH, self._on_check, methods=["GET"]),
            Route(WECHAT_PATH, self._on_callback, methods=["POST"]),
        ]

    async def start(self) -> None:
        """Nothing to connect: WeChat calls us; the access token is fetched on first use.
        jieba's dictionary (a second or more) loads now, beside start-up, so that the
        first reader's search is not the one that misses WeChat's 5-s deadline."""
        self._warm_up = asyncio.create_task(asyncio.to_thread(warm_up))
        if self.permission_check is None or self.permission_check.done():
            self.permission_check = asyncio.create_task(
                self._log_permissions(), name="wechat-check"
            )
        self._state = "webhook"
        mode = "safe mode (AES)" if self.crypto else "plaintext mode"
        log.info("WeChat: callbacks on %s, %s", WECHAT_PATH, mode)

    async def _log_permissions(self) -> None:
        """One line on what the account may do (48001: unverified; 40164: the address
        to whitelist). Never raises: a network error is one warning."""
        try:
            report = await asyncio.wait_for(
                check_account(self.api), timeout=PERMISSION_CHECK_SECONDS
            )
        except TimeoutError:
            log.warning(
                "WeChat check: no answer from %s within %.0f s; permissions unknown "
                "(`paperbot wechat check` tells)",
                self.core.settings.wechat_api_base_url,
                PERMISSION_CHECK_SECONDS,
            )
            return
        except Exception as exc:
            log.warning("WeChat check failed: %s; permissions unknown", str(exc)[:200] or exc)
            return
        line = startup_line(report)
        if line is None:
            log.info("WeChat check: menu, customer-service messages and mass push available")
        elif report.ok:
            log.warning(line)
        else:
            log.error(line)

    async def stop(self) -> None:
        """Let replies on their way as customer-service messages finish (bounded), then
        close the HTTP client."""
        self._state = "off"
        if self.permission_check is not None and not self.permission_check.done():
            self.permission_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.permission_check
        if self._warm_up is not None:
            await self._warm_up
        if self._late:
            _, pending = await asyncio.wait(set(self._late), timeout=DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("%d WeChat replies not sent: stopping", len(pending))
        await self._http.aclose()

    async def on_leadership(self, leading: bool) -> None:
        """Every process answers callbacks: WeChat picks one."""

    # HTTP ----------------------------------------------------------------------------

    def _fresh(self, timestamp: str) -> bool:
        # ASCII digits only: `str.isdigit` takes "²", which int() refuses.
        if not _TIMESTAMP.fullmatch(timestamp):
            return False
        return abs(self._clock() - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS

    async def _on_check(self, request: Request) -> Response:
        """The admin console's server check: echo `echostr` when the signature is ours."""
        params = request.query_params
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not self._fresh(timestamp) or not check_signature(
            self._token, timestamp, nonce, params.get("signature")
        ):
            log.info("refused a WeChat server check with a wrong signature or timestamp")
            return Response(status_code=403)
        return PlainTextResponse(params.get("echostr", ""))

    async def _on_callback(self, request: Request) -> Response:
        params = request.query_params
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not self._fresh(timestamp) or not check_signature(
            self._token, timestamp, nonce, params.get("signature")
        ):
            log.info("refused a WeChat callback with a wrong signature or timestamp")
            return Response(status_code=403)
        if self.crypto is not None and params.get("encrypt_type", "").lower() != "aes":
            # Safe mode: a plaintext body is not WeChat's (it encrypts every callback).
            log.info("refused a plaintext WeChat callback in safe mode")
            return Response(status_code=403)
        body = await _read_body(request)
        if body is None:
            log.info("refused a WeChat callback over %d bytes", MAX_BODY_BYTES)
            return Response(status_code=400)
        try:
            if self.crypto is not None:
                encrypt = encrypted_field(body)
                expected = sha1_signature(self._token, timestamp, nonce, encrypt)
                if not signature_matches(expected, params.get("msg_signature")):
                    log.info("refused a WeChat callback with a wrong msg_signature")
                    return Response(status_code=403)
                callback = parse_callback(self.crypto.decrypt_unsigned(encrypt))
            else:
                # Plaintext mode; or compatible mode (encrypt_type=aes without our key),
                # whose body carries the plaintext fields beside `Encrypt`.
                callback = parse_callback(body)
        except (CallbackFormatError, WeChatCryptoError) as exc:
            log.info("refused a WeChat callback that is not one: %s", exc)
            return Response(status_code=400)
        # Every line logged while it is handled (tasks it starts included) says whose.
        with log_context(
            channel=CHANNEL, chat_id=callback.from_user, update_id=callback.dedupe_key
        ):
            return await self._handle(callback)

    async def _handle(self, callback: Callback) -> Response:
        """Claim the callback, answer within the deadline or say `success` and send later."""
        started = time.monotonic()
        key = callback.dedupe_key
        if not await self._dedupe.claim(CHANNEL, key):
            log.info("WeChat retried %s: already taken on; answered success", key)
            return PlainTextResponse(SUCCESS)
        self._count(callback)
        work = asyncio.create_task(self._answer_in_order(callback))
        done, _ = await asyncio.wait({work}, timeout=self._reply_seconds)
        # Done, but late (the event loop was held up): WeChat has stopped listening and
        # its retry gets `success`, so this reply, too, goes as a customer-service one.
        if work not in done or time.monotonic() - started > self._reply_seconds + LATE_SLACK:
            self._later(self._send_late(callback, work))
            return PlainTextResponse(SUCCESS)
        try:
            messages = work.result()
        except Exception:
            log.exception("WeChat callback %s failed; WeChat's retry may try again", key)
            await asyncio.to_thread(self._dedupe.forget, CHANNEL, key)
            if self._metrics is not None:
                self._metrics.errors.labels(CHANNEL).inc()
            return Response(status_code=500)
        if not messages:
            return PlainTextResponse(SUCCESS)
        if self._metrics is not None:
            self._metrics.replies.labels(CHANNEL).inc()
        if messages[1:]:
            # A passive reply is one message: the rest follow as customer-service ones.
            self._later(self._send_all(callback.from_user, messages[1:]))
        return Response(self._passive(callback, messages[0]), media_type="application/xml")

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        """Send after the answer; a stop waits for it (bounded)."""
        task = asyncio.create_task(work)
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def _passive(self, callback: Callback, outgoing: Outgoing) -> str:
        """The reply XML (to the follower, from the account), encrypted in safe mode."""
        now = int(self._clock())
        if outgoing.article is not None:
            xml = news_reply(callback.from_user, callback.to_user, now, outgoing.article)
        else:
            xml = text_reply(callback.from_user, callback.to_user, now, outgoing.text)
        if self.crypto is None:
            return xml
        nonce = str(secrets.randbelow(10**10))
        return encrypted_reply(self.crypto.encrypt(xml, timestamp=str(now), nonce=nonce))

    async def _send_late(self, callback: Callback, work: asyncio.Task[list[Outgoing]]) -> None:
        """A reply that missed the passive deadline, as customer-service messages."""
        openid = callback.from_user
        try:
            messages = await work
        except Exception:
            log.exception("WeChat callback %s failed after the deadline", callback.dedupe_key)
            messages = [Outgoing(text=t(self.readers.language(openid), "internal_error"))]
        await self._send_all(openid, messages)

    async def _send_all(self, openid: str, messages: list[Outgoing]) -> None:
        for message in messages:
            await self._send_text(openid, message.as_text())

    async def _send_text(self, openid: str, text: str) -> None:
        if not text:
            return
        try:
            await self.api.send_text(openid, text)
        except WeChatApiError as exc:
            log.warning("WeChat customer-service message to %s not sent: %s", openid, exc)
            return
        if self._metrics is not None:
            self._metrics.replies.labels(CHANNEL).inc()

    async def _broadcast_finished(self, finished: FinishedBroadcast) -> None:
        """WeChat reported a mass send's end (first time only): the editors hear its
        counts after the callback is answered (customer-service sends may be slow)."""
        self._later(self._tell_editors(finished))

    async def _tell_editors(self, finished: FinishedBroadcast) -> None:
        admins = self.core.settings.admin_ids
        try:
            notifier = self.notices()
            if notifier is None or not admins:
                log.info("WeChat broadcast #%d finished; no editor to tell", finished.broadcast_id)
                return
            text = broadcast_finished_text(finished, EDITOR_LANGUAGE)
            await notify_admins(notifier, admins, [Reply(rich(paragraph(text)))])
        except Exception:
            log.exception("could not tell the editors of broadcast #%d", finished.broadcast_id)

    def _count(self, callback: Callback) -> None:
        if self._metrics is None:
            return
        kind = callback.msg_type if callback.msg_type != "event" else callback.event.lower()
        self._metrics.updates.labels(CHANNEL, kind[:20] or "unknown").inc()

    # readers -------------------------------------------------------------------------

    async def _answer_in_order(self, callback: Callback) -> list[Outgoing]:
        """One follower's messages in order (their choices depend on the one before)."""
        lock = self._locks.get(callback.from_user)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[callback.from_user] = lock
        async with lock:
            return await self.readers.answer(callback)


class WeChatNotifier:
    """Editors' alerts (`ADMIN_IDS` `wechat:<openid>`) as customer-service messages: the
    numbered choices of an alert (an arXiv candidate's "draft" button) are kept for the
    editor like a reader's, so replying `1` acts on it. WeChat delivers them only within
    48 h of the editor's last message to the account (else 45015, raised and logged)."""

    channel = CHANNEL

    def __init__(self, readers: WeChatReaders, api: WeChatApi) -> None:
        self._readers = readers
        self._api = api

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        for message in await self._readers.render(self._readers.caller(chat_id), replies):
            await self._api.send_text(chat_id, message.as_text())


def push_parts(core: Core, http: httpx.AsyncClient) -> tuple[WeChatBroadcaster | None, Notifier]:
    """What `paperbot push` needs of WeChat outside the running bot, on its own HTTP
    client: the mass push (WECHAT_PUSH=mass, else None) and the editors' notifier."""
    settings = core.settings
    api = WeChatApi.from_settings(settings, http, SharedCredentials(core.sessions))
    readers = WeChatReaders(core, CHANNEL, settings.public_url)
    broadcaster = broadcaster_for(core, api) if settings.wechat_push == "mass" else None
    return broadcaster, WeChatNotifier(readers, api)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it is over MAX_BODY_BYTES (never read further)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["WECHAT_CAPABILITIES", "WECHAT_PATH", "WeChatChannel", "WeChatNotifier", "push_parts"]
