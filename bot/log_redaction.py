"""Keeps secrets out of every log line, tracebacks included.

python-telegram-bot logs its Bot API URLs at DEBUG, and those carry the bot token; an
HTTP error's message or a traceback may carry a URL too. Rather than hunt each call
site, a filter on the root logger's handlers rewrites every record before it is
formatted: the message (with its arguments merged in), the traceback and the stack.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import quote

REDACTED = "<redacted>"
#: A token's secret half shorter than this is not looked for on its own (too likely to
#: match innocent text); real Telegram secrets are 35 characters.
MIN_SECRET_PART = 8


def _variants(secret: str) -> set[str]:
    """The token, its URL-encoded form, and its secret half (after the bot id)."""
    found = {secret, quote(secret, safe="")}
    _, _, tail = secret.partition(":")
    if len(tail) >= MIN_SECRET_PART:
        found.add(tail)
    return found


class SecretRedactor(logging.Filter):
    """Replaces each secret by `<redacted>` in a record's message, traceback and stack."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        variants = {form for secret in secrets if secret for form in _variants(secret)}
        ordered = sorted(variants, key=len, reverse=True)  # the whole token before its half
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._formatter = logging.Formatter()

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a caller's bad format string: keep the text, drop the args
            message = f"{record.msg} (arguments could not be formatted)"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse `exc_text` once set: format the traceback here, redacted.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redactor(secrets: Iterable[str], root: logging.Logger | None = None) -> SecretRedactor:
    """Put one redactor on the root logger and each of its handlers (replacing an older one).

    A filter on a logger only sees records logged on that very logger; records from
    `telegram.Bot` or `bot.channels...` reach the root's handlers, so those are filtered.
    """
    root = root or logging.getLogger()
    redactor = SecretRedactor(secrets)
    for owner in (root, *root.handlers):
        for old in [f for f in owner.filters if isinstance(f, SecretRedactor)]:
            owner.removeFilter(old)
        owner.addFilter(redactor)
    return redactor


def install_excepthook(redactor: SecretRedactor) -> None:
    """An uncaught exception's traceback goes to stderr outside logging: redact it too."""

    def report(
        kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        sys.stderr.write(redactor.redact("".join(traceback.format_exception(kind, error, trace))))

    sys.excepthook = report
