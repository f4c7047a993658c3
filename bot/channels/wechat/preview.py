"""`paperbot console --channel wechat`: what a WeChat follower would see, in a terminal.

Lines go through the same `WeChatReaders` as WeChat's callbacks (keywords, numbered
choices kept in the store, news cards), on the console's own chat, so trying it adds no
WeChat follower. `:subscribe [qrscene_r_<slug>]` and `:unsubscribe` stand for the
follow and unfollow events.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from typing import TextIO

from bot.channels.console import CONSOLE_CHAT_ID
from bot.channels.wechat.readers import Outgoing, WeChatReaders
from bot.core.texts import t

log = logging.getLogger(__name__)

_LINK = re.compile(r'<a href="([^"]*)">([^<]*)</a>')


def show(message: Outgoing) -> str:
    """A message as the follower sees it: a link's label with its address after it."""
    if message.article is not None:
        article = message.article
        return "\n".join(
            part for part in (f"【图文】{article.title}", article.description, article.url) if part
        )
    return _LINK.sub(
        lambda found: f"{found.group(2)} <{html.unescape(found.group(1))}>", message.text
    )


async def _answer(readers: WeChatReaders, line: str) -> list[Outgoing]:
    command, _, argument = line.strip().partition(" ")
    if command == ":subscribe":
        return await readers.on_subscribe(CONSOLE_CHAT_ID, argument.strip())
    if command == ":unsubscribe":
        await readers.on_unsubscribe(CONSOLE_CHAT_ID)
        return []
    if not line.strip():
        return []
    return await readers.on_text(CONSOLE_CHAT_ID, line)


async def run_wechat_console(
    readers: WeChatReaders, stdin: TextIO, stdout: TextIO, interactive: bool = False
) -> int:
    """Read lines until end of input, printing each WeChat message; the exit status."""
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 0
        try:
            messages = await _answer(readers, line)
        except Exception:
            log.exception("console: the line could not be answered")
            messages = [Outgoing(text=t("zh", "internal_error"))]
        for message in messages:
            stdout.write(show(message) + "\n\n")
        stdout.flush()
