"""A review as a WeChat article's `content` (`draft/add`): the web page's HTML, narrowed
to what a WeChat article keeps.

The body is rendered once, by the core's Markdown rendering (`bot.core.richtext`, the
same the web review page uses), and that HTML is filtered through an allowlist rather
than parsed from Markdown a second way. WeChat's article HTML is narrow: paragraphs,
line breaks, bold, italics, headings, lists, quotes, code, `section`/`span`; it strips
script, and links to sites outside WeChat do not open in an article, so:

- a tag outside the allowlist goes and its text stays (`h5`/`h6` become `h4`, a table's
  rows paragraphs of cells joined by " | ", a rule a line of dashes); script, style,
  iframe and the like go with their content;
- no attribute survives but a link's `href` to WeChat's own pages (`mp.weixin.qq.com`),
  an image's `src` on WeChat's own image hosts (`mmbiz.qpic.cn`: material uploaded to
  the account) and a list's `start`; any other link keeps its text (the article's
  "阅读原文" is the review's web page, `content_source_url`), any other image goes;
- all text is escaped again on the way out (`<`, `>`, `&`), so `]]>` or `<script>` in a
  review reads as text.

WeChat wants the content under 20,000 characters and 1 MB. A longer review keeps its
first whole top-level blocks (never a cut inside a tag) and ends with a note pointing to
"阅读原文".
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from bot.core.richtext import markdown_html
from bot.core.texts import label

#: WeChat: the content must have fewer than 20,000 characters (its HTML, tags included)...
MAX_CONTENT_CHARS = 20_000
#: ... and be smaller than 1 MB.
MAX_CONTENT_BYTES = 1_000_000

#: Tags written as they are (without attributes, but for `KEPT_ATTRIBUTES`).
ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "strong",
        "b",
        "em",
        "i",
        "h1",
        "h2",
        "h3",
        "h4",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "section",
        "span",
    }
)
#: Tags written as another allowed one.
RENAMED_TAGS = {
    "h5": "h4",
    "h6": "h4",
    "table": "section",
    "tr": "p",
    "th": "strong",
    "td": "span",
    "div": "section",
}
#: Tags that go with everything inside them.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "noscript",
        "noembed",
        "noframes",
        "template",
        "textarea",
        "select",
        "title",
        "head",
        "svg",
        "math",
        "canvas",
        "audio",
        "video",
        "xmp",
    }
)
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "col", "area"})
#: Whitespace between these tags' children is layout of the source, not text.
_LAYOUT_PARENTS = frozenset(
    {"ul", "ol", "blockquote", "section", "table", "thead", "tbody", "tfoot", "tr"}
)
LINK_HOSTS = frozenset({"mp.weixin.qq.com"})
IMAGE_HOSTS = frozenset({"mmbiz.qpic.cn", "mmbiz.qlogo.cn"})
_CELL_TAGS = frozenset({"td", "th"})
_RULE = "<p>——————</p>"

#: The last line of a review cut to fit, with and without its web page as 阅读原文.
MORE_NOTE = {
    ("zh", True): "全文较长，请点「阅读原文」在网页上读完。",
    ("en", True): "The review continues on the web: tap “Read more”.",
    ("zh", False): "全文较长，此处只收前面部分。",
    ("en", False): "The review is longer than a WeChat article; this is its beginning.",
}


def _wechat_url(value: str | None, hosts: frozenset[str]) -> str | None:
    """`value` when it is an http(s) URL on one of `hosts`, else None."""
    if not value or any(char.isspace() or ord(char) < 32 for char in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in hosts:
        return None
    return value


class _Narrowing(HTMLParser):
    """HTML in, WeChat-safe HTML out, as a list of top-level blocks (for fitting)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self._out: list[str] = []
        #: Open source tags and what was written for each (None: nothing, text kept).
        self._open: list[tuple[str, str | None]] = []
        #: Open tags whose content is dropped (nested ones counted).
        self._dropping: list[str] = []
        #: Cells seen in each open table row, for the " | " between them.
        self._cells: list[int] = []

    # Parsing

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._dropping.append(tag)
            return
        if self._dropping:
            return
        if tag in _VOID_TAGS:
            self._void(tag, dict(attrs))
            return
        if tag in _CELL_TAGS and self._cells:
            if self._cells[-1]:
                self._out.append(" | ")
            self._cells[-1] += 1
        if tag == "tr":
            self._cells.append(0)
        written = self._opening(tag, dict(attrs))
        if written is not None:
            self._out.append(f"<{written}{self._attributes(tag, dict(attrs))}>")
        self._open.append((tag, written))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # `<br />`, `<img ... />`: one void element, never an open one.
        if tag in DROPPED_WITH_CONTENT or self._dropping:
            return
        if tag in _VOID_TAGS:
            self._void(tag, dict(attrs))
            return
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._dropping:
            if tag == self._dropping[-1]:
                self._dropping.pop()
            return
        if tag in _VOID_TAGS or all(source != tag for source, _ in self._open):
            return
        while self._open:
            source, written = self._open.pop()
            if written is not None:
                self._out.append(f"</{written}>")
            if source == "tr" and self._cells:
                self._cells.pop()
            if source == tag:
                break
        self._end_of_block()

    def handle_data(self, data: str) -> None:
        if self._dropping or not data:
            return
        if not data.strip() and (not self._open or self._open[-1][0] in _LAYOUT_PARENTS):
            return
        if not self._open:
            # Text outside any block (markdown-it writes none): a paragraph of its own.
            self.blocks.append(f"<p>{html.escape(data.strip(), quote=False)}</p>")
            return
        self._out.append(html.escape(data, quote=False))

    def close(self) -> None:
        super().close()
        while self._open:
            _, written = self._open.pop()
            if written is not None:
                self._out.append(f"</{written}>")
        self._end_of_block()

    # Writing

    @staticmethod
    def _opening(tag: str, attrs: dict[str, str | None]) -> str | None:
        if tag == "a":
            return "a" if _wechat_url(attrs.get("href"), LINK_HOSTS) else None
        if tag in ALLOWED_TAGS:
            return tag
        return RENAMED_TAGS.get(tag)

    @staticmethod
    def _attributes(tag: str, attrs: dict[str, str | None]) -> str:
        if tag == "a":
            href = _wechat_url(attrs.get("href"), LINK_HOSTS)
            return f' href="{html.escape(href, quote=True)}"' if href else ""
        if tag == "ol":
            start = attrs.get("start") or ""
            if start.isascii() and start.isdigit() and 1 <= len(start) <= 6:
                return f' start="{int(start)}"'
        return ""

    def _void(self, tag: str, attrs: dict[str, str | None]) -> None:
        if tag == "br":
            self._out.append("<br/>")
        elif tag == "hr":
            self._out.append(_RULE)
        elif tag == "img" and (src := _wechat_url(attrs.get("src"), IMAGE_HOSTS)):
            self._out.append(f'<img src="{html.escape(src, quote=True)}"/>')
        self._end_of_block()

    def _end_of_block(self) -> None:
        if not self._open and self._out:
            self.blocks.append("".join(self._out))
            self._out.clear()


