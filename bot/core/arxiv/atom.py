"""A fast reader for arXiv's Atom documents that yields exactly what feedparser would.

feedparser runs a Python callback for every element, text run and attribute of a
document and is 10 to 20 times slower than expat through ElementTree on the same bytes
(most of a 2,000-entry feed's processing time). This module parses arXiv's Atom with
`xml.etree.ElementTree.XMLPullParser` and builds, for each `<entry>`, the dictionary
feedparser would build for it, limited to the keys the callers read (`id`, `link`,
`title`, `summary`, `author`, `authors`, `tags`, `published(_parsed)`,
`updated(_parsed)`, `arxiv_*`), so that the code turning an entry into a `FeedEntry`
is shared and the results are the same value for value. (The API's answers are Atom
too and the tests check the reader on them, but `api.py` keeps feedparser: an answer
has at most a few hundred entries and waits 3 s for its turn at arXiv anyway.)

It accepts only what arXiv's feeds and API produce, and for everything else raises
`UnsupportedDocumentError`, after which the caller hands the bytes to feedparser: RSS,
another namespace or prefix, a DOCTYPE (which also rules out entity-expansion bombs;
ElementTree never fetches external entities), an element or attribute it does not
know, child elements inside text, a date that is not RFC 3339, an encoding other than
UTF-8, and any document that is not well-formed (a truncated download included:
feedparser's lenient parser recovers what it can from those, and a second lenient
parser here would only be a second set of rules for a rare case).

What it deliberately replicates of feedparser 6 (strict mode, which is what feedparser
uses for a well-formed document; see feedparser/mixin.py and namespaces/_base.py):

- Text of elements feedparser "expects text" from (`id`, `title`, `summary`,
  `published`, `updated`, `uri`, `dc:creator`, `arxiv:*`) is stripped, then re-decoded
  as UTF-8 when all its characters are Latin-1 and the bytes happen to be valid UTF-8
  (feedparser's repair of double-encoded text: `Ã©` becomes `é`), then C1 control
  characters U+0080–U+009F are mapped to their Windows-1252 characters. Author `<name>`
  and `<email>` are only stripped. Entities and CDATA are decoded by expat, once, as in
  feedparser's strict mode; `<think>` in an abstract stays text.
- `id` and `uri` text, and `link/@href`, pass through feedparser's URI fixer (slashes
  after `scheme://` dropped); without `xml:base` (refused) nothing else is joined.
- `link` is the last `rel="alternate"` HTML link's href, else the first `id`.
- `title` is the first non-empty title; a second `summary` is refused.
- `authors`: one dictionary per `<author>` or `dc:creator`, filled exactly like
  feedparser's `_save_author`/`_sync_author_detail`, including its mail-address
  extraction from `dc:creator` text (a creator `A (a@b.org)` is named `A`) and its
  aliasing of `author_detail` to the first text-only author (after which an `<author>`'s
  `<name>` also renames that first author).
- `tags`: one per `<category>` with a term, scheme or label, in document order,
  exact repeats dropped.
- Dates: RFC 3339 read as feedparser's W3C-DTF handler does (fraction truncated,
  converted to UTC), as a UTC `time.struct_time`; the last `published` and `updated`
  count. Unlike feedparser, `updated_parsed` is only computed when `published_parsed`
  is empty, the one case where an entry's date comes from it.
- `arxiv:*` elements become `arxiv_<lowercased name>` (feedparser does not know the
  namespace and uses the document's prefix, which must therefore be `arxiv`); an
  `arxiv:primary_category` becomes its attribute dictionary.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, cast

ATOM = "http://www.w3.org/2005/Atom"
ARXIV = "http://arxiv.org/schemas/atom"
DC = "http://purl.org/dc/elements/1.1/"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"

#: The only namespace declarations accepted, with the prefixes arXiv uses.
_PREFIXES = {"": ATOM, "arxiv": ARXIV, "dc": DC, "opensearch": OPENSEARCH}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_FEED = f"{{{ATOM}}}feed"
_ENTRY = f"{{{ATOM}}}entry"
_ID = f"{{{ATOM}}}id"
_TITLE = f"{{{ATOM}}}title"
_SUBTITLE = f"{{{ATOM}}}subtitle"
_SUMMARY = f"{{{ATOM}}}summary"
_UPDATED = f"{{{ATOM}}}updated"
_PUBLISHED = f"{{{ATOM}}}published"
_LINK = f"{{{ATOM}}}link"
_CATEGORY = f"{{{ATOM}}}category"
_AUTHOR = f"{{{ATOM}}}author"
_NAME = f"{{{ATOM}}}name"
_EMAIL = f"{{{ATOM}}}email"
_URI = f"{{{ATOM}}}uri"
_RIGHTS = f"{{{ATOM}}}rights"
_DC_CREATOR = f"{{{DC}}}creator"
_DC_RIGHTS = f"{{{DC}}}rights"
_ARXIV_PREFIX = f"{{{ARXIV}}}"
_ARXIV_PRIMARY_CATEGORY = f"{_ARXIV_PREFIX}primary_category"
_ARXIV_AFFILIATION = f"{_ARXIV_PREFIX}affiliation"
_OPENSEARCH_PREFIX = f"{{{OPENSEARCH}}}"

_NO_ATTRIBUTES: frozenset[str] = frozenset()
_TEXT_ATTRIBUTES = frozenset({"type"})
_LINK_ATTRIBUTES = frozenset({"href", "rel", "type", "title", "hreflang", "length"})
_CATEGORY_ATTRIBUTES = frozenset({"term", "scheme", "label"})
_PRIMARY_CATEGORY_ATTRIBUTES = frozenset({"term", "scheme"})
#: `type` values that feedparser treats as text with sanitizing off (not base64, not XHTML).
_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_FEED_CHILDREN = {
    _ID: _NO_ATTRIBUTES,
    _TITLE: _TEXT_ATTRIBUTES,
    _SUBTITLE: _TEXT_ATTRIBUTES,
    _UPDATED: _NO_ATTRIBUTES,
    _LINK: _LINK_ATTRIBUTES,
}

_CHUNK = 1 << 16
# How feedparser reads the declared encoding (encodings.RE_XML_PI_ENCODING), and how
# expat does: inside the XML declaration, which may span lines.
_FEEDPARSER_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
_XML_DECLARATION = re.compile(rb"^<\?xml[^>]*?>")
_DECLARED_ENCODING = re.compile(rb"encoding\s*=\s*['\"]([^'\"]*)['\"]")
# feedparser.urls._urifixer, applied by its resolve_uri().
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
# feedparser.mixin._sync_author_detail's mail address pattern.
_EMAIL_IN_AUTHOR = re.compile(
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
# feedparser.html._cp1252: C1 controls read as the Windows-1252 characters they stand for
# (the five code points Windows-1252 leaves undefined stay as they are).
_CP1252: dict[int, str] = {}
for _code in range(0x80, 0xA0):
    with contextlib.suppress(UnicodeDecodeError):
        _CP1252[_code] = bytes([_code]).decode("cp1252")


class UnsupportedDocumentError(Exception):
    """Not a document this reader can promise feedparser's result for; use feedparser."""


