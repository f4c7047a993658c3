"""Reader commands, plain text and button taps: Telegram updates in, core replies out."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from typing import Any, TypeVar

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    CallbackQuery,
    File,
    Message,
    Update,
)
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.telegram.capabilities import TELEGRAM, telegram_id
from bot.channels.telegram.http import AiohttpRequest
from bot.channels.telegram.render import keyboard, render_messages
from bot.channels.telegram.sender import OutgoingMessage
from bot.core.addresses import ChatAddress
from bot.core.conversation import Attachment, Caller, Conversation, Registry, Reply
from bot.core.features.editors import MAX_DOCUMENT_BYTES
from bot.core.texts import language_of, t

log = logging.getLogger(__name__)


ADMIN_STATUSES = {"creator", "administrator"}
#: The chat type of an update that has no chat (inline queries, inline-mode messages):
#: such a caller manages nothing.
NO_CHAT = "none"
#: A reply that timed out or lost its connection is tried this often in all, waiting
#: REPLY_BACKOFF, then twice that, between attempts.
REPLY_ATTEMPTS = 3
REPLY_BACKOFF = 0.5
#: Telegram shows at most 200 characters in a callback answer's popup.
MAX_NOTICE = 200

_T = TypeVar("_T")


def caller_of(update: Update, bot: Bot) -> Caller:
    """The core's view of who sent an update, with a lazy group-admin check.

    Whether someone administers a group or channel is asked of Telegram
    (`getChatMember` on the real sender), never inferred: a button on the bot's own
    channel post carries `sender_chat` equal to the chat, whoever taps it.
    """
    user = update.effective_user
    chat = update.effective_chat
    # Only a message written by an anonymous group admin comes signed by the group.
    written = update.message
    anonymous_admin = (
        chat is not None
        and written is not None
        and written.sender_chat is not None
        and written.sender_chat.id == chat.id
        and chat.type != "channel"
    )

    async def is_chat_admin() -> bool:
        if anonymous_admin:
            return True
        if chat is None or user is None:
            return False
        try:
            member = await bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:  # e.g. the bot may not see the member list
            log.warning("could not check admin rights in chat %s: %s", chat.id, exc)
            return False
        return member.status in ADMIN_STATUSES

    return Caller(
        channel=TELEGRAM,
        # Telegram's integer ids become the core's string addresses here, at the edge.
        user_id=str(user.id if user else 0),
        chat_id=str(chat.id if chat else 0),
        language=language_of(user.language_code if user else None),
        chat_type=chat.type if chat else NO_CHAT,
        chat_admin_check=is_chat_admin if chat is not None else None,
    )


async def with_retries(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """Await `call`, again after a timeout or a lost connection (bounded, with backoff).

    A request that timed out may still have reached Telegram (the loop was busy, or
    the answer was lost): a retried reply may then arrive twice. For replies that is
    the better failure than none at all; pushes, which must arrive once, have their
    own delivery records. Telegram's refusals (BadRequest and the like) are not retried.
    """
    for attempt in range(1, REPLY_ATTEMPTS + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except NetworkError as exc:  # TimedOut is one
            if attempt == REPLY_ATTEMPTS:
                raise
            log.warning(
                "%s failed (%s, attempt %d of %d); retrying",
                what,
                exc.__class__.__name__,
                attempt,
                REPLY_ATTEMPTS,
            )
            await asyncio.sleep(REPLY_BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def send_to_chat(bot: Bot, chat_id: int | str, replies: list[Reply]) -> list[int]:
    """Send each reply as one or more messages, in order; buttons go on the last part.

    Returns the ids of the messages sent, read off the API's answer as the push does
    (`TelegramSender.send_one`): `Bot.send_message` builds a whole `telegram.Message`
    to give us one id, a seventh of an answered update's CPU. `Bot._do_post` is what
    `send_message` itself ends in (through `Bot._post`), so PTB's request, its errors
    and (on the Application's bot, `ExtBot._do_post`) its rate limiter are the same;
    the parameters are the ones the Application's defaults would add (HTML, no link
    previews), already final: `Bot._post`'s own step, filling in `Defaults` and
    dropping None values, has nothing to do here and was a sixtieth of an update.
    """
    sent: list[int] = []
    for reply in replies:
        for message in rendered(reply):
            data = {"chat_id": chat_id, **message.parameters}

            def send(data: dict[str, object] = data) -> Awaitable[Any]:
                return bot._do_post("sendMessage", data)

            answer = await with_retries(send, "a reply")
            sent.append(int(answer["message_id"]))
    return sent


#: Replies whose messages are kept rendered (a few KB each).
RENDERED_REPLIES = 1_024


@functools.lru_cache(maxsize=RENDERED_REPLIES)
def rendered(reply: Reply) -> tuple[OutgoingMessage, ...]:
    """A reply as the messages that carry it, its buttons on the last one.

    Remembered by value (a `Reply` is frozen and hashable): readers ask the same few
    things, and rendering a list or a review to HTML and its keyboard to JSON cost more
    CPU than the core took to answer (0.6–1 ms; hashing and comparing a reply is a few
    percent of that). The rendering depends on nothing but the reply.
    """
    parts = render_messages(reply.body)
    return tuple(
        OutgoingMessage(part, keyboard(reply.buttons) if index == len(parts) - 1 else None)
        for index, part in enumerate(parts)
    )


async def send_replies(message: Message, replies: list[Reply]) -> None:
    await send_to_chat(message.get_bot(), message.chat_id, replies)


class TelegramNotifier:
    """The core's `Notifier` on Telegram."""

    channel = TELEGRAM

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: str, replies: list[Reply]) -> None:
        await send_to_chat(self.bot, telegram_id(chat_id), replies)