def article_blocks(source_html: str) -> list[str]:
    """`source_html` narrowed to WeChat's article HTML, one string per top-level block."""
    parser = _Narrowing()
    parser.feed(source_html)
    parser.close()
    return [block for block in parser.blocks if block]


def fits(content: str) -> bool:
    return len(content) < MAX_CONTENT_CHARS and len(content.encode("utf-8")) < MAX_CONTENT_BYTES


def article_lead(review: Any, language: str = "zh") -> list[str]:
    """What a review's web page and card show above its body: the paper's authors, its
    date and arXiv id. In WeChat the article is often all a follower reads of a review,
    and the column's body does not repeat them. Plain text: an article links nothing
    outside WeChat's own hosts, so the arXiv id is written out, not linked."""
    lines: list[str] = []
    if authors := str(getattr(review, "authors", "") or "").strip():
        lines.append(label(language, "authors", authors))
    details: list[str] = []
    if (date := getattr(review, "paper_date", None)) is not None:
        details.append(label(language, "date", date.display(language)))
    if arxiv_id := getattr(review, "arxiv_id", None):
        details.append(f"arXiv:{arxiv_id}")
    if details:
        lines.append(" · ".join(details))
    return [f"<p><em>{html.escape(line, quote=False)}</em></p>" for line in lines]


def article_content(
    markdown: str, language: str = "zh", *, on_web: bool = True, lead: list[str] | None = None
) -> str:
    """A review's Markdown body as the content of its WeChat article: the web's rendering,
    narrowed (module docstring), whole blocks within WeChat's limits, after `lead`
    (`article_lead`, already WeChat's HTML); `on_web`: the article links the review's
    web page (content_source_url) for the rest of a long one."""
    blocks = [*(lead or ()), *article_blocks(markdown_html(markdown))]
    whole = "".join(blocks)
    if fits(whole):
        return whole or "<p></p>"
    words = MORE_NOTE[("en" if language == "en" else "zh", on_web)]
    note = f"<p><em>{html.escape(words)}</em></p>"
    kept: list[str] = []
    chars, size = len(note), len(note.encode("utf-8"))
    for block in blocks:
        block_size = len(block.encode("utf-8"))
        if chars + len(block) >= MAX_CONTENT_CHARS or size + block_size >= MAX_CONTENT_BYTES:
            break
        kept.append(block)
        chars += len(block)
        size += block_size
    return "".join(kept) + note
