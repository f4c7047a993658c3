"""Webhook delivery as Telegram does it, for the fake Bot API server.

Why this exists: a bot in webhook mode is only tested for real when updates reach it the way
Telegram sends them, including the failure paths. Once ``setWebhook`` set a URL, the fake POSTs
each queued update as JSON with the ``X-Telegram-Bot-Api-Secret-Token`` header and:

* sends a chat's next update only after a 2xx for its previous one (other chats go in
  parallel, up to the webhook's ``max_connections``, default 40);
* retries an update that got a non-2xx, a timeout or a connection error, after an exponential
  backoff (``retry_base`` · 2^(attempt-1), capped at ``retry_cap``), and keeps the chat's later
  updates waiting behind it;
* reports the queue and the last failure in ``getWebhookInfo`` (``pending_update_count``,
  ``last_error_date``, ``last_error_message``, with Telegram's wording).

The public URL set with ``setWebhook`` must be https and is not reachable here, so a test says
where the POSTs go with :meth:`WebhookDelivery.deliver_webhook_to` (what a reverse proxy or load
balancer in front of the bot would do; several targets are used in turn).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.fake_telegram.limits import JSONDict
from tests.support.fake_telegram.updates import _update_type

DEFAULT_MAX_CONNECTIONS = 40
MAX_MAX_CONNECTIONS = 100


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of an update to the webhook and how it ended."""

    update_id: int
    chat_key: str
    target: str
    #: The HTTP status of the answer; None when there was none (timeout, connection error).
    status: int | None
    #: Telegram's ``last_error_message`` wording; None when the bot answered 2xx.
    error: str | None
    started: float
    finished: float

    @property
    def ok(self) -> bool:
        return self.error is None


