"""A fake Telegram Bot API server for paperbot's tests and benchmarks.

Why this exists: mocking PTB's ``Bot`` methods proves nothing about whether Telegram would accept
the calls.  This server speaks the real Bot API over real HTTP, so python-telegram-bot does its
normal request encoding / response decoding against it (``Bot(token, base_url=server.base_url,
base_file_url=server.base_file_url)``), and it *rejects what Telegram rejects*: the HTML parser
is a port of TDLib's ``parse_html`` (the code Telegram's Bot API server runs), lengths are counted
in UTF-16 code units, button data in UTF-8 bytes, and errors use Telegram's envelope, HTTP status
and wording so PTB raises the same exception classes (``BadRequest``, ``Forbidden``,
``RetryAfter``, ``ChatMigrated`` ...).

Deliberate deviations (all *stricter* than Telegram, so a pass here still means Telegram would
accept the call):

* ``&`` that does not start ``&lt;``/``&gt;``/``&amp;``/``&quot;``/``&#N;``/``&#xH;`` is rejected
  (Telegram keeps it literally).  Disable with ``strict_html=False``.
* ``<a>`` without a non-empty ``href`` is rejected (Telegram links the text itself).
* More than 100 formatting entities are rejected (Telegram silently drops the formatting after the
  100th entity, which would be a visible bug for us).
* ``parse_mode`` Markdown / MarkdownV2 is rejected: it is not validated here, so we refuse rather
  than let unvalidated text pass.
* The 4096 / 1024 limits are checked before Telegram's trimming of surrounding whitespace.

The server runs aiohttp in its own thread with its own event loop, so it can be used from sync
tests, from async tests whose loop also runs the PTB ``Application``, and by a bot running in a
subprocess.  All state is guarded by one lock; ``wait_for`` / ``await_for`` let tests wait for
calls without sleeping for fixed times.

Its parts live beside it: ``limits.py`` (the numbers it enforces), ``tdlib_html.py`` (the HTML
checker), ``updates.py`` (the update builders) and ``webhook.py`` (delivery to a webhook, mixed
into :class:`FakeTelegramServer`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import logging
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.support.fake_telegram.limits import (
    DEFAULT_UPDATE_TYPES,
    MAX_BOT_NAME_LENGTH,
    MAX_BUTTONS,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_COMMAND_DESCRIPTION_LENGTH,
    MAX_COMMANDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_DOWNLOAD_BYTES,
    MAX_ENTITIES,
    MAX_INLINE_NEXT_OFFSET_BYTES,
    MAX_INLINE_RESULT_ID_BYTES,
    MAX_INLINE_RESULTS,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_DESCRIPTION_LENGTH,
    MAX_UPLOAD_BYTES,
    JSONDict,
)
from tests.support.fake_telegram.tdlib_html import (
    EntityParseError,
    ParsedText,
    _trim,
    parse_html,
    utf16_len,
)
from tests.support.fake_telegram.updates import (
    _DEFAULT_BOT_ID,
    _chat_member,
    _ids,
    _now,
    _update_type,
    make_bot_user,
    make_group,
    make_user,
    private_chat,
)
from tests.support.fake_telegram.webhook import WebhookDelivery

__all__ = [
    "DEFAULT_RATE_LIMITED_METHODS",
    "ApiError",
    "Call",
    "FakeTelegramServer",
    "SentMessage",
    "UploadedFile",
]

_LOG = logging.getLogger(__name__)


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
_NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
)
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_INLINE_RESULT_TYPES = frozenset(
    {
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_LANG_RE = re.compile(r"[a-z]{2}")
_INT_RE = re.compile(r"-?\d+")

# Parameters PTB sends JSON-encoded (as strings in a form body); decoded once on arrival.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "results",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "button",
        "media",
        "input_message_content",
        "explanation_entities",
        "options",
        "permissions",
        "menu_button",
        "rights",
        "prices",
        "message_ids",
        "reaction",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "message_thread_id",
        "reply_to_message_id",
        "from_chat_id",
        "until_date",
        "max_connections",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "disable_content_type_detection",
        "only_if_banned",
        "allow_paid_broadcast",
    }
)

#: Methods that count against the flood limits when ``enforce_rate_limits`` is on.
DEFAULT_RATE_LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendSticker",
        "copyMessage",
        "forwardMessage",
    }
)
# Methods whose target chat is subject to block / kick / migration failures.
_SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendChatAction",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
    }
)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part the bot uploaded (e.g. ``sendDocument``)."""

    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One Bot API request as the server saw and answered it.

    ``params`` holds the decoded parameters (JSON fields parsed, ints/bools coerced).
    ``injected`` marks failures the *test* arranged (``fail_next``, blocked / kicked /
    deactivated / migrated chats); those are excluded from ``rejected_calls()``.
    ``timestamp`` is ``time.time()``; ``monotonic`` is ``time.monotonic()`` for durations.
    """

    method: str
    params: dict[str, Any]
    ok: bool
    error_code: int | None = None
    description: str | None = None
    timestamp: float = 0.0
    injected: bool = False
    result: Any = None
    parameters: dict[str, Any] | None = None
    monotonic: float = 0.0
    http_method: str = "POST"
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for assertion / timeout messages."""
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup", "results")}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        status = "ok" if self.ok else f"{self.error_code} {self.description}"
        mark = " [injected]" if self.injected else ""
        return f"{self.method}({text}) -> {status}{mark}"


@dataclass(frozen=True)
class SentMessage:
    """A successful ``sendMessage`` / ``editMessageText`` with its rendered (plain) text."""

    method: str
    chat_id: int | None
    message_id: int | None
    text: str
    raw_text: str
    parse_mode: str | None
    entities: list[JSONDict]
    reply_markup: JSONDict | None
    timestamp: float


