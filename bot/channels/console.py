"""A terminal chat on the same core: for editors without a token, and for scripts.

Buttons are shown numbered; typing `:N` taps button N of the last reply.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TextIO

from bot.core.conversation import Button, Caller, Conversation, Reply
from bot.core.numbers import parse_count
from bot.core.richtext import Block, RichText, paragraph, rich
from bot.core.texts import t

log = logging.getLogger(__name__)

#: The console is one chat with one user at the terminal.
CONSOLE = "console"
CONSOLE_CHAT_ID = "0"
_TAP = re.compile(r"^:([0-9]{1,3})$")


def render_block(block: Block) -> str:
    parts = []
    for span in block.spans:
        if span.url and span.url != span.text:
            parts.append(f"{span.text} <{span.url}>")
        elif span.code and block.kind != "code":
            parts.append(f"`{span.text}`")
        else:
            parts.append(span.text)
    content = "".join(parts)
    if block.kind == "heading":
        return f"【{content}】"
    if block.kind == "bullet":
        return f"  • {content}"
    if block.kind == "numbered":
        return f"  {block.number}. {content}"
    if block.kind == "quote":
        return f"  | {content}"
    if block.kind == "rule":
        return "  ────"
    return content


def render_text(body: RichText) -> str:
    return "\n".join(render_block(block) for block in body.blocks)


def render_reply(reply: Reply, first_button: int = 1) -> tuple[str, list[Button]]:
    lines = [render_text(reply.body)]
    buttons = [button for row in reply.buttons for button in row]
    labels = []
    for number, button in enumerate(buttons, start=first_button):
        target = f" <{button.url}>" if button.url else ""
        labels.append(f"[{number}] {button.label}{target}")
    if labels:
        lines.append("  ".join(labels))
    return "\n".join(lines), buttons


async def run_console(
    conversation: Conversation,
    stdin: TextIO,
    stdout: TextIO,
    language: str = "zh",
    interactive: bool = False,
    admin: bool = False,
) -> int:
    """Read lines until end of input, printing each reply; returns the exit status.

    `admin`: the operator at the terminal already has shell access to the bot, so
    `paperbot console --admin` may use the editors' commands.
    """
    caller = Caller(
        channel=CONSOLE, user_id="0", chat_id=CONSOLE_CHAT_ID, language=language, trusted=admin
    )
    buttons: list[Button] = []
    while True:
        if interactive:
            stdout.write("> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            if interactive:
                stdout.write("\n")
            return 0
        try:
            replies = await _answer(conversation, caller, line, buttons)
        except Exception:
            # A bug behind one line must not end the session with the rest unread.
            log.exception("console: the line could not be answered")
            replies = [Reply(rich(paragraph(t(caller.language, "internal_error"))))]
        if replies:
            buttons = []
        for reply in replies:
            rendered, reply_buttons = render_reply(reply, first_button=len(buttons) + 1)
            buttons.extend(reply_buttons)
            stdout.write(rendered + "\n\n")
        stdout.flush()


async def _answer(
    conversation: Conversation, caller: Caller, line: str, buttons: list[Button]
) -> list[Reply]:
    """A line is either `:N` (tap button N of the last reply) or text for the core."""
    tap = _TAP.match(line.strip())
    if tap is None:
        return await conversation.handle_text(caller, line)
    index = (parse_count(tap.group(1)) or 0) - 1
    action = buttons[index].action if 0 <= index < len(buttons) else None
    if action is None:
        return [conversation.stale(caller)]
    return await conversation.handle_action(caller, action)
