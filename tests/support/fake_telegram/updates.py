"""Builders of the updates, users and chats Telegram sends a bot (shapes as in the Bot API).

A test builds an update here and hands it to the fake server (``push_update`` for polling,
the webhook queue, or ``post_to_webhook``); the server fills in ``update_id``.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Mapping
from typing import Any

from tests.support.fake_telegram.limits import JSONDict
from tests.support.fake_telegram.tdlib_html import utf16_len

# --------------------------------------------------------------------------------------------
# Update builders (shapes as Telegram sends them)
# --------------------------------------------------------------------------------------------
_ids = itertools.count(1)
_DEFAULT_BOT_ID = 123


def _now() -> int:
    return int(time.time())


def make_user(
    user_id: int,
    first_name: str = "Test",
    language_code: str | None = "zh-hans",
    username: str | None = None,
    *,
    last_name: str | None = None,
    is_bot: bool = False,
) -> JSONDict:
    """A ``User`` object as Telegram sends it (only present optional fields are included)."""
    user: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    if username is not None:
        user["username"] = username
    if language_code is not None:
        user["language_code"] = language_code
    return user


def make_bot_user(
    bot_id: int = _DEFAULT_BOT_ID, username: str = "paperbot_test_bot", first_name: str = "PaperBot"
) -> JSONDict:
    """The bot's own ``User`` (what ``getMe`` returns, minus the capability flags)."""
    return {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}


def private_chat(user: Mapping[str, Any]) -> JSONDict:
    """The private ``Chat`` between the bot and ``user``."""
    chat: JSONDict = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    return chat


def make_group(chat_id: int, title: str = "Test group", *, username: str | None = None) -> JSONDict:
    """A group chat; ids <= -10**12 (``-100...``) are supergroups, like on Telegram."""
    kind = "supergroup" if chat_id <= -1_000_000_000_000 else "group"
    chat: JSONDict = {"id": chat_id, "type": kind, "title": title}
    if username is not None:
        chat["username"] = username
    return chat


def make_chat(
    chat_id: int,
    chat_type: str | None = None,
    title: str | None = None,
    *,
    first_name: str = "Test",
    username: str | None = None,
) -> JSONDict:
    """Any ``Chat``: type inferred from the id sign unless given (private/group/supergroup)."""
    if chat_type is None:
        chat_type = (
            "private"
            if chat_id > 0
            else ("supergroup" if chat_id <= -1_000_000_000_000 else "group")
        )
    chat: JSONDict = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = first_name
    else:
        chat["title"] = title or f"Chat {chat_id}"
    if username is not None:
        chat["username"] = username
    return chat


def _command_entities(text: str) -> list[JSONDict]:
    """Telegram marks a leading ``/command[@bot]`` with a ``bot_command`` entity."""
    if not text.startswith("/"):
        return []
    match = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?", text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


def message_update(
    user: Mapping[str, Any],
    text: str | None = None,
    chat: Mapping[str, Any] | None = None,
    *,
    document: Mapping[str, Any] | None = None,
    caption: str | None = None,
    entities: list[JSONDict] | None = None,
    message_id: int | None = None,
    date: int | None = None,
    reply_to_message: Mapping[str, Any] | None = None,
) -> JSONDict:
    """An incoming ``message`` update (no ``update_id``: ``push_update`` assigns it).

    ``chat`` defaults to the private chat with ``user``.  A leading ``/command`` gets its
    ``bot_command`` entity automatically, because PTB's ``CommandHandler`` relies on it.
    ``document`` is a dict as returned by :meth:`FakeTelegramServer.add_file`.
    """
    message: JSONDict = {
        "message_id": message_id if message_id is not None else next(_ids),
        "from": dict(user),
        "chat": dict(chat) if chat is not None else private_chat(user),
        "date": date if date is not None else _now(),
    }
    if reply_to_message is not None:
        message["reply_to_message"] = dict(reply_to_message)
    if document is not None:
        message["document"] = dict(document)
        if caption is not None:
            message["caption"] = caption
            caption_entities = entities if entities is not None else _command_entities(caption)
            if caption_entities:
                message["caption_entities"] = caption_entities
    if text is not None:
        message["text"] = text
        text_entities = entities if entities is not None else _command_entities(text)
        if text_entities:
            message["entities"] = text_entities
    return {"message": message}