def read_atom(data: bytes) -> list[dict[str, Any]]:
    """feedparser's entry dictionaries (the keys callers read) for an arXiv Atom document.

    Raises `UnsupportedDocumentError` with the reason for anything else.
    """
    _check_prologue(data)
    # Only end events (and namespace declarations): each entry is read, then emptied,
    # as soon as it is complete; where each element sits is checked once the feed ends.
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start-ns", "end"))
    entries: list[dict[str, Any]] = []
    read: set[int] = set()
    root = None
    try:
        for offset in range(0, len(data) + 1, _CHUNK):
            if offset < len(data):
                parser.feed(data[offset : offset + _CHUNK])
            else:
                parser.close()
            events = cast("Iterator[tuple[str, Any]]", parser.read_events())
            for _, item in events:
                if isinstance(item, ET.Element):  # the end of an element
                    if item.tag == _ENTRY:
                        entries.append(_entry(item))
                        read.add(id(item))
                        item.clear()
                    root = item
                elif item is None or _PREFIXES.get(item[0]) != item[1]:
                    raise UnsupportedDocumentError(f"namespace declaration {item!r}")
    except ET.ParseError as exc:
        raise UnsupportedDocumentError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise UnsupportedDocumentError("no root element")
    _check_feed(root, read)
    return entries


