"""Tests for the fake Telegram Bot API server, driven by the real python-telegram-bot client.

Every test talks real HTTP through PTB's own ``Bot`` / ``Application``: what PTB sends here is
what it would send to api.telegram.org, and the exceptions PTB raises are the ones our bot
code will see in production.  No test relies on wall-clock speed beyond generous timeouts.
"""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import telegram
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from tests.support.fake_telegram import (
    Call,
    FakeTelegramServer,
    callback_update,
    inline_query_update,
    make_chat,
    make_group,
    make_user,
    message_update,
    migrate_from_update,
    migrate_update,
    my_chat_member_update,
    parse_html,
    utf16_len,
)

# PTB itself warns whenever RetryAfter.retry_after is read (int -> timedelta migration).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2.*retry_after:telegram.warnings.PTBDeprecationWarning"
)

TOKEN = "123:ABC"
USER_ID = 1001


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as srv:
        yield srv


def make_bot(server: FakeTelegramServer) -> telegram.Bot:
    # base_file_url matters: without it PTB downloads files from api.telegram.org.
    return telegram.Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url)


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[telegram.Bot]:
    async with make_bot(server) as client:
        yield client


def keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("按钮", callback_data=data)]])


def retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 returns int or timedelta depending on PTB_TIMEDELTA; accept both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# ------------------------------------------------------------------------------------ basics
async def test_get_me_and_token_recorded(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123
    assert me.is_bot
    assert me.username == "paperbot_test_bot"
    assert server.token == TOKEN
    assert server.calls_to("getMe")[-1].ok


async def test_send_valid_html_is_recorded(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    html = (
        "<b>论文</b> &lt;x&gt; &amp; &quot;q&quot; &#39;s&#x27; <i>😀</i> "
        '<a href="https://arxiv.org/abs/1?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">print(1)</code></pre> '
        '<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">t</span> '
        "<blockquote expandable>q</blockquote>"
    )
    message = await bot.send_message(
        USER_ID, html, parse_mode="HTML", reply_markup=keyboard("paper:1")
    )
    assert message.message_id == 1
    assert message.chat.id == USER_ID
    assert message.from_user is not None and message.from_user.id == 123
    assert message.text == ("论文 <x> & \"q\" 's' 😀 link print(1) s t q")
    assert message.reply_markup == keyboard("paper:1")
    types = [(e.type, e.offset, e.length) for e in message.entities]
    assert ("bold", 0, 2) in types
    assert ("italic", 17, 2) in types  # the emoji is two UTF-16 units, after 17 units
    pre = next(e for e in message.entities if e.type == "pre")
    assert pre.language == "python"
    link = next(e for e in message.entities if e.type == "text_link")
    assert link.url == "https://arxiv.org/abs/1?a=1&b=2"
    assert {e.type for e in message.entities} >= {"spoiler", "expandable_blockquote"}

    second = await bot.send_message(USER_ID, "second")
    assert second.message_id == 2  # per-chat increasing
    other = await bot.send_message(USER_ID + 1, "other chat")
    assert other.message_id == 1

    call = server.calls_to("sendMessage")[0]
    assert call.ok and call.params["chat_id"] == USER_ID and call.params["text"] == html
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "paper:1"
    assert server.sent_texts(USER_ID)[0] == message.text
    assert server.sent_texts(USER_ID)[1:] == ["second"]
    assert server.sent_messages(USER_ID)[0].raw_text == html
    assert server.last_message_to(USER_ID)["text"] == "second"
    assert server.rejected_calls() == []


@pytest.mark.parametrize(
    ("html", "fragment"),
    [
        ("<foo>x</foo>", 'unsupported start tag "foo" at byte offset 0'),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
        ("a&nbsp;b", 'unsupported html entity "&nbsp;"'),
        ("<b>bold", "can't find end tag corresponding to start tag b"),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("Tom & Jerry", 'unescaped "&"'),
        ("</b>", "unexpected end tag"),
        ('<a href="https://x.org>x</a>', "unclosed start tag"),
        ("<a>no href</a>", 'tag "a" must have'),
        ('<span class="x">y</span>', 'tag "span" must have class "tg-spoiler"'),
        ("<br/>", 'unsupported start tag "br/"'),
        ("中文<p>段落</p>", 'unsupported start tag "p" at byte offset 6'),  # UTF-8 byte offset
    ],
)
async def test_invalid_html_is_rejected(
    server: FakeTelegramServer, bot: telegram.Bot, html: str, fragment: str
) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.send_message(USER_ID, html, parse_mode="HTML")
    assert "can't parse entities" in str(info.value).lower()
    assert fragment in str(info.value).lower()
    [call] = server.rejected_calls()
    assert call.error_code == 400
    assert call.description is not None
    assert call.description.startswith("Bad Request: can't parse entities: ")
    assert server.sent_messages() == []


async def test_html_escaped_by_stdlib_is_accepted(bot: telegram.Bot) -> None:
    import html as stdlib_html

    nasty = "<script>alert('x')</script> & \"quotes\" 5 > 3 &nbsp; 论文"
    message = await bot.send_message(
        USER_ID, f"<b>{stdlib_html.escape(nasty)}</b>", parse_mode="HTML"
    )
    assert message.text == nasty


# ------------------------------------------------------------------------------------ limits
@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("😀" * 2048, True),  # 2048 chars, 4096 UTF-16 units
        ("😀" * 2048 + "a", False),  # 2049 chars but 4097 units
        ("论" * 4096, True),
        ("论" * 4097, False),
        ("<b>" + "论" * 4096 + "</b>", True),  # tags do not count
        ("&amp;" * 4096, True),  # entities count as one character
        ("&lt;" * 4097, False),
    ],
)
async def test_message_length_counts_utf16_after_parsing(
    bot: telegram.Bot, text: str, accepted: bool
) -> None:
    if accepted:
        message = await bot.send_message(USER_ID, text, parse_mode="HTML")
        assert message.text is not None and utf16_len(message.text) == 4096
    else:
        with pytest.raises(BadRequest, match=r"(?i)too long"):
            await bot.send_message(USER_ID, text, parse_mode="HTML")


