"""The one place where errors become HTTP answers, always in ReMe's envelope."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.db import database_unavailable
from app.errors import ReMeError
from app.logging import current_request_id
from app.routes.schemas import ReMeResponse
from app.routes.validation_messages import describe, validation_errors

log = logging.getLogger(__name__)

# What Litestar's router says when no route matches a path (its own NotFoundException default).
NOT_FOUND_DETAIL = NotFoundException().detail

# SQLSTATEs for text PostgreSQL cannot store: NUL characters and bad encodings.
UNSTORABLE_TEXT = {"22P05", "22021"}
UNSTORABLE_TEXT_MESSAGE = (
    "a text value contains a character that cannot be stored (a NUL character \\u0000 "
    "or an unpaired surrogate); remove it and send the request again"
)


def envelope(
    status: int,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    metadata: dict[str, Any] = {"request_id": current_request_id()}
    if errors:
        metadata["errors"] = errors
    body = ReMeResponse(answer=message, success=False, metadata=metadata)
    return Response(body.model_dump(), status_code=status, headers=headers)


def handle_reme_error(request: Request[Any, Any, Any], exc: ReMeError) -> Response[Any]:
    if exc.status_code >= 500:
        log.warning("%s: %s", type(exc).__name__, exc.message)
    return envelope(exc.status_code, exc.message, exc.errors)


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = validation_errors(request, exc)
    where = "; ".join(describe(error) for error in errors[:5])
    message = f"invalid request: {where}" if where else f"invalid request: {exc.detail}"
    return envelope(400, message, errors)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == 413:
        limit = request.app.request_max_body_size
        return envelope(413, f"request body exceeds the limit of {limit} bytes (REME_LIMITS__MAX_BODY_BYTES)")
    headers = dict(exc.headers or {})
    if isinstance(exc, MethodNotAllowedException):
        allowed = headers.get("allow") or "no method"
        message = f"{request.method} is not allowed on {request.url.path}; it accepts {allowed}"
        return envelope(405, message, headers=headers)
    if isinstance(exc, NotFoundException) and exc.detail == NOT_FOUND_DETAIL:
        message = (
            f"no route {request.method} {request.url.path}; the operations are listed at /docs "
            "(ids in paths must have their documented form: job and trajectory ids are UUIDs)"
        )
        return envelope(404, message, headers=headers)
    return envelope(exc.status_code, str(exc.detail), headers=headers)


def handle_integrity(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    log.info("integrity error: %s", exc.orig)
    if str(getattr(exc.orig, "sqlstate", "")) == "23503":
        return envelope(
            409,
            "conflict: the request refers to a workspace, trajectory or memory that was deleted "
            "while it ran; nothing was stored",
        )
    return envelope(409, f"conflict with stored data: {type(exc.orig).__name__}")


def handle_stale(request: Request[Any, Any, Any], exc: StaleDataError) -> Response[Any]:
    log.info("stale data: %s", exc)
    return envelope(
        409, "conflict: rows this request was updating were deleted meanwhile; nothing was stored"
    )


def handle_database(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    log.error("database error: %s", exc)
    if database_unavailable(exc):  # down, restarting, starting up: worth a retry
        return envelope(503, "database unavailable; retry the request")
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if sqlstate in UNSTORABLE_TEXT:
        return envelope(400, UNSTORABLE_TEXT_MESSAGE)
    if sqlstate.startswith("54"):
        # Class 54, program limit exceeded: a value too large to index, a query too deep.
        return envelope(400, f"the request exceeds a database limit: {exc.orig}")
    if isinstance(exc, DataError) or sqlstate.startswith("22"):
        # SQLSTATE class 22: a value the client sent is out of range or malformed.
        return envelope(400, f"the database rejected a value: {exc.orig}")
    return envelope(
        500, f"database error ({type(exc.orig).__name__}); see the server log, request id included"
    )


def handle_unicode(request: Request[Any, Any, Any], exc: UnicodeError) -> Response[Any]:
    return envelope(400, UNSTORABLE_TEXT_MESSAGE)


def handle_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # Decoding (or walking) a JSON body nested thousands of levels deep.
    log.info("refused a request nested too deeply: %s", exc)
    return envelope(400, "the request body is nested too deeply to read (JSON objects and lists)")


def handle_connection(request: Request[Any, Any, Any], exc: OSError) -> Response[Any]:
    # Connecting to the database failed at the socket level (down, restarting, unreachable).
    log.error("connection failed: %r", exc)
    return envelope(503, f"database unavailable ({type(exc).__name__}); retry the request")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return envelope(500, f"internal error ({type(exc).__name__}); see the server log, request id included")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ReMeError: handle_reme_error,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    IntegrityError: handle_integrity,
    StaleDataError: handle_stale,
    DBAPIError: handle_database,
    UnicodeError: handle_unicode,
    RecursionError: handle_recursion,
    OSError: handle_connection,
    Exception: handle_unexpected,
}