def _check_prologue(data: bytes) -> None:
    """UTF-8 and no DOCTYPE: what feedparser reads unchanged and expat reads safely."""
    body = data.removeprefix(b"\xef\xbb\xbf")
    if not body.startswith(b"<"):
        raise UnsupportedDocumentError("does not start with markup (empty, other encoding?)")
    declaration = _XML_DECLARATION.match(body)
    for declared in (
        _FEEDPARSER_ENCODING.match(body),
        _DECLARED_ENCODING.search(declaration.group(0)) if declaration else None,
    ):
        if declared is not None and declared.group(1).lower() != b"utf-8":
            raise UnsupportedDocumentError(f"declared encoding {declared.group(1)!r}")
    # Anywhere, not only before the root: a comment could hide where the prologue ends.
    # Well-formed text cannot contain the string (its "<" would be "&lt;"), so the only
    # documents refused for nothing have it in a comment or CDATA, and feedparser reads them.
    if b"<!DOCTYPE" in body:
        raise UnsupportedDocumentError("has a DOCTYPE")


def _check_feed(root: ET.Element, read: set[int]) -> None:
    """An Atom feed whose children are the entries read and elements that change nothing."""
    if root.tag != _FEED:
        raise UnsupportedDocumentError(f"root element {root.tag}")
    if not root.attrib.keys() <= {_XML_LANG}:
        raise UnsupportedDocumentError(f"feed attributes {sorted(root.attrib)}")
    entries = 0
    for child in root:
        if child.tag == _ENTRY:
            entries += 1
            if id(child) not in read:
                raise UnsupportedDocumentError("an entry that was not read")
        else:
            _check_feed_child(child)
    if entries != len(read):
        raise UnsupportedDocumentError("an entry outside the feed element's children")


def _check_feed_child(element: ET.Element) -> None:
    """Feed-level elements feedparser handles without touching any entry's state."""
    tag = element.tag
    allowed = _FEED_CHILDREN.get(tag)
    if allowed is None and tag.startswith(_OPENSEARCH_PREFIX):
        allowed = _NO_ATTRIBUTES
    if allowed is None:
        raise UnsupportedDocumentError(f"feed element {tag}")
    _check_leaf(element, allowed)
    if "type" in element.attrib and tag != _LINK:
        _check_text_type(element)


def _check_leaf(element: ET.Element, allowed: frozenset[str]) -> None:
    if len(element):
        raise UnsupportedDocumentError(f"{element.tag} has child elements")
    if not element.attrib.keys() <= allowed:
        raise UnsupportedDocumentError(f"{element.tag} attributes {sorted(element.attrib)}")


def _check_text_type(element: ET.Element) -> None:
    kind = _content_type(element.get("type") or "text")
    if kind not in _TEXT_TYPES:
        raise UnsupportedDocumentError(f"{element.tag} of type {kind!r}")


def _content_type(value: str) -> str:
    """feedparser's map_content_type."""
    kind = value.lower()
    if kind in ("text", "plain"):
        return "text/plain"
    if kind == "html":
        return "text/html"
    if kind == "xhtml":
        return "application/xhtml+xml"
    return kind


