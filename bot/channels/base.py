"""What a channel declares about itself, so the core can stay ignorant of every channel.

The core asks for numbers (a button's data limit, send rates) as parameters; each
channel states its own here, and the composition root (bot/app.py) hands them over.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.conversation import PER_READER_TOPICS
from bot.core.ratelimit import SendLimits


@dataclass(frozen=True)
class ChannelCapabilities:
    """A channel's limits and abilities, as its platform documents them."""

    #: The channel's name: the `channel` of its subscribers and callers.
    name: str
    #: Whether messages can carry buttons (else they are offered as commands or links).
    buttons: bool
    #: Whether a sent message can be replaced (paging in place).
    can_edit: bool
    #: The most bytes a button's action data may take.
    max_action_bytes: int
    #: The longest message text, in the channel's own units.
    max_text_units: int
    #: How fast bulk messages may go out.
    send_limits: SendLimits
    #: Whether the push can differ by reader (Telegram sends each subscriber their own
    #: messages; WeChat's mass send is one message to every follower, so /topics cannot
    #: choose anything there).
    per_reader_topics: bool = True

    def lacks(self) -> frozenset[str]:
        """The core's names of what this channel cannot do (`Caller.lacks`), so a
        feature can say so to the reader without knowing which channel it is on."""
        return frozenset() if self.per_reader_topics else frozenset({PER_READER_TOPICS})
