"""`paperbot run`: one asyncio process that owns everything it runs.

uvicorn serves a Starlette app in the process's only event loop (started with
`await server.serve()`, not as a separate program). The app's lifespan starts, in
order, each enabled channel (Telegram: polling, webhook or off), then the scheduled
jobs over the channels that can send; on SIGTERM or SIGINT uvicorn stops accepting
requests and waits for the ones in flight (a webhook update is answered only once it
was handled), then the lifespan stops the leader's jobs (a running push gives its claims
back and the lease is freed), the channels (polling first, handlers drained within a
bound), and closes the core.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Core
from bot.background import Background
from bot.channels.plugin import Channel
from bot.health import RoleProvider, health_report
from bot.metrics import Metrics

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

    def channel_states(self) -> dict[str, str]:
        return {channel.name: channel.state for channel in self.channels}

    async def health(self) -> dict[str, Any]:
        """The same facts as `paperbot status`, with the channels' live states."""
        core = self.core
        return await asyncio.to_thread(
            health_report, core.engine, core.sessions, self.channel_states(), self.role()
        )

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
        for channel in self.channels:
            await channel.start()
        senders = [channel.sender for channel in self.channels if channel.sender is not None]
        notifiers = [c.notifier for c in self.channels if c.notifier is not None]
        self.background.start(senders, notifiers[0] if notifiers else None)
        try:
            yield
        finally:
            # The leader's duties first: a push still running stops while its channel's
            # sender is still open (its claims go back), and the lease is freed at once.
            log.info("stopping: jobs, then channels, then the store")
            await self.background.stop()
            for channel in reversed(self.channels):
                try:
                    await channel.stop()
                except Exception:
                    log.exception("channel %s did not stop cleanly", channel.name)
            await self.core.aclose()
            log.info("stopped")

    async def _healthz(self, _request: Request) -> Response:
        return JSONResponse(await self.health())

    async def _metrics(self, _request: Request) -> Response:
        return Response(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


def build_runtime(core: Core, metrics: Metrics | None = None) -> Runtime:
    """The composition of channels for these settings (Telegram today)."""
    from bot.app import make_http_client
    from bot.channels.telegram.channel import TelegramChannel

    metrics = metrics or Metrics()
    channels: list[Channel] = [TelegramChannel(core, metrics)]
    if core.settings.wechat_enabled:
        from bot.channels.wechat.channel import WeChatChannel

        http = make_http_client(core.settings, connections=WECHAT_CONNECTIONS)
        channels.append(WeChatChannel(core, http, metrics))
    return Runtime(core, channels, metrics)


def serve(runtime: Runtime) -> None:
    """Run until SIGTERM/SIGINT; returns normally after a clean stop (exit code 0)."""
    settings = runtime.core.settings
    config = uvicorn.Config(
        runtime.app(),
        host=settings.http_host,
        port=settings.http_port,
        lifespan="on",
        log_config=None,  # our logging, configured once (bot.app.configure_logging)
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it caught once it has shut down, to the handlers
    # that were installed before it: these, so a clean stop ends with exit code 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopped_already)
    log.info(_start_line(runtime, f"http://{settings.http_host}:{settings.http_port}"))
    asyncio.run(server.serve())
    if not server.started:
        raise SystemExit(3)


def _start_line(runtime: Runtime, url: str) -> str:
    """One line: what Telegram does (and why it is off, if it is), where HTTP is."""
    settings = runtime.core.settings
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