#: Which attributes each entry child may have (`<author>` is read by `_author`).
_ENTRY_CHILDREN = {
    _ID: _NO_ATTRIBUTES,
    _TITLE: _TEXT_ATTRIBUTES,
    _SUMMARY: _TEXT_ATTRIBUTES,
    _PUBLISHED: _NO_ATTRIBUTES,
    _UPDATED: _NO_ATTRIBUTES,
    _LINK: _LINK_ATTRIBUTES,
    _CATEGORY: _CATEGORY_ATTRIBUTES,
    _DC_CREATOR: _NO_ATTRIBUTES,
    _RIGHTS: _NO_ATTRIBUTES,
    _DC_RIGHTS: _NO_ATTRIBUTES,
}


def _entry(element: ET.Element) -> dict[str, Any]:
    if element.attrib:
        raise UnsupportedDocumentError(f"entry attributes {sorted(element.attrib)}")
    raw: dict[str, Any] = {}
    titled = False
    for child in element:
        tag = child.tag
        if tag == _AUTHOR:
            _author(raw, child)
            continue
        attributes = child.attrib
        allowed = _ENTRY_CHILDREN.get(tag)
        if allowed is None:
            allowed = _arxiv_attributes(tag, attributes)
        if len(child) or (attributes and not attributes.keys() <= allowed):
            _check_leaf(child, allowed)  # raises, saying which
        if tag == _ID:
            value = _uri_text(child.text)
            raw["id"] = value
            raw.setdefault("link", value)
        elif tag in (_TITLE, _SUMMARY):
            if attributes:
                _check_text_type(child)
            value = _text(child.text)
            if tag == _SUMMARY:
                if "summary" in raw:
                    raise UnsupportedDocumentError("an entry with two summaries")
                raw["summary"] = value
            elif not titled:
                raw["title"] = value
                titled = bool(value)
        elif tag == _PUBLISHED:
            raw["published"] = _text(child.text)
        elif tag == _UPDATED:
            raw["updated"] = _text(child.text)
        elif tag == _LINK:
            _link(raw, child)
        elif tag == _CATEGORY:
            _category(raw, child)
        elif tag == _DC_CREATOR:
            raw.setdefault("authors", []).append({})
            _end_author(raw, _text(child.text))
        elif tag == _ARXIV_PRIMARY_CATEGORY and attributes:
            # feedparser keeps an unknown element that has attributes as their dictionary.
            raw["arxiv_primary_category"] = dict(attributes)
        elif tag.startswith(_ARXIV_PREFIX):
            raw["arxiv_" + tag[len(_ARXIV_PREFIX) :].lower()] = _text(child.text)
    _dates(raw)
    return raw


def _arxiv_attributes(tag: str, attributes: dict[str, str]) -> frozenset[str]:
    """arXiv's own elements: text only, but for `arxiv:primary_category`'s term and scheme."""
    if not tag.startswith(_ARXIV_PREFIX):
        raise UnsupportedDocumentError(f"entry element {tag}")
    if tag == _ARXIV_PRIMARY_CATEGORY:
        return _PRIMARY_CATEGORY_ATTRIBUTES
    return _NO_ATTRIBUTES


def _category(raw: dict[str, Any], element: ET.Element) -> None:
    if (element.text or "").strip():
        raise UnsupportedDocumentError("category with text")
    tags = raw.setdefault("tags", [])
    get = element.attrib.get
    term, scheme, label = get("term"), get("scheme"), get("label")
    value = {"term": term, "scheme": scheme, "label": label}
    if (term or scheme or label) and value not in tags:
        tags.append(value)


def _link(raw: dict[str, Any], element: ET.Element) -> None:
    attributes = element.attrib
    href = attributes.get("href")
    if href is None:
        raise UnsupportedDocumentError("link without href")
    rel = attributes.get("rel", "alternate").lower()
    default_type = "application/atom+xml" if rel == "self" else "text/html"
    kind = attributes.get("type", default_type).lower()
    if rel == "alternate" and _content_type(kind) in _HTML_TYPES:
        raw["link"] = _fix_uri(href)


