"""Prometheus metrics of the service and its workers.

The metric families are declared once, at import, as ``prometheus_client`` expects (they hold
no resources: a value is a float in memory, or in a file of ``PROMETHEUS_MULTIPROC_DIR`` when
several processes serve). Recording functions are cheap and never raise.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST"]

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Paths that matched no route are counted under one label, so scans cannot grow the series.
UNMATCHED_ROUTE = "(unmatched)"

# Model and embedding calls take seconds, requests and steps from milliseconds up.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Counter(
    "reme_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "reme_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["method", "route"],
    buckets=FAST_BUCKETS,
)
STEP_DURATION = Histogram(
    "reme_pipeline_step_duration_seconds",
    "Duration of one pipeline step, by flow and step",
    ["flow", "step"],
    buckets=FAST_BUCKETS,
)
LLM_CALLS = Counter("reme_llm_calls", "Chat-model calls, by pipeline step and model", ["step", "model"])
LLM_TOKENS = Counter(
    "reme_llm_tokens",
    "Tokens of chat-model calls, by step, model and kind (prompt or completion)",
    ["step", "model", "kind"],
)
LLM_ERRORS = Counter(
    "reme_llm_errors", "Chat-model calls that failed, by step, model and error", ["step", "model", "error"]
)
LLM_DURATION = Histogram(
    "reme_llm_call_duration_seconds",
    "Duration of one chat-model call, by step and model",
    ["step", "model"],
    buckets=SLOW_BUCKETS,
)
EMBEDDING_CALLS = Counter("reme_embedding_calls", "Calls of the embedder, by model", ["model"])
EMBEDDING_TEXTS = Counter("reme_embedding_texts", "Texts embedded, by model", ["model"])
EMBEDDING_ERRORS = Counter("reme_embedding_errors", "Embedder calls that failed, by model", ["model"])
EMBEDDING_DURATION = Histogram(
    "reme_embedding_duration_seconds",
    "Duration of one embedder call, by model",
    ["model"],
    buckets=FAST_BUCKETS,
)
DB_POOL_IN_USE = Gauge(
    "reme_db_pool_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "reme_db_pool_waiting",
    "Callers waiting for a database connection from the pool",
    multiprocess_mode="livesum",
)
DB_SLOW_STATEMENTS = Counter(
    "reme_db_slow_statements", "SQL statements slower than REME_LOG__SLOW_STATEMENT_MS"
)
JOBS = Counter(
    "reme_jobs", "Job attempts finished, by flow and outcome (done, retry, failed)", ["flow", "outcome"]
)
JOB_DURATION = Histogram(
    "reme_job_duration_seconds",
    "Duration of one job attempt, by flow and outcome",
    ["flow", "outcome"],
    buckets=SLOW_BUCKETS,
)
JOBS_BY_STATUS = Gauge(
    "reme_jobs_in_queue",
    "Jobs in the queue table by status (cached, read at most every REME_METRICS__REFRESH_SECONDS)",
    ["status"],
    multiprocess_mode="mostrecent",
)
MEMORIES = Gauge(
    "reme_memories",
    "Memories stored, by type (cached, read at most every REME_METRICS__REFRESH_SECONDS)",
    ["memory_type"],
    multiprocess_mode="mostrecent",
)
AUTH_FAILURES = Counter(
    "reme_auth_failures",
    "Requests refused by authentication, by reason (missing, unknown, forbidden)",
    ["reason"],
)


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def record_step(flow: str, step: str, seconds: float) -> None:
    STEP_DURATION.labels(flow, step).observe(seconds)


def record_llm_call(
    step: str, model: str, seconds: float, prompt_tokens: int, completion_tokens: int
) -> None:
    LLM_CALLS.labels(step, model).inc()
    LLM_DURATION.labels(step, model).observe(seconds)
    LLM_TOKENS.labels(step, model, "prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(step, model, "completion").inc(completion_tokens)


def record_llm_error(step: str, model: str, error: str) -> None:
    LLM_CALLS.labels(step, model).inc()
    LLM_ERRORS.labels(step, model, error).inc()


def record_embedding(model: str, texts: int, seconds: float, *, failed: bool = False) -> None:
    EMBEDDING_CALLS.labels(model).inc()
    EMBEDDING_TEXTS.labels(model).inc(texts)
    EMBEDDING_DURATION.labels(model).observe(seconds)
    if failed:
        EMBEDDING_ERRORS.labels(model).inc()


def record_job(flow: str, outcome: str, seconds: float) -> None:
    JOBS.labels(flow, outcome).inc()
    JOB_DURATION.labels(flow, outcome).observe(seconds)


def record_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(reason).inc()


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> bytes:
    """Every metric in the Prometheus text format: this process's, or all processes' when the
    server runs several (``PROMETHEUS_MULTIPROC_DIR``)."""
    if multiprocess():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def use_multiprocess_dir() -> str:
    """Before several server processes start: the directory their metrics share.

    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used as given (it must be emptied between
    runs); else a fresh temporary one, removed when this process exits.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        return given
    path = tempfile.mkdtemp(prefix="reme-metrics-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = path
    return path


def serve_metrics(port: int, host: str) -> None:
    """Answer Prometheus scrapes on ``host:port`` from a background thread (``reme worker``)."""
    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)


def mark_process_dead(pid: int) -> None:
    """Drop a finished worker process's live gauges (multiprocess mode only)."""
    if multiprocess():
        prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class CachedGauges:
    """Gauges read from the database (memories per type, jobs per status) at most every
    ``interval`` seconds, when /metrics is scraped: a scrape every second costs one query a
    period, not one per scrape."""

    def __init__(
        self,
        read: Callable[[], Awaitable[tuple[Mapping[str, int], Mapping[str, int]]]],
        interval: float,
    ) -> None:
        self.read = read
        self.interval = interval
        self.read_at: float | None = None
        self.memory_types: set[str] = set()

    async def refresh(self) -> None:
        now = time.monotonic()
        if self.read_at is not None and now - self.read_at < self.interval:
            return
        self.read_at = now
        try:
            memories, jobs = await self.read()
        except Exception as exc:  # the process's own metrics are still worth answering with
            log.warning("could not count memories and jobs for /metrics (kept the last counts): %s", exc)
            return
        self.memory_types |= set(memories)  # a type whose last memory went reads 0, not its old count
        for memory_type in self.memory_types:
            MEMORIES.labels(memory_type).set(memories.get(memory_type, 0))
        for status in ("queued", "running", "done", "failed", *jobs):
            JOBS_BY_STATUS.labels(status).set(jobs.get(status, 0))
