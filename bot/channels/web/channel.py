"""The web archive as a channel of the runtime: routes on the process's HTTP server, a
background check for changed reviews while it runs, nothing to send.

Route order matters: the fast path for cached pages (`fast`) comes first, the feeds
(`/tags/<tag>/feed.atom`) before the tag pages (`/tags/<tag>`), and the 404 page
catches every other GET, so the runtime mounts this channel's routes after every other
channel's (see `bot.runtime.build_runtime`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.routing import BaseRoute

from bot.channels.plugin import ChannelState
from bot.channels.web.assets import AssetRoutes
from bot.channels.web.capabilities import WEB, WEB_CAPABILITIES
from bot.channels.web.fast import FastPages
from bot.channels.web.feeds import FeedRoutes
from bot.channels.web.pages import PageRoutes
from bot.channels.web.site import WebSite
from bot.core.broadcasts import Broadcaster
from bot.core.notify import Notifier
from bot.core.push import Sender
from bot.core.reviews import ReviewService
from bot.core.search import SearchService
from bot.settings import Settings

log = logging.getLogger(__name__)


class WebChannel:
    """Pages, search and feeds of the published reviews (WEB_ENABLED)."""

    name = WEB
    capabilities = WEB_CAPABILITIES

    def __init__(
        self,
        settings: Settings,
        reviews: ReviewService,
        search: SearchService,
        bot_username: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.site = WebSite(settings, reviews, search, bot_username)
        self._pages = PageRoutes(self.site)
        #: Cached pages served straight from the ASGI scope (first of the routes).
        self.fast = FastPages(self.site.cache)
        self._state: ChannelState = "off"

    @property
    def state(self) -> ChannelState:
        return self._state

    @property
    def sender(self) -> Sender | None:
        return None

    @property
    def broadcaster(self) -> Broadcaster | None:
        """The web has no followers to send to."""
        return None

    @property
    def notifier(self) -> Notifier | None:
        return None

    def routes(self) -> list[BaseRoute]:
        return [
            self.fast,
            *FeedRoutes(self.site).routes(),
            *AssetRoutes(self.site).routes(),
            *self._pages.routes(),
            self._pages.catch_all(),
        ]

    async def start(self) -> None:
        await self.site.cache.start()
        self._state = "serving"

    async def stop(self) -> None:
        await self.site.cache.stop()
        self._state = "off"

    async def on_leadership(self, leading: bool) -> None:
        """Every process serves the web; leadership changes nothing here."""
