"""Channel-neutral rich text: what the core says, before any channel formats it.

The core never writes HTML or Markdown for a channel. It builds `RichText` (blocks of
styled spans); each channel renders it (Telegram HTML, plain console text, ...), so
escaping happens in exactly one place per channel.

A review's body is Markdown. For short messages it becomes `RichText`
(`markdown_to_rich`); where readers see a whole document as HTML, every channel uses the
one HTML rendering here (`markdown_html`), so a review reads the same wherever it is
shown, and a channel with a narrower HTML (an article platform's allowlist) filters this
output instead of parsing Markdown a second way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from markdown_it import MarkdownIt

BlockKind = Literal["heading", "paragraph", "bullet", "numbered", "quote", "rule", "code"]


@dataclass(frozen=True)
class Span:
    """A run of text with one style."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str | None = None

    @property
    def is_plain(self) -> bool:
        return not (self.bold or self.italic or self.code or self.url)


@dataclass(frozen=True)
class Block:
    """A paragraph-level unit; renderers never split inside a span's style."""

    kind: BlockKind
    spans: tuple[Span, ...] = ()
    number: int | None = None

    @property
    def plain_text(self) -> str:
        return "".join(span.text for span in self.spans)


@dataclass(frozen=True)
class RichText:
    blocks: tuple[Block, ...] = field(default_factory=tuple)

    def __add__(self, other: RichText) -> RichText:
        return RichText(self.blocks + other.blocks)

    @property
    def plain_text(self) -> str:
        return "\n".join(block.plain_text for block in self.blocks)


# Small constructors so the core reads like the message it builds.


def text(value: str) -> Span:
    return Span(value)


def bold(value: str) -> Span:
    return Span(value, bold=True)


def italic(value: str) -> Span:
    return Span(value, italic=True)


def code(value: str) -> Span:
    return Span(value, code=True)


def link(value: str, url: str) -> Span:
    return Span(value, url=url)


def paragraph(*spans: Span | str) -> Block:
    return Block("paragraph", tuple(Span(s) if isinstance(s, str) else s for s in spans))


def heading(*spans: Span | str) -> Block:
    return Block("heading", tuple(Span(s) if isinstance(s, str) else s for s in spans))


def bullet(*spans: Span | str) -> Block:
    return Block("bullet", tuple(Span(s) if isinstance(s, str) else s for s in spans))


def numbered(number: int, *spans: Span | str) -> Block:
    spans_ = tuple(Span(s) if isinstance(s, str) else s for s in spans)
    return Block("numbered", spans_, number=number)


def rich(*blocks: Block) -> RichText:
    return RichText(tuple(blocks))


# --- Markdown (the subset the column writes) -> RichText -------------------------------

_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*(\d{1,3})[.)、]\s+(.*)$")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_QUOTE = re.compile(r"^\s*>\s?(.*)$")
_INLINE = re.compile(
    r"(?P<code>`[^`\n]+`)"
    # No `[` in a label and none in a URL: a line of 10,000 `[` (or of `[a](`) is then
    # scanned once, not once from every bracket.
    r"|(?P<link>\[(?P<label>[^\[\]\n]+)\]\((?P<url>[^()\[\]\s]+)\))"
    r"|(?P<bold>\*\*(?P<bold_text>.+?)\*\*)"
    r"|(?P<italic>(?<![*\w])\*(?P<italic_text>[^*\n]+?)\*(?![*\w]))"
    r"|(?P<autolink>https?://[^\s<>()\[\]]+)"
)

#: What could start a nested style or link; a run without any is plain text.
_MARKUP = re.compile(r"[*`\[]|https?://")


def parse_inline(source: str) -> tuple[Span, ...]:
    """Inline Markdown: **bold**, *italic*, `code`, [label](url) and bare URLs."""
    spans: list[Span] = []
    position = 0
    for match in _INLINE.finditer(source):
        if match.start() > position:
            spans.append(Span(source[position : match.start()]))
        if match.group("code"):
            spans.append(Span(match.group("code")[1:-1], code=True))
        elif match.group("link"):
            spans.append(Span(match.group("label"), url=match.group("url")))
        elif match.group("bold"):
            spans.extend(_styled(match.group("bold_text"), bold=True))
        elif match.group("italic"):
            spans.extend(_styled(match.group("italic_text"), italic=True))
        else:
            url = match.group("autolink")
            spans.append(Span(url, url=url))
        position = match.end()
    if position < len(source):
        spans.append(Span(source[position:]))
    return _merge_plain(spans)


