"""The HTTP server around the app: uvicorn, with guards against slow and numerous clients.

uvicorn closes an idle keep-alive connection, but not one that is still sending its request:
a client writing a header line every few seconds holds its socket (and a file descriptor)
forever, and nothing caps how many such sockets there are. The protocol below adds

- a header timeout: a request's headers must be complete within ``header_timeout`` seconds;
- a body timeout: while a body is being received, ``body_timeout`` seconds at most between
  two chunks;
- a connection limit: past ``max_connections`` open connections, new ones are closed at once.

Each condition is logged once, then at most once a minute with a count, never per connection.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import ServerSettings

log = logging.getLogger(__name__)

# File descriptors kept free beside the connections: database pool, log files, embeddings.
SPARE_DESCRIPTORS = 128
# Repeats of a logged condition are summed into one line per this many seconds.
REPEAT_LOG_SECONDS = 60.0


class ConditionLog:
    """Logs a condition the first time, then one line per minute counting its repeats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def report(self, condition: str, detail: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(condition)
            if last is not None and now - last < REPEAT_LOG_SECONDS:
                self._pending[condition] = self._pending.get(condition, 0) + 1
                return
            repeats = self._pending.pop(condition, 0)
            self._last[condition] = now
        since = f" ({repeats} more since the last report)" if repeats else ""
        log.warning("%s: %s%s", condition, detail, since)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a body timeout and a connection limit.

    httptools parses in C: about 0.5 ms less server CPU per request than uvicorn's pure-Python
    h11 protocol, which this class was first built on (docs/benchmarks.md). The parser's
    callbacks say where the connection is: between requests, in a request's headers (from
    its first byte), or in its body.
    """

    limits = ConnectionLimits(header_timeout=10.0, body_timeout=10.0, max_connections=1000)
    conditions = ConditionLog()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: Literal["idle", "headers", "body"] = "idle"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.server_state.connections) >= self.limits.max_connections:
            self._refused = True
            self.conditions.report(
                "connection limit reached",
                f"{self.limits.max_connections} connections are open "
                "(REME_SERVER__MAX_CONNECTIONS); new ones are closed at once",
            )
            transport.close()
            return
        super().connection_made(transport)
        # The first request's headers are due from the moment the client connects.
        self._watch(self.limits.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watch()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase == "headers":
            if self._deadline is None and not self.transport.is_closing():
                # A new request's first bytes (after a keep-alive wait).
                self._watch(self.limits.header_timeout, self._headers_too_slow)
        elif self._phase == "body" and not self.flow.read_paused:
            self._stop_watch()
            self._watch(self.limits.body_timeout, self._body_too_slow)
        else:
            self._stop_watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = "body"
        self._stop_watch()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "idle"
        self._stop_watch()

    def _watch(self, seconds: float, callback: Any) -> None:
        self._deadline = self.loop.call_later(seconds, callback)

    def _stop_watch(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if self._phase != "body" and not self.transport.is_closing():
            self.conditions.report(
                "slow clients",
                f"closing connections whose request headers took more than {self.limits.header_timeout:g} s "
                "(REME_SERVER__HEADER_TIMEOUT)",
            )
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if self._phase == "body" and not self.transport.is_closing():
            self.conditions.report(
                "slow clients",
                f"closing connections that sent no body data for {self.limits.body_timeout:g} s "
                "(REME_SERVER__BODY_TIMEOUT)",
            )
            self.transport.close()


def guarded_protocol(settings: ServerSettings) -> type[GuardedProtocol]:
    """The protocol class with these settings' limits (a class: uvicorn builds one per connection)."""
    limits = ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=usable_connections(settings.max_connections),
    )
    return type("ConfiguredProtocol", (GuardedProtocol,), {"limits": limits, "conditions": ConditionLog()})


def usable_connections(wanted: int) -> int:
    """``wanted``, raising the process's descriptor limit to fit it, else as many as fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - SPARE_DESCRIPTORS)
        log.warning(
            "the descriptor limit (ulimit -n %d) fits %d connections, not %d; raise it to allow more",
            soft,
            fitted,
            wanted,
        )
        return fitted
    return wanted


def server_config(app: Any, settings: ServerSettings, *, host: str, port: int) -> uvicorn.Config:
    """uvicorn's configuration for the service (``reme serve`` and the tests use the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(settings),
        loop=settings.loop,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=10,
    )
