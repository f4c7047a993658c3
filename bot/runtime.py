"""`paperbot run`: one asyncio process that owns everything it runs.

uvicorn serves a Starlette app in the process's only event loop (started with
`await server.serve()`, not as a separate program). The app's lifespan starts, in
order, each enabled channel (Telegram: polling, webhook or off), then the scheduled
jobs over the channels that can send; on SIGTERM or SIGINT uvicorn stops accepting
requests and waits for the ones in flight (a webhook update is answered only once it
was handled), then the lifespan stops the leader's jobs (a running push gives its claims
back and the lease is freed), the channels (polling first, handlers drained within a
bound), and closes the core.

A channel whose start fails (Telegram or the network unreachable) is `failing` on
/healthz while the rest of the process runs; its start is retried with a doubling,
capped backoff (CHANNEL_RETRY_SECONDS, CHANNEL_RETRY_MAX_SECONDS), one log line per
attempt. A failure no retry can fix (a rejected token) is logged once and left.
Pushes go to every channel with a sender, each paced by the send limits in its
declared capabilities (lowered, never raised, by PUSH_MAX_PER_SECOND etc.), and to every
channel with a broadcaster (one message to all its followers). Editors' notices go
through every channel that can send them, each editor's through their own address's
channel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import heap
from bot.app import Core
from bot.background import Background
from bot.channels.plugin import Channel, ChannelStartError
from bot.core.broadcasts import Broadcaster
from bot.core.leadership import process_identity
from bot.core.notify import Notifier, combine
from bot.core.push import ChannelPush
from bot.core.search.segment import warm_up
from bot.health import RoleProvider, health_report
from bot.metrics import Metrics
from bot.replicas import Heartbeat, ReplicaRegistry, paperbot_version
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.channels.wechat.channel import WeChatChannel
    from bot.workers import Worker

log = logging.getLogger(__name__)

#: How long uvicorn waits for requests in flight (webhook updates) on shutdown.
GRACEFUL_SECONDS = 30
#: WeChat API requests in flight at once (late replies as customer-service messages).
WECHAT_CONNECTIONS = 8


class Runtime:
    """The process: its channels, its jobs, its metrics and the HTTP app serving them."""

    def __init__(
        self,
        core: Core,
        channels: Sequence[Channel],
        metrics: Metrics,
        role: RoleProvider | None = None,
    ) -> None:
        self.core = core
        self.channels = list(channels)
        self.metrics = metrics
        self.background = Background(
            core, metrics, on_leadership=[channel.on_leadership for channel in self.channels]
        )
        #: leader or follower, from the scheduler lease this process campaigns for.
        self.role: RoleProvider = role or (lambda: self.background.role)
        core.search.on_timing = metrics.search_seconds.observe
        self._retries: set[asyncio.Task[None]] = set()
        self._holder: str | None = None

    def channel_pushes(self) -> list[ChannelPush]:
        """Each channel that can send now, with its sender and its declared limits."""
        return channel_pushes(self.channels)

    def broadcasters(self) -> list[Broadcaster]:
        """Each channel that broadcasts now (e.g. WeChat with WECHAT_PUSH=mass)."""
        return [c.broadcaster for c in self.channels if c.broadcaster is not None]

    def notifier(self) -> Notifier | None:
        """Editor alerts go through every channel that can send them, each editor's
        through the channel of their address (ADMIN_IDS `telegram:…`, `wechat:…`)."""
        return combine(channel.notifier for channel in self.channels)

    def channel_states(self) -> dict[str, str]:
        return {channel.name: channel.state for channel in self.channels}

    async def health(self) -> dict[str, Any]:
        """The same facts as `paperbot status`, with the channels' live states."""
        core = self.core
        report = await asyncio.to_thread(
            health_report, core.engine, core.sessions, self.channel_states(), self.role()
        )
        # Which replica answered: behind a proxy, or among `--workers N` sharing a port,
        # the same address reaches several (its row in `replicas` has the same holder).
        report["replica"] = self._holder
        report["pid"] = os.getpid()
        return report

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
        ]
        for channel in self.channels:
            routes.extend(channel.routes())
        return Starlette(routes=routes, lifespan=self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        pushing: list[str] = []
        for channel in self.channels:
            if await self._start_channel(channel) or channel.state == "failing":
                pushing.append(channel.name)
        self.background.start(
            self.channel_pushes,
            self.notifier,
            [name for name in pushing if self._may_push(name)],
            self.broadcasters,
        )
        heartbeat = self._heartbeat()
        heartbeat.start()
        settling = asyncio.create_task(self._settle_heap(), name="settle-heap")
        try:
            yield
        finally:
            settling.cancel()
            await heartbeat.stop()
            # The leader's duties first: a push still running stops while its channel's
            # sender is still open (its claims go back), and the lease is freed at once.
            log.info("stopping: jobs, then channels, then the store")
            for retry in list(self._retries):
                retry.cancel()
            await asyncio.gather(*self._retries, return_exceptions=True)
            await self.background.stop()
            for channel in reversed(self.channels):
                try:
                    await channel.stop()
                except Exception:
                    log.exception("channel %s did not stop cleanly", channel.name)
            await self.core.aclose()
            log.info("stopped")

    async def _settle_heap(self) -> None:
        """Once start-up's long-lived objects exist (jieba's dictionary is most of them,
        loaded beside start-up), take them out of the collector's walks (`bot.heap`)."""
        await asyncio.to_thread(warm_up)
        frozen = heap.settle()
        self.metrics.frozen_objects.set(frozen)
        log.info("start-up heap settled: %d objects left out of garbage collection", frozen)

    def _heartbeat(self) -> Heartbeat:
        """This process's row in `replicas` (bot/replicas.py), under the holder id its
        leader lease uses, for `paperbot status` on any replica."""
        settings = self.core.settings
        elector = self.background.elector
        holder = elector.holder if elector is not None else process_identity()
        self._holder = holder
        return Heartbeat(
            ReplicaRegistry(self.core.sessions),
            holder=lambda: holder,
            role=self.role,
            address=f"{settings.http_host}:{settings.http_port}",
            every=settings.leader_lease_seconds / 3,
        )

    def _may_push(self, name: str) -> bool:
        """A started channel pushes if it has a sender or a broadcaster; a failing one
        once retried."""
        channel = next(c for c in self.channels if c.name == name)
        if channel.sender is not None or channel.broadcaster is not None:
            return True
        return any(
            not retry.done() and retry.get_name() == _retry_name(name) for retry in self._retries
        )

    async def _start_channel(self, channel: Channel) -> bool:
        """Start a channel once; a retryable failure leaves a retry running."""
        try:
            await channel.start()
        except ChannelStartError as exc:
            if not exc.retry:
                log.error("channel %s is off: %s", channel.name, exc.reason)
                return False
            delay = self.core.settings.channel_retry_seconds
            log.warning(
                "channel %s did not start (attempt 1): %s; retrying in %.1f s",
                channel.name,
                exc.reason,
                delay,
            )
            retry = asyncio.create_task(
                self._retry_start(channel, delay), name=_retry_name(channel.name)
            )
            self._retries.add(retry)
            retry.add_done_callback(self._retries.discard)
            return False
        return True

    async def _retry_start(self, channel: Channel, delay: float) -> None:
        """Start again after `delay`, doubling up to CHANNEL_RETRY_MAX_SECONDS, until
        the channel is up or the failure says retrying cannot help."""
        cap = self.core.settings.channel_retry_max_seconds
        attempt = 1
        while True:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await channel.start()
            except ChannelStartError as exc:
                if not exc.retry:
                    log.error(
                        "channel %s is off (attempt %d): %s", channel.name, attempt, exc.reason
                    )
                    return
                delay = min(delay * 2, cap)
                log.warning(
                    "channel %s did not start (attempt %d): %s; retrying in %.1f s",
                    channel.name,
                    attempt,
                    exc.reason,
                    delay,
                )
                continue
            except Exception:
                log.exception("channel %s failed to start (attempt %d)", channel.name, attempt)
                delay = min(delay * 2, cap)
                continue
            log.info("channel %s started (attempt %d): %s", channel.name, attempt, channel.state)
            await self.background.channel_started(channel.name)
            return

    async def _healthz(self, _request: Request) -> Response:
        return JSONResponse(await self.health())

    async def _metrics(self, _request: Request) -> Response:
        return Response(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


def channel_pushes(channels: Sequence[Channel]) -> list[ChannelPush]:
    """A push's channels: those with a sender now, each with the limits it declares."""
    return [
        ChannelPush(channel.sender, channel.capabilities.send_limits)
        for channel in channels
        if channel.sender is not None
    ]


def _retry_name(channel: str) -> str:
    return f"start-channel-{channel}"


def build_runtime(core: Core, metrics: Metrics | None = None) -> Runtime:
    """The composition of channels for these settings: Telegram, WeChat (when
    configured), then the web archive (WEB_ENABLED), last because its 404 page answers
    every path no one else serves."""
    from bot.app import make_http_client
    from bot.channels.telegram.channel import TelegramChannel

    metrics = metrics or Metrics()
    telegram = TelegramChannel(core, metrics)
    channels: list[Channel] = [telegram]
    wechat: WeChatChannel | None = None
    if core.settings.wechat_enabled:
        from bot.channels.wechat.channel import WeChatChannel

        http = make_http_client(core.settings, connections=WECHAT_CONNECTIONS)
        wechat = WeChatChannel(core, http, metrics)
        channels.append(wechat)
    if core.settings.web_enabled:
        from bot.channels.web import WebChannel

        channels.append(WebChannel(core.settings, core.reviews, core.search, telegram.bot_username))
    runtime = Runtime(core, channels, metrics)
    if wechat is not None:
        # A mass send's final counts reach every editor, on whichever channel.
        wechat.notices = runtime.notifier
    return runtime


def serve(runtime: Runtime, worker: Worker | None = None) -> None:
    """Run until SIGTERM/SIGINT; returns normally after a clean stop (exit code 0).

    A worker of `paperbot run --workers N` (bot/workers.py) serves on the socket it was
    given; its supervisor logged the start-up lines once for all of them."""
    settings = runtime.core.settings
    config = uvicorn.Config(
        runtime.app(),
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,  # our logging, configured once (bot.app.configure_logging)
        access_log=False,
        # The reader's address from the proxy's X-Forwarded-For (deploy/nginx), only
        # when the connection comes from FORWARDED_ALLOW_IPS.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it caught once it has shut down, to the handlers
    # that were installed before it: these, so a clean stop ends with exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped_already)
    if worker is not None:
        asyncio.run(worker.serve(server))
    else:
        for line in startup_lines(settings):
            log.info(line)
        log.info(start_line(settings, f"http://{settings.http_host}:{settings.http_port}"))
        asyncio.run(server.serve())
    if not server.started:
        raise SystemExit(3)


def startup_lines(settings: Settings) -> list[str]:
    """What an operator reads first in the journal, one fact a line: the version, the
    store (never its password) and each channel's mode. The role and the next push and
    arXiv poll follow once known (bot.core.leadership, bot.core.leader_duties)."""
    from sqlalchemy.engine import make_url

    database = make_url(settings.effective_database_url).render_as_string(hide_password=True)
    wechat = "off"
    if settings.wechat_enabled:
        wechat = "safe" if settings.wechat_encoding_aes_key else "plaintext"
    channels = {
        "telegram": settings.effective_telegram_mode,
        "wechat": wechat,
        "web": "on" if settings.web_enabled else "off",
    }
    return [
        f"paperbot {paperbot_version()}",
        f"database: {database}",
        "channels: " + ", ".join(f"{name} {mode}" for name, mode in channels.items()),
    ]


def start_line(settings: Settings, url: str) -> str:
    """One line: what Telegram does (and why it is off, if it is), where HTTP is."""
    if settings.wechat_enabled:
        url += "; WeChat callbacks on /wechat"
    mode = settings.effective_telegram_mode
    if mode != "off":
        return f"Telegram: {mode}. Serving HTTP on {url}"
    if not settings.telegram_bot_token:
        return (
            f"TELEGRAM_BOT_TOKEN is not set; Telegram is off. Serving HTTP on {url}; "
            "try `paperbot console`"
        )
    return f"TELEGRAM_MODE=off; Telegram is off. Serving HTTP on {url}"


def _stopped_already(signum: int, _frame: object) -> None:
    log.info("signal %d after shutdown; ignored", signum)
