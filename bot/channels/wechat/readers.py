"""What a WeChat follower gets for a message or an event, as WeChat messages.

The conversation core answers; this turns its replies into WeChat's shapes (`Outgoing`:
a text, or one news card) and keeps the numbered choices a text offers in the store,
keyed by the follower, so `1` or `下一页` is answered by whichever process gets it.
Opening one review is a news (图文) card linking to its web page. It knows nothing of
HTTP, signatures or deadlines (the channel's), so `paperbot console --channel wechat`
shows a reader exactly this.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.app import Core
from bot.channels.wechat.capabilities import WECHAT_CAPABILITIES
from bot.channels.wechat.messages import Callback, NewsArticle
from bot.channels.wechat.render import (
    MAX_TEXT_BYTES,
    cut_bytes,
    link,
    normalise_choice,
    render_replies,
)
from bot.core.broadcasts import BroadcastService, FinishedBroadcast
from bot.core.conversation import Caller, Reply
from bot.core.message_writes import collecting, one_transaction_in_thread
from bot.core.numbers import parse_count
from bot.core.reviews import ReviewView
from bot.core.richtext import paragraph, rich
from bot.core.sources import shorten
from bot.core.texts import t

log = logging.getLogger(__name__)

#: Words a follower types instead of slash commands (also the menu's CLICK keys).
KEYWORDS = {
    "最新": "/latest",
    "latest": "/latest",
    "经典": "/classic",
    "classic": "/classic",
    "帮助": "/help",
    "help": "/help",
    "?": "/help",
    "？": "/help",
    "订阅": "/subscribe",
    "subscribe": "/subscribe",
    "退订": "/unsubscribe",
    "取消订阅": "/unsubscribe",
    "unsubscribe": "/unsubscribe",
    "主题": "/topics",
    "topics": "/topics",
    "关于": "/about",
    "about": "/about",
}
_REVIEW_COMMAND = re.compile(r"^/review(?:@\w+)?\s+(?P<ref>\S.*)$", re.DOTALL | re.IGNORECASE)
#: A review's QR scene (`qrscene_r_<slug>` on subscribe, `r_<slug>` on SCAN).
REVIEW_SCENE = "r_"


@dataclass(frozen=True)
class Outgoing:
    """One WeChat message: a text, or a single news card."""

    text: str = ""
    article: NewsArticle | None = None

    def as_text(self) -> str:
        """The message as a customer-service text (a card becomes a link and a line)."""
        if self.article is None:
            return self.text
        article = self.article
        head = link(article.title, article.url) if article.url else article.title
        return cut_bytes(f"{head}\n{article.description}".strip(), MAX_TEXT_BYTES)


class WeChatReaders:
    """Followers' messages through the conversation core; `channel` is the callers'
    channel (`wechat`, or the console's own when it only shows what WeChat would)."""

    def __init__(self, core: Core, channel: str, public_url: str = "") -> None:
        self.core = core
        self.channel = channel
        self.public_url = public_url.rstrip("/")
        self._choices = core.reading.button_states
        #: What WeChat cannot do (per-reader topics), on the console's preview too.
        self._lacks = WECHAT_CAPABILITIES.lacks()
        #: Told of a broadcast WeChat reported finished (the channel tells the editors).
        self.on_broadcast_finished: Callable[[FinishedBroadcast], Awaitable[None]] | None = None

    def caller(self, openid: str) -> Caller:
        return Caller(
            channel=self.channel, user_id=openid, chat_id=openid, language="zh", lacks=self._lacks
        )

    def language(self, openid: str) -> str:
        return self.core.conversation.identify(self.caller(openid)).language

    async def answer(self, callback: Callback) -> list[Outgoing]:
        """What the follower gets for one callback; the first message is the passive
        reply, any further ones go as customer-service messages (empty: say nothing).

        What answering writes (the chat's list, a search's token, the choices offered)
        is one transaction, committed before the answer is returned."""
        async with one_transaction_in_thread():
            return await self._answer(callback)

    async def _answer(self, callback: Callback) -> list[Outgoing]:
        openid = callback.from_user
        if callback.msg_type == "text":
            return await self.on_text(openid, callback.content)
        if callback.msg_type != "event":
            # Images, voice, locations: say what the account understands.
            return [Outgoing(text=t(self.language(openid), "help_search_hint"))]
        event = callback.event.lower()
        if event == "subscribe":
            return await self.on_subscribe(openid, callback.event_key)
        if event == "unsubscribe":
            await self.on_unsubscribe(openid)
            return []
        if event == "scan" and callback.event_key.startswith(REVIEW_SCENE):
            return await self.open_review(openid, callback.event_key[len(REVIEW_SCENE) :])
        if event == "click" and callback.event_key:
            return await self.on_text(openid, callback.event_key)
        if event == "masssendjobfinish":
            finished = await asyncio.to_thread(self.on_mass_send_finished, callback)
            if finished is not None and self.on_broadcast_finished is not None:
                await self.on_broadcast_finished(finished)
            return []
        return []

    def on_mass_send_finished(self, callback: Callback) -> FinishedBroadcast | None:
        """WeChat's report of a mass send's end: its counts (and WeChat's Status, e.g.
        `send success`, `err(10001)`) go on the broadcast's row; the broadcast, when
        this is the first report of one this store sent, for the editors' notice."""
        extra = callback.extra

        def count(name: str) -> int:
            value = extra.get(name, "")
            return int(value) if value.isdigit() else 0

        counts = {
            "total": count("TotalCount"),
            "filter": count("FilterCount"),
            "sent": count("SentCount"),
            "error": count("ErrorCount"),
        }
        status = extra.get("Status", "")
        finished = BroadcastService(self.core.sessions).finished(
            self.channel, callback.msg_id, counts, status
        )
        log.info(
            "WeChat mass send %s finished (%s): %s%s",
            callback.msg_id,
            extra.get("Status", "?"),
            ", ".join(f"{name} {value}" for name, value in counts.items()),
            "" if finished else " (not a new report of a broadcast of this store)",
        )
        return finished

    async def on_subscribe(self, openid: str, event_key: str = "") -> list[Outgoing]:
        """A new follower is an active subscriber, welcomed; a `qrscene_r_<slug>` scene
        (a review's QR code) opens that review first, the welcome after it."""
        welcome = await self.on_text(openid, "/start")
        log.info("WeChat follower %s subscribed", openid)
        scene = event_key.removeprefix("qrscene_")
        if not scene.startswith(REVIEW_SCENE):
            return welcome
        return await self.open_review(openid, scene[len(REVIEW_SCENE) :]) + welcome

    async def on_unsubscribe(self, openid: str) -> None:
        """WeChat delivers nothing after an unsubscribe: mark it, say nothing."""
        await asyncio.to_thread(self.core.subscriptions.unsubscribe, self.channel, openid)
        log.info("WeChat follower %s unsubscribed", openid)

    async def on_text(self, openid: str, text: str) -> list[Outgoing]:
        """A follower's text: a choice (`1`, `下一页`), a keyword, a command or a search."""
        caller = self.caller(openid)
        conversation = self.core.conversation
        choice = normalise_choice(text)
        if choice is not None:
            state = await asyncio.to_thread(self._choices.recall_for, self._owner(openid))
            offered = state.get("choices", {}) if state else {}
            action = offered.get(choice) if isinstance(offered, dict) else None
            if not isinstance(action, str):
                stale = t(self.language(openid), "stale_choice")
                return await self.render(caller, [Reply(rich(paragraph(stale)))])
            if action.startswith("r:"):
                return await self.open_review(openid, action[2:])
            return await self.render(caller, await conversation.handle_action(caller, action))
        stripped = text.strip()
        command = KEYWORDS.get(stripped.lower(), stripped)
        review = _REVIEW_COMMAND.match(command)
        if review is not None:
            reference = review.group("ref").strip()
            listed = await asyncio.to_thread(self._listed, openid, reference)
            return await self.open_review(openid, listed or reference)
        replies = await conversation.handle_text(caller, command)
        if command in ("/help", "/start"):
            # The core's help lists slash commands; WeChat readers mostly type words.
            hint = t(self.language(openid), "keyword_hint")
            replies = [*replies, Reply(rich(paragraph(hint)))]
        return await self.render(caller, replies)

    def _listed(self, openid: str, reference: str) -> str | None:
        """`/review N`: the review shown as N in what the reader last saw, as an id.

        A WeChat reader meets numbered lists ("回复 1–5 阅读全文"), so `/review 2` right
        after one means its item 2, like a bare `2` and like `/review 2` on Telegram
        (the core's chat lists). The choices of the last message come first, then the
        chat's last list (its earlier pages too, after another message's choices);
        None when neither shows N, so the reference is taken as an id or a slug."""
        number = parse_count(reference)
        if number is None:
            return None
        state = self._choices.recall_for(self._owner(openid))
        offered = state.get("choices", {}) if state else {}
        action = offered.get(str(number)) if isinstance(offered, dict) else None
        if isinstance(action, str) and action.startswith("r:"):
            return action[2:]
        review_id = self.core.reading.chat_lists.recall(self.channel, openid, number)
        return str(review_id) if review_id is not None else None

    async def open_review(self, openid: str, reference: str) -> list[Outgoing]:
        """One review: a news card linking to its web page (or arXiv without PUBLIC_URL)."""
        caller = self.caller(openid)
        found = await asyncio.to_thread(self.core.reviews.find, reference)
        if found is None:
            missing = t(self.language(openid), "review_missing", ref=reference[:80])
            return await self.render(caller, [Reply(rich(paragraph(missing)))])
        article = self.review_article(found)
        if article is None:
            full = await self.core.conversation.handle_text(caller, f"/review {found.id}")
            return await self.render(caller, full)
        return [Outgoing(article=article)]

    def review_article(self, review: ReviewView) -> NewsArticle | None:
        url = f"{self.public_url}/r/{review.slug}" if self.public_url else review.arxiv_url
        if not url:
            return None
        description = shorten(review.summary, 120) if review.summary else review.authors
        return NewsArticle(title=review.title, description=description, url=url)

    async def render(self, caller: Caller, replies: list[Reply]) -> list[Outgoing]:
        """The core's replies as one WeChat text; its choices kept for the caller."""
        if not replies:
            return []
        rendered = render_replies(replies, self.language(caller.chat_id))
        if rendered.choices:
            # The reader's next message is answered by any process: choices in the store.
            owner, state = self._owner(caller.chat_id), {"choices": rendered.choices}
            if collecting():
                # Only collected: written with the message's other writes, at its end.
                self._choices.keep_for(owner, state)
            else:
                await asyncio.to_thread(self._choices.keep_for, owner, state)
        return [Outgoing(text=rendered.text)]

    def _owner(self, openid: str) -> str:
        return f"{self.channel}:{openid}"
