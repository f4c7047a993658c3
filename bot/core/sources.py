"""Review sources: the column's own document format and front-matter Markdown.

Parsing is pure (text in, `ParsedReview`s out) and all-or-nothing per file: any
problem raises `ReviewFormatError` naming the file and line, so the importer can
refuse the whole file before touching the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.richtext import markdown_to_rich

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
_META_LINE = re.compile(
    r"^\s*(?:[-*+]\s+)?\*\*\s*(?P<key>[^*:：]+?)\s*[:：]?\s*\*\*\s*[:：]?\s*(?P<value>.*?)\s*$"
)
_SECTION_LINE = re.compile(r"^##(?!#)\s*(?P<name>.*?)\s*#*\s*$")
_REVIEW_LINE = re.compile(r"^###(?!#)\s*(?P<title>.*?)\s*#*\s*$")
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


# --- field parsers -------------------------------------------------------------------


def parse_arxiv_id(value: str) -> str | None:
    """The arXiv id (without version) in a URL, `arXiv:ID` label or bare id, else None."""
    for pattern in (_ARXIV_URL, _ARXIV_LABEL, _BARE_ID):
        match = pattern.search(value)
        if match:
            return match.group("id").lower() if "/" in match.group("id") else match.group("id")
    return None


def parse_link(value: str) -> str:
    """The arXiv id of a 链接 line; a link elsewhere is refused with a clear reason."""
    arxiv_id = parse_arxiv_id(value)
    if arxiv_id:
        return arxiv_id
    url = _ANY_URL.search(value)
    if url:
        raise ValueError(
            f"the link {url.group(0)} is not an arXiv link "
            "(expected https://arxiv.org/abs/<id> or arXiv:<id>)"
        )
    raise ValueError(f"cannot find an arXiv id in {value!r} (expected https://arxiv.org/abs/<id>)")


def parse_paper_date(value: Any) -> PaperDate:
    """Dates as the column writes them: 2023年12月, 2023-12-05, Dec 2023, 2023 ..."""
    if isinstance(value, dt.datetime):
        return PaperDate(value.date(), "day")
    if isinstance(value, dt.date):
        return PaperDate(value, "day")
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    problem = ValueError(
        f"cannot read the date {str(value)!r} (expected e.g. 2023年12月, 2023-12 or 2023-12-05)"
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
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[,，、;；]|\s+#", str(value))
    tags: list[str] = []
    for item in items:
        tag = str(item).strip().lstrip("#").strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"cannot read the time {value!r} "
                "(expected ISO 8601, e.g. 2026-12-07T09:00:00+08:00)"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def clean_authors(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item).strip() for item in value if str(item).strip())
    return re.sub(r"\s+", " ", str(value)).strip()


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


def derive_summary(body: str, limit: int = 160) -> str:
    """The first prose paragraph of the body, trimmed at a sentence boundary."""
    for block in markdown_to_rich(body).blocks:
        if block.kind == "paragraph" and block.plain_text.strip():
            return shorten(block.plain_text.strip().replace("\n", " "), limit)
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


def parse_column(text: str, source: str) -> list[ParsedReview]:
    """Parse a column document (`## 最新论文解读` / `## 经典论文回顾`, `### title`, ...)."""
    reviews: list[ParsedReview] = []
    section: str | None = None
    draft: _ReviewDraft | None = None

    def finish() -> None:
        nonlocal draft
        if draft is not None:
            reviews.append(_finish_draft(draft, source))
            draft = None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if section_match := _SECTION_LINE.match(line):
            finish()
            name = section_match.group("name")
            section = SECTION_HEADINGS.get(_normalize_heading(name))
            if section is None:
                raise ReviewFormatError(
                    source,
                    number,
                    f"unknown section {name!r}; the column has '## 最新论文解读' "
                    "and '## 经典论文回顾'",
                )
        elif review_match := _REVIEW_LINE.match(line):
            finish()
            title = review_match.group("title").strip()
            if not title:
                raise ReviewFormatError(source, number, "a review without a title ('###' alone)")
            if section is None:
                raise ReviewFormatError(
                    source,
                    number,
                    f"review {title!r} comes before any section heading "
                    "('## 最新论文解读' or '## 经典论文回顾')",
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
            draft.in_body = True
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


def _meta_line(line: str) -> tuple[str, str] | None:
    match = _META_LINE.match(line)
    if not match:
        return None
    key = _META_KEYS.get(_normalize_heading(match.group("key")))
    return (key, match.group("value")) if key else None


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
            _apply_meta(review, key, value)
        except ValueError as exc:
            raise ReviewFormatError(source, line, str(exc)) from None
    return review


def _apply_meta(review: ParsedReview, key: str, value: str) -> None:
    if key == "date":
        review.paper_date = parse_paper_date(value)
    elif key == "authors":
        review.authors = clean_authors(value)
    elif key == "link":
        review.arxiv_id = parse_link(value)
    elif key == "tags":
        review.tags = parse_tags(value)
    elif key == "summary":
        review.summary = value.strip()


def _check_duplicates(reviews: list[ParsedReview], source: str) -> None:
    seen: dict[str, int] = {}
    for review in reviews:
        key = review.arxiv_id or review.slug or make_slug(review.title)
        if key in seen:
            raise ReviewFormatError(
                source,
                review.line,
                f"review {review.title!r} repeats {key} (already at line {seen[key]})",
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
_KEY_ALIASES = {"arxiv": "arxiv_id", "link": "arxiv_id", "url": "arxiv_id", "author": "authors"}


def parse_front_matter(text: str, source: str) -> list[ParsedReview]:
    """One review per file: a YAML header between `---` lines, then the Markdown body."""
    lines = text.splitlines()
    closing = next((index for index in range(1, len(lines)) if lines[index].strip() == "---"), None)
    if closing is None:
        raise ReviewFormatError(source, 1, "front matter opened with '---' is never closed")
    header = "\n".join(lines[1:closing])
    try:
        data = yaml.safe_load(header) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ReviewFormatError(source, line, f"front matter: {problem}") from None
    if not isinstance(data, dict):
        raise ReviewFormatError(source, 2, "front matter must be 'key: value' lines")

    def line_of(key: str) -> int:
        for index in range(1, closing):
            if re.match(rf"^\s*{re.escape(key)}\s*:", lines[index]):
                return index + 1
        return 1

    title = data.get("title")
    if title is None or not str(title).strip():
        raise ReviewFormatError(source, 1, "a review without a title (add 'title: ...')")
    review = ParsedReview(
        title=str(title).strip(),
        source=source,
        line=1,
        body="\n".join(lines[closing + 1 :]).strip("\n"),
    )
    for raw_key, value in data.items():
        key = _KEY_ALIASES.get(str(raw_key), str(raw_key))
        try:
            _apply_front_matter(review, key, value)
        except ValueError as exc:
            raise ReviewFormatError(source, line_of(str(raw_key)), str(exc)) from None
    return [review]


def _apply_front_matter(review: ParsedReview, key: str, value: Any) -> None:
    if key == "title":
        return
    if key not in FRONT_MATTER_KEYS:
        known = ", ".join(FRONT_MATTER_KEYS)
        raise ValueError(f"unknown front-matter key {key!r} (known: {known})")
    if value is None:
        return
    if key == "slug":
        slug = str(value).strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,63}", slug):
            raise ValueError(f"slug {slug!r} must be 2-64 characters of a-z, 0-9 and '-'")
        review.slug = slug
    elif key == "arxiv_id":
        review.arxiv_id = parse_link(str(value))
    elif key == "authors":
        review.authors = clean_authors(value)
    elif key == "date":
        review.paper_date = parse_paper_date(value)
    elif key == "section":
        section = SECTION_HEADINGS.get(_normalize_heading(str(value)))
        if section is None:
            raise ValueError(f"section {value!r} must be 'latest' or 'classic'")
        review.section = section
    elif key == "tags":
        review.tags = parse_tags(value)
    elif key == "status":
        if str(value) not in STATUSES:
            raise ValueError(f"status {value!r} must be one of {', '.join(STATUSES)}")
        review.status = str(value)
    elif key == "publish_at":
        review.publish_at = parse_datetime(value)
    elif key == "published_at":
        review.published_at = parse_datetime(value)
    elif key == "summary":
        review.summary = str(value).strip()


# --- files ---------------------------------------------------------------------------


def parse_text(text: str, source: str) -> list[ParsedReview]:
    """Pick the format by its first line: `---` opens front matter, else the column."""
    text = text.removeprefix("\ufeff")
    if text.lstrip("\n").startswith("---"):
        return parse_front_matter(text.lstrip("\n"), source)
    return parse_column(text, source)


def read_source(path: Path) -> list[ParsedReview]:
    data = path.read_bytes()
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
