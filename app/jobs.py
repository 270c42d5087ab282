"""The worker loop of asynchronous flows (``reme worker``).

Which handler runs which flow is decided by the composition root (``app.main.job_handlers``),
which passes the mapping in: this module imports no flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.errors import InvalidInput, LLMNotConfigured, ReMeError
from app.logging import set_request_id
from app.services import Services
from app.store.jobs import claim_job, complete_job, fail_job

log = logging.getLogger("reme.worker")

JobHandler = Callable[[Services, str, dict[str, Any]], Awaitable[dict[str, Any]]]
JobHandlers = Mapping[str, JobHandler]

# Errors that another attempt cannot fix.
PERMANENT_ERRORS = (InvalidInput, LLMNotConfigured)


async def run_one_job(services: Services, handlers: JobHandlers) -> bool:
    """Take and run one job; False when the queue had nothing runnable."""
    async with services.db.session() as session:
        job = await claim_job(session)
    if job is None:
        return False
    set_request_id(f"job-{job.id.hex[:16]}")
    handler = handlers.get(job.flow)
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


async def run_worker(
    services: Services,
    handlers: JobHandlers,
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    stop: asyncio.Event | None = None,
) -> int:
    """Process jobs with ``handlers`` until ``stop`` is set (or the queue is empty, with ``once``).

    Returns how many jobs ran.
    """
    stop = stop or asyncio.Event()
    done = 0
    while not stop.is_set():
        ran = await run_one_job(services, handlers)
        done += int(ran)
        if ran:
            continue
        if once:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
    return done
