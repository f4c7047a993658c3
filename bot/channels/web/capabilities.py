"""What the web declares as a channel: it serves pages and sends nothing."""

from __future__ import annotations

from bot.channels.base import ChannelCapabilities
from bot.core.ratelimit import SendLimits

#: The channel name the web carries on /healthz.
WEB = "web"

WEB_CAPABILITIES = ChannelCapabilities(
    name=WEB,
    buttons=False,
    can_edit=False,
    # Links, not buttons: no action data travels through the web.
    max_action_bytes=0,
    # A page has no length limit worth stating; a review body is at most 30,000 characters.
    max_text_units=1_000_000,
    # The web never pushes; these are never used.
    send_limits=SendLimits(per_second=1.0, private_per_second=1.0, group_per_minute=1.0),
)
