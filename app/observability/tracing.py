"""OpenTelemetry spans, when the ``otel`` extra is installed and tracing is asked for.

Tracing is configured by the standard ``OTEL_*`` variables: it starts when
``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint is
given. Without the extra, or without those variables, every helper here is a no-op and a
span costs next to nothing. A tracer provider installed by someone else first (the
``opentelemetry-instrument`` launcher, a test) is kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

try:
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
except ImportError:  # the otel extra is not installed
    trace = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TRACER_NAME = "reme"
# Key of a job's payload that carries the trace context of the request that queued it.
TRACE_KEY = "_trace"
Attributes = Mapping[str, str | int | float | bool]
# The server span of the request being handled: what a job it queues links to.
_request_span: ContextVar[Any] = ContextVar("request_span", default=None)


@cache
def _tracer() -> Any:
    """The service's tracer: a proxy that follows the provider installed later, if any."""
    return trace.get_tracer(TRACER_NAME)


def enabled() -> bool:
    return trace is not None


def _tracing() -> bool:
    """A tracer provider is installed (until then every span would be a no-op: skip it cheaply)."""
    return trace is not None and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def configure_tracing() -> bool:
    """Install a tracer provider from the ``OTEL_*`` variables; True if tracing is on."""
    if trace is None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return True  # already configured by the launcher or the embedding process
    names = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if not names and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = "otlp"
    exporters = [name.strip() for name in names.split(",") if name.strip() and name.strip() != "none"]
    if not exporters:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning(
            "OTEL_TRACES_EXPORTER is set but the OpenTelemetry SDK is not installed: "
            "pip install 'reme-pg[otel]'"
        )
        return False
    defaults = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "reme"}
    provider = TracerProvider(resource=Resource.create(defaults))
    for name in exporters:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            log.warning("unknown trace exporter %r in OTEL_TRACES_EXPORTER (use otlp or console)", name)
    trace.set_tracer_provider(provider)
    log.info("tracing on: exporting spans to %s", ", ".join(exporters))
    return True


@contextmanager
def span(name: str, attributes: Attributes | None = None, *, kind: str = "INTERNAL") -> Iterator[Any]:
    """A span around the block, child of the current one; it records an exception that escapes."""
    if not _tracing():
        yield None
        return
    tracer = _tracer()
    with tracer.start_as_current_span(name, kind=trace.SpanKind[kind], attributes=attributes) as current:
        yield current


@contextmanager
def request_span(name: str, headers: Mapping[str, str], attributes: Attributes) -> Iterator[Any]:
    """The server span of an HTTP request, continuing the caller's trace (``traceparent``)."""
    if not _tracing():
        yield None
        return
    tracer = _tracer()
    parent = propagate.extract(headers)
    with tracer.start_as_current_span(
        name, context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
    ) as current:
        token = _request_span.set(current)
        try:
            yield current
        finally:
            _request_span.reset(token)


@contextmanager
def job_span(name: str, carrier: Mapping[str, str] | None, attributes: Attributes) -> Iterator[Any]:
    """A job's span: a trace of its own, linked to the request span that queued the job."""
    if not _tracing():
        yield None
        return
    tracer = _tracer()
    links = []
    if carrier:
        queued_by = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        if queued_by.is_valid:
            links.append(trace.Link(queued_by))
    with tracer.start_as_current_span(
        name, context=Context(), kind=trace.SpanKind.CONSUMER, attributes=attributes, links=links
    ) as current:
        yield current


def start_span(name: str, attributes: Attributes) -> Any:
    """A span the caller ends itself (``end_span``), for hooks that open and close it apart."""
    if not _tracing():
        return None
    tracer = _tracer()
    current = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)
    return current if current.is_recording() else None


def end_span(current: Any, error: BaseException | None = None) -> None:
    if current is None:
        return
    if error is not None:
        current.record_exception(error)
        current.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
    current.end()


def set_attributes(current: Any, attributes: Attributes) -> None:
    if current is not None and current.is_recording():
        current.set_attributes(attributes)


def trace_carrier() -> dict[str, str]:
    """The current request span's context as headers (``traceparent``...), to store with queued
    work; empty when nothing is traced."""
    if trace is None:
        return {}
    current = _request_span.get() or trace.get_current_span()
    if not current.get_span_context().trace_flags.sampled:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(current))
    return carrier
