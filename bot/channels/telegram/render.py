"""RichText -> Telegram HTML messages that Telegram accepts.

Telegram counts a message's length in UTF-16 code units of the text after parsing
(at most 4096) and accepts at most 100 entities per message. Blocks are rendered
whole, so a tag never spans two messages; a block that alone is too long is cut at
a paragraph, sentence or CJK punctuation boundary first.
"""

from __future__ import annotations

import html
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram.capabilities import TELEGRAM_CAPABILITIES
from bot.core.conversation import Button
from bot.core.richtext import Block, RichText, Span

MAX_UNITS = TELEGRAM_CAPABILITIES.max_text_units
#: Head-room below the hard limit for the separators added between blocks.
TARGET_UNITS = 4000
MAX_ENTITIES = 100
#: Telegram refuses a message whose inline keyboard has more than 100 buttons.
MAX_BUTTONS = 100
_BREAKS = ("\n", "。", "！", "？", "；", "!", "?", ";", "，", "、", ",", ".", " ")


def utf16_len(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _safe_url(url: str) -> str | None:
    return url if url.startswith(("http://", "https://", "tg://")) else None


def render_span(span: Span, in_code_block: bool = False) -> str:
    body = html.escape(span.text, quote=False)
    if in_code_block:
        return body
    if span.code:
        body = f"<code>{body}</code>"
    if span.italic:
        body = f"<i>{body}</i>"
    if span.bold:
        body = f"<b>{body}</b>"
    url = _safe_url(span.url) if span.url else None
    if url:
        body = f'<a href="{html.escape(url, quote=True)}">{body}</a>'
    return body


def _entities(block: Block) -> int:
    count = sum(
        int(span.bold) + int(span.italic) + int(span.code) + int(span.url is not None)
        for span in block.spans
    )
    return count + (1 if block.kind in {"heading", "quote", "code"} else 0)


def _prefix(block: Block) -> str:
    if block.kind == "bullet":
        return "• "
    if block.kind == "numbered":
        return f"{block.number}. "
    return ""


def render_block(block: Block) -> str:
    if block.kind == "rule":
        return "——————"
    if block.kind == "code":
        inner = "".join(render_span(span, in_code_block=True) for span in block.spans)
        return f"<pre>{inner}</pre>"
    if block.kind == "heading":
        plain_spans = (replace(span, bold=False) for span in block.spans)
        return "<b>" + "".join(render_span(span) for span in plain_spans) + "</b>"
    inner = "".join(render_span(span) for span in block.spans)
    if block.kind == "quote":
        return f"<blockquote>{inner}</blockquote>"
    return html.escape(_prefix(block), quote=False) + inner


def _visible_units(block: Block) -> int:
    if block.kind == "rule":
        return 6
    return utf16_len(_prefix(block) + block.plain_text)


def _cut_point(value: str, budget: int) -> int:
    """Where to cut `value` so its first part has at most `budget` UTF-16 units."""
    units, index = 0, 0
    while index < len(value):
        step = utf16_len(value[index])
        if units + step > budget:
            break
        units += step
        index += 1
    if index >= len(value):
        return len(value)
    floor = index * 6 // 10
    for mark in _BREAKS:
        position = value.rfind(mark, floor, index)
        if position != -1:
            return position + 1
    return max(index, 1)


def split_block(block: Block, budget: int) -> list[Block]:
    """Cut one oversized block into pieces under `budget` units and entity limits."""
    pieces: list[Block] = []
    current: list[Span] = []
    used = utf16_len(_prefix(block))
    entities = 1 if block.kind in {"heading", "quote", "code"} else 0
    first = True

    def emit() -> None:
        nonlocal current, used, entities, first
        kind = block.kind if first or block.kind in {"heading", "quote", "code"} else "paragraph"
        pieces.append(Block(kind, tuple(current), block.number if first else None))
        current, used, entities, first = [], 0, 1 if kind in {"quote", "code"} else 0, False

    for span in block.spans:
        remaining = span
        while remaining.text:
            span_entities = _entities(Block("paragraph", (remaining,)))
            if entities + span_entities > MAX_ENTITIES - 1 and current:
                emit()
            room = budget - used
            if utf16_len(remaining.text) <= room:
                current.append(remaining)
                used += utf16_len(remaining.text)
                entities += span_entities
                break
            cut = _cut_point(remaining.text, room) if room > 0 else 0
            if cut == 0 and current:
                emit()
                continue
            cut = max(cut, 1)
            current.append(replace(remaining, text=remaining.text[:cut]))
            entities += span_entities
            remaining = replace(remaining, text=remaining.text[cut:])
            emit()
    if current:
        emit()
    return pieces


def render_messages(body: RichText, budget: int = TARGET_UNITS) -> list[str]:
    """Pack blocks into as few messages as fit Telegram's limits, in order."""
    blocks: list[Block] = []
    for block in body.blocks:
        if _visible_units(block) > budget or _entities(block) > MAX_ENTITIES - 1:
            blocks.extend(split_block(block, budget))
        else:
            blocks.append(block)
    messages: list[str] = []
    parts: list[str] = []
    units = entities = 0
    previous: Block | None = None
    for block in blocks:
        separator = _separator(previous, block) if parts else ""
        size = _visible_units(block) + len(separator)
        count = _entities(block)
        if parts and (units + size > budget or entities + count > MAX_ENTITIES):
            messages.append("".join(parts))
            parts, units, entities, separator = [], 0, 0, ""
            size = _visible_units(block)
        parts.append(separator + render_block(block))
        units += size
        entities += count
        previous = block
    if parts:
        messages.append("".join(parts))
    return [message for message in messages if message.strip()]


def _separator(previous: Block | None, block: Block) -> str:
    list_kinds = {"bullet", "numbered"}
    if previous is not None and previous.kind in list_kinds and block.kind in list_kinds:
        return "\n"
    return "\n\n"


def split_keyboard(
    rows: tuple[tuple[Button, ...], ...], limit: int = MAX_BUTTONS
) -> list[tuple[tuple[Button, ...], ...]]:
    """Rows of buttons in groups of at most `limit` buttons (a longer row is cut), so
    each group fits one message's keyboard; no rows, no groups."""
    groups: list[tuple[tuple[Button, ...], ...]] = []
    current: list[tuple[Button, ...]] = []
    count = 0
    for row in rows:
        for start in range(0, len(row), limit):
            piece = row[start : start + limit]
            if current and count + len(piece) > limit:
                groups.append(tuple(current))
                current, count = [], 0
            current.append(piece)
            count += len(piece)
    if current:
        groups.append(tuple(current))
    return groups


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(button.label, url=button.url)
                if button.url
                else InlineKeyboardButton(button.label, callback_data=button.action)
                for button in row
            ]
            for row in rows
        ]
    )
