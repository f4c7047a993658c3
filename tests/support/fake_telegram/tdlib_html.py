"""A port of TDLib's ``parse_html`` (the code Telegram's Bot API server runs on
``parse_mode=HTML``): what a message *looks like* to the reader and which entities it carries,
or the exact error Telegram answers. Lengths are in UTF-16 code units, as Telegram counts them.

Kept apart from the server so a test can check a rendered text without an HTTP round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support.fake_telegram.limits import JSONDict

_INT_RE = re.compile(r"-?\d+")


# --------------------------------------------------------------------------------------------
# HTML parsing (port of TDLib's parse_html, see td/telegram/MessageEntity.cpp)
# --------------------------------------------------------------------------------------------
class EntityParseError(ValueError):
    """Raised by :func:`parse_html` with Telegram's wording (without the API prefix)."""


@dataclass(frozen=True)
class ParsedText:
    """Result of parsing a formatted text: what the user sees plus Telegram's entity list."""

    text: str
    entities: list[JSONDict]
    utf16_length: int


_WS = " \t\r\n\v\f"
_SPECIAL_RE = re.compile(r"[<&]")
_NAME_END_RE = re.compile(r"[ \t\r\n\v\f>]")
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]*|#[0-9]*|[a-zA-Z]*)")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for all text limits and offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) >> 1


def _byte_offset(text: str, index: int) -> int:
    """TDLib reports positions as UTF-8 byte offsets; only computed when building an error."""
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """Decode the character reference at ``text[pos] == '&'`` exactly like TDLib.

    Returns ``(None, pos)`` if it is not a reference Telegram understands.  Like TDLib, the
    trailing ``;`` is optional.
    """
    match = _ENTITY_RE.match(text, pos)
    assert match is not None  # the pattern can match the bare "&"
    body = match.group(1)
    end = match.end()
    if body.startswith("#"):
        digits = body[2:] if body.startswith("#x") else body[1:]
        if not digits or end - pos >= 10:
            return None, pos
        code = int(digits, 16 if body.startswith("#x") else 10)
        if code == 0 or code >= 0x10FFFF:
            return None, pos
        char = chr(code)
    else:
        named = _NAMED_ENTITIES.get(body)
        if named is None:
            return None, pos
        char = named
    if text.startswith(";", end):
        end += 1
    return char, end


def _check_decoded_char(char: str) -> None:
    """A lone surrogate from ``&#xD83D;`` makes the text invalid UTF-8, which Telegram rejects."""
    if 0xD800 <= ord(char) <= 0xDFFF:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )


def _reject_ampersand(text: str, pos: int) -> None:
    """Strict mode: an ``&`` Telegram would keep literally is a bug in our escaping."""
    match = _ENTITY_RE.match(text, pos)
    body = match.group(1) if match else ""
    if body and not body.startswith("#"):
        semi = ";" if text.startswith(";", pos + 1 + len(body)) else ""
        raise EntityParseError(
            f'Unsupported HTML entity "&{body}{semi}" at byte offset {_byte_offset(text, pos)}'
        )
    raise EntityParseError(
        f'Unescaped "&" at byte offset {_byte_offset(text, pos)}; it must be written as &amp;'
    )


@dataclass
class _OpenTag:
    """A start tag waiting for its end tag (TDLib's ``EntityInfo``)."""

    name: str
    argument: str
    utf16_start: int
    text_start: int
    expandable: bool = False


def _skip_ws(text: str, i: int, n: int) -> int:
    while i < n and text[i] in _WS:
        i += 1
    return i


def _parse_start_tag(text: str, begin: int, strict: bool) -> tuple[str, str, bool, int]:
    """Parse ``<name attr=...>`` starting at ``begin``; return (name, argument, expandable, end).

    ``end`` is the index just after ``>``.  Follows TDLib's scanner, including its error texts.
    """
    n = len(text)
    match = _NAME_END_RE.search(text, begin + 1)
    if match is None:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
    i = match.start()
    tag = text[begin + 1 : i].lower()
    where = f"at byte offset {_byte_offset(text, begin)}"
    if tag not in _ALLOWED_TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" {where}')

    argument = ""
    has_href = False
    expandable = False
    while True:
        i = _skip_ws(text, i, n)
        if i < n and text[i] == ">":
            break
        attr_begin = i
        while i < n and text[i] not in _WS and text[i] != "=" and text[i] != ">":
            i += 1
        attr = text[attr_begin:i]
        if not attr:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" {where}')
        i = _skip_ws(text, i, n)
        if i >= n or text[i] != "=":
            if tag == "blockquote" and attr == "expandable":
                expandable = True
                continue
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" {where}'
            )
        i = _skip_ws(text, i + 1, n)
        if i >= n:
            raise EntityParseError(f'Unclosed start tag "{tag}" {where}')
        if text[i] not in "'\"":
            # A name token: letters, digits, periods or hyphens; case-insensitive.
            token_begin = i
            while i < n and ((text[i].isascii() and text[i].isalnum()) or text[i] in ".-"):
                i += 1
            value = text[token_begin:i].lower()
            if i >= n or (text[i] not in _WS and text[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(text, token_begin)}"
                )
        else:
            quote = text[i]
            close = text.find(quote, i + 1)
            if close < 0:
                raise EntityParseError(f"Unclosed start tag {where}")
            value = _decode_attribute(text, i + 1, close, strict)
            i = close + 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag {where}")
        if tag == "a" and attr == "href":
            argument = value
            has_href = True
        elif tag == "code" and attr == "class" and value.startswith("language-"):
            argument = value[9:]
        elif tag == "span" and attr == "class" and value.startswith("tg-"):
            argument = value[3:]
        elif tag == "tg-emoji" and attr == "emoji-id":
            argument = value
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" {where}')
    if strict and tag == "a" and (not has_href or not argument):
        raise EntityParseError(f'Tag "a" must have a non-empty attribute "href" {where}')
    return tag, argument, expandable, i + 1


