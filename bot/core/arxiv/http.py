"""The one door to arXiv: one request at a time, spaced, retried, with a descriptive UA.

arXiv's terms ask robots for no more than one request every three seconds, one
connection at a time, and a User-Agent that says who is asking. Every request the
watcher, the drafts and the lint make goes through one `PoliteClient`, so the rule
holds across all of them, not per feature.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import httpx

log = logging.getLogger(__name__)

#: Answers worth trying again: arXiv throttling us, or a passing server problem.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ArxivUnavailableError(Exception):
    """arXiv gave no usable answer after every attempt (network error, 429 or 5xx)."""


class PoliteClient:
    """GET requests to arXiv, serialized and spaced by at least `interval` seconds.

    The httpx client comes from a factory handed in by the composition root and is
    built on first use, so commands that never reach arXiv never pay for it.
    """

    def __init__(
        self,
        client_factory: Callable[[], httpx.AsyncClient],
        interval: float,
        *,
        attempts: int = 3,
        max_retry_wait: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client_factory = client_factory
        self._client: httpx.AsyncClient | None = None
        self.interval = interval
        self.attempts = attempts
        self.max_retry_wait = max_retry_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last_finished: float | None = None

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        """The first answer that is not 429/5xx; `ArxivUnavailableError` when none came.

        Any other status (200, 304, 400, ...) is returned for the caller to judge.
        `attempts` overrides the client's default for a request that may fail cheaply.
        """
        problem = "no attempt made"
        extra_wait = 0.0
        attempts = attempts or self.attempts
        for attempt in range(1, attempts + 1):
            async with self._lock:
                await self._wait_turn(extra_wait)
                try:
                    response = await self._http().get(url, params=params, headers=headers)
                except httpx.TransportError as exc:
                    response = None
                    problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                finally:
                    self._last_finished = self._clock()
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response
            if response is not None:
                problem = f"HTTP {response.status_code}"
                extra_wait = self._retry_after(response) or self._backoff(attempt)
            else:
                extra_wait = self._backoff(attempt)
            if attempt < attempts:
                log.warning(
                    "arXiv request %s failed (%s); attempt %d of %d, retrying in %.1fs",
                    url,
                    problem,
                    attempt,
                    attempts,
                    max(extra_wait, self.interval),
                )
        raise ArxivUnavailableError(f"{url}: {problem} (after {attempts} attempts)")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    async def _wait_turn(self, extra_wait: float) -> None:
        if self._last_finished is None:
            return
        due = self._last_finished + max(self.interval, extra_wait)
        delay = due - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return float(self.interval * 2 ** (attempt - 1))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Retry-After in seconds or as an HTTP date, capped so one answer cannot stall us."""
        value = response.headers.get("Retry-After", "").strip()
        if not value:
            return None
        seconds: float | None
        if value.isdigit():
            seconds = float(value)
        else:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            seconds = moment.timestamp() - time.time()
        return min(max(seconds, 0.0), self.max_retry_wait)
