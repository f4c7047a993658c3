"""The column on the web: archive pages, search and feeds, served by the runtime's HTTP
server as one more channel (read-only: it has no sender and no notifier)."""

from bot.channels.web.channel import WebChannel

__all__ = ["WebChannel"]