def _styled(inner: str, *, bold: bool = False, italic: bool = False) -> tuple[Span, ...]:
    """The spans of a bold or italic run (adding its style); plain ones parse no further."""
    if _MARKUP.search(inner) is None:
        return (Span(inner, bold=bold, italic=italic),)
    return tuple(
        replace(span, bold=span.bold or bold, italic=span.italic or italic)
        for span in parse_inline(inner)
    )


def _merge_plain(spans: list[Span]) -> tuple[Span, ...]:
    """Join neighbours of the same style (texts collected, then joined once: linear)."""
    groups: list[tuple[Span, list[str]]] = []
    for span in spans:
        if not span.text:
            continue
        if groups and _style(groups[-1][0]) == _style(span):
            groups[-1][1].append(span.text)
        else:
            groups.append((span, [span.text]))
    return tuple(
        first if len(texts) == 1 else replace(first, text="".join(texts)) for first, texts in groups
    )


def _style(span: Span) -> tuple[bool, bool, bool, str | None]:
    return span.bold, span.italic, span.code, span.url


def _heading_text(line: str) -> str | None:
    """The text of `# heading #` (one to six `#`, then a space), else None.

    A string scan: the pattern `(.*?)\\s*#*\\s*$` took cubic time on a line of spaces.
    """
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or not line[level : level + 1].isspace():
        return None
    return line[level:].strip().rstrip("#").strip()


@functools.lru_cache(maxsize=256)
def markdown_to_rich(source: str) -> RichText:
    """Block-level Markdown: headings, lists, quotes, rules, fenced code, paragraphs.

    Remembered by source (the result is immutable): a review's body is parsed again
    for every reader who opens it, a millisecond or more of CPU per `/review`.
    """
    blocks: list[Block] = []
    paragraph_lines: list[str] = []
    lines = source.splitlines()

    def flush() -> None:
        if paragraph_lines:
            joined = "\n".join(line.strip() for line in paragraph_lines)
            blocks.append(Block("paragraph", parse_inline(joined)))
            paragraph_lines.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.strip().startswith("```"):
            flush()
            fenced: list[str] = []
            while index < len(lines) and not lines[index].strip().startswith("```"):
                fenced.append(lines[index])
                index += 1
            index += 1
            blocks.append(Block("code", (Span("\n".join(fenced), code=True),)))
        elif not line.strip():
            flush()
        elif _RULE.match(line):
            flush()
            blocks.append(Block("rule"))
        elif (heading_text := _heading_text(line)) is not None:
            flush()
            blocks.append(Block("heading", parse_inline(heading_text)))
        elif bullet_match := _BULLET.match(line):
            flush()
            blocks.append(Block("bullet", parse_inline(bullet_match.group(1))))
        elif number_match := _NUMBERED.match(line):
            flush()
            spans = parse_inline(number_match.group(2))
            blocks.append(Block("numbered", spans, number=int(number_match.group(1))))
        elif quote_match := _QUOTE.match(line):
            flush()
            blocks.append(Block("quote", parse_inline(quote_match.group(1))))
        else:
            paragraph_lines.append(line)
    flush()
    return RichText(tuple(blocks))


def plain_markdown(source: str) -> str:
    """Markdown without its markup, for summaries and search."""
    return markdown_to_rich(source).plain_text


# --- Markdown -> HTML (a review as a document) ------------------------------------------


def markdown_renderer() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML in a review is escaped, never
    passed through, and markdown-it refuses javascript:/vbscript:/data: links."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


@functools.cache
def _html_renderer() -> MarkdownIt:
    # One configured parser for the process: rendering keeps no state between calls.
    return markdown_renderer()


def markdown_html(source: str) -> str:
    """A review's Markdown as HTML: raw HTML in it escaped (`<` as `&lt;`), so the result
    holds only the tags markdown-it writes."""
    return str(_html_renderer().render(source))
