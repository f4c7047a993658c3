"""`paperbot lint`: every review's title, authors and date against its arXiv record.

The column writes authors as a display line, not a list: `Albert Gu, Tri Dao (CMU &
Princeton)` or `Ashish Vaswani等 (Google Brain)`. 等 ("et al.") means more authors
follow; the parenthesis is an affiliation, which arXiv does not record and which is
therefore not checked. The names written must be real authors in arXiv's order,
first author first. Titles compare without case or punctuation, dates at the
precision the review states ("2023-12" is checked against v1's month).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.core.arxiv.api import PaperRecord
from bot.core.arxiv.records import ArxivRecords
from bot.core.reviews import ReviewView
from bot.core.sources import PaperDate, ParsedReview

_AFFILIATION = re.compile(r"\s*[(（](?P<affiliation>[^()（）]*)[)）]\s*$")
_ET_AL = re.compile(r"\s*(?:等人|等|et\.?\s*al\.?)\s*$", re.IGNORECASE)
_NAME_SEPARATORS = re.compile(r"\s*(?:[,，、;；]|\band\b)\s*", re.IGNORECASE)
#: Letters NFKD does not take apart.
_TRANSLITERATE = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe"})


@dataclass(frozen=True)
class LintSubject:
    """What a review states about its paper, and where it says so."""

    where: str
    title: str
    arxiv_id: str | None
    authors: str | None
    paper_date: PaperDate | None

    @classmethod
    def of_parsed(cls, review: ParsedReview) -> LintSubject:
        return cls(
            f"{review.source}:{review.line}",
            review.title,
            review.arxiv_id,
            review.authors,
            review.paper_date,
        )

    @classmethod
    def of_review(cls, review: ReviewView) -> LintSubject:
        return cls(
            f"#{review.id} {review.slug}",
            review.title,
            review.arxiv_id,
            review.authors,
            review.paper_date,
        )


@dataclass(frozen=True)
class Mismatch:
    where: str
    arxiv_id: str
    title: str
    field: str  # "title" | "authors" | "date" | "arxiv_id"
    found: str
    correction: str
    detail: str


@dataclass(frozen=True)
class LintReport:
    checked: int
    #: Reviews without an arXiv id, which there is nothing to check against.
    unlinked: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    #: Requests made to the arXiv API (0 when every record was cached).
    requests: int

    @property
    def clean(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class AuthorLine:
    names: tuple[str, ...]
    et_al: bool
    affiliation: str | None


def parse_author_line(value: str) -> AuthorLine:
    """`Ashish Vaswani等 (Google Brain)` -> names, whether 等 follows, the affiliation."""
    text = " ".join(value.split())
    affiliation = None
    if match := _AFFILIATION.search(text):
        affiliation = match.group("affiliation").strip() or None
        text = text[: match.start()]
    et_al = bool(_ET_AL.search(text))
    text = _ET_AL.sub("", text)
    names = tuple(name for name in _NAME_SEPARATORS.split(text) if name.strip())
    return AuthorLine(names, et_al, affiliation)


def _name_parts(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_TRANSLITERATE))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [part for part in re.split(r"[\s.\-‐]+", plain) if part]


def same_person(written: str, actual: str) -> bool:
    """Same family name and compatible first initial (`Jeff Wu` is `Jeffrey Wu`,
    `Tom Brown` is `Tom B. Brown`); family-name-first order is accepted too."""
    mine, theirs = _name_parts(written), _name_parts(actual)
    if not mine or not theirs:
        return False
    if mine == theirs or sorted(mine) == sorted(theirs):
        return True
    return mine[-1] == theirs[-1] and mine[0][0] == theirs[0][0]


def _normal_title(title: str) -> str:
    folded = unicodedata.normalize("NFKC", title).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def corrected_authors(line: AuthorLine, authors: Sequence[str]) -> str:
    """The line as it should read: as many real names as were written, 等 if more follow."""
    count = min(max(len(line.names), 1), len(authors))
    if not line.et_al and len(line.names) < len(authors) <= 3:
        count = len(authors)
    names = ", ".join(authors[:count])
    more = "等" if count < len(authors) else ""
    affiliation = f" ({line.affiliation})" if line.affiliation else ""
    return f"{names}{more}{affiliation}"


def check_authors(written: str, authors: Sequence[str]) -> str | None:
    """Why the author line is wrong, or None when it is right."""
    line = parse_author_line(written)
    if not line.names:
        return "no author names"
    listed = "; arXiv lists " + _summary(authors)
    if len(line.names) > len(authors):
        return f"names {len(line.names)} authors, arXiv has {len(authors)}" + listed
    for position, (name, actual) in enumerate(zip(line.names, authors, strict=False)):
        if not same_person(name, actual):
            if position == 0:
                return f"{name} is not the first author ({actual} is)" + listed
            return f"author {position + 1} is {actual}, not {name}" + listed
    if not line.et_al and len(line.names) < len(authors):
        return f"lists {len(line.names)} of {len(authors)} authors without 等" + listed
    if line.et_al and len(line.names) == len(authors):
        return "says 等 but no more authors follow" + listed
    return None


def _summary(authors: Sequence[str], shown: int = 4) -> str:
    names = ", ".join(authors[:shown])
    more = f", … ({len(authors)} authors)" if len(authors) > shown else ""
    return names + more


def check_date(stated: PaperDate, published: PaperDate) -> bool:
    value, actual = stated.value, published.value
    if stated.precision == "year":
        return value.year == actual.year
    if stated.precision == "month":
        return (value.year, value.month) == (actual.year, actual.month)
    return value == actual


def compare(subject: LintSubject, record: PaperRecord) -> list[Mismatch]:
    """Every way the review disagrees with arXiv, each with its correction."""
    arxiv_id = record.arxiv_id

    def mismatch(field: str, found: str, correction: str, detail: str) -> Mismatch:
        return Mismatch(subject.where, arxiv_id, subject.title, field, found, correction, detail)

    found: list[Mismatch] = []
    if _normal_title(subject.title) != _normal_title(record.title):
        found.append(mismatch("title", subject.title, record.title, "arXiv's title differs"))
    if not subject.authors:
        correction = corrected_authors(AuthorLine((), False, None), record.authors)
        found.append(mismatch("authors", "", correction, "no author line"))
    elif problem := check_authors(subject.authors, record.authors):
        correction = corrected_authors(parse_author_line(subject.authors), record.authors)
        found.append(mismatch("authors", subject.authors, correction, problem))
    first_version = PaperDate(record.published_at.date(), "day")
    if subject.paper_date is None:
        suggested = PaperDate(first_version.value.replace(day=1), "month")
        found.append(mismatch("date", "", suggested.iso(), f"no date; v1 is {first_version.iso()}"))
    elif not check_date(subject.paper_date, first_version):
        precision = subject.paper_date.precision
        suggested = PaperDate(
            first_version.value.replace(
                month=first_version.value.month if precision != "year" else 1,
                day=first_version.value.day if precision == "day" else 1,
            ),
            precision,
        )
        found.append(
            mismatch(
                "date",
                subject.paper_date.iso(),
                suggested.iso(),
                f"arXiv v1 is dated {first_version.iso()}",
            )
        )
    return found


class LintService:
    """Checks reviews against arXiv records, fetched once and cached in the store."""

    def __init__(self, records: ArxivRecords) -> None:
        self.records = records

    async def lint(
        self,
        subjects: Iterable[LintSubject],
        *,
        refresh: bool = False,
        on_batch: Callable[[int, int, int], None] | None = None,
    ) -> LintReport:
        """`ArxivUnavailableError` propagates: a lint that could not ask arXiv has no verdict.

        `on_batch` hears of each request to arXiv before it is made (progress)."""
        subjects = list(subjects)
        linked = [subject for subject in subjects if subject.arxiv_id]
        lookup = await self.records.lookup(
            [subject.arxiv_id for subject in linked if subject.arxiv_id],
            refresh=refresh,
            on_batch=on_batch,
        )
        mismatches: list[Mismatch] = []
        for subject in linked:
            arxiv_id = subject.arxiv_id or ""
            record = lookup.found.get(arxiv_id)
            if record is not None:
                mismatches.extend(compare(subject, record))
                continue
            reason = lookup.refused.get(arxiv_id) or f"arXiv has no paper {arxiv_id}"
            mismatches.append(
                Mismatch(subject.where, arxiv_id, subject.title, "arxiv_id", arxiv_id, "?", reason)
            )
        return LintReport(
            checked=len(linked),
            unlinked=tuple(subject.where for subject in subjects if not subject.arxiv_id),
            mismatches=tuple(mismatches),
            requests=lookup.requests,
        )
