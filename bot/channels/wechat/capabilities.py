"""What WeChat declares as a channel (its own module: the channel and the readers, the
console's preview included, both need it)."""

from __future__ import annotations

from bot.channels.base import ChannelCapabilities
from bot.channels.wechat.api import CHANNEL
from bot.channels.wechat.render import MAX_TEXT_BYTES
from bot.core.ratelimit import SendLimits

WECHAT_CAPABILITIES = ChannelCapabilities(
    name=CHANNEL,
    # Text messages only: buttons become numbered choices, nothing is edited.
    buttons=False,
    can_edit=False,
    # Choices are kept in the store, not in the message: no per-button data limit
    # beyond the core's own action syntax.
    max_action_bytes=200,
    # A text message's Content: 2,048 bytes of UTF-8 (passive and customer-service).
    max_text_units=MAX_TEXT_BYTES,
    # Customer-service messages: WeChat documents no rate, only daily quotas (and
    # replies within 48 h of the follower's message); mass sending is one job.
    send_limits=SendLimits(per_second=20.0, private_per_second=1.0),
    # The weekly push is one mass message (`message/mass/sendall`) to every follower
    # (or one tag): what one follower would choose in /topics cannot change it.
    per_reader_topics=False,
)