def chat_key(update: Mapping[str, Any]) -> str:
    """The chat an update belongs to for ordering: its chat, else its sender, else itself."""
    payload = update.get(_update_type(update))
    if isinstance(payload, dict):
        chat = payload.get("chat")
        if not isinstance(chat, dict):
            message = payload.get("message")
            chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and "id" in chat:
            return str(chat["id"])
        user = payload.get("from") or payload.get("user")
        if isinstance(user, dict) and "id" in user:
            return str(user["id"])
    return f"update:{update.get('update_id')}"


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try of an update that failed `attempts` times in a row."""
    return float(min(base * 2 ** (attempts - 1), cap))


@dataclass
class _Retry:
    attempts: int
    due: float  # loop time


class WebhookDelivery:
    """Mixin of :class:`FakeTelegramServer`: the delivery loop and its state.

    It shares the server's lock, its queue of pending updates and its webhook settings; the
    loop runs on the server's event loop thread.
    """

    # Provided by FakeTelegramServer.
    _lock: threading.RLock
    _cond: threading.Condition
    _pending: deque[JSONDict]
    _allowed_updates: frozenset[str]
    _webhook_url: str
    _webhook_secret: str | None
    _loop: asyncio.AbstractEventLoop | None
    _stopping: bool

    def _init_webhook_delivery(
        self, *, timeout: float, retry_base: float, retry_cap: float
    ) -> None:
        self.webhook_timeout = timeout
        self.webhook_retry_base = retry_base
        self.webhook_retry_cap = retry_cap
        self._webhook_targets: list[str] = []
        self._next_target = 0
        self._max_connections = DEFAULT_MAX_CONNECTIONS
        self._in_flight: dict[int, str] = {}  # update_id -> chat key
        self._retries: dict[int, _Retry] = {}
        self._attempts: list[WebhookAttempt] = []
        self._last_error_date: int | None = None
        self._last_error_message: str | None = None
        self._delivery_event: asyncio.Event | None = None
        self._delivery_task: asyncio.Task[None] | None = None
        self._delivery_tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # ----------------------------------------------------------------------------- arrange
    def deliver_webhook_to(self, *targets: str) -> None:
        """POST webhook updates to these addresses (in turn), e.g. the bot's
        ``http://127.0.0.1:PORT/telegram/webhook``; no target stops the delivery."""
        with self._lock:
            self._webhook_targets = list(targets)
        self._wake_delivery()

    # ----------------------------------------------------------------------------- inspection
    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every finished POST to the webhook, in the order they finished."""
        with self._lock:
            return list(self._attempts)

    @property
    def webhook_max_connections(self) -> int:
        with self._lock:
            return self._max_connections

    def wait_for_webhook_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued update was delivered (answered 2xx) and none is in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._deliverable_count() or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{self._deliverable_count()} update(s) undelivered after {timeout}s; "
                        f"last error: {self._last_error_message!r}; attempts: "
                        f"{self._attempts[-10:]}"
                    )
                self._cond.wait(remaining)

    def wait_for_webhook_attempts(self, count: int, timeout: float = 30.0) -> list[WebhookAttempt]:
        """Block until at least ``count`` POSTs finished; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._attempts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self._attempts)} of {count} webhook attempt(s) after {timeout}s"
                    )
                self._cond.wait(remaining)
            return list(self._attempts)

    def _deliverable_count(self) -> int:
        return sum(1 for u in self._pending if _update_type(u) in self._allowed_updates)

    def _webhook_info_extra(self) -> JSONDict:
        """getWebhookInfo's fields about delivery (caller holds the lock)."""
        info: JSONDict = {}
        if self._webhook_url:
            info["max_connections"] = self._max_connections
        if self._last_error_date is not None:
            info["last_error_date"] = self._last_error_date
            info["last_error_message"] = self._last_error_message
        return info

    def _webhook_changed(self, url_changed: bool, max_connections: Any) -> None:
        """setWebhook/deleteWebhook took effect (caller holds the lock)."""
        if url_changed:
            self._last_error_date = None
            self._last_error_message = None
            self._retries.clear()
        if max_connections is not None:
            # Like the Bot API server, out-of-range values are clamped, not refused.
            self._max_connections = min(max(int(max_connections), 1), MAX_MAX_CONNECTIONS)
        elif url_changed:
            self._max_connections = DEFAULT_MAX_CONNECTIONS
        self._wake_delivery()

    # ----------------------------------------------------------------------------- the loop
    async def _start_webhook_delivery(self) -> None:
        self._delivery_event = asyncio.Event()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._delivery_task = asyncio.get_running_loop().create_task(self._delivery_loop())

    async def _stop_webhook_delivery(self) -> None:
        tasks = [t for t in (self._delivery_task, *self._delivery_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _wake_delivery(self) -> None:
        loop, event = self._loop, self._delivery_event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed during shutdown
                loop.call_soon_threadsafe(event.set)

    async def _delivery_loop(self) -> None:
        event = self._delivery_event
        assert event is not None
        while not self._stopping:
            event.clear()
            wait = self._start_due_deliveries()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), wait)

    def _start_due_deliveries(self) -> float | None:
        """Start the POSTs that may go now; return how long until the next retry is due."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        next_due: float | None = None
        with self._lock:
            if not self._webhook_url or not self._webhook_targets:
                return None
            seen: set[str] = set()
            for update in self._pending:
                if _update_type(update) not in self._allowed_updates:
                    continue
                key = chat_key(update)
                if key in seen:
                    continue  # behind an earlier update of the same chat
                seen.add(key)
                update_id = int(update["update_id"])
                if update_id in self._in_flight:
                    continue
                retry = self._retries.get(update_id)
                if retry is not None and retry.due > now:
                    wait = retry.due - now
                    next_due = wait if next_due is None else min(next_due, wait)
                    continue
                if len(self._in_flight) >= self._max_connections:
                    break
                self._in_flight[update_id] = key
                target = self._webhook_targets[self._next_target % len(self._webhook_targets)]
                self._next_target += 1
                task = loop.create_task(
                    self._post_update(copy.deepcopy(update), key, target, self._webhook_secret)
                )
                self._delivery_tasks.add(task)
                task.add_done_callback(self._delivery_tasks.discard)
        return next_due

    async def _post_update(
        self, update: JSONDict, key: str, target: str, secret: str | None
    ) -> None:
        session = self._session
        assert session is not None
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        started = time.monotonic()
        status: int | None = None
        error: str | None
        try:
            async with session.post(
                target,
                data=json.dumps(update).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
            ) as response:
                status = response.status
                await response.read()
                error = (
                    None
                    if 200 <= status < 300
                    else f"Wrong response from the webhook: {status} {response.reason}"
                )
        except TimeoutError:
            error = "Read timeout expired"
        except aiohttp.ClientConnectorError:
            error = "Connection refused"
        except aiohttp.ClientError as exc:
            error = f"Connection error: {type(exc).__name__}"
        self._finish_attempt(
            WebhookAttempt(
                int(update["update_id"]), key, target, status, error, started, time.monotonic()
            )
        )

    def _finish_attempt(self, attempt: WebhookAttempt) -> None:
        loop = asyncio.get_running_loop()
        with self._cond:
            self._in_flight.pop(attempt.update_id, None)
            self._attempts.append(attempt)
            if attempt.ok:
                self._retries.pop(attempt.update_id, None)
                self._pending = deque(
                    u for u in self._pending if u["update_id"] != attempt.update_id
                )
            else:
                retry = self._retries.get(attempt.update_id) or _Retry(0, 0.0)
                retry.attempts += 1
                retry.due = loop.time() + retry_delay(
                    retry.attempts, self.webhook_retry_base, self.webhook_retry_cap
                )
                self._retries[attempt.update_id] = retry
                self._last_error_date = int(time.time())
                self._last_error_message = attempt.error
            self._cond.notify_all()
        assert self._delivery_event is not None
        self._delivery_event.set()