class TelegramBridge:
    """Turns Telegram updates into core calls, and core replies into Telegram messages."""

    def __init__(self, conversation: Conversation, downloads: AiohttpRequest) -> None:
        self.conversation = conversation
        #: The transport that fetches editors' documents, capped by the bytes received.
        self.downloads = downloads
        #: Told how many replies answered an update (the runtime's metrics count them).
        self.on_replies: Callable[[int], None] | None = None

    def _count_replies(self, replies: list[Reply]) -> None:
        if self.on_replies is not None and replies:
            self.on_replies(len(replies))

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
        self._count_replies(replies)

    async def on_document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.document is None:
            return
        caller = caller_of(update, context.bot)
        document = message.document
        name = document.file_name or "review.md"
        # Only an editor's file is worth downloading; the core refuses (and audits)
        # anyone else, with the size Telegram announced if it did.
        attachment = Attachment(name, b"", document.file_size)
        if self.conversation.identify(caller).is_admin:
            attachment = await self._download(document.file_size, document.get_file, name)
        caller = replace(caller, attachment=attachment)
        replies = await self.conversation.handle_text(caller, message.caption or "/queue")
        await send_replies(message, replies)

    async def _download(
        self, announced: int | None, get_file: Callable[[], Awaitable[File]], name: str
    ) -> Attachment:
        """The document, or an empty attachment whose size says it is over the cap.

        `file_size` is optional in the Bot API: a file that announces nothing is read
        only up to the cap, and one byte more is enough to refuse it.
        """
        if announced is not None and announced > MAX_DOCUMENT_BYTES:
            return Attachment(name, b"", announced)
        file = await with_retries(get_file, "getFile")
        if file.file_size is not None and file.file_size > MAX_DOCUMENT_BYTES:
            return Attachment(name, b"", file.file_size)
        if not file.file_path:
            raise TelegramError("getFile gave no file_path")
        url = file.file_path
        data = await with_retries(
            lambda: self.downloads.download_limited(url, MAX_DOCUMENT_BYTES), "a download"
        )
        if data is None:
            log.info("refused a document over %d bytes (no size announced)", MAX_DOCUMENT_BYTES)
            return Attachment(name, b"", MAX_DOCUMENT_BYTES + 1)
        return Attachment(name, data, len(data))

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        if query.message is None:
            # A message sent in inline mode lives in a chat we cannot see, and our inline
            # cards carry link buttons only: this tap is forged. Nothing changes.
            language = language_of(query.from_user.language_code)
            log.info("refused a button without a chat from %s", query.from_user.id)
            await self._answer_query(query, t(language, "button_needs_chat"))
            return
        caller = caller_of(update, context.bot)
        # A slow action (a Draft that asks arXiv) is acknowledged at once ("fetching…"):
        # a callback query is answered once, so its later notices become messages.
        pending = self.conversation.pending_notice(caller, query.data or "")
        if pending is not None:
            await self._answer_query(query, pending[:MAX_NOTICE])
        replies = await self.conversation.handle_action(caller, query.data or "")
        self._count_replies(replies)
        if pending is None:
            notices = [reply for reply in replies if reply.notice]
            replies = [reply for reply in replies if not reply.notice]
            text = " ".join(notice.body.plain_text for notice in notices)
            await self._answer_query(query, text[:MAX_NOTICE] or None)
        if not isinstance(query.message, Message):
            return  # the message is too old for Telegram to show us; nothing to edit
        await self._answer_in_place(query, query.message, replies)

    @staticmethod
    async def _answer_query(query: CallbackQuery, text: str | None) -> None:
        """Stop the client's spinner (with a popup text, if any); a late answer is moot."""
        try:
            await with_retries(lambda: query.answer(text), "an answer")
        except BadRequest as exc:  # "query is too old": the tap was long ago
            log.info("could not answer a button: %s", exc)

    async def _answer_in_place(
        self, query: CallbackQuery, origin: Message, replies: list[Reply]
    ) -> None:
        rest = list(replies)
        if rest and rest[0].replaces_origin:
            first = rest.pop(0)
            parts = render_messages(first.body)
            if len(parts) == 1:
                try:
                    markup = keyboard(first.buttons)
                    await with_retries(
                        lambda: origin.edit_text(parts[0], reply_markup=markup), "an edit"
                    )
                except BadRequest as exc:
                    if "not modified" not in str(exc).lower():
                        raise
            else:
                rest.insert(0, first)
        await send_replies(origin, rest)


async def publish_commands(
    application: Application,  # type: ignore[type-arg]
    registry: Registry,
    admin_ids: Collection[ChatAddress] = (),
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
            if admin_id.channel != TELEGRAM:
                continue
            try:
                await application.bot.set_my_commands(
                    editors,
                    scope=BotCommandScopeChat(telegram_id(admin_id.address)),
                    language_code=language_code,
                )
            except TelegramError as exc:  # an editor who never opened the bot
                log.warning("could not set the editor menu for %s: %s", admin_id, exc)
