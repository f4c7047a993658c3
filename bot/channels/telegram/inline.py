"""Inline mode: `@bot <query>` in any chat offers matching reviews as shareable cards."""

from __future__ import annotations

import logging

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import Application, ContextTypes, InlineQueryHandler

from bot.channels.telegram.bridge import caller_of
from bot.channels.telegram.render import render_messages
from bot.core.conversation import Conversation, Reply
from bot.core.features.reading import ReadingFeature
from bot.core.numbers import parse_count
from bot.core.reviews import ReviewView
from bot.core.texts import t
from bot.core.views import web_page_url

log = logging.getLogger(__name__)

RESULTS_PER_PAGE = 10
MAX_OFFSET = 1000


class InlineSearch:
    def __init__(
        self, reading: ReadingFeature, conversation: Conversation, public_url: str = ""
    ) -> None:
        self.reading = reading
        self.conversation = conversation
        #: PUBLIC_URL: cards link to the review's web page, which anyone can open.
        self.public_url = public_url

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handler(InlineQueryHandler(self.on_inline_query))

    async def on_inline_query(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        inline = update.inline_query
        if inline is None:
            return
        caller = self.conversation.identify(caller_of(update, context.bot))
        offset = min(parse_count(inline.offset) or 0, MAX_OFFSET)
        cards, next_offset = self.reading.share_cards(
            inline.query[:200], caller.language, RESULTS_PER_PAGE, offset, self.public_url
        )
        username = context.bot.username
        results = [
            self._article(review, body, caller.language, username, self.public_url)
            for review, body in cards
        ]
        await inline.answer(
            results,
            cache_time=60,
            is_personal=False,
            next_offset=str(next_offset) if next_offset is not None else "",
        )

    @staticmethod
    def _article(
        review: ReviewView, card: Reply, language: str, bot_username: str, public_url: str = ""
    ) -> InlineQueryResultArticle:
        # A shared card lives in someone else's chat: its "read in full" button is a
        # deep link that opens the review in a private chat with the bot.
        buttons = [
            InlineKeyboardButton(
                t(language, "read_full"),
                url=f"https://t.me/{bot_username}?start=r_{review.slug}",
            )
        ]
        if web_url := web_page_url(public_url, review):
            buttons.append(InlineKeyboardButton(t(language, "read_on_web"), url=web_url))
        if review.arxiv_url:
            buttons.append(InlineKeyboardButton(t(language, "open_arxiv"), url=review.arxiv_url))
        return InlineQueryResultArticle(
            id=str(review.id),
            title=review.title[:200],
            url=web_url or None,
            description=(review.summary or review.authors)[:200],
            input_message_content=InputTextMessageContent(
                render_messages(card.body)[0], parse_mode=ParseMode.HTML
            ),
            reply_markup=InlineKeyboardMarkup([buttons]),
        )
