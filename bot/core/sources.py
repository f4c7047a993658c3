"""Review sources: the column's own document format and front-matter Markdown.

Parsing is pure (text in, `ParsedReview`s out) and all-or-nothing per file: any
problem raises `ReviewFormatError` naming the file and line, so the importer can
refuse the whole file before touching the database.

Sources come from editors and files nobody vetted, so parsing is defensive: every
field has a maximum length (the MAX_* constants below, also in the README), YAML
may not use aliases, anchors or tags beyond plain data, and no pattern applied to a
line backtracks (headings and `**key**: value` lines are read with string scans),
so the time to parse a document grows linearly with its size.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.richtext import markdown_to_rich

log = logging.getLogger(__name__)

SECTION_HEADINGS = {
    "最新论文解读": "latest",
    "最新解读": "latest",
    "latest": "latest",
    "latest reviews": "latest",
    "经典论文回顾": "classic",
    "经典回顾": "classic",
    "classic": "classic",
    "classic reviews": "classic",
}
SECTIONS = ("latest", "classic")
STATUSES = ("draft", "queued", "published")

_META_KEYS = {
    "发表时间": "date",
    "发布时间": "date",
    "日期": "date",
    "date": "date",
    "published": "date",
    "作者": "authors",
    "authors": "authors",
    "author": "authors",
    "链接": "link",
    "论文链接": "link",
    "link": "link",
    "标签": "tags",
    "tags": "tags",
    "摘要": "summary",
    "summary": "summary",
}
_SEPARATOR = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z.-]*/\d{7}"
_ARXIV_URL = re.compile(
    rf"arxiv\.org/(?:abs|pdf|html)/(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?",
    re.IGNORECASE,
)
_ARXIV_LABEL = re.compile(
    rf"(?:arxiv\s*[:：]\s*)(?P<id>{_NEW_ID}|{_OLD_ID})(?:v\d+)?", re.IGNORECASE
)
_BARE_ID = re.compile(rf"^\s*(?P<id>{_NEW_ID}|{_OLD_ID})(?:v\d+)?\s*$", re.IGNORECASE)
_ANY_URL = re.compile(r"https?://[^\s)\]]+")

#: A document (a file, an editor's attachment or paste) larger than this is refused
#: before it is read into memory: a review is a few KB, an issue of the column tens.
MAX_DOCUMENT_BYTES = 1_000_000
#: The YAML header of a front-matter file, in characters, and how deeply its lists and
#: maps may nest (the fields are flat; a bound keeps the YAML composer's recursion short).
MAX_FRONT_MATTER_CHARS = 20_000
MAX_FRONT_MATTER_DEPTH = 10
#: Field lengths, in characters (the store's columns hold title 500, authors 1,000).
MAX_TITLE_CHARS = 300
MAX_AUTHORS_CHARS = 1_000
MAX_SUMMARY_CHARS = 1_000
MAX_TAGS = 20
MAX_TAG_CHARS = 40
#: A review's body: the column's run one to a few thousand characters. A preview of
#: this many is about 8 Telegram messages of prose, 50 at worst (dense markup, each
#: message holds 100 styled spans), not the 18,443 an unbounded one took.
MAX_BODY_CHARS = 30_000
#: Reviews in one document (an issue of the column has five or so).
MAX_REVIEWS = 100
#: Any other single value (a date, a link, a section name).
MAX_VALUE_CHARS = 500
#: How far ahead a publish time may be: later is a typo (2062 for 2026), not a plan.
MAX_PUBLISH_AHEAD = dt.timedelta(days=366)

#: C0 control characters other than tab, newline and carriage return (PostgreSQL
#: refuses NUL in text; the others are invisible in a chat), and lone surrogates
#: (`\ud800` from a YAML or JSON escape: not text, they cannot even be encoded).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}


class ReviewFormatError(ValueError):
    """A source that cannot be imported; `str()` is `file:line: message`."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class PaperDate:
    value: dt.date
    precision: str  # "year" | "month" | "day"

    def display(self, language: str = "zh") -> str:
        if language == "en":
            formats = {"year": "%Y", "month": "%b %Y", "day": "%d %b %Y"}
            return self.value.strftime(formats[self.precision])
        if self.precision == "year":
            return f"{self.value.year}年"
        if self.precision == "month":
            return f"{self.value.year}年{self.value.month}月"
        return f"{self.value.year}年{self.value.month}月{self.value.day}日"

    def iso(self) -> str:
        if self.precision == "year":
            return f"{self.value.year:04d}"
        if self.precision == "month":
            return f"{self.value.year:04d}-{self.value.month:02d}"
        return self.value.isoformat()