def _decode_attribute(text: str, start: int, stop: int, strict: bool) -> str:
    """Decode character references inside a quoted attribute value."""
    raw = text[start:stop]
    if "&" not in raw:
        return raw
    out: list[str] = []
    i = start
    while i < stop:
        amp = text.find("&", i, stop)
        if amp < 0:
            out.append(text[i:stop])
            break
        out.append(text[i:amp])
        char, end = _decode_entity(text, amp)
        if char is None or end > stop:
            if strict:
                _reject_ampersand(text, amp)
            out.append("&")
            i = amp + 1
            continue
        _check_decoded_char(char)
        out.append(char)
        i = end
    return "".join(out)


def _make_entity(tag: _OpenTag, offset: int, length: int) -> JSONDict:
    """Translate a closed tag into the Bot API ``MessageEntity`` JSON."""
    simple = _SIMPLE_ENTITY_TYPES.get(tag.name)
    if simple is not None:
        return {"type": simple, "offset": offset, "length": length}
    if tag.name == "a":
        return {"type": "text_link", "offset": offset, "length": length, "url": tag.argument}
    if tag.name == "tg-emoji":
        if not _INT_RE.fullmatch(tag.argument) or int(tag.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        return {
            "type": "custom_emoji",
            "offset": offset,
            "length": length,
            "custom_emoji_id": tag.argument,
        }
    if tag.name == "blockquote":
        kind = "expandable_blockquote" if tag.expandable else "blockquote"
        return {"type": kind, "offset": offset, "length": length}
    if tag.name == "pre":
        return {"type": "pre", "offset": offset, "length": length}
    return {"type": "code", "offset": offset, "length": length}


def parse_html(html: str, *, strict: bool = True) -> ParsedText:
    """Parse Telegram-flavoured HTML like TDLib does; raise :class:`EntityParseError` on errors.

    Linear time: plain runs between ``<``/``&`` are copied with C-level string operations, so
    the per-call cost stays tiny for benchmarks.  Returned text is *not* whitespace-trimmed.
    """
    out: list[str] = []
    out_len = 0  # characters appended to ``out`` so far (for <a> text fallback bookkeeping)
    utf16 = 0
    stack: list[_OpenTag] = []
    entities: list[JSONDict] = []
    n = len(html)
    pos = 0
    search = _SPECIAL_RE.search
    while True:
        match = search(html, pos)
        stop = match.start() if match is not None else n
        if stop > pos:
            chunk = html[pos:stop]
            out.append(chunk)
            out_len += len(chunk)
            utf16 += utf16_len(chunk)
        if match is None:
            break
        i = stop
        if html[i] == "&":
            char, end = _decode_entity(html, i)
            if char is None:
                if strict:
                    _reject_ampersand(html, i)
                out.append("&")
                out_len += 1
                utf16 += 1
                pos = i + 1
                continue
            _check_decoded_char(char)
            out.append(char)
            out_len += 1
            utf16 += 2 if ord(char) > 0xFFFF else 1
            pos = end
            continue
        # html[i] == "<"
        if i + 1 < n and html[i + 1] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(html, i)}")
            name_match = _NAME_END_RE.search(html, i + 2)
            j = name_match.start() if name_match is not None else n
            end_name = html[i + 2 : j].lower()
            j = _skip_ws(html, j, n)
            if j >= n or html[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(html, i)}")
            top = stack[-1]
            if end_name and end_name != top.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(html, i)}, expected "
                    f'"</{top.name}>", found "</{end_name}>"'
                )
            if utf16 > top.utf16_start:
                _close_entity(entities, top, utf16)
            stack.pop()
            pos = j + 1
            continue
        tag, argument, expandable, pos = _parse_start_tag(html, i, strict)
        stack.append(_OpenTag(tag, argument, utf16, out_len, expandable))
    if stack:
        raise EntityParseError(f"Can't find end tag corresponding to start tag {stack[-1].name}")
    _finish_entities(entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText("".join(out), entities, utf16)


def _close_entity(entities: list[JSONDict], tag: _OpenTag, utf16_end: int) -> None:
    """Append the entity for ``tag``, merging ``<pre><code class="language-x">`` like TDLib."""
    offset = tag.utf16_start
    length = utf16_end - offset
    last = entities[-1] if entities else None
    same_range = last is not None and last["offset"] == offset and last["length"] == length
    if tag.name == "pre" and same_range and last is not None and last.get("_language"):
        last["type"] = "pre"
        last["language"] = last.pop("_language")
        return
    if (
        tag.name == "code"
        and same_range
        and last is not None
        and last["type"] == "pre"
        and tag.argument
    ):
        last["language"] = tag.argument
        return
    entity = _make_entity(tag, offset, length)
    if tag.name == "code" and tag.argument:
        entity["_language"] = tag.argument
    entities.append(entity)


def _finish_entities(entities: list[JSONDict]) -> list[JSONDict]:
    """Drop the private ``_language`` marker of ``<code>`` not wrapped in ``<pre>``."""
    for entity in entities:
        entity.pop("_language", None)
    return entities


def _trim(parsed: ParsedText) -> ParsedText:
    """Telegram strips surrounding whitespace from message texts; shift entities accordingly."""
    text = parsed.text
    stripped = text.strip(_WS)
    if stripped == text:
        return parsed
    lead = len(text) - len(text.lstrip(_WS))  # whitespace is BMP: characters == UTF-16 units
    new_len = utf16_len(stripped)
    entities: list[JSONDict] = []
    for entity in parsed.entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, new_len)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return ParsedText(stripped, entities, new_len)
