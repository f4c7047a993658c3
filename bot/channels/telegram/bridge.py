"""Reader commands, plain text and button taps: Telegram updates in, core replies out."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    Message,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram.render import keyboard, render_messages
from bot.core.conversation import Attachment, Caller, Conversation, Registry, Reply
from bot.core.features.editors import MAX_DOCUMENT_BYTES
from bot.core.texts import language_of

log = logging.getLogger(__name__)


ADMIN_STATUSES = {"creator", "administrator"}


def caller_of(update: Update, bot: Bot) -> Caller:
    """The core's view of who sent an update, with a lazy group-admin check."""
    user = update.effective_user
    chat = update.effective_chat
    message = update.effective_message
    chat_id = chat.id if chat else 0
    user_id = user.id if user else 0

    async def is_chat_admin() -> bool:
        # An anonymous group admin writes as the group itself.
        if message is not None and message.sender_chat and message.sender_chat.id == chat_id:
            return True
        member = await bot.get_chat_member(chat_id, user_id)
        return member.status in ADMIN_STATUSES

    return Caller(
        channel="telegram",
        user_id=user_id,
        chat_id=chat_id,
        language=language_of(user.language_code if user else None),
        chat_type=chat.type if chat else "private",
        chat_admin_check=is_chat_admin,
    )


async def send_to_chat(bot: Bot, chat_id: int, replies: list[Reply]) -> list[int]:
    """Send each reply as one or more messages, in order; buttons go on the last part.

    Returns the ids of the messages sent.
    """
    sent: list[int] = []
    for reply in replies:
        parts = render_messages(reply.body)
        for index, part in enumerate(parts):
            markup = keyboard(reply.buttons) if index == len(parts) - 1 else None
            message = await bot.send_message(chat_id, part, reply_markup=markup)
            sent.append(message.message_id)
    return sent


async def send_replies(message: Message, replies: list[Reply]) -> None:
    await send_to_chat(message.get_bot(), message.chat_id, replies)


class TelegramNotifier:
    """The core's `Notifier` on Telegram."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, replies: list[Reply]) -> None:
        await send_to_chat(self.bot, chat_id, replies)


class TelegramBridge:
    """Turns Telegram updates into core calls, and core replies into Telegram messages."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    def register(self, application: Application, registry: Registry) -> None:  # type: ignore[type-arg]
        names = list(registry.commands)
        # Edited messages are ignored: answering an edit again would repeat ourselves.
        application.add_handler(
            CommandHandler(names, self.on_text, filters=filters.UpdateType.MESSAGE)
        )
        application.add_handler(CallbackQueryHandler(self.on_button))
        # An editor's review document: /queue in the caption of a Markdown file.
        application.add_handler(
            MessageHandler(
                filters.Document.ALL
                & filters.CaptionRegex(r"^/queue(@\w+)?(\s|$)")
                & filters.UpdateType.MESSAGE,
                self.on_document,
            )
        )
        # In private chats plain text is a search and an unknown /command gets a helpful
        # answer; in groups the bot speaks only when called by one of its commands.
        application.add_handler(
            MessageHandler(
                filters.TEXT & filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE,
                self.on_text,
            )
        )

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        replies = await self.conversation.handle_text(caller_of(update, context.bot), message.text)
        await send_replies(message, replies)

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.document is None:
            return
        caller = caller_of(update, context.bot)
        document = message.document
        # Only an editor's file is worth downloading; the core refuses (and audits)
        # anyone else, attachment or not.
        name = document.file_name or "review.md"
        size = document.file_size or 0
        if self.conversation.identify(caller).is_admin:
            data = b""
            if size <= MAX_DOCUMENT_BYTES:  # a larger one is refused without downloading
                file = await document.get_file()
                data = bytes(await file.download_as_bytearray())
            caller = replace(caller, attachment=Attachment(name, data, size))
        replies = await self.conversation.handle_text(caller, message.caption or "/queue")
        await send_replies(message, replies)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        caller = caller_of(update, context.bot)
        replies = await self.conversation.handle_action(caller, query.data or "")
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


async def publish_commands(
    application: Application,  # type: ignore[type-arg]
    registry: Registry,
    admin_ids: Collection[int] = (),
) -> None:
    """The menu Telegram shows, per language, from the same table as the handlers.

    Readers see the readers' commands; each editor's private chat also lists the
    editors' commands.
    """
    for language_code in (None, "zh", "en"):
        language = "en" if language_code == "en" else "zh"
        readers = [BotCommand(c.name, c.description(language)) for c in registry.menu()]
        await application.bot.set_my_commands(
            readers, scope=BotCommandScopeDefault(), language_code=language_code
        )
        editors = [BotCommand(c.name, c.description(language)) for c in registry.menu(admin=True)]
        if len(editors) == len(readers):
            continue
        for admin_id in admin_ids:
            try:
                await application.bot.set_my_commands(
                    editors, scope=BotCommandScopeChat(admin_id), language_code=language_code
                )
            except TelegramError as exc:  # an editor who never opened the bot
                log.warning("could not set the editor menu for %s: %s", admin_id, exc)