def callback_update(
    user: Mapping[str, Any],
    data: str,
    message: Mapping[str, Any],
    *,
    query_id: str | None = None,
) -> JSONDict:
    """A ``callback_query`` for a button on ``message`` (use ``server.last_message_to``)."""
    chat_id = message["chat"]["id"]
    return {
        "callback_query": {
            "id": query_id or str(4_000_000_000_000_000 + next(_ids)),
            "from": dict(user),
            "message": copy.deepcopy(dict(message)),
            "chat_instance": str(abs(chat_id) * 1_000_003 % 10**18),
            "data": data,
        }
    }


def inline_callback_update(
    user: Mapping[str, Any],
    data: str,
    inline_message_id: str = "AgAAAFZqAAAAAAAAAAAA",
    *,
    query_id: str | None = None,
) -> JSONDict:
    """A ``callback_query`` from a message sent in inline mode: no ``message``, no chat."""
    return {
        "callback_query": {
            "id": query_id or str(4_000_000_000_000_000 + next(_ids)),
            "from": dict(user),
            "inline_message_id": inline_message_id,
            "chat_instance": str(abs(int(user["id"])) * 1_000_033 % 10**18),
            "data": data,
        }
    }


def inline_query_update(
    user: Mapping[str, Any],
    query: str,
    offset: str = "",
    *,
    chat_type: str | None = "sender",
    query_id: str | None = None,
) -> JSONDict:
    """An ``inline_query`` typed by ``user``."""
    inline: JSONDict = {
        "id": query_id or str(5_000_000_000_000_000 + next(_ids)),
        "from": dict(user),
        "query": query,
        "offset": offset,
    }
    if chat_type is not None:
        inline["chat_type"] = chat_type
    return {"inline_query": inline}


_ADMIN_RIGHTS: JSONDict = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
}
_RESTRICTED_RIGHTS: JSONDict = {
    "is_member": True,
    "can_change_info": False,
    "can_invite_users": False,
    "can_pin_messages": False,
    "can_send_messages": True,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
    "can_manage_topics": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_edit_tag": False,
    "can_react_to_messages": True,
    "until_date": 0,
}


def _chat_member(user: Mapping[str, Any], status: str) -> JSONDict:
    """A complete ``ChatMember`` of the given status (PTB requires every mandatory field)."""
    member: JSONDict = {"user": dict(user), "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(_ADMIN_RIGHTS)
    elif status == "restricted":
        member.update(_RESTRICTED_RIGHTS)
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    return member


def my_chat_member_update(
    user: Mapping[str, Any],
    chat: Mapping[str, Any] | None,
    old_status: str,
    new_status: str,
    *,
    bot: Mapping[str, Any] | None = None,
    date: int | None = None,
) -> JSONDict:
    """The bot's own membership changed (user blocked the bot: private ``member -> kicked``).

    ``bot`` defaults to a bot user with id 123 (token ``123:...``); ``push_update`` replaces
    that placeholder with the server's real bot user.
    """
    bot_user = dict(bot) if bot is not None else make_bot_user()
    return {
        "my_chat_member": {
            "chat": dict(chat) if chat is not None else private_chat(user),
            "from": dict(user),
            "date": date if date is not None else _now(),
            "old_chat_member": _chat_member(bot_user, old_status),
            "new_chat_member": _chat_member(bot_user, new_status),
        }
    }


def migrate_update(
    old_chat_id: int,
    new_chat_id: int,
    user: Mapping[str, Any] | None = None,
    title: str = "Test group",
) -> JSONDict:
    """Service message in the old group announcing ``migrate_to_chat_id``."""
    sender = dict(user) if user is not None else make_user(1, "Admin")
    return {
        "message": {
            "message_id": next(_ids),
            "from": sender,
            "chat": make_group(old_chat_id, title),
            "date": _now(),
            "migrate_to_chat_id": new_chat_id,
        }
    }


def migrate_from_update(
    old_chat_id: int,
    new_chat_id: int,
    user: Mapping[str, Any] | None = None,
    title: str = "Test group",
) -> JSONDict:
    """Service message in the new supergroup carrying ``migrate_from_chat_id``."""
    sender = dict(user) if user is not None else make_user(1, "Admin")
    return {
        "message": {
            "message_id": next(_ids),
            "from": sender,
            "chat": {"id": new_chat_id, "type": "supergroup", "title": title},
            "date": _now(),
            "migrate_from_chat_id": old_chat_id,
        }
    }


def _update_type(update: Mapping[str, Any]) -> str:
    for key in update:
        if key != "update_id":
            return key
    return ""
