"""The core's replies as WeChat can show them: plain text, links, numbered choices.

A WeChat text message is plain text in which `<a href="...">label</a>` is a link; it has
no bold, no buttons and no edits, and a passive reply holds at most 2,048 bytes of UTF-8
(`MAX_TEXT_BYTES`). So blocks become lines (headings in 【】), and a reply's buttons
become choices the reader answers by message: read buttons the list's own numbers
(`1`–`5`), paging `下一页` / `上一页`, any other action the next free number, and URL
buttons links. The choices go to the store (`ButtonStateStore.keep_for`), keyed by the
follower, so whichever process gets the next message can answer it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.conversation import Button, Reply
from bot.core.richtext import Block, RichText, Span
from bot.core.texts import t

#: WeChat's limit for a text message's content (passive reply and customer service).
MAX_TEXT_BYTES = 2048
NEXT = "next"
PREVIOUS = "previous"
#: What a reader may type for the paging choices (compared after `normalise_choice`).
_PAGING_WORDS = {
    "下一页": NEXT,
    "下页": NEXT,
    "next": NEXT,
    "more": NEXT,
    "上一页": PREVIOUS,
    "上页": PREVIOUS,
    "previous": PREVIOUS,
    "prev": PREVIOUS,
}
_NUMBER = re.compile(r"[0-9]{1,3}")
_ELLIPSIS = "…"
_FULL_WIDTH_DIGITS = {0xFF10 + digit: str(digit) for digit in range(10)}


def _safe_url(url: str | None) -> str | None:
    return url if url and url.startswith(("http://", "https://")) else None


def link(label: str, url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def render_span(span: Span) -> str:
    url = _safe_url(span.url)
    if url is None or span.text == url:
        return span.text if url is None else link(span.text, url)
    return link(span.text, url)


def render_block(block: Block) -> str:
    content = "".join(render_span(span) for span in block.spans)
    if block.kind == "heading":
        return f"【{content}】"
    if block.kind == "bullet":
        return f"• {content}"
    if block.kind == "numbered":
        return f"{block.number}. {content}"
    if block.kind == "quote":
        return f"| {content}"
    if block.kind == "rule":
        return "——————"
    return content


def utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def cut_bytes(value: str, limit: int) -> str:
    """`value` within `limit` UTF-8 bytes, never inside a character or a link, "…" at a cut."""
    if utf8_len(value) <= limit:
        return value
    room = limit - utf8_len(_ELLIPSIS)
    kept: list[str] = []
    used = 0
    # Links are atoms: a cut inside `<a href=...>` would show the reader raw markup.
    for piece in re.split(r"(<a href=\"[^\"]*\">[^<]*</a>)", value):
        size = utf8_len(piece)
        if used + size <= room:
            kept.append(piece)
            used += size
            continue
        if not piece.startswith("<a href="):
            for char in piece:
                width = utf8_len(char)
                if used + width > room:
                    break
                kept.append(char)
                used += width
        break
    return "".join(kept).rstrip() + _ELLIPSIS


def fit_text(blocks: Sequence[str], limit: int = MAX_TEXT_BYTES, footer: str = "") -> str:
    """Whole lines while they fit (the footer, i.e. the choices, always kept), then "…"."""
    budget = limit - (utf8_len(footer) + 1 if footer else 0)
    lines: list[str] = []
    used = 0
    for index, line in enumerate(blocks):
        cost = utf8_len(line) + (1 if lines else 0)
        if used + cost <= budget:
            lines.append(line)
            used += cost
            continue
        room = budget - used - (1 if lines else 0)
        if index == 0 or room > 40:
            lines.append(cut_bytes(line, room))
        elif lines:
            lines[-1] = cut_bytes(lines[-1] + _ELLIPSIS, utf8_len(lines[-1]) + 3)
        break
    body = "\n".join(lines)
    return f"{body}\n{footer}" if footer and body else body or footer


@dataclass
class Rendered:
    """One WeChat text and the choices it offers (`{"1": "r:12", "next": "s:ab:5"}`)."""

    text: str
    choices: dict[str, str] = field(default_factory=dict)


def _choices(
    body: RichText, buttons: Sequence[Button], language: str
) -> tuple[dict[str, str], list[str]]:
    """Numbered choices for the action buttons, and link lines for the URL buttons."""
    choices: dict[str, str] = {}
    links: list[str] = []
    numbers = [block.number for block in body.blocks if block.kind == "numbered" and block.number]
    reads = [b for b in buttons if b.action and b.action.startswith("r:")]
    # A list's read buttons answer to the numbers the list shows (6–10 on page 2).
    read_numbers = numbers if len(numbers) == len(reads) else list(range(1, len(reads) + 1))
    for number, button in zip(read_numbers, reads, strict=True):
        assert button.action is not None
        choices[str(number)] = button.action
    next_free = max([0, *read_numbers]) + 1
    for button in buttons:
        if button.url:
            if url := _safe_url(button.url):
                links.append(link(button.label, url))
        elif button.action and not button.action.startswith("r:"):
            if button.label == t(language, "next"):
                choices[NEXT] = button.action
            elif button.label == t(language, "previous"):
                choices[PREVIOUS] = button.action
            else:
                choices[str(next_free)] = button.action
                links.append(f"{next_free}. {button.label}")
                next_free += 1
    return choices, links


def choice_hint(choices: dict[str, str], language: str) -> str:
    """ "回复 1–5 阅读全文，回复 下一页 翻页" from the choices offered; numbers that do
    something else (a setting, an editor's action) are "回复 1–2 选择", not a read."""
    numbered = sorted((int(key), action) for key, action in choices.items() if key.isdigit())
    reads = [number for number, action in numbered if action.startswith("r:")]
    others = [number for number, action in numbered if not action.startswith("r:")]
    parts = []
    zh = language != "en"
    if reads:
        span = _span(reads)
        parts.append(f"回复 {span} 阅读全文" if zh else f"reply {span} to read in full")
    if others:
        span = _span(others)
        parts.append(f"回复 {span} 选择" if zh else f"reply {span} to choose")
    if NEXT in choices:
        parts.append("回复 下一页 翻页" if zh else "reply next for more")
    if PREVIOUS in choices:
        parts.append("回复 上一页 返回" if zh else "reply previous to go back")
    hint = ("，" if zh else ", ").join(parts)
    return hint if zh else hint[:1].upper() + hint[1:]


def _span(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}"


def render_reply(reply: Reply, language: str, limit: int = MAX_TEXT_BYTES) -> Rendered:
    buttons = [button for row in reply.buttons for button in row]
    choices, extra_lines = _choices(reply.body, buttons, language)
    hint = choice_hint(choices, language)
    footer = "\n".join([*extra_lines, *([hint] if hint else [])])
    lines = [render_block(block) for block in reply.body.blocks]
    return Rendered(fit_text(lines, limit, footer), choices)


def render_replies(
    replies: Sequence[Reply], language: str, limit: int = MAX_TEXT_BYTES
) -> Rendered:
    """Several core replies as one WeChat text (a passive reply is one message); the
    choices are the last reply's that offers any."""
    if len(replies) == 1:
        return render_reply(replies[0], language, limit)
    parts = [render_reply(reply, language, limit) for reply in replies]
    choices: dict[str, str] = {}
    for part in parts:
        if part.choices:
            choices = part.choices
    joined = "\n\n".join(part.text for part in parts if part.text)
    return Rendered(cut_bytes(joined, limit), choices)


def normalise_choice(value: str) -> str | None:
    """What a reader's message picks among choices (`1`, `１`, `下一页`, `Next`), or None."""
    # Full-width digits are what a Chinese keyboard types; `²` or `①` stay no number.
    folded = value.translate(_FULL_WIDTH_DIGITS).strip().lower().rstrip("»« ").strip()
    if _NUMBER.fullmatch(folded):
        return str(int(folded))
    return _PAGING_WORDS.get(folded)
