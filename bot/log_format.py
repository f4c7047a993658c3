"""LOG_FORMAT=json: one JSON object a line, with the ids of what is being handled.

An operator's log pipeline (journald to Loki, Elasticsearch, `jq`) wants fields, not
prose to parse: which channel, chat and update a line is about, at what level, from
which logger. Those ids live in context variables that a channel sets around the
handling of one inbound update (`log_context`), so every line logged meanwhile, by the
core, a library or an error handler, carries them without being passed the ids.

What stays out: the bot token and the other secrets (bot.log_redaction's filter runs on
the handler before this formatter, over the message and the traceback), and a reader's
message text, which no INFO line logs (tests/test_log_format.py reads a real process's
stderr for it). The text format (the default) prints the same context as `[k=v ...]`.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from types import TracebackType

#: The ids a line may carry; `channel` is a channel's name (telegram, wechat, web);
#: `worker` is the pid of a `paperbot run --workers N` worker (bot/workers.py).
CONTEXT_FIELDS = ("worker", "channel", "chat_id", "update_id")

#: Fields every line of this process carries (`set_process_fields`), before the context's.
_process_fields: dict[str, str | int] = {}

_context: contextvars.ContextVar[dict[str, str | int] | None] = contextvars.ContextVar(
    "paperbot_log_context", default=None
)


class log_context:  # noqa: N801 (a function's name: it is used as one, `with log_context(…)`)
    """Add `fields` (None ones left out) to every line logged inside the block, in this
    task and in the tasks it creates; the outer context is back afterwards.

    A class rather than `@contextmanager`: every inbound update enters one, and the
    generator machinery (a generator, its frame, the wrapper's checks) cost several
    times setting the variable itself."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: str | int | None) -> None:
        self._fields = fields
        self._token: contextvars.Token[dict[str, str | int] | None] | None = None

    def __enter__(self) -> None:
        merged = dict(_context.get() or {})
        merged.update({key: value for key, value in self._fields.items() if value is not None})
        self._token = _context.set(merged)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _context.reset(self._token)
            self._token = None


def current_context() -> dict[str, str | int]:
    return dict(_context.get() or {})


def set_process_fields(**fields: str | int) -> None:
    """Fields on every line this process logs from now on, in every task and thread: a
    worker's pid, so the lines of N workers sharing one journal say whose they are."""
    _process_fields.update(fields)


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record (as `record.context`), at the
    handler, so records from any logger get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = {**_process_fields, **current_context()}
        return True


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", <context ids>, "exception"?}` on one line.

    Non-ASCII stays as it is (ensure_ascii=False: the log is UTF-8, and a Chinese
    title should be readable); a newline inside the message or traceback is escaped by
    JSON, so one record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "context", None)
        if isinstance(context, dict):
            document.update(context)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The default format, with the context ids appended as `[channel=… chat_id=…]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        context = getattr(record, "context", None)
        if context:
            line += " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"
        return line


def install_formatter(log_format: str, root: logging.Logger | None = None) -> None:
    """Give each of the root logger's handlers the chosen formatter and the context
    filter (the redactor, installed after, runs before both: filters run first)."""
    root = root or logging.getLogger()
    formatter: logging.Formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    for handler in root.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