class ApiError(Exception):
    """An error answer in Telegram's envelope; ``injected`` = arranged by the test."""

    def __init__(
        self,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        injected: bool = False,
        html_body: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters
        self.injected = injected
        self.html_body = html_body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class _AbandonedError(Exception):
    """The client went away (e.g. PTB cancelled a long poll); nobody sees a response."""


@dataclass
class _Injection:
    status: int | None
    retry_after: int | None
    description: str | None
    parameters: dict[str, Any] | None
    remaining: int
    delay: float = 0.0


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str
    #: False: like some clients' uploads, neither the Document nor getFile says how big
    #: the file is, and the download comes chunked, without Content-Length.
    announce_size: bool = True


@dataclass
class _Ctx:
    """Per-request context handed to method handlers."""

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    request: web.Request


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------
class _UseStored:
    """Marker: use the secret the bot set with setWebhook."""


_USE_STORED = _UseStored()
#: What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class FakeTelegramServer(WebhookDelivery):
    """Fake Bot API over real HTTP on 127.0.0.1, in a background thread (see module doc).

    Options:
        latency: seconds every API call except ``getUpdates`` waits before being processed
            (``asyncio.sleep``: other requests proceed concurrently).
        enforce_rate_limits: answer 429 when the bot exceeds ``global_rate`` messages per
            sliding second, ``per_chat_rate`` messages/s to one private chat, or
            ``group_rate_per_minute`` messages per sliding minute to one group/channel.
            A sendMessage with ``allow_paid_broadcast`` (Telegram's paid broadcast) may
            go beyond ``global_rate``, up to ``paid_broadcast_rate`` (1000) per sliding
            second counting every message; the chat limits hold for it all the same.
        strict_html: reject ``&`` that Telegram would keep literally and ``<a>`` without href.
        admins: ``{chat_id: [user dict or user id, ...]}`` for ``getChatAdministrators``.
        bot_id: the bot's user id; default: numeric prefix of the token used (else 123).
        webhook_timeout, webhook_retry_base, webhook_retry_cap: how long a webhook POST may
            take, and the backoff between retries of a failed one (see ``webhook.py``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        global_rate: float = 30.0,
        paid_broadcast_rate: float = 1000.0,
        per_chat_rate: float = 1.0,
        group_rate_per_minute: float = 20.0,
        enforce_rate_limits: bool = False,
        rate_limited_methods: Iterable[str] = DEFAULT_RATE_LIMITED_METHODS,
        strict_html: bool = True,
        admins: Mapping[int, Sequence[Mapping[str, Any] | int]] | None = None,
        bot_id: int | None = None,
        bot_username: str = "paperbot_test_bot",
        bot_first_name: str = "PaperBot",
        first_update_id: int = 100_000_001,
        webhook_timeout: float = 60.0,
        webhook_retry_base: float = 1.0,
        webhook_retry_cap: float = 60.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.latency = latency
        self.global_rate = global_rate
        self.paid_broadcast_rate = paid_broadcast_rate
        self.per_chat_rate = per_chat_rate
        self.group_rate_per_minute = group_rate_per_minute
        self.enforce_rate_limits = enforce_rate_limits
        self.rate_limited_methods = frozenset(rate_limited_methods)
        self.strict_html = strict_html
        self._bot_id_option = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)

        self._calls: list[Call] = []
        self._sent: list[SentMessage] = []
        self._tokens: list[str] = []
        self._injections: dict[str, deque[_Injection]] = {}
        #: Methods whose calls wait, unanswered, until `release` (see `hold`).
        self._held: set[str] = set()
        self._rate_limit_hits = 0
        self._global_window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}
        self._downloads: list[str] = []

        self._forbidden: dict[int | str, str] = {}
        self._migrated: dict[int, int] = {}
        self._admins: dict[int, list[JSONDict]] = {}
        self._owners: dict[int, JSONDict] = {}
        self._member_status: dict[tuple[int, int], str] = {}
        for chat_id, users in (admins or {}).items():
            self.set_admins(chat_id, users)

        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._usernames: dict[str, int] = {}
        self._messages: dict[int, dict[int, JSONDict]] = {}
        self._last_message_id: dict[int, int] = {}
        self._bot_posts: set[tuple[int, int]] = set()
        self._open_queries: dict[str, str] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        self._webhook_url = ""
        self._webhook_secret: str | None = None
        self._init_webhook_delivery(
            timeout=webhook_timeout, retry_base=webhook_retry_base, retry_cap=webhook_retry_cap
        )

        self._pending: deque[JSONDict] = deque()
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._waiting_pollers = 0

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._updates_event: asyncio.Event | None = None
        self._stopping = False
        self._port: int | None = None

        self._handlers: dict[str, Callable[[_Ctx], Any]] = {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "answerCallbackQuery": self._m_answer_callback_query,
            "answerInlineQuery": self._m_answer_inline_query,
            "sendChatAction": self._m_send_chat_action,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "sendDocument": self._m_send_document,
            "getFile": self._m_get_file,
            "setMyDescription": self._m_set_my_description,
            "getMyDescription": self._m_get_my_description,
            "setMyShortDescription": self._m_set_my_short_description,
            "getMyShortDescription": self._m_get_my_short_description,
            "setMyName": self._m_set_my_name,
            "getMyName": self._m_get_my_name,
            "close": self._m_true,
            "logOut": self._m_true,
        }
        self._canonical = {name.lower(): name for name in self._handlers}

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeTelegramServer:
        """Bind 127.0.0.1:free-port in a daemon thread; return once it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready, errors), name="FakeTelegramServer", daemon=True
        )
        self._thread.start()
        if not ready.wait(15):
            raise RuntimeError("fake Telegram server did not start within 15s")
        if errors:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError("fake Telegram server failed to start") from errors[0]
        return self

    def stop(self) -> None:
        """Shut down: wake long polls, close the listener, join the thread.  Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            future.result(15)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(15)
            self._thread = None
            self._loop = None

    def __enter__(self) -> FakeTelegramServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _thread_main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported to start() and re-raised there
            errors.append(exc)
            ready.set()
            loop.close()
            self._loop = None
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _setup(self) -> None:
        self._updates_event = asyncio.Event()
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a long poll whose client disconnected is cancelled instead of
        # lingering (and later answering 409 to nobody).
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        await self._start_webhook_delivery()

    async def _shutdown(self) -> None:
        self._stopping = True
        if self._updates_event is not None:
            self._updates_event.set()
        await self._stop_webhook_delivery()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        """The bound TCP port (only after ``start``)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``base_file_url``: PTB otherwise downloads files from api.telegram.org."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def token(self) -> str | None:
        """The token of the most recent request (any token is accepted)."""
        with self._lock:
            return self._tokens[-1] if self._tokens else None

    @property
    def tokens(self) -> list[str]:
        """Every distinct token seen, in order of first use."""
        with self._lock:
            return list(self._tokens)

    @property
    def bot_id(self) -> int:
        """The bot's user id: ``bot_id`` option, else the token's numeric prefix, else 123."""
        if self._bot_id_option is not None:
            return self._bot_id_option
        token = self.token
        if token:
            prefix = token.split(":", 1)[0]
            if prefix.isdigit():
                return int(prefix)
        return _DEFAULT_BOT_ID

    @property
    def bot_user(self) -> JSONDict:
        """The ``User`` used as ``from`` of every message the bot sends."""
        return make_bot_user(self.bot_id, self.bot_username, self.bot_first_name)

    # ----------------------------------------------------------------------------- inspection
    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, in arrival-completion order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """All calls of one method (canonical Bot API spelling, e.g. ``"sendMessage"``)."""
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def rejected_calls(self) -> list[Call]:
        """Calls Telegram would have rejected through the bot's own fault (not injected)."""
        with self._lock:
            return [call for call in self._calls if not call.ok and not call.injected]

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        """Successful sendMessage/editMessageText in order; ``.text`` is the rendered text."""
        with self._lock:
            return [m for m in self._sent if chat_id is None or m.chat_id == chat_id]

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Just the rendered texts of :meth:`sent_messages`."""
        return [m.text for m in self.sent_messages(chat_id)]

    def reset_calls(self) -> None:
        """Forget recorded calls, sent messages, downloads and the rate-limit hit counter."""
        with self._cond:
            self._calls.clear()
            self._sent.clear()
            self._downloads.clear()
            self._rate_limit_hits = 0
            self._cond.notify_all()

    @property
    def rate_limit_hits(self) -> int:
        """How many calls got a (non-injected) 429 from rate-limit enforcement."""
        with self._lock:
            return self._rate_limit_hits

    @property
    def downloads(self) -> list[str]:
        """File paths downloaded through ``/file/bot<token>/...``."""
        with self._lock:
            return list(self._downloads)

    def last_message_to(self, chat_id: int) -> JSONDict:
        """Current state (after edits) of the newest message the bot sent to ``chat_id``."""
        with self._lock:
            bot_id = self.bot_id
            for message in reversed(list(self._messages.get(chat_id, {}).values())):
                if self._by_bot(message, bot_id):
                    return copy.deepcopy(message)
        raise LookupError(f"the bot sent no (undeleted) message to chat {chat_id}")

    def get_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A stored message (bot-sent or pushed), or None if unknown/deleted."""
        with self._lock:
            message = self._messages.get(chat_id, {}).get(message_id)
            return copy.deepcopy(message) if message is not None else None

    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """Commands stored by setMyCommands for (scope, language_code)."""
        with self._lock:
            return copy.deepcopy(self._commands.get((_scope_key(scope), language_code), []))

    @property
    def webhook_url(self) -> str:
        """URL set via setWebhook ('' if none)."""
        with self._lock:
            return self._webhook_url

    @property
    def webhook_secret(self) -> str | None:
        """secret_token set via setWebhook (None if none)."""
        with self._lock:
            return self._webhook_secret

    def post_to_webhook(
        self,
        target: str,
        update: Mapping[str, Any],
        *,
        secret: str | _UseStored | None = _USE_STORED,
        timeout: float = 30.0,
    ) -> tuple[JSONDict, int]:
        """Deliver `update` as Telegram does to a webhook: POST it as JSON to `target`
        (the address the public webhook URL leads to, e.g. http://127.0.0.1:PORT/...),
        with the X-Telegram-Bot-Api-Secret-Token header of the secret set by setWebhook
        (or `secret`; None sends no header). Returns the update with its id and the
        HTTP status; the POST returns once the bot answered (it answers after handling).
        """
        stored = copy.deepcopy(dict(update))
        with self._cond:
            stored["update_id"] = self._next_update_id
            self._next_update_id += 1
            self._register_update(stored)
            header = self._webhook_secret if isinstance(secret, _UseStored) else secret
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = header
        request = urllib.request.Request(
            target, data=json.dumps(stored).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        return copy.deepcopy(stored), status

    # ----------------------------------------------------------------------------- arrange
    def hold(self, method: str) -> None:
        """Calls of ``method`` wait unanswered until `release`, like a server that stalls:
        a test can do something *while* the bot is mid-push, whatever the machine's load
        (a push at a fixed rate may otherwise end before a slow subprocess starts)."""
        with self._lock:
            self._held.add(method)

    def release(self, method: str) -> None:
        """Answer the calls `hold` kept waiting, and the next ones at once."""
        with self._lock:
            self._held.discard(method)

    def block_user(self, chat_id: int) -> None:
        """Sends to ``chat_id`` get 403 "Forbidden: bot was blocked by the user"."""
        self._set_forbidden(chat_id, "Forbidden: bot was blocked by the user")

    def deactivate_user(self, chat_id: int) -> None:
        """Sends to ``chat_id`` get 403 "Forbidden: user is deactivated"."""
        self._set_forbidden(chat_id, "Forbidden: user is deactivated")

    def kick_from_chat(self, chat_id: int | str) -> None:
        """Sends to the group/supergroup/channel get 403 "bot was kicked from the ... chat"."""
        kind = (
            "channel"
            if isinstance(chat_id, str)
            else ("supergroup" if chat_id <= -1_000_000_000_000 else "group")
        )
        self._set_forbidden(chat_id, f"Forbidden: bot was kicked from the {kind} chat")

    def unblock_user(self, chat_id: int | str) -> None:
        """Undo block_user / deactivate_user / kick_from_chat."""
        with self._lock:
            self._forbidden.pop(chat_id, None)

    def _set_forbidden(self, chat_id: int | str, description: str) -> None:
        with self._lock:
            self._forbidden[chat_id] = description

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """Sends to ``old_chat_id`` get 400 with ``parameters.migrate_to_chat_id``."""
        with self._lock:
            self._migrated[old_chat_id] = new_chat_id

    def fail_next(
        self,
        method: str,
        count: int = 1,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (``"*"`` = any) fail as told; injected.

        429 carries ``parameters.retry_after`` (default 1) and "Too Many Requests: retry after
        N".  502/504 without a description answer nginx's HTML page like real Telegram does.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        injection = _Injection(
            status, retry_after, description, dict(parameters) if parameters else None, count
        )
        with self._lock:
            self._injections.setdefault(method, deque()).append(injection)

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are held ``seconds`` before being processed
        normally (to provoke client-side timeouts)."""
        with self._lock:
            self._injections.setdefault(method, deque()).append(
                _Injection(None, None, None, None, count, delay=seconds)
            )

    def clear_failures(self, method: str | None = None) -> None:
        """Drop injected failures and delays (all, or those of ``method``): the API recovers."""
        with self._lock:
            if method is None:
                self._injections.clear()
            else:
                self._injections.pop(method, None)

    def set_admins(
        self,
        chat_id: int,
        admins: Sequence[Mapping[str, Any] | int],
        owner: Mapping[str, Any] | int | None = None,
    ) -> None:
        """Configure ``getChatAdministrators`` / ``getChatMember`` for a group."""
        users = [_as_user(a) for a in admins]
        with self._lock:
            self._admins[chat_id] = users
            if owner is not None:
                self._owners[chat_id] = _as_user(owner)

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Override ``getChatMember`` status (member/left/kicked/restricted/...)."""
        with self._lock:
            self._member_status[(chat_id, user_id)] = status

    def add_file(
        self,
        file_id: str,
        data: bytes,
        file_name: str = "file.bin",
        mime_type: str | None = None,
        *,
        announce_size: bool = True,
    ) -> JSONDict:
        """Register a downloadable file; returns the ``Document`` dict for ``message_update``.

        ``announce_size=False``: no ``file_size`` in the Document nor in ``getFile`` (the
        field is optional in the Bot API), and the file is served chunked.
        """
        with self._lock:
            stored = self._store_file(data, file_name, mime_type, file_id=file_id)
            stored.announce_size = announce_size
        return _document_json(stored)

    def _store_file(
        self, data: bytes, file_name: str | None, mime_type: str | None, file_id: str | None = None
    ) -> _StoredFile:
        number = next(_ids)
        file_id = file_id or f"BQACAgUAAxkBAAI{number:08d}"
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = _StoredFile(
            file_id=file_id,
            file_unique_id=f"AgAD{number:08d}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"documents/file_{number}{suffix}",
        )
        self._files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    # ----------------------------------------------------------------------------- updates
    def push_update(self, update: Mapping[str, Any]) -> JSONDict:
        """Queue an update for getUpdates; returns it with its assigned ``update_id``.

        The update is copied.  Messages are stored (so replies/edits/callbacks can refer to
        them); their ``message_id`` is renumbered if needed to stay per-chat increasing, and a
        placeholder bot user in ``my_chat_member`` is replaced by the real bot user.
        """
        stored = copy.deepcopy(dict(update))
        with self._cond:
            stored["update_id"] = self._next_update_id
            self._next_update_id += 1
            self._register_update(stored)
            self._pending.append(stored)
            result = copy.deepcopy(stored)
            self._cond.notify_all()
        self._wake_pollers()
        self._wake_delivery()
        return result

    def _wake_pollers(self) -> None:
        loop, event = self._loop, self._updates_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
                loop.call_soon_threadsafe(event.set)

    def _register_update(self, update: JSONDict) -> None:
        kind = _update_type(update)
        payload = update.get(kind)
        if not isinstance(payload, dict):
            return
        if kind in (
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
            "business_message",
            "edited_business_message",
        ):
            self._register_message(
                payload, new=kind in ("message", "channel_post", "business_message")
            )
        elif kind == "callback_query":
            self._remember_user(payload.get("from"))
            self._open_queries[str(payload["id"])] = "callback"
        elif kind == "inline_query":
            self._remember_user(payload.get("from"))
            self._open_queries[str(payload["id"])] = "inline"
        elif kind in ("my_chat_member", "chat_member"):
            self._remember_user(payload.get("from"))
            self._remember_chat(payload.get("chat"))
            if kind == "my_chat_member":
                for key in ("old_chat_member", "new_chat_member"):
                    member = payload.get(key) or {}
                    user = member.get("user") or {}
                    if user.get("is_bot") and user.get("id") == _DEFAULT_BOT_ID:
                        member["user"] = self.bot_user

    def _register_message(self, message: JSONDict, *, new: bool) -> None:
        chat = message.get("chat") or {}
        self._remember_chat(chat)
        self._remember_user(message.get("from"))
        chat_id = chat.get("id")
        if not isinstance(chat_id, int):
            return
        if new:
            last = self._last_message_id.get(chat_id, 0)
            message_id = message.get("message_id")
            if not isinstance(message_id, int) or message_id <= last:
                message_id = last + 1
                message["message_id"] = message_id
            self._last_message_id[chat_id] = message_id
        self._messages.setdefault(chat_id, {})[message["message_id"]] = copy.deepcopy(message)

    def _remember_user(self, user: Any) -> None:
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            self._users[user["id"]] = dict(user)

    def add_chat(self, chat: Mapping[str, Any]) -> None:
        """Make a chat known (e.g. a channel the bot posts in) before anything happens there."""
        with self._lock:
            self._remember_chat(dict(chat))

    def _remember_chat(self, chat: Any) -> None:
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            self._chats[chat["id"]] = dict(chat)
            if chat.get("username"):
                self._usernames[str(chat["username"]).lower()] = chat["id"]

    @property
    def waiting_pollers(self) -> int:
        """getUpdates requests currently parked in a long poll (lets tests sync without sleeps)."""
        return self._waiting_pollers

    @property
    def pending_updates(self) -> int:
        """Pushed updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return sum(1 for u in self._pending if _update_type(u) in self._allowed_updates)

    # ----------------------------------------------------------------------------- waiting
    def wait_for(
        self, predicate: Callable[[list[Call]], bool], timeout: float = 10.0
    ) -> list[Call]:
        """Block until ``predicate(calls)`` is true; raise TimeoutError with a call summary.

        Do not call this from the event loop that runs the bot (it would block the bot): use
        :meth:`await_for` there.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                snapshot = list(self._calls)
                if predicate(snapshot):
                    return snapshot
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(timeout, snapshot))
                self._cond.wait(remaining)

    async def await_for(
        self, predicate: Callable[[list[Call]], bool], timeout: float = 10.0
    ) -> list[Call]:
        """Async :meth:`wait_for`: polls every 10 ms so the caller's loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.calls
            if predicate(snapshot):
                return snapshot
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout, snapshot))
            await asyncio.sleep(0.01)

    def wait_for_updates_consumed(self, timeout: float = 10.0) -> None:
        """Block until every pushed update was confirmed by a later getUpdates ``offset``.

        Note PTB confirms updates when it fetches the next batch, i.e. possibly before its
        handlers finished; wait on the bot's resulting calls to know they ran.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._has_pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self._count_pending()} update(s) still unconfirmed after {timeout}s; "
                        + self._timeout_message(timeout, list(self._calls))
                    )
                self._cond.wait(remaining)

    async def await_updates_consumed(self, timeout: float = 10.0) -> None:
        """Async :meth:`wait_for_updates_consumed`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._has_pending():
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.pending_updates} update(s) still unconfirmed after {timeout}s; "
                    + self._timeout_message(timeout, self.calls)
                )
            await asyncio.sleep(0.01)

    def _has_pending(self) -> bool:
        return any(_update_type(u) in self._allowed_updates for u in self._pending)

    def _count_pending(self) -> int:
        return sum(1 for u in self._pending if _update_type(u) in self._allowed_updates)

    @staticmethod
    def _timeout_message(timeout: float, calls: list[Call]) -> str:
        lines = [f"condition not met within {timeout}s; {len(calls)} call(s) recorded"]
        shown = calls[-40:]
        if len(calls) > len(shown):
            lines.append(f"  ... {len(calls) - len(shown)} earlier call(s) omitted")
        lines.extend("  " + call.summary() for call in shown)
        return "\n".join(lines)

    # ----------------------------------------------------------------------------- HTTP layer
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return await self._serve_file(request, path[len("/file/bot") :])
        if not path.startswith("/bot"):
            return _error_response(ApiError(404, "Not Found"))
        token, sep, method_name = path[len("/bot") :].partition("/")
        with self._lock:
            if token not in self._tokens:
                self._tokens.append(token)
            elif self._tokens[-1] != token:
                self._tokens.remove(token)
                self._tokens.append(token)
        method = self._canonical.get(method_name.lower(), method_name) if sep else ""
        started = time.monotonic()
        timestamp = time.time()
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            params, files = await self._read_params(request)
            handler = self._handlers.get(method)
            if handler is None or "/" in method_name:
                raise ApiError(404, "Not Found")
            await self._apply_injection(method)
            while method in self._held:
                await asyncio.sleep(0.01)
            if self.latency > 0 and method != "getUpdates":
                await asyncio.sleep(self.latency)
            result = handler(_Ctx(method, params, files, request))
            if inspect.isawaitable(result):
                result = await result
        except ApiError as error:
            self._record(
                Call(
                    method,
                    params,
                    False,
                    error.status,
                    error.description,
                    timestamp,
                    error.injected,
                    None,
                    error.parameters,
                    started,
                    request.method,
                    files,
                )
            )
            return _error_response(error)
        except _AbandonedError:
            return web.Response(status=499)
        except asyncio.CancelledError:
            if method != "getUpdates":
                self._record(
                    Call(
                        method,
                        params,
                        False,
                        499,
                        "client closed the connection",
                        timestamp,
                        False,
                        None,
                        None,
                        started,
                        request.method,
                        files,
                    )
                )
            raise
        except Exception as exc:  # a bug in the fake itself: make it loud, not silent
            _LOG.exception("fake Telegram server failed on %s", method)
            bug = ApiError(500, f"Internal Server Error: fake server bug: {exc!r}")
            self._record(
                Call(
                    method,
                    params,
                    False,
                    500,
                    bug.description,
                    timestamp,
                    False,
                    None,
                    None,
                    started,
                    request.method,
                    files,
                )
            )
            return _error_response(bug)
        self._record(
            Call(
                method,
                params,
                True,
                None,
                None,
                timestamp,
                False,
                result,
                None,
                started,
                request.method,
                files,
            )
        )
        body = json.dumps({"ok": True, "result": result}, separators=(",", ":"))
        return web.Response(body=body.encode(), content_type="application/json")

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Accept every encoding Telegram accepts: query string, JSON, urlencoded, multipart."""
        raw: dict[str, Any] = dict(request.query) if request.query_string else {}
        files: dict[str, UploadedFile] = {}
        if request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError as exc:
                    raise _bad("can't parse JSON encoded request body") from exc
                if not isinstance(body, dict):
                    raise _bad("JSON encoded request body must be an Object")
                raw.update(body)
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            key, value.filename, value.content_type, value.file.read()
                        )
                    else:
                        raw[key] = value
            else:
                await request.read()
        for name, part in files.items():  # keep Call.params readable, bytes live in Call.files
            raw.setdefault(name, f"<upload {part.filename!r}, {len(part.data)} bytes>")
        return _normalize_params(raw), files

    async def _apply_injection(self, method: str) -> None:
        with self._lock:
            injection = None
            for key in (method, "*"):
                queue = self._injections.get(key)
                if queue:
                    injection = queue[0]
                    injection.remaining -= 1
                    if injection.remaining <= 0:
                        queue.popleft()
                    break
        if injection is None:
            return
        if injection.delay:
            await asyncio.sleep(injection.delay)
        if injection.status is None:
            return
        status = injection.status
        parameters = dict(injection.parameters or {})
        if status == 429:
            retry = injection.retry_after or 1
            parameters["retry_after"] = retry
            description = injection.description or f"Too Many Requests: retry after {retry}"
        else:
            description = injection.description or _STATUS_TEXT.get(status, "Error")
        html_body = _NGINX_502 if status in (502, 504) and injection.description is None else None
        raise ApiError(status, description, parameters or None, injected=True, html_body=html_body)

    async def _serve_file(self, request: web.Request, rest: str) -> web.StreamResponse:
        _token, _, file_path = rest.partition("/")
        with self._lock:
            stored = self._files_by_path.get(file_path)
            if stored is not None:
                self._downloads.append(file_path)
        if stored is None:
            return _error_response(ApiError(404, "Not Found"))
        content_type = stored.mime_type or "application/octet-stream"
        if stored.announce_size:
            return web.Response(body=stored.data, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for start in range(0, len(stored.data), 64 * 1024):
                await response.write(stored.data[start : start + 64 * 1024])
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading: it had seen enough
        return response

    # ----------------------------------------------------------------------------- helpers
    def _chat_id(self, params: Mapping[str, Any], name: str = "chat_id") -> int:
        """Resolve ``chat_id`` (int or ``@username``) to a numeric id, like Telegram."""
        value = params.get(name)
        if value is None or value == "":
            raise _bad(f"{name} is empty")
        if isinstance(value, bool):
            raise _bad("chat not found")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.startswith("@") and len(value) > 1:
            username = value[1:].lower()
            with self._lock:
                chat_id = self._usernames.get(username)
                if chat_id is None:
                    chat_id = -1_009_000_000_000 - len(self._usernames)
                    self._usernames[username] = chat_id
                    self._chats[chat_id] = {
                        "id": chat_id,
                        "type": "channel",
                        "title": value[1:],
                        "username": value[1:],
                    }
                return chat_id
        raise _bad("chat not found")

    def _check_chat(self, chat_id: int, *, sending: bool) -> None:
        """Injected chat states: migrated (always), blocked/deactivated/kicked (sending)."""
        new_id = self._migrated.get(chat_id)
        if new_id is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": new_id},
                injected=True,
            )
        if sending or chat_id < 0:
            description = self._forbidden.get(chat_id)
            if description is None:
                username = self._chats.get(chat_id, {}).get("username")
                if username:
                    description = self._forbidden.get("@" + username)
            if description is not None:
                raise ApiError(403, description, injected=True)

    def _chat_json(self, chat_id: int) -> JSONDict:
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            user = self._users.get(chat_id)
            return (
                private_chat(user)
                if user
                else {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
            )
        return make_group(chat_id, f"Group {chat_id}")

    def _check_rate(self, method: str, chat_id: int, *, paid: bool = False) -> None:
        """Flood control: sliding windows; a hit raises a (non-injected) 429. `paid`: the
        message allows a paid broadcast, so the overall limit is the paid one."""
        if not self.enforce_rate_limits or method not in self.rate_limited_methods:
            return
        now = time.monotonic()
        waits: list[float] = []
        window = self._global_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        limit = self.paid_broadcast_rate if paid else self.global_rate
        if len(window) >= limit:
            waits.append(window[-int(limit)] + 1.0 - now)
        chat_window = self._chat_windows.setdefault(chat_id, deque())
        if chat_id > 0:
            span, limit = 1.0 / self.per_chat_rate, 1.0
        else:
            span, limit = 60.0, self.group_rate_per_minute
        while chat_window and chat_window[0] <= now - span:
            chat_window.popleft()
        if len(chat_window) >= limit:
            waits.append(chat_window[0] + span - now)
        if waits:
            self._rate_limit_hits += 1
            retry = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        window.append(now)
        chat_window.append(now)

    def _formatted(
        self,
        params: Mapping[str, Any],
        text_key: str,
        mode_key: str,
        entities_key: str,
        *,
        limit: int,
        too_long: str,
        empty: str | None,
    ) -> tuple[ParsedText, str, str | None]:
        """Validate a text + parse_mode like Telegram; ``empty=None`` allows empty (captions)."""
        value = params.get(text_key)
        raw = "" if value is None else (value if isinstance(value, str) else _json_text(value))
        mode = params.get(mode_key)
        mode_str = str(mode) if mode not in (None, "") else None
        explicit = params.get(entities_key)
        if mode_str is None:
            entities: list[JSONDict] = []
            if explicit is not None:
                if not isinstance(explicit, list) or not all(
                    isinstance(e, dict) and "type" in e for e in explicit
                ):
                    raise _bad(f"can't parse {entities_key} JSON object")
                entities = [dict(e) for e in explicit]
            parsed = ParsedText(raw, entities, utf16_len(raw))
        elif mode_str.lower() == "html":
            try:
                parsed = parse_html(raw, strict=self.strict_html)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        elif mode_str.lower() in ("markdown", "markdownv2"):
            raise _bad(
                f"can't parse entities: the fake Telegram server does not validate "
                f"parse_mode {mode_str}; use HTML"
            )
        else:
            raise _bad(f"unsupported parse_mode {mode_str}")
        trimmed = _trim(parsed)
        if empty is not None and not trimmed.text:
            raise _bad(empty)
        if parsed.utf16_length > limit:
            raise _bad(too_long)
        if len(trimmed.entities) > MAX_ENTITIES:
            raise _bad(
                f"too many message entities: {len(trimmed.entities)} > {MAX_ENTITIES}; "
                "Telegram would silently drop the formatting after the 100th entity"
            )
        return trimmed, raw, mode_str

    def _reply_markup(self, params: Mapping[str, Any], *, inline_only: bool) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _validate_inline_keyboard(markup["inline_keyboard"])
            return markup
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
            for row in rows:
                for button in row:
                    text = (
                        button
                        if isinstance(button, str)
                        else (button.get("text") if isinstance(button, dict) else None)
                    )
                    if not isinstance(text, str) or not text:
                        raise _bad(
                            'can\'t parse keyboard button: Field "text" must be of type String'
                        )
            return markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    def _int(self, params: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
        value = params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise _bad(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(f"invalid {name} specified")

    def _new_message(self, chat_id: int, fields: JSONDict) -> JSONDict:
        """Create and store a bot message; stored dicts are never mutated afterwards."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        chat = self._chat_json(chat_id)
        # A channel post is signed by the channel itself: no `from`, `sender_chat` = chat.
        sender: JSONDict = (
            {"sender_chat": chat} if chat["type"] == "channel" else {"from": self.bot_user}
        )
        message: JSONDict = {
            "message_id": message_id,
            **sender,
            "chat": chat,
            "date": _now(),
            **fields,
        }
        self._messages.setdefault(chat_id, {})[message_id] = message
        if "sender_chat" in sender:
            self._bot_posts.add((chat_id, message_id))
        return message

    def _by_bot(self, message: Mapping[str, Any], bot_id: int) -> bool:
        """Sent by the bot: signed by it, or a channel post it made (signed by the channel)."""
        if message.get("from", {}).get("id") == bot_id:
            return True
        return (message.get("chat", {}).get("id"), message.get("message_id")) in self._bot_posts

    def _reply_to(self, params: Mapping[str, Any], chat_id: int) -> JSONDict | None:
        """Resolve reply_parameters / reply_to_message_id; unknown target -> 400 like Telegram."""
        reply = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        target_chat = chat_id
        message_id: int | None = None
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = allow or bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") is not None:
                target_chat = self._chat_id(reply)
        elif reply is not None:
            raise _bad("can't parse reply parameters JSON object")
        else:
            message_id = self._int(params, "reply_to_message_id")
        if message_id is None:
            return None
        with self._lock:
            message = self._messages.get(target_chat, {}).get(message_id)
        if message is None:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return {k: v for k, v in message.items() if k != "reply_to_message"}

    def _stored_for_edit(self, params: Mapping[str, Any], missing: str) -> tuple[int, JSONDict]:
        chat_id = self._chat_id(params)
        message_id = self._int(params, "message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        with self._lock:
            self._check_chat(chat_id, sending=True)
            message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise _bad(missing)
        return chat_id, message

    # ----------------------------------------------------------------------------- methods
    def _m_true(self, ctx: _Ctx) -> bool:
        return True

    def _m_get_me(self, ctx: _Ctx) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_get_updates(self, ctx: _Ctx) -> list[JSONDict]:
        params = ctx.params
        offset = self._int(params, "offset")
        limit = self._int(params, "limit", 100) or 100
        limit = min(max(limit, 1), 100)
        timeout_value = params.get("timeout", 0)
        try:
            timeout = max(float(timeout_value or 0), 0.0)
        except (TypeError, ValueError):
            raise _bad("invalid timeout specified") from None
        allowed = params.get("allowed_updates")
        event = self._updates_event
        assert event is not None
        with self._cond:
            if self._webhook_url:
                raise ApiError(409, _CONFLICT_WEBHOOK)
            self._poll_generation += 1
            generation = self._poll_generation
            if allowed is not None:
                if not isinstance(allowed, list):
                    raise _bad("can't parse allowed updates JSON object")
                self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
            self._confirm(offset)
            self._cond.notify_all()
        event.set()  # wake a superseded poll so it can answer 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event.clear()
            with self._lock:
                superseded = generation != self._poll_generation
                batch = [] if superseded else self._deliverable(limit)
            if superseded:
                await self._superseded(ctx.request)
            if batch or self._stopping:
                return batch
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._waiting_pollers += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._waiting_pollers -= 1

    async def _superseded(self, request: web.Request) -> None:
        """Another getUpdates arrived.  If our client is gone (PTB cancelled the poll), stay
        silent; otherwise answer 409 like Telegram does to competing bot instances."""
        for _ in range(30):
            transport = request.transport
            if transport is None or transport.is_closing():
                raise _AbandonedError()
            await asyncio.sleep(0.01)
        raise ApiError(409, _CONFLICT_POLL)

    def _confirm(self, offset: int | None) -> None:
        pending = self._pending
        if offset is None:
            pass
        elif offset < 0:
            keep = -offset
            while len(pending) > keep:
                pending.popleft()
        else:
            while pending and pending[0]["update_id"] < offset:
                pending.popleft()
        if any(_update_type(u) not in self._allowed_updates for u in pending):
            # Telegram never queues update types the bot did not ask for.
            self._pending = deque(u for u in pending if _update_type(u) in self._allowed_updates)

    def _deliverable(self, limit: int) -> list[JSONDict]:
        return [copy.deepcopy(u) for u in itertools.islice(self._pending, limit)]

    def _m_set_webhook(self, ctx: _Ctx) -> bool:
        url = ctx.params.get("url") or ""
        if url:
            parts = urlsplit(str(url))
            if parts.scheme != "https" or not parts.hostname:
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = ctx.params.get("secret_token")
        if secret is not None and not _WEBHOOK_SECRET.fullmatch(str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        allowed = ctx.params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise _bad("can't parse allowed updates JSON object")
        with self._lock:
            url_changed = self._webhook_url != str(url)
            self._webhook_url = str(url)
            self._webhook_secret = str(secret) if secret is not None and url else None
            if allowed is not None:
                self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_UPDATE_TYPES
            if ctx.params.get("drop_pending_updates"):
                self._pending.clear()
            self._webhook_changed(url_changed, ctx.params.get("max_connections"))
        return True

    def _m_delete_webhook(self, ctx: _Ctx) -> bool:
        with self._cond:
            url_changed = bool(self._webhook_url)
            self._webhook_url = ""
            self._webhook_secret = None
            if ctx.params.get("drop_pending_updates"):
                self._pending.clear()
                self._cond.notify_all()
            self._webhook_changed(url_changed, None)
        return True

    def _m_get_webhook_info(self, ctx: _Ctx) -> JSONDict:
        with self._lock:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": self._count_pending(),
                **self._webhook_info_extra(),
            }

    def _scope_and_language(self, params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        if scope is not None:
            if not isinstance(scope, dict) or scope.get("type") not in _COMMAND_SCOPES:
                raise _bad("can't parse BotCommandScope JSON object")
            if scope["type"] in ("chat", "chat_administrators", "chat_member"):
                self._chat_id(scope)
            if scope["type"] == "chat_member" and self._int(scope, "user_id") is None:
                raise _bad("user_id is empty")
        language = params.get("language_code") or ""
        if language and not _LANG_RE.fullmatch(str(language)):
            raise _bad("invalid language code specified")
        return _scope_key(scope), str(language)

    def _m_set_my_commands(self, ctx: _Ctx) -> bool:
        commands = ctx.params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name = command.get("command")
            description = command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
                raise _bad("BOT_COMMAND_INVALID")
            if (
                not isinstance(description, str)
                or not description.strip()
                or utf16_len(description) > MAX_COMMAND_DESCRIPTION_LENGTH
            ):
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._scope_and_language(ctx.params)
        with self._lock:
            if cleaned:
                self._commands[key] = cleaned
            else:  # Telegram treats an empty list like deleteMyCommands
                self._commands.pop(key, None)
        return True

    def _m_get_my_commands(self, ctx: _Ctx) -> list[JSONDict]:
        key = self._scope_and_language(ctx.params)
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def _m_delete_my_commands(self, ctx: _Ctx) -> bool:
        key = self._scope_and_language(ctx.params)
        with self._lock:
            self._commands.pop(key, None)
        return True

    def _set_text_setting(self, ctx: _Ctx, kind: str, name: str, limit: int) -> bool:
        value = ctx.params.get(name) or ""
        if not isinstance(value, str):
            value = _json_text(value)
        if utf16_len(value) > limit:
            raise _bad(f"{name.replace('_', ' ')} is too long")
        _scope, language = self._scope_and_language(
            {"language_code": ctx.params.get("language_code")}
        )
        with self._lock:
            self._descriptions[(kind, language)] = value
        return True

    def _get_text_setting(self, ctx: _Ctx, kind: str, name: str) -> JSONDict:
        _scope, language = self._scope_and_language(
            {"language_code": ctx.params.get("language_code")}
        )
        with self._lock:
            return {name: self._descriptions.get((kind, language), "")}

    def _m_set_my_description(self, ctx: _Ctx) -> bool:
        return self._set_text_setting(ctx, "description", "description", MAX_DESCRIPTION_LENGTH)

    def _m_get_my_description(self, ctx: _Ctx) -> JSONDict:
        return self._get_text_setting(ctx, "description", "description")

    def _m_set_my_short_description(self, ctx: _Ctx) -> bool:
        return self._set_text_setting(
            ctx, "short", "short_description", MAX_SHORT_DESCRIPTION_LENGTH
        )

    def _m_get_my_short_description(self, ctx: _Ctx) -> JSONDict:
        return self._get_text_setting(ctx, "short", "short_description")

    def _m_set_my_name(self, ctx: _Ctx) -> bool:
        return self._set_text_setting(ctx, "name", "name", MAX_BOT_NAME_LENGTH)

    def _m_get_my_name(self, ctx: _Ctx) -> JSONDict:
        result = self._get_text_setting(ctx, "name", "name")
        return {"name": result["name"] or self.bot_first_name}

    def _m_send_message(self, ctx: _Ctx) -> JSONDict:
        params = ctx.params
        chat_id = self._chat_id(params)
        parsed, raw, mode = self._formatted(
            params,
            "text",
            "parse_mode",
            "entities",
            limit=MAX_MESSAGE_LENGTH,
            too_long="message is too long",
            empty="message text is empty",
        )
        markup = self._reply_markup(params, inline_only=False)
        reply_to = self._reply_to(params, chat_id)
        with self._cond:
            self._check_chat(chat_id, sending=True)
            self._check_rate(ctx.method, chat_id, paid=bool(params.get("allow_paid_broadcast")))
            fields: JSONDict = {"text": parsed.text}
            if parsed.entities:
                fields["entities"] = parsed.entities
            if reply_to is not None:
                fields["reply_to_message"] = reply_to
            if markup is not None and "inline_keyboard" in markup:
                fields["reply_markup"] = markup
            message = self._new_message(chat_id, fields)
            self._sent.append(
                SentMessage(
                    ctx.method,
                    chat_id,
                    message["message_id"],
                    parsed.text,
                    raw,
                    mode,
                    parsed.entities,
                    markup,
                    time.time(),
                )
            )
        return message

    def _m_edit_message_text(self, ctx: _Ctx) -> JSONDict | bool:
        params = ctx.params
        parsed, raw, mode = self._formatted(
            params,
            "text",
            "parse_mode",
            "entities",
            limit=MAX_MESSAGE_LENGTH,
            too_long="message is too long",
            empty="message text is empty",
        )
        markup = self._reply_markup(params, inline_only=True)
        if params.get("inline_message_id"):
            with self._lock:
                self._sent.append(
                    SentMessage(
                        ctx.method,
                        None,
                        None,
                        parsed.text,
                        raw,
                        mode,
                        parsed.entities,
                        markup,
                        time.time(),
                    )
                )
            return True
        chat_id, message = self._stored_for_edit(params, "message to edit not found")
        with self._cond:
            if not self._by_bot(message, self.bot_id):
                raise _bad("message can't be edited")
            if "text" not in message:
                raise _bad("there is no text in the message to edit")
            if (
                message["text"] == parsed.text
                and message.get("entities", []) == parsed.entities
                and message.get("reply_markup") == markup
            ):
                raise _bad(_NOT_MODIFIED)
            edited = {k: v for k, v in message.items() if k not in ("entities", "reply_markup")}
            edited["text"] = parsed.text
            edited["edit_date"] = _now()
            if parsed.entities:
                edited["entities"] = parsed.entities
            if markup is not None:
                edited["reply_markup"] = markup
            self._messages[chat_id][message["message_id"]] = edited
            self._sent.append(
                SentMessage(
                    ctx.method,
                    chat_id,
                    message["message_id"],
                    parsed.text,
                    raw,
                    mode,
                    parsed.entities,
                    markup,
                    time.time(),
                )
            )
        return edited

    def _m_edit_message_reply_markup(self, ctx: _Ctx) -> JSONDict | bool:
        params = ctx.params
        markup = self._reply_markup(params, inline_only=True)
        if params.get("inline_message_id"):
            return True
        chat_id, message = self._stored_for_edit(params, "message to edit not found")
        with self._lock:
            if not self._by_bot(message, self.bot_id):
                raise _bad("message can't be edited")
            if message.get("reply_markup") == markup:
                raise _bad(_NOT_MODIFIED)
            edited = {k: v for k, v in message.items() if k != "reply_markup"}
            edited["edit_date"] = _now()
            if markup is not None:
                edited["reply_markup"] = markup
            self._messages[chat_id][message["message_id"]] = edited
        return edited

    def _m_delete_message(self, ctx: _Ctx) -> bool:
        chat_id, message = self._stored_for_edit(ctx.params, "message to delete not found")
        with self._lock:
            self._messages[chat_id].pop(message["message_id"], None)
        return True

    def _take_query(self, query_id: Any, kind: str) -> None:
        with self._lock:
            if query_id is None or self._open_queries.get(str(query_id)) != kind:
                raise _bad(_QUERY_INVALID)
            del self._open_queries[str(query_id)]

    def _m_answer_callback_query(self, ctx: _Ctx) -> bool:
        params = ctx.params
        text = params.get("text")
        if text is not None and utf16_len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        url = params.get("url")
        if url is not None and urlsplit(str(url)).scheme not in ("http", "https", "tg"):
            raise _bad("URL_INVALID")
        self._take_query(params.get("callback_query_id"), "callback")
        return True

    def _m_answer_inline_query(self, ctx: _Ctx) -> bool:
        params = ctx.params
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict):
                raise _bad("can't parse InlineQueryResult JSON object")
            kind = result.get("type")
            if kind not in _INLINE_RESULT_TYPES:
                raise _bad(f'unsupported inline query result type "{kind}"')
            result_id = result.get("id")
            if (
                not isinstance(result_id, str)
                or not result_id
                or len(result_id.encode("utf-8")) > MAX_INLINE_RESULT_ID_BYTES
            ):
                raise _bad("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if kind == "article":
                if not isinstance(result.get("title"), str) or not result["title"]:
                    raise _bad(
                        'can\'t parse InlineQueryResultArticle: Field "title" must be of '
                        "type String"
                    )
                if not isinstance(result.get("input_message_content"), dict):
                    raise _bad(
                        "can't parse InlineQueryResultArticle: Field "
                        '"input_message_content" must be of type Object'
                    )
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._formatted(
                    content,
                    "message_text",
                    "parse_mode",
                    "entities",
                    limit=MAX_MESSAGE_LENGTH,
                    too_long="message is too long",
                    empty="message text is empty",
                )
            if "reply_markup" in result:
                self._reply_markup({"reply_markup": result["reply_markup"]}, inline_only=True)
        next_offset = params.get("next_offset")
        if (
            next_offset is not None
            and len(str(next_offset).encode("utf-8")) > MAX_INLINE_NEXT_OFFSET_BYTES
        ):
            raise _bad("NEXT_OFFSET_INVALID")
        self._take_query(params.get("inline_query_id"), "inline")
        return True

    def _m_send_chat_action(self, ctx: _Ctx) -> bool:
        chat_id = self._chat_id(ctx.params)
        if ctx.params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        with self._lock:
            self._check_chat(chat_id, sending=True)
        return True

    def _m_get_chat(self, ctx: _Ctx) -> JSONDict:
        chat_id = self._chat_id(ctx.params)
        with self._lock:
            self._check_chat(chat_id, sending=False)
            chat = self._chat_json(chat_id)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_get_chat_member(self, ctx: _Ctx) -> JSONDict:
        chat_id = self._chat_id(ctx.params)
        user_id = self._int(ctx.params, "user_id")
        if user_id is None:
            raise _bad("user_id is empty")
        with self._lock:
            self._check_chat(chat_id, sending=False)
            user = (
                self.bot_user
                if user_id == self.bot_id
                else (self._users.get(user_id) or make_user(user_id, f"User {user_id}", None))
            )
            status = self._member_status.get((chat_id, user_id))
            if status is None:
                owner = self._owners.get(chat_id)
                if owner is not None and owner["id"] == user_id:
                    status = "creator"
                elif any(a["id"] == user_id for a in self._admins.get(chat_id, [])):
                    status = "administrator"
                else:
                    status = "member"
        return _chat_member(user, status)

    def _m_get_chat_administrators(self, ctx: _Ctx) -> list[JSONDict]:
        chat_id = self._chat_id(ctx.params)
        if chat_id > 0:
            raise _bad("there are no administrators in the private chat")
        with self._lock:
            self._check_chat(chat_id, sending=False)
            members = []
            owner = self._owners.get(chat_id)
            if owner is not None:
                members.append(_chat_member(owner, "creator"))
            members.extend(
                _chat_member(a, "administrator")
                for a in self._admins.get(chat_id, [])
                if owner is None or a["id"] != owner["id"]
            )
        return members

    def _m_send_document(self, ctx: _Ctx) -> JSONDict:
        params = ctx.params
        chat_id = self._chat_id(params)
        parsed, _raw, _mode = self._formatted(
            params,
            "caption",
            "parse_mode",
            "caption_entities",
            limit=MAX_CAPTION_LENGTH,
            too_long="message caption is too long",
            empty=None,
        )
        markup = self._reply_markup(params, inline_only=False)
        reply_to = self._reply_to(params, chat_id)
        document = params.get("document")
        upload: UploadedFile | None = ctx.files.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            upload = ctx.files.get(document[len("attach://") :])
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
        with self._cond:
            if upload is not None:
                if not upload.data:
                    raise _bad("file must be non-empty")
                stored = self._store_file(upload.data, upload.filename, upload.content_type)
            elif isinstance(document, str) and document in self._files:
                stored = self._files[document]
            elif isinstance(document, str) and document.startswith(("http://", "https://")):
                raise _bad("failed to get HTTP URL content")
            elif document is None:
                raise _bad("there is no document in the request")
            else:
                raise _bad("wrong file identifier/HTTP URL specified")
            self._check_chat(chat_id, sending=True)
            self._check_rate(ctx.method, chat_id)
            fields: JSONDict = {"document": _document_json(stored)}
            if parsed.text:
                fields["caption"] = parsed.text
            if parsed.entities:
                fields["caption_entities"] = parsed.entities
            if reply_to is not None:
                fields["reply_to_message"] = reply_to
            if markup is not None and "inline_keyboard" in markup:
                fields["reply_markup"] = markup
            return self._new_message(chat_id, fields)

    def _m_get_file(self, ctx: _Ctx) -> JSONDict:
        file_id = ctx.params.get("file_id")
        with self._lock:
            stored = self._files.get(str(file_id)) if file_id else None
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        result: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.announce_size:
            result["file_size"] = len(stored.data)
        return result


# --------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------
def _normalize_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Decode PTB's wire format: JSON objects arrive as JSON strings, ints/bools as text."""
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError:
                    if key == "reply_markup":
                        raise _bad("can't parse reply keyboard markup JSON object") from None
                    raise _bad(f"can't parse {key} JSON object") from None
            elif key in _INT_FIELDS and _INT_RE.fullmatch(value):
                value = int(value)
            elif key in _BOOL_FIELDS and value.lower() in ("true", "false", "1", "0"):
                value = value.lower() in ("true", "1")
        params[key] = value
    return params


def _json_text(value: Any) -> str:
    """Telegram coerces non-string scalars in text fields to their JSON text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _scope_key(scope: Mapping[str, Any] | None) -> str:
    if not scope:
        scope = {"type": "default"}
    return json.dumps(dict(scope), sort_keys=True)


def _as_user(value: Mapping[str, Any] | int) -> JSONDict:
    if isinstance(value, int):
        return make_user(value, f"User {value}", None)
    return dict(value)


def _document_json(stored: _StoredFile) -> JSONDict:
    document: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    if stored.announce_size:
        document["file_size"] = len(stored.data)
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


def _valid_button_url(url: Any) -> bool:
    if not isinstance(url, str) or not url or any(c in url for c in " \t\r\n"):
        return False
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    return parts.scheme == "tg" and bool(parts.netloc or parts.path)


def _validate_inline_keyboard(rows: Any) -> None:
    """Check buttons like Telegram: one action each, 1-64 byte callback_data, valid URLs."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    total = 0
    for row in rows:
        for button in row:
            total += 1
            if not isinstance(button, dict):
                raise _bad(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            text = button.get("text")
            if not isinstance(text, str):
                raise _bad(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise _bad("BUTTON_TEXT_INVALID")
            actions = [key for key in _BUTTON_ACTIONS if button.get(key) is not None]
            if not actions:
                raise _bad(
                    "can't parse inline keyboard button: Text buttons are unallowed in "
                    "the inline keyboard"
                )
            if len(actions) > 1:
                raise _bad(
                    "can't parse inline keyboard button: exactly one of the optional "
                    f"fields must be used, got {', '.join(actions)}"
                )
            action = actions[0]
            if action == "callback_data":
                data = button["callback_data"]
                if (
                    not isinstance(data, str)
                    or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad("BUTTON_DATA_INVALID")
            elif action == "url":
                if not _valid_button_url(button["url"]):
                    raise _bad("BUTTON_URL_INVALID")
            elif action in ("web_app", "login_url"):
                target = button[action]
                url = target.get("url") if isinstance(target, dict) else None
                if not _valid_button_url(url) or (
                    action == "web_app" and not str(url).startswith("https://")
                ):
                    raise _bad("BUTTON_URL_INVALID")
            elif action in ("switch_inline_query", "switch_inline_query_current_chat"):
                if not isinstance(button[action], str):
                    raise _bad(
                        f'can\'t parse inline keyboard button: Field "{action}" must be '
                        "of type String"
                    )
            elif action == "copy_text":
                copy_text = button["copy_text"]
                value = copy_text.get("text") if isinstance(copy_text, dict) else None
                if not isinstance(value, str) or not 1 <= utf16_len(value) <= 256:
                    raise _bad("COPY_TEXT_INVALID")
    if total > MAX_BUTTONS:
        raise _bad("BUTTONS_TOO_MUCH")


def _error_response(error: ApiError) -> web.Response:
    if error.html_body is not None:
        return web.Response(status=error.status, text=error.html_body, content_type="text/html")
    payload: JSONDict = {"ok": False, "error_code": error.status, "description": error.description}
    if error.parameters:
        payload["parameters"] = error.parameters
    return web.Response(
        status=error.status, body=json.dumps(payload).encode(), content_type="application/json"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake server standalone, e.g. for manual runs of the bot against it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--enforce-rate-limits", action="store_true")
    args = parser.parse_args(argv)
    server = FakeTelegramServer(
        port=args.port, latency=args.latency, enforce_rate_limits=args.enforce_rate_limits
    )
    with server:
        print(f"fake Telegram Bot API at {server.base_url} (files: {server.base_file_url})")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
