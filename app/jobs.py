"""Asynchronous flows: the registry of job handlers and the worker loop (``reme worker``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app.errors import InvalidInput, LLMNotConfigured, ReMeError
from app.logging import set_request_id
from app.services import Services
from app.store.jobs import claim_job, complete_job, fail_job
from app.store.trajectories import fail_stranded_trajectories

log = logging.getLogger("reme.worker")

JobHandler = Callable[[Services, str, dict[str, Any]], Awaitable[dict[str, Any]]]
JOB_HANDLERS: dict[str, JobHandler] = {}

# Errors that another attempt cannot fix.
PERMANENT_ERRORS = (InvalidInput, LLMNotConfigured)


def job_handler(flow: str) -> Callable[[JobHandler], JobHandler]:
    """Register ``handler(services, workspace_id, payload) -> result`` for jobs of ``flow``."""

    def register(handler: JobHandler) -> JobHandler:
        JOB_HANDLERS[flow] = handler
        return handler

    return register


def load_job_handlers() -> dict[str, JobHandler]:
    """Import every flow module so that their handlers are registered."""
    import app.routes.reme  # noqa: F401  (imports every flow's pipeline)

    return JOB_HANDLERS


async def run_one_job(services: Services) -> bool:
    """Take and run one job; False when the queue had nothing runnable."""
    async with services.db.session() as session:
        job = await claim_job(session)
    if job is None:
        return False
    set_request_id(f"job-{job.id.hex[:16]}")
    handler = JOB_HANDLERS.get(job.flow)
    try:
        if handler is None:
            raise InvalidInput(f"no handler for flow {job.flow!r}")
        result = await handler(services, job.workspace_id, job.payload)
    except Exception as exc:
        retryable = not isinstance(exc, PERMANENT_ERRORS)
        message = exc.message if isinstance(exc, ReMeError) else f"{type(exc).__name__}: {exc}"
        async with services.db.session() as session:
            status = await fail_job(session, job, message, retryable=retryable)
        log.warning(
            "job %s (%s) attempt %d failed, now %s: %s", job.id, job.flow, job.attempts, status, message
        )
        return True
    async with services.db.session() as session:
        await complete_job(session, job, result)
    log.info("job %s (%s) done", job.id, job.flow)
    return True


async def sweep_stranded_trajectories(services: Services) -> None:
    """Mark trajectories whose synchronous summary died (lease run out) as failed: interrupted."""
    async with services.db.session() as session:
        count = await fail_stranded_trajectories(session)
    if count:
        log.warning("%d trajectories were left pending by an interrupted summary; marked failed", count)


async def run_worker(
    services: Services, *, once: bool = False, poll_seconds: float = 1.0, stop: asyncio.Event | None = None
) -> int:
    """Process jobs until ``stop`` is set (or the queue is empty, with ``once``); returns jobs run."""
    load_job_handlers()
    stop = stop or asyncio.Event()
    done = 0
    while not stop.is_set():
        ran = await run_one_job(services)
        done += int(ran)
        if ran:
            continue
        await sweep_stranded_trajectories(services)
        if once:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
    return done
