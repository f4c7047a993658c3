"""A fake Telegram Bot API that rejects what the real one rejects, in its parts:

* ``limits``: Telegram's documented limits and update types;
* ``tdlib_html``: the TDLib-like HTML entity parser that decides what a message looks like;
* ``updates``: builders of the updates, users and chats Telegram sends;
* ``server``: the HTTP server with the API methods, long polling and webhook delivery.

Import from the package: the names below are its public interface.
"""

from tests.support.fake_telegram.limits import (
    ALL_UPDATE_TYPES,
    DEFAULT_UPDATE_TYPES,
    MAX_BOT_NAME_LENGTH,
    MAX_BUTTONS,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_COMMAND_DESCRIPTION_LENGTH,
    MAX_COMMAND_LENGTH,
    MAX_COMMANDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_DOWNLOAD_BYTES,
    MAX_ENTITIES,
    MAX_INLINE_NEXT_OFFSET_BYTES,
    MAX_INLINE_RESULT_ID_BYTES,
    MAX_INLINE_RESULTS,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_DESCRIPTION_LENGTH,
    MAX_UPLOAD_BYTES,
    JSONDict,
)
from tests.support.fake_telegram.server import (
    DEFAULT_RATE_LIMITED_METHODS,
    ApiError,
    Call,
    FakeTelegramServer,
    SentMessage,
    UploadedFile,
)
from tests.support.fake_telegram.tdlib_html import (
    EntityParseError,
    ParsedText,
    parse_html,
    utf16_len,
)
from tests.support.fake_telegram.updates import (
    callback_update,
    inline_callback_update,
    inline_query_update,
    make_bot_user,
    make_chat,
    make_group,
    make_user,
    message_update,
    migrate_from_update,
    migrate_update,
    my_chat_member_update,
    private_chat,
)
from tests.support.fake_telegram.webhook import WebhookAttempt

__all__ = [
    "ALL_UPDATE_TYPES",
    "DEFAULT_RATE_LIMITED_METHODS",
    "DEFAULT_UPDATE_TYPES",
    "MAX_BOT_NAME_LENGTH",
    "MAX_BUTTONS",
    "MAX_CALLBACK_ANSWER_LENGTH",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_COMMANDS",
    "MAX_COMMAND_DESCRIPTION_LENGTH",
    "MAX_COMMAND_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_DOWNLOAD_BYTES",
    "MAX_ENTITIES",
    "MAX_INLINE_NEXT_OFFSET_BYTES",
    "MAX_INLINE_RESULTS",
    "MAX_INLINE_RESULT_ID_BYTES",
    "MAX_MESSAGE_LENGTH",
    "MAX_SHORT_DESCRIPTION_LENGTH",
    "MAX_UPLOAD_BYTES",
    "ApiError",
    "Call",
    "EntityParseError",
    "FakeTelegramServer",
    "JSONDict",
    "ParsedText",
    "SentMessage",
    "UploadedFile",
    "WebhookAttempt",
    "callback_update",
    "inline_callback_update",
    "inline_query_update",
    "make_bot_user",
    "make_chat",
    "make_group",
    "make_user",
    "message_update",
    "migrate_from_update",
    "migrate_update",
    "my_chat_member_update",
    "parse_html",
    "private_chat",
    "utf16_len",
]
