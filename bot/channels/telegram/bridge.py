"""Reader commands, plain text and button taps: Telegram updates in, core replies out."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeDefault, CallbackQuery, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram.render import keyboard, render_messages
from bot.core.conversation import Caller, Conversation, Registry, Reply
from bot.core.texts import language_of

log = logging.getLogger(__name__)


def caller_of(update: Update) -> Caller:
    user = update.effective_user
    chat = update.effective_chat
    return Caller(
        channel="telegram",
        user_id=user.id if user else 0,
        chat_id=chat.id if chat else 0,
        language=language_of(user.language_code if user else None),
        chat_type=chat.type if chat else "private",
    )


async def send_replies(message: Message, replies: list[Reply]) -> None:
    """Send each reply as one or more messages, in order; buttons go on the last part."""
    for reply in replies:
        parts = render_messages(reply.body)
        for index, part in enumerate(parts):
            markup = keyboard(reply.buttons) if index == len(parts) - 1 else None
            await message.get_bot().send_message(message.chat_id, part, reply_markup=markup)


class TelegramBridge:
    """Turns Telegram updates into core calls, and core replies into Telegram messages."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    def register(self, application: Application, registry: Registry) -> None:  # type: ignore[type-arg]
        names = list(registry.commands)
        application.add_handler(CommandHandler(names, self.on_text))
        application.add_handler(CallbackQueryHandler(self.on_button))
        # Plain text is a search; an unknown /command gets a helpful answer.
        application.add_handler(
            MessageHandler(filters.TEXT & ~filters.UpdateType.EDITED, self.on_text)
        )

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        replies = await self.conversation.handle_text(caller_of(update), message.text)
        await send_replies(message, replies)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        replies = await self.conversation.handle_action(caller_of(update), query.data or "")
        await query.answer()
        if not isinstance(query.message, Message):
            return  # the message is too old for Telegram to show us; nothing to edit
        await self._answer_in_place(query, query.message, replies)

    async def _answer_in_place(
        self, query: CallbackQuery, origin: Message, replies: list[Reply]
    ) -> None:
        rest = list(replies)
        if rest and rest[0].replaces_origin:
            first = rest.pop(0)
            parts = render_messages(first.body)
            if len(parts) == 1:
                try:
                    await origin.edit_text(parts[0], reply_markup=keyboard(first.buttons))
                except BadRequest as exc:
                    if "not modified" not in str(exc).lower():
                        raise
            else:
                rest.insert(0, first)
        await send_replies(origin, rest)


async def publish_commands(application: Application, registry: Registry) -> None:  # type: ignore[type-arg]
    """The menu Telegram shows, per language, from the same table as the handlers."""
    for language_code in (None, "zh", "en"):
        language = "en" if language_code == "en" else "zh"
        commands = [
            BotCommand(command.name, command.description(language)) for command in registry.menu()
        ]
        await application.bot.set_my_commands(
            commands, scope=BotCommandScopeDefault(), language_code=language_code
        )
