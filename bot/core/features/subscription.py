"""Subscription: /start, /subscribe, /unsubscribe, /topics, /settings and /about."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from bot.core.conversation import PER_READER_TOPICS, Button, Caller, Command, Registry, Reply
from bot.core.features.reading import ReadingFeature
from bot.core.reviews import ReviewService
from bot.core.richtext import Block, bold, heading, paragraph, rich
from bot.core.subscriptions import LANGUAGES, PUSH_FORMATS, SubscriptionService
from bot.core.texts import t

MAX_TOPIC_BUTTONS = 24
#: Tags named as searches to try where topics cannot be chosen.
MAX_TAG_EXAMPLES = 6


def topic_token(tag: str) -> str:
    """A short, button-safe stand-in for a tag (tags may be Chinese; button data is ASCII)."""
    return hashlib.blake2s(tag.encode(), digest_size=4).hexdigest()


class SubscriptionFeature:
    def __init__(
        self, subscriptions: SubscriptionService, reviews: ReviewService, reading: ReadingFeature
    ) -> None:
        self.subscriptions = subscriptions
        self.reviews = reviews
        self.reading = reading

    def register(self, registry: Registry) -> None:
        registry.add_command(Command("start", "cmd_start", self.start, menu_position=0))
        registry.add_command(
            Command("subscribe", "cmd_subscribe", self.subscribe, menu_position=20)
        )
        registry.add_command(
            Command("unsubscribe", "cmd_unsubscribe", self.unsubscribe, menu_position=21)
        )
        registry.add_command(
            Command("topics", "cmd_topics", self.topics, menu_position=22, needs=PER_READER_TOPICS)
        )
        registry.add_command(
            Command(
                "settings",
                "cmd_settings",
                self.settings,
                menu_position=23,
                description_lacking=((PER_READER_TOPICS, "cmd_settings_language_only"),),
            )
        )
        registry.add_command(Command("about", "cmd_about", self.about, menu_position=91))
        registry.add_action("tp", self._topic_action)
        registry.add_action("set", self._settings_action)
        registry.add_action("sub", self._subscribe_action)

    # commands

    async def start(self, caller: Caller, args: str) -> list[Reply]:
        """Greets in one message; `r_<slug>` opens a review. A private chat is
        subscribed at once; a group is asked first (a button its admins may tap), since
        adding a bot to a group is no request for weekly messages."""
        replies: list[Reply] = []
        if args.startswith("r_"):
            replies.extend(self.reading.review(caller, args.removeprefix("r_")))
        if caller.chat_type != "private":
            return [*replies, self._group_greeting(caller)]
        blocks: list[Block] = []
        outcome = self.subscriptions.subscribe(
            caller.channel, caller.chat_id, caller.chat_type, caller.language
        )
        if outcome.change == "resumed":
            blocks.append(paragraph(t(caller.language, "subscribed_resumed")))
        elif outcome.change == "new" and not replies:
            blocks.append(paragraph(t(caller.language, "welcome")))
            blocks.append(paragraph(t(caller.language, _subscribed_new(caller))))
        # Plain /start, or a payload we did not act on (an old or foreign deep link from
        # someone already subscribed): greet and show what the bot can do.
        if not args or not (replies or blocks):
            if not blocks:
                blocks.append(paragraph(t(caller.language, "welcome")))
            blocks.extend(self.reading.help_blocks(caller))
        if blocks:
            replies.append(Reply(rich(*blocks)))
        return replies

    def _group_greeting(self, caller: Caller) -> Reply:
        """A group's /start: what the bot is, and a Subscribe button unless subscribed."""
        language = caller.language
        current = self.subscriptions.get(caller.channel, caller.chat_id)
        subscribed = current is not None and current.status == "active"
        blocks = [paragraph(t(language, "welcome"))]
        if subscribed:
            blocks.append(paragraph(t(language, "group_subscribed")))
            return Reply(rich(*blocks))
        blocks.append(paragraph(t(language, "group_start")))
        button = Button(t(language, "group_subscribe_button"), action="sub:group")
        return Reply(rich(*blocks), ((button,),))

    async def subscribe(self, caller: Caller, args: str) -> list[Reply]:
        if not await caller.can_manage_chat():
            return [_say(caller, "group_admins_only")]
        outcome = self.subscriptions.subscribe(
            caller.channel, caller.chat_id, caller.chat_type, caller.language
        )
        key = {"new": _subscribed_new(caller), "resumed": "subscribed_resumed"}.get(
            outcome.change, "subscribed_already"
        )
        return [_say(caller, key)]

    async def unsubscribe(self, caller: Caller, args: str) -> list[Reply]:
        if not await caller.can_manage_chat():
            return [_say(caller, "group_admins_only")]
        ended = self.subscriptions.unsubscribe(caller.channel, caller.chat_id)
        return [_say(caller, "unsubscribed" if ended else "not_subscribed")]

    async def topics(self, caller: Caller, args: str) -> list[Reply]:
        if PER_READER_TOPICS in caller.lacks:
            return [self._no_topics_here(caller)]
        if not await caller.can_manage_chat():
            return [_say(caller, "group_admins_only")]
        return [self._topics_reply(caller)]

    async def settings(self, caller: Caller, args: str) -> list[Reply]:
        if not await caller.can_manage_chat():
            return [_say(caller, "group_admins_only")]
        return [self._settings_reply(caller)]

    def about(self, caller: Caller, args: str) -> list[Reply]:
        counts = self.reviews.section_counts()
        stats = t(
            caller.language,
            "about_stats",
            total=sum(counts.values()),
            latest=counts["latest"],
            classic=counts["classic"],
        )
        return [Reply(rich(paragraph(t(caller.language, "about")), paragraph(stats)))]

    # views

    def _no_topics_here(self, caller: Caller) -> Reply:
        """Where the push is one message for every reader (a mass send), topics choose
        nothing: say so, and what the reader gets instead (everything; search by tag,
        with the column's most used tags as examples)."""
        language = caller.language
        blocks = [paragraph(t(language, "topics_not_per_reader"))]
        tags = [tag for tag, _ in self.reviews.tag_counts()][:MAX_TAG_EXAMPLES]
        if tags:
            separator = ", " if language == "en" else "、"
            blocks.append(paragraph(t(language, "topics_tag_examples", tags=separator.join(tags))))
        return Reply(rich(*blocks))

    def _topics_reply(self, caller: Caller) -> Reply:
        language = caller.language
        tags = [tag for tag, _ in self.reviews.tag_counts()][:MAX_TOPIC_BUTTONS]
        if not tags:
            return _say(caller, "topics_none")
        current = self.subscriptions.get(caller.channel, caller.chat_id)
        chosen = set(current.topics) if current else set()
        summary = (
            t(language, "topics_current", topics="、".join(sorted(chosen)))
            if chosen
            else t(language, "topics_current_all")
        )
        buttons = [
            Button(("✅ " if tag in chosen else "▫️ ") + tag, action=f"tp:{topic_token(tag)}")
            for tag in tags
        ]
        rows = [tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
        rows.append((Button(t(language, "topics_all_button"), action="tp:all"),))
        body = rich(paragraph(t(language, "topics_intro")), paragraph(summary))
        return Reply(body, tuple(rows), replaces_origin=True)

    def _settings_reply(self, caller: Caller) -> Reply:
        """The chat's settings and their choices. The push format is offered only where
        the push can differ by reader: a mass send (one message for every follower)
        ignores it, so there the reader is told why instead of choosing nothing."""
        language = caller.language
        current = self.subscriptions.get(caller.channel, caller.chat_id)
        status = current.status if current else "unsubscribed"
        push_format = current.push_format if current else "digest"
        per_reader = PER_READER_TOPICS not in caller.lacks
        blocks = [
            heading(bold(t(language, "settings_title"))),
            paragraph(t(language, "settings_status", value=t(language, f"status_{status}"))),
            paragraph(t(language, "settings_language", value=t(language, f"language_{language}"))),
            paragraph(
                t(language, "settings_format", value=t(language, f"format_{push_format}"))
                if per_reader
                else t(language, "settings_format_not_per_reader")
            ),
        ]
        rows: list[tuple[Button, ...]] = [
            tuple(
                Button(
                    ("✅ " if code == language else "") + t(language, f"language_{code}"),
                    action=f"set:lang:{code}",
                )
                for code in LANGUAGES
            )
        ]
        if per_reader:
            rows.append(
                tuple(
                    Button(
                        ("✅ " if fmt == push_format else "") + t(language, f"button_{fmt}"),
                        action=f"set:fmt:{fmt}",
                    )
                    for fmt in PUSH_FORMATS
                )
            )
        return Reply(rich(*blocks), tuple(rows), replaces_origin=True)

    # button actions

    async def _topic_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        if len(arguments) != 1:
            return None
        if not await caller.can_manage_chat():
            return [_refuse(caller)]
        if arguments[0] == "all":
            topics: list[str] = []
        else:
            by_token = {topic_token(tag): tag for tag, _ in self.reviews.tag_counts()}
            tag = by_token.get(arguments[0])
            if tag is None:
                return None
            current = self.subscriptions.get(caller.channel, caller.chat_id)
            chosen = set(current.topics) if current else set()
            chosen.symmetric_difference_update({tag})
            topics = sorted(chosen)
        self.subscriptions.update_preferences(
            caller.channel, caller.chat_id, topics=topics, chat_type=caller.chat_type
        )
        return [self._topics_reply(caller)]

    async def _subscribe_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        """The Subscribe button of a group's /start: its admins' answer to the question."""
        if arguments != ["group"]:
            return None
        if not await caller.can_manage_chat():
            return [_refuse(caller)]
        return await self.subscribe(caller, "")

    async def _settings_action(self, caller: Caller, arguments: list[str]) -> list[Reply] | None:
        if len(arguments) != 2:
            return None
        kind, value = arguments
        if not (
            (kind == "lang" and value in LANGUAGES) or (kind == "fmt" and value in PUSH_FORMATS)
        ):
            return None
        if not await caller.can_manage_chat():
            return [_refuse(caller)]
        if kind == "fmt" and PER_READER_TOPICS in caller.lacks:
            # An old choice (or forged data): the format would change nothing here.
            return [self._settings_reply(caller)]
        view = self.subscriptions.update_preferences(
            caller.channel,
            caller.chat_id,
            language=value if kind == "lang" else None,
            push_format=value if kind == "fmt" else None,
            chat_type=caller.chat_type,
        )
        # The same caller (what its channel lacks included), in the chosen language.
        return [self._settings_reply(replace(caller, language=view.language))]


def _subscribed_new(caller: Caller) -> str:
    """The new subscriber's text: it points to /topics only where topics choose something."""
    return "subscribed_new_everything" if PER_READER_TOPICS in caller.lacks else "subscribed_new"


def _say(caller: Caller, key: str) -> Reply:
    return Reply(rich(paragraph(t(caller.language, key))))


def _refuse(caller: Caller) -> Reply:
    """A button tapped by someone who may not change this chat: told privately."""
    return replace(_say(caller, "group_admins_only"), notice=True)
