"""The one way user input becomes a number: ASCII digits only, within a sane range.

`str.isdigit()` is true for `²`, `¹`, `①` and many more that `int()` refuses, and
`int()` accepts Arabic-Indic or full-width digits a reader never meant as a count.
Every command argument, button argument and offset goes through `parse_count`.
"""

from __future__ import annotations

import re

#: The largest number any argument may carry: it fits every integer column on SQLite
#: and PostgreSQL (a bigger id cannot exist, and a bigger offset would overflow SQL).
MAX_NUMBER = 2**31 - 1

_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_count(text: str, maximum: int = MAX_NUMBER) -> int | None:
    """`text` (surrounding whitespace ignored) as a number in 0..maximum, else None.

    Signs, spaces inside, non-ASCII digits and anything above `maximum` are refused.
    """
    candidate = text.strip()
    if not _ASCII_DIGITS.fullmatch(candidate):
        return None
    value = int(candidate)
    return value if value <= maximum else None
