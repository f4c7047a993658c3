"""What a channel is to the runtime: a component with routes, a start, a stop and a state.

The runtime (bot/runtime.py) knows channels only through this protocol: it mounts their
HTTP routes, starts them inside the web server's lifespan, stops them on shutdown, shows
their `state` on /healthz and hands their `sender` (per-reader deliveries) and their
`broadcaster` (one message to all followers, e.g. WeChat's mass send) to the push, and
their `notifier` to the jobs that alert editors. A channel's own rules (limits,
buttons) travel with it as `ChannelCapabilities` rather than living in the core.
"""

from __future__ import annotations

from typing import Literal, Protocol

from starlette.routing import BaseRoute

from bot.channels.base import ChannelCapabilities
from bot.core.broadcasts import Broadcaster
from bot.core.notify import Notifier
from bot.core.push import Sender

#: What /healthz says of a channel: how it receives updates (the web: that it serves
#: pages), or that it cannot.
ChannelState = Literal["polling", "webhook", "serving", "off", "failing"]


class ChannelStartError(Exception):
    """A channel could not start. `reason` is one line for the log (no secrets);
    `retry` False means trying again cannot help (a rejected token) until an operator
    acts: the runtime leaves the channel `failing` instead of retrying."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class Channel(Protocol):
    """A channel as the runtime hosts it."""

    name: str
    capabilities: ChannelCapabilities

    @property
    def state(self) -> ChannelState: ...

    #: Pushes go through this; None when the channel cannot send now (e.g. it is off).
    @property
    def sender(self) -> Sender | None: ...

    #: The push's broadcast on this channel (one message to all its followers) goes
    #: through this; None when the channel does not broadcast (or not now).
    @property
    def broadcaster(self) -> Broadcaster | None: ...

    #: Editor alerts go through this; None when the channel cannot send.
    @property
    def notifier(self) -> Notifier | None: ...

    def routes(self) -> list[BaseRoute]:
        """HTTP routes mounted on the process's server (e.g. a webhook)."""
        ...

    async def start(self) -> None:
        """Connect and begin receiving, inside the server's lifespan. On failure the
        channel's state is `failing` and it raises `ChannelStartError`; the runtime
        calls `start()` again later (with backoff) if the error allows a retry."""
        ...

    async def stop(self) -> None:
        """Stop receiving, let in-flight work finish (bounded), close the clients."""
        ...

    async def on_leadership(self, leading: bool) -> None:
        """This process became the leader (True) or stopped being it (False): what the
        channel does on the leader only (Telegram polling), it starts or stops here."""
        ...


__all__ = ["Channel", "ChannelCapabilities", "ChannelStartError", "ChannelState"]
