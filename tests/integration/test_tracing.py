"""OpenTelemetry: a span per request, pipeline step, model call, embedding call and SQL
statement, all in the caller's trace; a job's span links to the request that queued it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.jobs import run_worker
from app.main import job_handlers
from app.services import Services
from app.settings import Settings
from tests.integration.task_support import responder, trajectory
from tests.support.processes import wait_until
from tests.support.standin import StandInOpenAI
from tests.support.tracing import of_trace, recorded_spans

CALLER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
CALLER_SPAN = 0xB7AD6B7169203331
TRACEPARENT = f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def server_span(exporter: InMemorySpanExporter, trace_id: int) -> ReadableSpan:
    """The request's span, once ended (just after the response was sent)."""

    def ended() -> ReadableSpan | None:
        found = [s for s in of_trace(exporter.get_finished_spans(), trace_id) if s.kind == SpanKind.SERVER]
        return found[0] if found else None

    span: ReadableSpan = wait_until(ended, 10, "the request span to end")
    return span


async def test_a_request_is_one_trace_of_steps_model_calls_embeddings_and_statements(
    client: httpx.AsyncClient, standin: StandInOpenAI, spans: InMemorySpanExporter
) -> None:
    standin.responder = responder()

    response = await client.post(
        "/summary_task_memory",
        json={"workspace_id": "traced", "trajectories": [trajectory("t1", 1.0)]},
        headers={"traceparent": TRACEPARENT},
    )

    assert response.status_code == 200, response.text
    request = server_span(spans, CALLER_TRACE)
    assert request.name == "POST /summary_task_memory"
    assert request.parent is not None and request.parent.span_id == CALLER_SPAN
    assert request.attributes is not None and request.attributes["http.response.status_code"] == 200
    trace = of_trace(spans.get_finished_spans(), CALLER_TRACE)
    names = {span.name for span in trace}
    assert {"flow summary_task_memory", "step judge_candidates", "step persist_memories", "embed"} <= names
    assert any(name.startswith("chat ") for name in names), names
    statements = [s for s in trace if s.attributes and s.attributes.get("db.system") == "postgresql"]
    # The summary's writes are one statement (WITH new_memory AS (INSERT INTO memory ...) ...)
    assert any("INSERT INTO memory" in str(s.attributes.get("db.statement")) for s in statements), names
    ids = {span.context.span_id for span in trace if span.context is not None}
    assert all(span.parent is not None and span.parent.span_id in ids | {CALLER_SPAN} for span in trace)


async def test_a_job_span_links_to_the_request_that_queued_it(
    client: httpx.AsyncClient, standin: StandInOpenAI, settings: Settings, spans: InMemorySpanExporter
) -> None:
    standin.responder = responder()
    flow = "summary_task_memory_simple"
    accepted = await client.post(
        f"/{flow}",
        json={"workspace_id": "traced", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]},
        headers={"traceparent": TRACEPARENT},
    )
    assert accepted.status_code == 202, accepted.text
    request = server_span(spans, CALLER_TRACE)

    services = await Services.start(settings)
    try:
        await run_worker(services, job_handlers(), once=True)
    finally:
        await services.stop()

    [job] = [s for s in spans.get_finished_spans() if s.name == f"job {flow}"]
    assert job.kind == SpanKind.CONSUMER
    assert job.context is not None and job.context.trace_id != CALLER_TRACE
    [link] = job.links
    assert request.context is not None
    assert (link.context.trace_id, link.context.span_id) == (CALLER_TRACE, request.context.span_id)
    assert job.attributes is not None and job.attributes["reme.job_status"] == "done"
    in_job = {s.name for s in of_trace(spans.get_finished_spans(), job.context.trace_id)}
    assert any(name.startswith("step ") for name in in_job) and any(n.startswith("chat ") for n in in_job)


def test_spans_are_exported_as_the_otel_variables_say(database_url: str) -> None:
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "reme-under-test",
    }

    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert '"service.name": "reme-under-test"' in result.stdout
    assert '"db.system": "postgresql"' in result.stdout


def test_without_otel_variables_tracing_stays_off() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = "from app.observability.tracing import configure_tracing; print(configure_tracing())"

    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.stdout.strip() == "False", result.stderr


def test_without_the_otel_extra_every_helper_is_a_no_op() -> None:
    code = "\n".join(
        [
            "import sys",
            "sys.modules['opentelemetry'] = None  # as if the extra were not installed",
            "from app.observability import tracing",
            "with tracing.span('step x') as span, tracing.request_span('GET', {}, {}) as request:",
            "    carrier, configured = tracing.trace_carrier(), tracing.configure_tracing()",
            "    print(tracing.enabled(), span, request, carrier, configured)",
        ]
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "OTEL_TRACES_EXPORTER": "console"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.stdout.strip() == "False None None {} False", result.stderr
