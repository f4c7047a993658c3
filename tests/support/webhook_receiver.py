"""A small real webhook receiver (Starlette on uvicorn, in a thread) that fails on purpose.

Why this exists: the fake Bot API's webhook delivery (ordering per chat, parallel chats,
retries with backoff) is tested against a real HTTP server whose answers a test scripts, so the
fake meets real status codes, real timeouts and real refused connections.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.network import free_port

#: Decides the answer to one POST: (the update, how many times this update_id arrived before,
#: the receiver) -> the response; may await (to hold the request open).
Behaviour = Callable[[dict[str, Any], int, "WebhookReceiver"], Awaitable[Response]]


async def always_ok(update: dict[str, Any], seen: int, receiver: WebhookReceiver) -> Response:
    return JSONResponse({})


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    update_id: int
    chat_id: int | None
    secret: str | None
    started: float
    finished: float
    status: int


def _chat_id(update: dict[str, Any]) -> int | None:
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if isinstance(chat, dict):
            return int(chat["id"])
    return None


class WebhookReceiver:
    """Listens on 127.0.0.1:<free port>/hook; records every POST and how many were in flight."""

    def __init__(self, behaviour: Behaviour = always_ok) -> None:
        self.behaviour = behaviour
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._seen: dict[int, int] = {}
        self._in_flight: dict[int | None, int] = {}
        self.in_flight_total = 0
        self.peak_in_flight = 0
        #: Set when two updates of one chat were ever in flight at once.
        self.overlapping_chats: set[int | None] = set()
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="WebhookReceiver")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(15)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_until_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """For a behaviour: True once ``count`` POSTs are held open at once (else False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight_total >= count:
                return True
            time.sleep(0.005)
        return False

    async def await_in_flight(self, count: int, timeout: float = 5.0) -> bool:
        """Async :meth:`wait_until_in_flight`, for behaviours (they run on the server's loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight_total >= count:
                return True
            await asyncio.sleep(0.005)
        return False

    async def _hook(self, request: Request) -> Response:
        started = time.monotonic()
        update = await request.json()
        update_id = int(update["update_id"])
        chat_id = _chat_id(update)
        with self._lock:
            seen = self._seen.get(update_id, 0)
            self._seen[update_id] = seen + 1
            if self._in_flight.get(chat_id, 0) and chat_id is not None:
                self.overlapping_chats.add(chat_id)
            self._in_flight[chat_id] = self._in_flight.get(chat_id, 0) + 1
            self.in_flight_total += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight_total)
        status = 500
        try:
            response = await self.behaviour(update, seen, self)
            status = response.status_code
            return response
        finally:
            with self._lock:
                self._in_flight[chat_id] -= 1
                self.in_flight_total -= 1
                self._received.append(
                    Received(
                        update_id,
                        chat_id,
                        request.headers.get("x-telegram-bot-api-secret-token"),
                        started,
                        time.monotonic(),
                        status,
                    )
                )
