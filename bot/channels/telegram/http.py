"""An aiohttp transport for python-telegram-bot.

PTB's default transport (httpx) costs about 0.7 ms of CPU per request here; aiohttp's
client does the same work in a fraction of that, which is most of the difference
between ~250 and ~500 answered updates per second on two cores (see
bench/telegram_throughput.py). Same contract as PTB's HTTPXRequest (parameters as
JSON rather than a form, see `_body`), multipart when files are attached, TimedOut /
NetworkError on failure.
"""

from __future__ import annotations

import json
from functools import cached_property

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post_json(self, url: str, body: bytes) -> tuple[int, bytes]:
        """POST a JSON body already encoded (`prepared_send`), with the default timeouts;
        the same failures as `do_request` (TimedOut, NetworkError)."""
        return await self._exchange("POST", url, body, _JSON, self._default_timeout)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        files = request_data.multipart_data if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = self._write_timeout if not files else self._media_write_timeout
        if not isinstance(write_timeout, DefaultValue):
            write = write_timeout
        timeout = _timeout(read, write, connect, pool)
        data, headers = _body(request_data)
        return await self._exchange(method, url, data, headers, timeout)

    @cached_property
    def _default_timeout(self) -> aiohttp.ClientTimeout:
        return _timeout(
            self._read_timeout, self._write_timeout, self._connect_timeout, self._pool_timeout
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        data: aiohttp.FormData | bytes | None,
        headers: dict[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # asyncio.TimeoutError is the same class since 3.11
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc

    async def download_limited(self, url: str, limit: int) -> bytes | None:
        """GET a file, reading at most `limit` bytes: None as soon as more arrive.

        PTB's `File.download_*` read the whole body, and a Document's `file_size` is
        optional: only the bytes actually received can enforce a cap.
        """
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            total=self._media_write_timeout, sock_connect=self._connect_timeout
        )
        try:
            async with self._session.get(url, timeout=timeout) as response:
                if response.status != 200:
                    raise NetworkError(f"file download answered HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > limit:
                    response.close()
                    return None
                received = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    received += chunk
                    if len(received) > limit:
                        response.close()  # drop the connection; the rest is never read
                        return None
                return bytes(received)
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The exception's text may hold the URL, which holds the token: name it only.
            raise NetworkError(f"file download failed: aiohttp.{exc.__class__.__name__}") from exc


def _timeout(
    read: float | None, write: float | None, connect: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    # aiohttp's `connect` covers waiting for a pooled connection and opening a new one;
    # it has no separate write timeout, so the whole exchange gets read + write.
    acquire = None if pool is None or connect is None else pool + connect
    total = None if read is None or write is None else read + write + (acquire or 0)
    return aiohttp.ClientTimeout(total=total, connect=acquire, sock_connect=connect, sock_read=read)


#: The header of a body without files: the Bot API takes JSON as it takes forms.
_JSON = {"Content-Type": "application/json"}


def _body(
    request_data: RequestData | None,
) -> tuple[aiohttp.FormData | bytes | None, dict[str, str] | None]:
    """The request's body and its content type: JSON without files, multipart with.

    Not a urlencoded form: quoting a long reply character by character (a review, a
    Chinese list) was a tenth of an answered update's CPU, `json.dumps` a fraction of
    that. The values are PTB's own (`json_parameters`: objects already JSON text,
    numbers as text), which the Bot API reads from JSON as from a form.
    """
    if request_data is None:
        return None, None
    parameters = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return json.dumps(parameters, ensure_ascii=False).encode(), _JSON
    form = aiohttp.FormData()
    for name, value in parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form, None