def _author(raw: dict[str, Any], element: ET.Element) -> None:
    """`<author>` with `<name>`, `<email>`, `<uri>` and `arxiv:affiliation` children."""
    if element.attrib:
        raise UnsupportedDocumentError(f"author attributes {sorted(element.attrib)}")
    raw.setdefault("authors", []).append({})
    pieces = [element.text or ""]
    for child in element:
        _check_leaf(child, _NO_ATTRIBUTES)
        tag = child.tag
        if tag == _NAME:
            _save_author(raw, "name", (child.text or "").strip())
        elif tag == _EMAIL:
            _save_author(raw, "email", (child.text or "").strip())
        elif tag == _URI:
            _save_author(raw, "href", _uri_text(child.text))
        elif tag != _ARXIV_AFFILIATION:
            raise UnsupportedDocumentError(f"author element {tag}")
        pieces.append(child.tail or "")
    _end_author(raw, _text("".join(pieces)))


def _save_author(raw: dict[str, Any], key: str, value: str) -> None:
    """feedparser's _save_author for an entry's author.

    `author_detail` may be the very dictionary of an earlier author (see the sync), and
    then that author's `name` is overwritten too: feedparser does it, so this does.
    """
    raw.setdefault("author_detail", {})[key] = value
    _sync_author_detail(raw)
    raw["authors"][-1][key] = value


def _end_author(raw: dict[str, Any], text: str) -> None:
    """feedparser's _end_author: the element's own text becomes `author`, then a sync."""
    raw["author"] = text
    _sync_author_detail(raw)


def _sync_author_detail(raw: dict[str, Any]) -> None:
    """feedparser's _sync_author_detail, on the entry's `author` and last `authors` item."""
    detail: dict[str, str] = raw["authors"][-1]
    if detail:
        name, email = detail.get("name"), detail.get("email")
        if name and email:
            raw["author"] = f"{name} ({email})"
        elif name:
            raw["author"] = name
        elif email:
            raw["author"] = email
        return
    author = raw.get("author")
    if not author:
        return
    address = None
    match = _EMAIL_IN_AUTHOR.search(author) if "@" in author else None
    if match:
        address = match.group(0)
        author = author.replace(address, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author or address:
        raw.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if address:
        detail["email"] = address


def _dates(raw: dict[str, Any]) -> None:
    """`published_parsed`, and `updated_parsed` only when it is needed as the fallback."""
    if "published" in raw:
        raw["published_parsed"] = _parse_date(raw["published"])
        if raw["published_parsed"]:
            return
    if "updated" in raw:
        raw["updated_parsed"] = _parse_date(raw["updated"])


def _parse_date(text: str) -> time.struct_time | None:
    """feedparser's W3C-DTF handler on RFC 3339; any other form is refused."""
    if not text:
        return None
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise UnsupportedDocumentError(f"date {text!r}")
    year, month, day, hour, minute, second, sign, tz_hour, tz_minute = match.groups()
    offset = dt.timedelta(hours=int(tz_hour or 0), minutes=int(tz_minute or 0))
    try:
        stamp = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        return (stamp + offset if sign == "-" else stamp - offset).utctimetuple()
    except (ValueError, OverflowError) as exc:
        raise UnsupportedDocumentError(f"date {text!r}: {exc}") from exc


def _text(value: str | None) -> str:
    """feedparser's pop() for an element it expects text from (sanitizing off)."""
    text = (value or "").strip()
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_CP1252)


def _uri_text(value: str | None) -> str:
    """pop() for `id` and `uri`, which feedparser also passes through resolve_uri()."""
    return _text(_fix_uri((value or "").strip()))


def _fix_uri(uri: str) -> str:
    # The fixer changes something only where the first "://" is followed by a slash.
    scheme_end = uri.find("://")
    if scheme_end < 0 or not uri.startswith("/", scheme_end + 3):
        return uri
    return _URI_FIXER.sub(r"\1\3", uri)
