"""A terminal chat on the same core: for editors without a token, and for scripts.

Buttons are shown numbered; typing `:N` taps button N of the last reply (a URL button
prints its URL). At a terminal, lines are edited and recalled with readline; Ctrl-C ends
the session at once, even while a line is being read.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Awaitable, Callable
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
    read_line = _terminal_reader(stdout) if interactive else _stream_reader(stdin)
    buttons: list[Button] = []
    while True:
        line = await read_line()
        if not line:
            return 0
        missed = _missed_tap(caller, line, buttons)
        if missed is not None:
            # Told, and the last reply's buttons stay tappable.
            stdout.write(render_text(missed.body) + "\n\n")
            stdout.flush()
            continue
        try:
            replies = await _answer(conversation, caller, line, buttons, stdout)
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


async def _in_daemon_thread(read: Callable[[], str]) -> str:
    """`read()` in a daemon thread: a blocked read must not keep Ctrl-C waiting (the
    event loop's executor joins its threads at exit, so `asyncio.to_thread` would)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value or "")

    def work() -> None:
        try:
            value = read()
        except BaseException as exc:  # EOFError, an I/O error: the loop decides
            loop.call_soon_threadsafe(settle, None, exc)
            return
        loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=work, name="console-input", daemon=True).start()
    return await done


def _stream_reader(stdin: TextIO) -> Callable[[], Awaitable[str]]:
    """Lines of a pipe or file, as they are (end of input: "")."""
    return lambda: _in_daemon_thread(stdin.readline)


def _terminal_reader(stdout: TextIO) -> Callable[[], Awaitable[str]]:
    """Lines typed at a terminal through `input()`, which readline gives line editing
    and history (arrow keys, Ctrl-R) once imported. End of input (Ctrl-D): ""."""
    try:
        import readline  # noqa: F401  (imported for its effect on input())
    except ImportError:  # Windows without pyreadline: plain input() still works
        log.debug("readline is not available; no line editing")

    def read() -> str:
        try:
            return input("> ") + "\n"
        except EOFError:
            stdout.write("\n")
            return ""

    return lambda: _in_daemon_thread(read)


def _missed_tap(caller: Caller, line: str, buttons: list[Button]) -> Reply | None:
    """`:N` that taps nothing: there is no button N (saying how many there are), or
    button N opens a URL, which a terminal can only print."""
    tap = _TAP.match(line.strip())
    if tap is None:
        return None
    number = parse_count(tap.group(1)) or 0
    language = caller.language
    if not 1 <= number <= len(buttons):
        key = "console_no_buttons" if not buttons else "console_no_such_button"
        return Reply(rich(paragraph(t(language, key, n=number, count=len(buttons)))))
    url = buttons[number - 1].url
    if url is not None:
        return Reply(rich(paragraph(t(language, "console_url", url=url))))
    return None


async def _answer(
    conversation: Conversation,
    caller: Caller,
    line: str,
    buttons: list[Button],
    stdout: TextIO | None = None,
) -> list[Reply]:
    """A line is either `:N` (tap button N of the last reply) or text for the core."""
    tap = _TAP.match(line.strip())
    if tap is None:
        return await conversation.handle_text(caller, line)
    action = buttons[(parse_count(tap.group(1)) or 1) - 1].action
    if action is None:  # _missed_tap answered URL buttons already
        return [conversation.stale(caller)]
    notice = conversation.pending_notice(caller, action)
    if notice is not None and stdout is not None:
        stdout.write(notice + "\n")  # at once: the answer may wait on the network
        stdout.flush()
    return await conversation.handle_action(caller, action)
