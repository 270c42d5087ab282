"""Hooks on the SQLAlchemy engine: pool gauges, a span per SQL statement, the slow-statement log.

A statement is logged with its duration and its shape (the SQL text, whitespace collapsed,
cut to ``SHAPE_CHARS``); its parameters are never logged, and the text holds none: every
value is bound as a parameter.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from app.observability import metrics, tracing

log = logging.getLogger("reme.sql")

SHAPE_CHARS = 300
_SPACES = re.compile(r"\s+")
# A long IN (...) or VALUES list is one shape whatever its length.
_PLACEHOLDER_RUN = re.compile(r"(\$\d+)(\s*,\s*\$\d+)+")


class MeteredPool(AsyncAdaptedQueuePool):
    """The async engine's usual pool, counting the callers that wait for a connection."""

    def _do_get(self) -> ConnectionPoolEntry:
        metrics.DB_POOL_WAITING.inc()
        try:
            return super()._do_get()
        finally:
            metrics.DB_POOL_WAITING.dec()


def statement_shape(statement: str) -> str:
    shape = _PLACEHOLDER_RUN.sub(r"\1, ...", _SPACES.sub(" ", statement).strip())
    return shape if len(shape) <= SHAPE_CHARS else shape[: SHAPE_CHARS - 3] + "..."


def instrument_engine(engine: AsyncEngine, slow_statement_ms: float) -> None:
    """Count checked-out connections, and time (and trace) every statement of ``engine``."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine.pool, "checkout")
    def checked_out(*_: Any) -> None:
        metrics.DB_POOL_IN_USE.inc()

    @event.listens_for(sync_engine.pool, "checkin")
    def checked_in(*_: Any) -> None:
        metrics.DB_POOL_IN_USE.dec()

    @event.listens_for(sync_engine, "before_cursor_execute")
    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracing.start_span(
            verb, {"db.system": "postgresql", "db.statement": statement_shape(statement)}
        )
        context._reme_timing = (time.perf_counter(), span)

    @event.listens_for(sync_engine, "after_cursor_execute")
    def after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        timing = getattr(context, "_reme_timing", None)
        if timing is None:
            return
        started, span = timing
        context._reme_timing = None
        tracing.end_span(span)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if slow_statement_ms > 0 and elapsed_ms >= slow_statement_ms:
            metrics.DB_SLOW_STATEMENTS.inc()
            shape = statement_shape(statement)
            log.warning(
                "slow statement: %.0fms %s",
                elapsed_ms,
                shape,
                extra={"duration_ms": round(elapsed_ms, 1), "statement": shape},
            )

    @event.listens_for(sync_engine, "handle_error")
    def failed(exception_context: Any) -> None:
        context = exception_context.execution_context
        timing = getattr(context, "_reme_timing", None) if context is not None else None
        if timing is not None:
            context._reme_timing = None
            tracing.end_span(timing[1], exception_context.original_exception)
