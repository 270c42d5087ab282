"""ASGI middleware: a request id on every request, its response and its log lines; the
request's metrics (by route template), its span and its access-log line."""

from __future__ import annotations

import logging
import re
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.logging import begin_log_fields, set_request_id
from app.observability import metrics, tracing

log = logging.getLogger("reme.access")
_VALID_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def request_id_middleware(app: ASGIApp, *, record_metrics: bool = True) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        given = headers.get("x-request-id", "")
        request_id = set_request_id(given if _VALID_ID.match(given) else None)
        begin_log_fields()
        method = str(scope.get("method", ""))
        started = time.perf_counter()
        status = 0
        finished = False

        def finish() -> None:
            """Count and log the request once, before its last byte leaves: whoever got the
            answer finds it in /metrics and in the log."""
            nonlocal finished
            if finished:
                return
            finished = True
            elapsed = time.perf_counter() - started
            # Litestar's router leaves the matched route's template in the scope.
            route = str(scope.get("path_template") or metrics.UNMATCHED_ROUTE)
            if record_metrics:
                metrics.record_request(method, route, status, elapsed)
            if span is not None:
                span.update_name(f"{method} {route}")
                tracing.set_attributes(span, {"http.route": route, "http.response.status_code": status})
            path = scope.get("path")
            log.info(
                "%s %s %s %.1fms",
                method,
                path,
                status,
                elapsed * 1000,
                extra={
                    "method": method,
                    "path": path,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}  # type: ignore[assignment]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()
            await send(message)

        attributes = {"http.request.method": method, "url.path": scope.get("path", "")}
        with tracing.request_span(method, headers, {**attributes, "reme.request_id": request_id}) as span:
            try:
                await app(scope, receive, send_with_id)
            finally:
                finish()

    return middleware