async def test_plain_text_length_limit_without_parse_mode(bot: telegram.Bot) -> None:
    await bot.send_message(USER_ID, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)essage is too long"):
        await bot.send_message(USER_ID, "<" * 4097)


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        ("x" * 64, True),
        ("x" * 65, False),
        ("论" * 21, True),  # 63 bytes
        ("论" * 22, False),  # 22 characters but 66 UTF-8 bytes
        ("", False),
    ],
)
async def test_callback_data_is_limited_in_bytes(
    server: FakeTelegramServer, bot: telegram.Bot, data: str, accepted: bool
) -> None:
    if accepted:
        await bot.send_message(USER_ID, "choose", reply_markup=keyboard(data))
        assert server.rejected_calls() == []
    else:
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(USER_ID, "choose", reply_markup=keyboard(data))


async def test_button_validation(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    bad_url = InlineKeyboardMarkup([[InlineKeyboardButton("x", url="javascript:alert(1)")]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_URL_INVALID"):
        await bot.send_message(USER_ID, "x", reply_markup=bad_url)
    ok_url = InlineKeyboardMarkup([[InlineKeyboardButton("x", url="https://arxiv.org")]])
    await bot.send_message(USER_ID, "x", reply_markup=ok_url)
    # PTB cannot build a button without an action, so send the raw JSON a buggy bot might.
    text_only = {"inline_keyboard": [[{"text": "x"}]]}
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{server.base_url}{TOKEN}/sendMessage",
            json={"chat_id": USER_ID, "text": "x", "reply_markup": text_only},
        )
    assert response.status_code == 400
    assert "Text buttons are unallowed" in response.json()["description"]


@pytest.mark.parametrize("text", ["", "   \n ", "<b></b>", "<b> </b>"])
async def test_empty_text_is_rejected(bot: telegram.Bot, text: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)essage text is empty"):
        await bot.send_message(USER_ID, text, parse_mode="HTML")


async def test_too_many_entities_rejected(bot: telegram.Bot) -> None:
    await bot.send_message(USER_ID, "<b>x</b> " * 100, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)too many"):
        await bot.send_message(USER_ID, "<b>x</b> " * 101, parse_mode="HTML")


async def test_markdown_is_refused_rather_than_unvalidated(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)HTML"):
        await bot.send_message(USER_ID, "*bold*", parse_mode="MarkdownV2")


# ------------------------------------------------------------------------ injected failures
async def test_blocked_deactivated_kicked(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    server.block_user(USER_ID)
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(USER_ID, "hi")
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_chat_action(USER_ID, "typing")
    server.deactivate_user(USER_ID + 1)
    with pytest.raises(Forbidden, match=r"(?i)user is deactivated"):
        await bot.send_message(USER_ID + 1, "hi")
    server.kick_from_chat(-42)
    with pytest.raises(Forbidden, match=r"(?i)kicked from the group chat"):
        await bot.send_message(-42, "hi")
    server.kick_from_chat(-1001234567890)
    with pytest.raises(Forbidden, match=r"(?i)kicked from the supergroup chat"):
        await bot.send_message(-1001234567890, "hi")
    # Arranged by the test, so not the bot's fault:
    assert server.rejected_calls() == []
    assert [c.error_code for c in server.calls_to("sendMessage")] == [403, 403, 403, 403]
    assert all(c.injected for c in server.calls_to("sendMessage"))
    server.unblock_user(USER_ID)
    await bot.send_message(USER_ID, "back")


async def test_injected_429_raises_retry_after(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    server.fail_next("sendMessage", count=2, status=429, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER_ID, "hi")
        assert retry_seconds(info.value) == 7
    await bot.send_message(USER_ID, "hi")
    failed = server.calls_to("sendMessage")[0]
    assert failed.description == "Too Many Requests: retry after 7"
    assert failed.parameters == {"retry_after": 7}
    assert failed.injected
    assert server.rejected_calls() == []


async def test_injected_5xx(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    server.fail_next("sendMessage", status=502)
    with pytest.raises(NetworkError):
        await bot.send_message(USER_ID, "hi")
    server.fail_next("*", status=500)
    with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
        await bot.get_me()
    assert server.rejected_calls() == []


async def test_migrated_chat(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    server.migrate_chat(-42, -1009876543210)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(-42, "hi")
    assert info.value.new_chat_id == -1009876543210
    message = await bot.send_message(-1009876543210, "hi")
    assert message.chat.type == "supergroup"
    assert server.calls_to("sendMessage")[0].parameters == {"migrate_to_chat_id": -1009876543210}


# ---------------------------------------------------------------------------------- commands
@pytest.mark.parametrize(
    ("command", "description"),
    [
        ("Start", "uppercase is not allowed"),
        ("with-dash", "dash"),
        ("x" * 33, "too long"),
        ("", "empty"),
        ("start", ""),
        ("start", "x" * 257),
    ],
)
async def test_set_my_commands_rejects_invalid(
    bot: telegram.Bot, command: str, description: str
) -> None:
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand(command, description)])


async def test_set_my_commands_stores_per_scope_and_language(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    commands = [BotCommand("start", "开始"), BotCommand("latest", "最新解读")]
    assert await bot.set_my_commands(commands, language_code="zh")
    assert await bot.get_my_commands(language_code="zh") == tuple(commands)
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=r"(?i)language code"):
        await bot.set_my_commands(commands, language_code="zh-hans")
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMANDS_TOO_MUCH"):
        await bot.set_my_commands([BotCommand(f"c{i}", "d") for i in range(101)])
    assert await bot.delete_my_commands(language_code="zh")
    assert server.commands(language_code="zh") == []


# ----------------------------------------------------------------------------------- updates
async def test_long_poll_returns_pushed_update(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    user = make_user(USER_ID, "小明")

    def push_when_polling() -> None:
        deadline = time.monotonic() + 10
        while server.waiting_pollers == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.push_update(message_update(user, "/start"))

    pusher = threading.Thread(target=push_when_polling)
    pusher.start()
    started = time.monotonic()
    updates = await bot.get_updates(timeout=20)
    elapsed = time.monotonic() - started
    pusher.join()
    assert elapsed < 15  # returned on the push, not at the timeout
    [update] = updates
    assert update.message is not None and update.message.text == "/start"
    assert update.message.chat.id == USER_ID
    assert update.message.entities[0].type == "bot_command"


async def test_long_poll_times_out_empty(bot: telegram.Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 8


async def test_offset_confirms_updates(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    user = make_user(USER_ID)
    pushed = [server.push_update(message_update(user, f"m{i}")) for i in range(3)]
    ids = [u["update_id"] for u in pushed]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates()] == ids  # unconfirmed: redelivered
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert server.pending_updates == 2
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert server.pending_updates == 0
    server.wait_for_updates_consumed(timeout=1)


async def test_allowed_updates_filters(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    user = make_user(USER_ID)
    server.push_update(message_update(user, "hello"))
    server.push_update(inline_query_update(user, "q"))
    updates = await bot.get_updates(allowed_updates=["inline_query"])
    assert [u.inline_query is not None for u in updates] == [True]


async def test_competing_pollers_get_conflict(server: FakeTelegramServer) -> None:
    url = f"{server.base_url}{TOKEN}/getUpdates"
    async with httpx.AsyncClient(timeout=30) as client:
        first = asyncio.create_task(client.post(url, data={"timeout": "20"}))
        await wait_until(lambda: server.waiting_pollers == 1)
        second = await client.post(url, data={"timeout": "0"})
        assert second.json() == {"ok": True, "result": []}
        response = await first
    assert response.status_code == 409
    assert response.json()["description"].startswith("Conflict: terminated by other getUpdates")
    with pytest.raises(Conflict):
        raise Conflict(response.json()["description"])  # what PTB maps 409 to
    assert [c.error_code for c in server.rejected_calls()] == [409]


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


# -------------------------------------------------------------------------------------- edits
async def test_edit_message_text(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    sent = await bot.send_message(
        USER_ID, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard("a")
    )
    with pytest.raises(BadRequest, match=r"(?i)essage is not modified"):
        await bot.edit_message_text(
            "<b>v1</b>", USER_ID, sent.message_id, parse_mode="HTML", reply_markup=keyboard("a")
        )
    # Same text but different formatting is a modification:
    edited = await bot.edit_message_text("v1", USER_ID, sent.message_id, reply_markup=keyboard("a"))
    assert isinstance(edited, telegram.Message) and edited.entities == ()
    edited = await bot.edit_message_text("v2", USER_ID, sent.message_id, reply_markup=keyboard("b"))
    assert isinstance(edited, telegram.Message)
    assert edited.text == "v2" and edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)essage to edit not found"):
        await bot.edit_message_text("x", USER_ID, 999)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.edit_message_text("<b>x", USER_ID, sent.message_id, parse_mode="HTML")
    assert server.sent_texts(USER_ID) == ["v1", "v1", "v2"]
    assert server.last_message_to(USER_ID)["reply_markup"] == keyboard("b").to_dict()
    assert await bot.edit_message_reply_markup(USER_ID, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(USER_ID, sent.message_id)
    assert await bot.delete_message(USER_ID, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)essage to delete not found"):
        await bot.delete_message(USER_ID, sent.message_id)


async def test_reply_to_unknown_message_rejected(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    user = make_user(USER_ID)
    incoming = server.push_update(message_update(user, "question"))["message"]
    reply = await bot.send_message(USER_ID, "answer", reply_to_message_id=incoming["message_id"])
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "question"
    assert reply.message_id > incoming["message_id"]
    with pytest.raises(BadRequest, match=r"(?i)essage to be replied not found"):
        await bot.send_message(USER_ID, "answer", reply_to_message_id=12345)


# ------------------------------------------------------------------------ queries and chats
async def test_callback_query_answer(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    await bot.send_message(USER_ID, "pick", reply_markup=keyboard("p:1"))
    user = make_user(USER_ID)
    update = server.push_update(callback_update(user, "p:1", server.last_message_to(USER_ID)))
    query_id = update["callback_query"]["id"]
    with pytest.raises(BadRequest, match=r"(?i)MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query_id, text="长" * 201)
    assert await bot.answer_callback_query(query_id, text="已订阅")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)  # answered already


async def test_inline_query_answer(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    user = make_user(USER_ID)

    def article(result_id: str, text: str = "<b>ok</b>") -> InlineQueryResultArticle:
        return InlineQueryResultArticle(
            result_id, "title", InputTextMessageContent(text, parse_mode="HTML")
        )

    query_id = server.push_update(inline_query_update(user, "llm"))["inline_query"]["id"]
    with pytest.raises(BadRequest, match=r"(?i)RESULTS_TOO_MUCH"):
        await bot.answer_inline_query(query_id, [article(str(i)) for i in range(51)])
    with pytest.raises(BadRequest, match=r"(?i)RESULT_ID_DUPLICATE"):
        await bot.answer_inline_query(query_id, [article("1"), article("1")])
    with pytest.raises(BadRequest, match=r"(?i)RESULT_ID_INVALID"):
        await bot.answer_inline_query(query_id, [article("论" * 22)])
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.answer_inline_query(query_id, [article("1", "<b>x")])
    assert await bot.answer_inline_query(query_id, [article(str(i)) for i in range(50)])
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_inline_query("unknown", [])


async def test_chat_info_and_admins(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    owner = make_user(7, "Owner")
    admin = make_user(8, "Admin")
    server.set_admins(-42, [admin], owner=owner)
    admins = await bot.get_chat_administrators(-42)
    assert [(m.user.id, m.status) for m in admins] == [(7, "creator"), (8, "administrator")]
    assert (await bot.get_chat_member(-42, 8)).status == "administrator"
    assert (await bot.get_chat_member(-42, 9)).status == "member"
    server.set_member_status(-42, 9, "left")
    assert (await bot.get_chat_member(-42, 9)).status == "left"
    chat = await bot.get_chat(-42)
    assert chat.type == "group"
    with pytest.raises(BadRequest, match=r"(?i)private chat"):
        await bot.get_chat_administrators(USER_ID)
    assert await bot.send_chat_action(USER_ID, "typing")


# -------------------------------------------------------------------------------------- files
async def test_file_download(server: FakeTelegramServer, bot: telegram.Bot) -> None:
    payload = "标题,链接\n论文,https://arxiv.org\n".encode()
    document = server.add_file("DOC1", payload, "papers.csv", "text/csv")
    update = server.push_update(message_update(make_user(USER_ID), document=document))
    parsed = Update.de_json(update, bot)
    assert parsed.message is not None and parsed.message.document is not None
    tg_file = await parsed.message.document.get_file()
    assert bytes(await tg_file.download_as_bytearray()) == payload
    assert tg_file.file_path is not None
    assert server.downloads == [tg_file.file_path.rsplit(f"/file/bot{TOKEN}/", 1)[1]]
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_a_file_may_come_without_its_size(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    """`file_size` is optional in the Bot API: neither Document nor getFile need carry it."""
    payload = b"x" * 200_000
    document = server.add_file("DOC2", payload, "big.md", announce_size=False)
    assert "file_size" not in document
    update = server.push_update(message_update(make_user(USER_ID), document=document))
    parsed = Update.de_json(update, bot)
    assert parsed.message is not None and parsed.message.document is not None
    assert parsed.message.document.file_size is None
    tg_file = await parsed.message.document.get_file()
    assert tg_file.file_size is None
    assert bytes(await tg_file.download_as_bytearray()) == payload  # served chunked


async def test_channel_posts_are_signed_by_the_channel(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    server.add_chat(make_chat(-1005550001, "channel", "频道"))
    message = await bot.send_message(-1005550001, "post")
    assert message.sender_chat is not None and message.sender_chat.id == -1005550001
    assert message.from_user is None
    assert server.last_message_to(-1005550001)["text"] == "post"
    edited = await bot.edit_message_text("post, edited", -1005550001, message.message_id)
    assert isinstance(edited, telegram.Message) and edited.text == "post, edited"


async def test_send_document_upload_roundtrip(
    server: FakeTelegramServer, bot: telegram.Bot
) -> None:
    message = await bot.send_document(
        USER_ID, b"%PDF-1.4 fake", filename="paper.pdf", caption="<b>论文</b>", parse_mode="HTML"
    )
    assert message.document is not None and message.document.file_name == "paper.pdf"
    assert message.caption == "论文"
    call = server.calls_to("sendDocument")[0]
    assert call.files["document"].data == b"%PDF-1.4 fake"
    downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"%PDF-1.4 fake"
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_document(USER_ID, b"x", filename="a.txt", caption="x" * 1025)


# -------------------------------------------------------------------------------- rate limits
async def test_rate_limit_mode_private_chat() -> None:
    with FakeTelegramServer(latency=0.01, enforce_rate_limits=True) as server:
        async with make_bot(server) as bot:
            await bot.send_message(USER_ID, "1")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(USER_ID, "2")  # < 1 s after the first one
            assert retry_seconds(info.value) >= 1
            await bot.send_message(USER_ID + 1, "other chat is fine")
        assert server.rate_limit_hits == 1
        [rejected] = server.rejected_calls()
        assert rejected.error_code == 429 and not rejected.injected


async def test_rate_limit_mode_global_and_group() -> None:
    with FakeTelegramServer(
        enforce_rate_limits=True, global_rate=5, group_rate_per_minute=2
    ) as server:
        async with make_bot(server) as bot:
            await asyncio.gather(*(bot.send_message(USER_ID + i, "x") for i in range(5)))
            with pytest.raises(RetryAfter):
                await bot.send_message(USER_ID + 99, "sixth within one second")
        assert server.rate_limit_hits == 1
    with FakeTelegramServer(enforce_rate_limits=True, group_rate_per_minute=2) as server:
        async with make_bot(server) as bot:
            await bot.send_message(-42, "1")
            await bot.send_message(-42, "2")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(-42, "3")
            assert retry_seconds(info.value) > 1


async def test_rate_limits_are_telegram_s_documented_ones_and_no_stricter() -> None:
    """About 30 messages/s overall, 1/s to a private chat, 20/min to a group (the Bot
    FAQ), as the channel declares them: the limit itself is allowed, one more within
    the sliding second is not, and the window reopens once the first send leaves it."""
    server = FakeTelegramServer(enforce_rate_limits=True)
    declared = TELEGRAM_CAPABILITIES.send_limits
    assert (server.global_rate, server.per_chat_rate, server.group_rate_per_minute) == (
        declared.per_second,
        declared.private_per_second,
        declared.group_per_minute,
    )
    with server:
        async with make_bot(server) as bot:
            await asyncio.gather(*(bot.send_message(USER_ID + i, "x") for i in range(30)))
            with pytest.raises(RetryAfter):
                await bot.send_message(USER_ID + 99, "31st within one second")
            await asyncio.sleep(1.05)
            await bot.send_message(USER_ID + 99, "the window has moved on")
        assert server.rate_limit_hits == 1
        assert len(server.sent_messages()) == 31


# ------------------------------------------------------------------------------ application
async def test_application_replies_to_start(server: FakeTelegramServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("<b>欢迎</b>订阅论文解读", parse_mode="HTML")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        server.push_update(message_update(make_user(USER_ID, "小明"), "/start"))
        await server.await_for(lambda calls: any(c.method == "sendMessage" and c.ok for c in calls))
        await app.updater.stop()
        await app.stop()
    assert server.sent_texts(USER_ID) == ["欢迎订阅论文解读"]
    assert server.pending_updates == 0
    assert server.rejected_calls() == []
    assert server.calls_to("deleteWebhook")


# -------------------------------------------------------------------------- builders & wire
def test_builders_deserialize_with_ptb() -> None:
    user = make_user(USER_ID, "小明", username="xm")
    group = make_group(-1001234567890, "读书会")
    sent = {
        "message_id": 5,
        "date": 0,
        "chat": {"id": USER_ID, "type": "private"},
        "from": {"id": 123, "is_bot": True, "first_name": "PaperBot"},
        "text": "x",
    }
    samples = [
        message_update(user, "/start@paperbot_test_bot 参数"),
        message_update(user, "hello", group),
        callback_update(user, "d", sent),
        inline_query_update(user, "q", "10"),
        migrate_update(-42, -1009876543210),
        migrate_from_update(-42, -1009876543210),
    ]
    for old, new in [
        ("member", "kicked"),
        ("left", "member"),
        ("member", "administrator"),
        ("administrator", "left"),
        ("creator", "restricted"),
    ]:
        samples.append(my_chat_member_update(user, group, old, new))
    for index, sample in enumerate(samples):
        parsed = Update.de_json({"update_id": index + 1, **sample}, None)
        assert parsed.effective_user is not None or parsed.message is not None
    command = Update.de_json({"update_id": 1, **samples[0]}, None)
    assert command.message is not None
    assert command.message.entities[0].length == len("/start@paperbot_test_bot")


def test_parse_html_unit() -> None:
    parsed = parse_html("😀<b>x</b>&#128512;<i>y</i>")
    assert parsed.text == "😀x😀y"
    assert parsed.utf16_length == 6
    assert parsed.entities == [
        {"type": "bold", "offset": 2, "length": 1},
        {"type": "italic", "offset": 5, "length": 1},
    ]
    assert parse_html("a&nbsp;b", strict=False).text == "a&nbsp;b"  # Telegram's own leniency
    assert parse_html("<B>x</b>").entities[0]["type"] == "bold"
    assert parse_html("<b>x</>").entities[0]["type"] == "bold"


async def test_wire_formats_and_unknown_method(server: FakeTelegramServer) -> None:
    base = f"{server.base_url}{TOKEN}"
    async with httpx.AsyncClient() as client:
        unknown = await client.post(f"{base}/sendPigeon", data={"chat_id": "1"})
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        via_get = await client.get(f"{base}/sendMessage", params={"chat_id": "5", "text": "g"})
        assert via_get.json()["result"]["text"] == "g"
        markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
        via_json = await client.post(
            f"{base}/sendMessage", json={"chat_id": 5, "text": "j", "reply_markup": markup}
        )
        assert via_json.json()["result"]["reply_markup"] == markup
        bad = await client.post(
            f"{base}/sendMessage", json={"chat_id": 5, "text": "<b>"}, params={"parse_mode": "HTML"}
        )
        assert bad.status_code == 400 and bad.json()["ok"] is False
    assert [c.method for c in server.rejected_calls()] == ["sendPigeon", "sendMessage"]


def test_wait_for_from_sync_code_reports_calls(server: FakeTelegramServer) -> None:
    httpx.post(f"{server.base_url}{TOKEN}/sendMessage", data={"chat_id": "1", "text": "hi"})
    calls = server.wait_for(lambda cs: len(cs) >= 1, timeout=5)
    assert isinstance(calls[0], Call) and calls[0].ok
    with pytest.raises(TimeoutError, match=r"(?i)sendMessage\(.*\"hi\".*\) -> ok"):
        server.wait_for(lambda cs: len(cs) >= 2, timeout=0.2)
    server.reset_calls()
    assert server.calls == [] and server.sent_messages() == []