@dataclass
class ParsedReview:
    """One review as a source states it; `None` means "the source does not say"."""

    title: str
    source: str
    line: int
    body: str = ""
    slug: str | None = None
    arxiv_id: str | None = None
    authors: str | None = None
    paper_date: PaperDate | None = None
    section: str | None = None
    tags: list[str] | None = None
    summary: str | None = None
    status: str | None = None
    publish_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The paper's link when it is not on arXiv (OpenReview, ACL Anthology).
    paper_url: str | None = None
    #: What was accepted but deserves the editor's eye, as `file:line: ...` lines.
    warnings: list[str] = field(default_factory=list)


# --- field parsers -------------------------------------------------------------------


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut short: a message must stay one line."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def forbidden_character(text: str) -> tuple[int, str] | None:
    """The position and a description of the first character a review may not hold."""
    match = _FORBIDDEN_CHARS.search(text)
    if match is None:
        return None
    code = ord(match.group())
    if 0xD800 <= code <= 0xDFFF:
        return match.start(), f"a lone surrogate U+{code:04X} (not valid Unicode text)"
    name = "NUL" if code == 0 else "a control character"
    return match.start(), f"{name} U+{code:04X}"


def checked_text(value: object, what: str, limit: int = MAX_VALUE_CHARS) -> str:
    """A scalar as stripped text, refused when it is a list, map, bytes or too long."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{what} must be text, not {_kind(value)}")
    text = str(value).strip()
    bad = forbidden_character(text)
    if bad is not None:
        raise ValueError(f"{what} contains {bad[1]}")
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text):,} characters long (at most {limit:,})")
    return text


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    if isinstance(value, bool):
        return "true/false"
    return type(value).__name__


def parse_arxiv_id(value: str) -> str | None:
    """The arXiv id (without version) in a URL, `arXiv:ID` label or bare id, else None."""
    for pattern in (_ARXIV_URL, _ARXIV_LABEL, _BARE_ID):
        match = pattern.search(value)
        if match:
            return match.group("id").lower() if "/" in match.group("id") else match.group("id")
    return None


#: Where papers that are not on arXiv live: accepted as a review's link, with a warning.
OTHER_PAPER_HOSTS = {
    "openreview.net": "OpenReview",
    "aclanthology.org": "ACL Anthology",
    "www.aclweb.org": "ACL Anthology",
    "aclweb.org": "ACL Anthology",
}
MAX_PAPER_URL_CHARS = 500


def other_paper_link(value: str) -> tuple[str, str] | None:
    """(URL, the site's name) of a link to OpenReview or the ACL Anthology, else None."""
    url = _ANY_URL.search(value)
    if url is None:
        return None
    host = url.group(0).split("/")[2].lower().split(":")[0]
    site = OTHER_PAPER_HOSTS.get(host)
    if site is None or len(url.group(0)) > MAX_PAPER_URL_CHARS:
        return None
    if site == "ACL Anthology" and host != "aclanthology.org" and "/anthology/" not in url.group(0):
        return None
    return url.group(0), site


def apply_link(review: ParsedReview, value: Any, what: str = "the link") -> str | None:
    """A link onto the review: an arXiv id, or an OpenReview / ACL Anthology URL, which
    is accepted with a warning (returned) since lint and /draft cannot check it."""
    text = checked_text(value, what)
    if parse_arxiv_id(text) is None and (other := other_paper_link(text)) is not None:
        review.paper_url, site = other
        return (
            f"the link {other[0]} is on {site}, not arXiv: accepted, but `paperbot lint` "
            "and /draft cannot check this review"
        )
    review.arxiv_id = parse_link(text)
    return None


def parse_link(value: str) -> str:
    """The arXiv id of a 链接 line; a link elsewhere is refused with a clear reason."""
    arxiv_id = parse_arxiv_id(value)
    if arxiv_id:
        return arxiv_id
    url = _ANY_URL.search(value)
    if url:
        raise ValueError(
            f"the link {shown(url.group(0), 100)[1:-1]} is not an arXiv link "
            "(expected https://arxiv.org/abs/<id> or arXiv:<id>)"
        )
    raise ValueError(
        f"cannot find an arXiv id in {shown(value)} (expected https://arxiv.org/abs/<id>)"
    )


def parse_paper_date(value: Any) -> PaperDate:
    """Dates as the column writes them: 2023年12月, 2023-12-05, Dec 2023, 2023 ..."""
    if isinstance(value, dt.datetime):
        return PaperDate(value.date(), "day")
    if isinstance(value, dt.date):
        return PaperDate(value, "day")
    raw = unicodedata.normalize("NFKC", checked_text(value, "the date")).strip()
    problem = ValueError(
        f"cannot read the date {shown(value)} (expected e.g. 2023年12月, 2023-12 or 2023-12-05)"
    )
    patterns = (
        r"(?P<y>\d{4})\s*年\s*(?:(?P<m>\d{1,2})\s*月\s*(?:(?P<d>\d{1,2})\s*[日号]?)?)?",
        r"(?P<y>\d{4})(?:[-/.](?P<m>\d{1,2})(?:[-/.](?P<d>\d{1,2}))?)?",
    )
    for pattern in patterns:
        match = re.fullmatch(pattern, raw)
        if match:
            return _date_from_parts(match.group("y"), match.group("m"), match.group("d"), problem)
    words = re.fullmatch(r"(?:(?P<d>\d{1,2})\s+)?(?P<mon>[A-Za-z]+)\.?,?\s+(?P<y>\d{4})", raw)
    if words and words.group("mon").lower() in _MONTHS:
        month = str(_MONTHS[words.group("mon").lower()])
        return _date_from_parts(words.group("y"), month, words.group("d"), problem)
    raise problem


def _date_from_parts(
    year: str, month: str | None, day: str | None, problem: ValueError
) -> PaperDate:
    try:
        if day:
            return PaperDate(dt.date(int(year), int(month or 1), int(day)), "day")
        if month:
            return PaperDate(dt.date(int(year), int(month), 1), "month")
        return PaperDate(dt.date(int(year), 1, 1), "year")
    except ValueError:
        raise problem from None


def parse_tags(value: Any) -> list[str]:
    """`a, b、c #d` or a YAML list; at most MAX_TAGS tags of MAX_TAG_CHARS each."""
    if value is None:
        return []
    if isinstance(value, list):
        items = [checked_text(item, "a tag", MAX_TAG_CHARS + 2) for item in value]
    else:
        # `\s#`, not `\s+#`: a run of spaces is split once, not retried from each space.
        items = re.split(r"[,，、;；]|\s#", checked_text(value, "tags", MAX_VALUE_CHARS * 2))
    tags: list[str] = []
    for item in items:
        tag = item.strip().lstrip("#").strip()
        if len(tag) > MAX_TAG_CHARS:
            raise ValueError(f"the tag {shown(tag)} is longer than {MAX_TAG_CHARS} characters")
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} tags; at most {MAX_TAGS}")
    return tags


def parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        raw = checked_text(value, "the time")
        try:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"cannot read the time {shown(value)} "
                "(expected ISO 8601, e.g. 2026-12-07T09:00:00+08:00)"
            ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"the time {shown(value)} is out of range") from None


class PublishTimeTooFarError(ValueError):
    """A publish time later than MAX_PUBLISH_AHEAD from now."""


class PublishTimeInPastError(ValueError):
    """An editor's publish time that has already passed: a typo as often as a wish to
    publish at once, so it is refused unless the editor confirms it (`--backdate`)."""


def check_publish_time(moment: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    """Refuse a publish time more than MAX_PUBLISH_AHEAD ahead (a typo, not a plan)."""
    latest = (now or dt.datetime.now(dt.UTC)) + MAX_PUBLISH_AHEAD
    if moment > latest:
        raise PublishTimeTooFarError(
            f"the publish time {moment:%Y-%m-%d %H:%M} UTC is more than "
            f"{MAX_PUBLISH_AHEAD.days} days ahead"
        )
    return moment


def clean_authors(value: Any) -> str:
    if isinstance(value, list):
        names = [checked_text(item, "an author", MAX_AUTHORS_CHARS) for item in value]
        joined = ", ".join(name for name in names if name)
    else:
        joined = re.sub(r"\s+", " ", checked_text(value, "authors", MAX_AUTHORS_CHARS)).strip()
    if len(joined) > MAX_AUTHORS_CHARS:
        raise ValueError(
            f"authors are {len(joined):,} characters long (at most {MAX_AUTHORS_CHARS:,})"
        )
    return joined


_SLUG_STOPWORDS = {"a", "an", "and", "by", "for", "from", "in", "of", "on", "the", "to", "with"}


def make_slug(title: str, arxiv_id: str | None = None, limit: int = 40) -> str:
    """A short URL- and deep-link-safe id ([a-z0-9-]) derived from the title."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    kept: list[str] = []
    for word in words:
        if len("-".join([*kept, word])) > limit:
            break
        kept.append(word)
    while len(kept) > 1 and kept[-1] in _SLUG_STOPWORDS:
        kept.pop()
    slug = "-".join(kept)
    if len(slug) >= 3:
        return slug
    if arxiv_id:
        return "arxiv-" + re.sub(r"[^a-z0-9]+", "-", arxiv_id.lower())
    return "review-" + hashlib.sha1(title.encode()).hexdigest()[:10]


def is_lead_in(value: str | None) -> bool:
    """A paragraph ending with a colon introduces a list ("具有以下特点："): alone it
    says nothing, so it is never a card's summary."""
    return bool(value) and str(value).rstrip().endswith((":", "："))


def derive_summary(body: str, limit: int = 160) -> str:
    """The first prose paragraph of the body, trimmed at a sentence boundary.

    A lead-in to a list ("…具有以下特点：") is completed by the list's items; one
    without a list after it is skipped for the next paragraph.
    """
    blocks = markdown_to_rich(body).blocks
    for index, block in enumerate(blocks):
        prose = block.plain_text.strip().replace("\n", " ")
        if block.kind != "paragraph" or not prose:
            continue
        if not is_lead_in(prose):
            return shorten(prose, limit)
        items = []
        for item in blocks[index + 1 :]:
            if item.kind not in ("bullet", "numbered"):
                break
            items.append(item.plain_text.strip().rstrip("。；;.,，"))
        if items:
            english = prose.isascii()
            joined = ("; " if english else "；").join(items)
            return shorten(prose + (" " if english else "") + joined, limit)
    return ""


def shorten(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    cut = value[:limit]
    boundary = max(cut.rfind(mark) for mark in "。！？；，,. ")
    if boundary >= limit // 2:
        cut = cut[: boundary + 1]
    return cut.rstrip("，, ") + "…"


# --- the column's document format ----------------------------------------------------


@dataclass
class _ReviewDraft:
    title: str
    line: int
    section: str
    meta: dict[str, tuple[str, int]] = field(default_factory=dict)
    body: list[str] = field(default_factory=list)
    in_body: bool = False
    body_line: int = 0
    body_chars: int = 0


def parse_column(text: str, source: str) -> list[ParsedReview]:
    """Parse a column document (`## 最新论文解读` / `## 经典论文回顾`, `### title`, ...)."""
    reviews: list[ParsedReview] = []
    # A single review block copied from the column (no `##` heading anywhere) is in
    # the section the column's new reviews go to; with headings, each review needs one.
    lines = text.splitlines()
    headless = not any(_heading(line.rstrip(), 2) is not None for line in lines)
    section: str | None = "latest" if headless else None
    draft: _ReviewDraft | None = None

    def finish() -> None:
        nonlocal draft
        if draft is not None:
            reviews.append(_finish_draft(draft, source))
            draft = None

    _check_characters(text, source)
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        if (name := _heading(line, 2)) is not None:
            finish()
            section = SECTION_HEADINGS.get(_normalize_heading(name))
            if section is None:
                raise ReviewFormatError(
                    source,
                    number,
                    f"unknown section {shown(name)}; the column has '## 最新论文解读' "
                    "and '## 经典论文回顾'",
                )
        elif (title := _heading(line, 3)) is not None:
            finish()
            if not title:
                raise ReviewFormatError(source, number, "a review without a title ('###' alone)")
            if section is None:
                raise ReviewFormatError(
                    source,
                    number,
                    f"review {shown(title)} comes before any section heading "
                    "('## 最新论文解读' or '## 经典论文回顾')",
                )
            try:
                title = checked_text(title, "the title", MAX_TITLE_CHARS)
            except ValueError as exc:
                raise ReviewFormatError(source, number, str(exc)) from None
            if len(reviews) >= MAX_REVIEWS:
                raise ReviewFormatError(
                    source, number, f"more than {MAX_REVIEWS} reviews in one document"
                )
            draft = _ReviewDraft(title=title, line=number, section=section)
        elif draft is None:
            continue  # the column's introduction and closing words
        elif _SEPARATOR.match(line):
            finish()
        elif not draft.in_body and (meta := _meta_line(line)):
            key, value = meta
            draft.meta[key] = (value, number)
        elif line.strip() or draft.in_body:
            if not draft.in_body:
                draft.in_body, draft.body_line = True, number
            draft.body_chars += len(line) + 1
            if draft.body_chars > MAX_BODY_CHARS + 1:
                raise ReviewFormatError(
                    source,
                    number,
                    f"the body of {shown(draft.title)} (from line {draft.body_line}) is longer "
                    f"than {MAX_BODY_CHARS:,} characters",
                )
            draft.body.append(line)
    finish()
    if not reviews:
        raise ReviewFormatError(
            source, None, "no reviews found (expected '## 最新论文解读' and '### <title>' lines)"
        )
    _check_duplicates(reviews, source)
    return reviews


def _normalize_heading(name: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip().lower()


def _check_characters(text: str, source: str) -> None:
    """Refuse NUL, other control characters and lone surrogates, naming their line."""
    bad = forbidden_character(text)
    if bad is not None:
        position, what = bad
        raise ReviewFormatError(source, text.count("\n", 0, position) + 1, f"contains {what}")


def _heading(line: str, level: int) -> str | None:
    """The text of an ATX heading of exactly `level` `#`s (`## name ##`), else None.

    A string scan, not a regex: `(.*?)\\s*#*\\s*$` retries its tail at every
    character and takes cubic time on a long line of spaces.
    """
    if not line.startswith("#" * level) or line[level : level + 1] == "#":
        return None
    return line[level:].strip().rstrip("#").strip()


def _meta_line(line: str) -> tuple[str, str] | None:
    """`**key**: value`, `- **key:** value` or `**key：**value`: (field, value), else None.

    Read by string scans in linear time; the regex this replaces backtracked
    catastrophically on `**` followed by spaces (15 s for 400 of them).
    """
    rest = line.lstrip()
    if rest[:1] in ("-", "*", "+") and rest[1:2].isspace():
        rest = rest[1:].lstrip()
    if not rest.startswith("**"):
        return None
    end = rest.find("**", 2)
    if end < 0:
        return None
    name = rest[2:end].strip()
    if name[-1:] in (":", "："):
        name = name[:-1].rstrip()
    if not name or any(mark in name for mark in "*:："):
        return None
    key = _META_KEYS.get(_normalize_heading(name))
    if key is None:
        return None
    value = rest[end + 2 :].strip()
    if value[:1] in (":", "："):
        value = value[1:].strip()
    return key, value


def _finish_draft(draft: _ReviewDraft, source: str) -> ParsedReview:
    review = ParsedReview(
        title=draft.title,
        source=source,
        line=draft.line,
        section=draft.section,
        body="\n".join(draft.body).strip("\n"),
    )
    for key, (value, line) in draft.meta.items():
        try:
            warning = _apply_meta(review, key, value)
        except ValueError as exc:
            raise ReviewFormatError(source, line, str(exc)) from None
        if warning:
            review.warnings.append(f"{source}:{line}: {warning}")
    return review


def _apply_meta(review: ParsedReview, key: str, value: str) -> str | None:
    """Apply one metadata line; returns a warning for what is accepted with one."""
    if key == "link":
        return apply_link(review, value)
    if key == "date":
        review.paper_date = parse_paper_date(value)
    elif key == "authors":
        review.authors = clean_authors(value)
    elif key == "tags":
        review.tags = parse_tags(value)
    elif key == "summary":
        review.summary = checked_text(value, "the summary", MAX_SUMMARY_CHARS)
    return None


def _check_duplicates(reviews: list[ParsedReview], source: str) -> None:
    """The same paper (arXiv id) or the same title twice in one file is a mistake.

    Titles that merely share their slug (the first 40 characters) are two reviews:
    the store gives the second a suffixed slug.
    """
    seen: dict[str, int] = {}
    for review in reviews:
        key = review.arxiv_id or review.slug or _normalize_heading(review.title)
        if key in seen:
            raise ReviewFormatError(
                source,
                review.line,
                f"review {shown(review.title)} repeats {shown(key)[1:-1]} "
                f"(already at line {seen[key]})",
            )
        seen[key] = review.line


# --- front-matter Markdown -----------------------------------------------------------

FRONT_MATTER_KEYS = (
    "title",
    "slug",
    "arxiv_id",
    "authors",
    "date",
    "section",
    "tags",
    "status",
    "publish_at",
    "published_at",
    "summary",
)
#: A slug as the store keeps it and as `export` names its file (`<slug>.md`).
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
_KEY_ALIASES = {"arxiv": "arxiv_id", "link": "arxiv_id", "url": "arxiv_id", "author": "authors"}


_YAML_DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")
)


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML for plain data only: no aliases or anchors, no tags, shallow nesting.

    An alias repeats a node without copying it in the source, so a few hundred
    bytes of nested aliases expand to gigabytes (a "billion laughs"); a review's
    fields never need one. `!!binary`, `!!set` and friends make values no field
    takes, and timestamps stay text so that our date parsers report a bad one
    (2023-02-30) as `file:line: reason` rather than the loader raising ValueError.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed (write the value out)", event.start_mark
            )
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _YAML_DATA_TAGS:
            name = str(tag).replace("tag:yaml.org,2002:", "!!")
            raise yaml.composer.ComposerError(
                None, None, f"the YAML tag {shown(name, 40)} is not allowed", event.start_mark
            )
        self.depth += 1
        try:
            if self.depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"lists and maps nested more than {MAX_FRONT_MATTER_DEPTH} deep",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_FrontMatterLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _load_front_matter(header: str, source: str) -> Any:
    """The YAML header as plain data; every problem is `file:line: front matter: ...`."""
    loader = _FrontMatterLoader(header)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 2 if mark is not None else 1
        problem = exc.problem or "invalid YAML"
        raise ReviewFormatError(source, line, f"front matter: {problem}") from None
    except yaml.YAMLError as exc:
        raise ReviewFormatError(source, 2, f"front matter: {exc}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits
        raise ReviewFormatError(source, 2, f"front matter: {shown(str(exc), 120)}") from None
    finally:
        loader.dispose()


def parse_front_matter(text: str, source: str) -> list[ParsedReview]:
    """One review per file: a YAML header between `---` lines, then the Markdown body."""
    _check_characters(text, source)
    lines = text.splitlines()
    closing = next((index for index in range(1, len(lines)) if lines[index].strip() == "---"), None)
    if closing is None:
        raise ReviewFormatError(source, 1, "front matter opened with '---' is never closed")
    header = "\n".join(lines[1:closing])
    if len(header) > MAX_FRONT_MATTER_CHARS:
        raise ReviewFormatError(
            source, 1, f"the front matter is longer than {MAX_FRONT_MATTER_CHARS:,} characters"
        )
    data = _load_front_matter(header, source) or {}
    if not isinstance(data, dict):
        raise ReviewFormatError(source, 2, "front matter must be 'key: value' lines")

    def line_of(key: str) -> int:
        for index in range(1, closing):
            rest = lines[index].lstrip()
            if rest.startswith(key) and rest[len(key) :].lstrip().startswith(":"):
                return index + 1
        return 1

    if data.get("title") is None:
        raise ReviewFormatError(source, 1, "a review without a title (add 'title: ...')")
    try:
        title = checked_text(data["title"], "the title", MAX_TITLE_CHARS)
    except ValueError as exc:
        raise ReviewFormatError(source, line_of("title"), str(exc)) from None
    if not title:
        raise ReviewFormatError(source, 1, "a review without a title (add 'title: ...')")
    body = "\n".join(lines[closing + 1 :]).strip("\n")
    if len(body) > MAX_BODY_CHARS:
        raise ReviewFormatError(
            source, closing + 2, f"the body is longer than {MAX_BODY_CHARS:,} characters"
        )
    review = ParsedReview(title=title, source=source, line=1, body=body)
    for raw_key, value in data.items():
        key = _KEY_ALIASES.get(str(raw_key), str(raw_key))
        try:
            warning = _apply_front_matter(review, key, value)
        except ValueError as exc:
            raise ReviewFormatError(source, line_of(str(raw_key)), str(exc)) from None
        if warning:
            review.warnings.append(f"{source}:{line_of(str(raw_key))}: {warning}")
    return [review]


def _apply_front_matter(review: ParsedReview, key: str, value: Any) -> str | None:
    """Apply one front-matter key; returns a warning for what is accepted with one."""
    if key == "title":
        return None
    if key not in FRONT_MATTER_KEYS:
        known = ", ".join(FRONT_MATTER_KEYS)
        raise ValueError(f"unknown front-matter key {shown(key)} (known: {known})")
    if value is None:
        return None
    if key == "arxiv_id":
        return apply_link(review, value, "the arXiv id")
    if key == "slug":
        slug = checked_text(value, "the slug")
        if not SLUG_PATTERN.fullmatch(slug):
            raise ValueError(f"slug {shown(slug)} must be 2-64 characters of a-z, 0-9 and '-'")
        review.slug = slug
    elif key == "authors":
        review.authors = clean_authors(value)
    elif key == "date":
        review.paper_date = parse_paper_date(value)
    elif key == "section":
        name = checked_text(value, "the section")
        section = SECTION_HEADINGS.get(_normalize_heading(name))
        if section is None:
            raise ValueError(f"section {shown(name)} must be 'latest' or 'classic'")
        review.section = section
    elif key == "tags":
        review.tags = parse_tags(value)
    elif key == "status":
        status = checked_text(value, "the status")
        if status not in STATUSES:
            raise ValueError(f"status {shown(status)} must be one of {', '.join(STATUSES)}")
        review.status = status
    elif key == "publish_at":
        review.publish_at = check_publish_time(parse_datetime(value))
    elif key == "published_at":
        review.published_at = check_publish_time(parse_datetime(value))
    elif key == "summary":
        review.summary = checked_text(value, "the summary", MAX_SUMMARY_CHARS)
    return None


# --- files ---------------------------------------------------------------------------


def parse_text(text: str, source: str) -> list[ParsedReview]:
    """Pick the format by its first line: `---` opens front matter, else the column.

    Never raises anything but `ReviewFormatError`: the importer and the editors'
    /queue both report it as `file:line: reason` and go on.
    """
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ReviewFormatError(source, None, _too_big(len(text), "characters"))
    try:
        if text.lstrip("\n").startswith("---"):
            return parse_front_matter(text.lstrip("\n"), source)
        return parse_column(text, source)
    except ReviewFormatError:
        raise
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        # Every known case has its own message above; this keeps an unforeseen one
        # from stopping a directory import or leaving an editor without an answer.
        log.warning("unexpected parse failure in %s", source, exc_info=True)
        raise ReviewFormatError(source, None, f"cannot be read ({type(exc).__name__})") from None


def _too_big(size: int, unit: str) -> str:
    return (
        f"the document is {size:,} {unit}; at most {MAX_DOCUMENT_BYTES:,} bytes "
        "(split it into several files)"
    )


def read_source(path: Path) -> list[ParsedReview]:
    """Read and parse one file; one larger than MAX_DOCUMENT_BYTES is never read whole."""
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ReviewFormatError(str(path), None, _too_big(size, "bytes"))
        data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:  # it grew, or is not a regular file
        raise ReviewFormatError(str(path), None, _too_big(len(data), "bytes or more"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ReviewFormatError(
            str(path), line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8"
        ) from None
    return parse_text(text, str(path))


def source_files(paths: list[Path]) -> list[Path]:
    """Files named directly, and the *.md / *.txt files inside directories named."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in {".md", ".txt"} and p.is_file())
            )
        else:
            files.append(path)
    return files


def to_front_matter(fields: dict[str, Any], body: str) -> str:
    """Serialize one review; `parse_front_matter` reads it back to the same values."""
    header = yaml.safe_dump(
        {key: value for key, value in fields.items() if value is not None},
        allow_unicode=True,
        sort_keys=False,
        width=1000,
    )
    return f"---\n{header}---\n\n{body.strip()}\n"
