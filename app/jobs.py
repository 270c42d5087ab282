"""The worker loop of asynchronous flows (``reme worker``).

Which handler runs which flow is decided by the composition root (``app.main.job_handlers``),
which passes the mapping in: this module imports no flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.db import database_unavailable
from app.errors import InvalidInput, LLMNotConfigured, ReMeError
from app.logging import add_log_fields, begin_log_fields, set_request_id
from app.models import Job
from app.observability import metrics, tracing
from app.observability.tracing import TRACE_KEY
from app.services import Services
from app.store.jobs import claim_job, complete_job, fail_job
from app.store.trajectories import fail_stranded_trajectories

log = logging.getLogger("reme.worker")

JobHandler = Callable[[Services, str, dict[str, Any]], Awaitable[dict[str, Any]]]
JobHandlers = Mapping[str, JobHandler]

# While the database is unreachable the worker waits 1, 2, 4 ... up to this many seconds
# between attempts; with ``--once`` it gives up after this many failures in a row.
DB_RETRY_MAX_SECONDS = 30.0
ONCE_MAX_DB_FAILURES = 5

# Errors that another attempt cannot fix.
PERMANENT_ERRORS = (InvalidInput, LLMNotConfigured)


Outcome = Literal["done", "failed"]


@dataclass
class WorkerTally:
    """What a worker did: jobs done, and job attempts that failed (retried later or failed for good)."""

    done: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.done + self.failed

    def add(self, other: WorkerTally) -> WorkerTally:
        return WorkerTally(self.done + other.done, self.failed + other.failed)


async def run_one_job(services: Services, handlers: JobHandlers) -> Outcome | None:
    """Take and run one job; None when the queue had nothing runnable."""
    async with services.db.session() as session:
        job = await claim_job(session)
    if job is None:
        return None
    set_request_id(f"job-{job.id.hex[:16]}")
    begin_log_fields()
    add_log_fields(workspace=job.workspace_id, flow=job.flow, job=str(job.id))
    payload = dict(job.payload)
    queued_by = payload.pop(TRACE_KEY, None)
    attributes = {"reme.flow": job.flow, "reme.workspace": job.workspace_id, "reme.job_id": str(job.id)}
    started = time.perf_counter()
    with tracing.job_span(f"job {job.flow}", queued_by, attributes) as span:
        outcome, status = await run_handler(services, handlers, job, payload)
        tracing.set_attributes(span, {"reme.job_status": status})
    metrics.record_job(job.flow, "retry" if status == "queued" else status, time.perf_counter() - started)
    return outcome


async def run_handler(
    services: Services, handlers: JobHandlers, job: Job, payload: dict[str, Any]
) -> tuple[Outcome, str]:
    """Run a taken job's handler and record its result; the outcome and the job's new status."""
    handler = handlers.get(job.flow)
    try:
        if handler is None:
            raise InvalidInput(f"no handler for flow {job.flow!r}")
        result = await handler(services, job.workspace_id, payload)
    except Exception as exc:
        retryable = not isinstance(exc, PERMANENT_ERRORS)
        message = exc.message if isinstance(exc, ReMeError) else f"{type(exc).__name__}: {exc}"
        async with services.db.session() as session:
            status = await fail_job(session, job, message, retryable=retryable)
        log.warning(
            "job %s (%s) attempt %d failed, now %s: %s", job.id, job.flow, job.attempts, status, message
        )
        return "failed", status
    async with services.db.session() as session:
        await complete_job(session, job, result)
    log.info("job %s (%s) done", job.id, job.flow)
    return "done", "done"


def describe(exc: BaseException) -> str:
    """One line naming a database error (SQLAlchemy's text spans several, with a link)."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}".rstrip(": ")


async def sweep_stranded_trajectories(services: Services) -> None:
    """Mark trajectories whose synchronous summary died (lease run out) as failed: interrupted."""
    async with services.db.session() as session:
        count = await fail_stranded_trajectories(session)
    if count:
        log.warning("%d trajectories were left pending by an interrupted summary; marked failed", count)


async def keep_sweeping_stranded(services: Services, every_seconds: float) -> None:
    """Sweep stranded trajectories now and every ``every_seconds`` until cancelled.

    The service runs this beside its requests, so a deployment without ``reme worker`` still marks
    the trajectories of a summary whose process died as ``failed: interrupted``. A database that is
    away only postpones the next sweep.
    """
    while True:
        try:
            await sweep_stranded_trajectories(services)
        except Exception as exc:
            if not database_unavailable(exc):
                log.exception("sweeping stranded trajectories failed")
            else:
                log.warning("stranded-trajectory sweep skipped: %s", describe(exc))
        await asyncio.sleep(every_seconds)


async def run_worker(
    services: Services,
    handlers: JobHandlers,
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    stop: asyncio.Event | None = None,
) -> WorkerTally:
    """Process jobs with ``handlers`` until ``stop`` is set (or the queue is empty, with ``once``).

    Returns how many jobs were done and how many attempts failed.
    """
    stop = stop or asyncio.Event()
    tally = WorkerTally()
    failures = 0
    while not stop.is_set():
        try:
            outcome = await run_one_job(services, handlers)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            failures += 1
            if once and failures >= ONCE_MAX_DB_FAILURES:
                raise
            delay = min(DB_RETRY_MAX_SECONDS, 2.0 ** (failures - 1))
            log.warning("database unavailable (%s); retry %d in %.0f s", describe(exc), failures, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            continue
        if failures:
            log.info("database available again after %d failed attempt(s)", failures)
            failures = 0
        if outcome == "done":
            tally.done += 1
        elif outcome == "failed":
            tally.failed += 1
        if outcome is not None:
            continue
        await sweep_stranded_trajectories(services)
        if once:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
    return tally
