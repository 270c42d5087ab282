"""Spans recorded in memory (the SDK's InMemorySpanExporter) while a test runs.

OpenTelemetry allows one tracer provider per process: it is installed once, with a sampler
that records only while a test asks for it, so the rest of the suite runs untraced.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult


class SwitchedSampler(Sampler):
    def __init__(self) -> None:
        self.on = False

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return (ALWAYS_ON if self.on else ALWAYS_OFF).should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "recording in tests only"


_installed: tuple[SwitchedSampler, InMemorySpanExporter] | None = None


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    global _installed
    if _installed is None:
        sampler, exporter = SwitchedSampler(), InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _installed = (sampler, exporter)
    sampler, exporter = _installed
    exporter.clear()
    sampler.on = True
    try:
        yield exporter
    finally:
        sampler.on = False
        exporter.clear()


def of_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [span for span in spans if span.context is not None and span.context.trace_id == trace_id]
