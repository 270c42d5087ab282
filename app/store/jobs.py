"""The durable job queue: rows in ``job`` taken with ``FOR UPDATE SKIP LOCKED``
(on Citus in two steps, see :func:`claim_job`).

A taken job holds a lease (``locked_until``); a worker that dies lets the lease run out and
the job is taken again. Failures are retried with exponential backoff until
``max_attempts``; the last error is kept.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.citus import on_citus
from app.models import Job
from app.observability.tracing import TRACE_KEY, trace_carrier

LEASE = timedelta(minutes=10)
MAX_BACKOFF_SECONDS = 300
# Candidates read by the two-step claim on Citus, tried in order until one is taken.
CLAIM_CANDIDATES = 8


async def enqueue_job(
    session: AsyncSession, workspace_id: str, flow: str, payload: dict[str, Any], *, max_attempts: int = 5
) -> uuid.UUID:
    carrier = trace_carrier()  # the job's span links to the request that queued it
    if carrier:
        payload = {**payload, TRACE_KEY: carrier}
    job = Job(
        workspace_id=workspace_id, id=uuid.uuid4(), flow=flow, payload=payload, max_attempts=max_attempts
    )
    session.add(job)
    await session.flush()
    return job.id


def _runnable() -> Any:
    """Queued and due, or running with an expired lease."""
    now = func.now()
    return or_(
        and_(Job.status == "queued", Job.run_after <= now),
        and_(Job.status == "running", Job.locked_until < now),
    )


def _take(lease: timedelta) -> Any:
    now = func.now()
    return (
        update(Job)
        .values(status="running", attempts=Job.attempts + 1, locked_until=now + lease, updated_at=now)
        .returning(Job)
    )


async def claim_job(session: AsyncSession, lease: timedelta = LEASE) -> Job | None:
    """Take the oldest runnable job (queued, or running with an expired lease)."""
    if on_citus(session):
        return await _claim_in_two_steps(session, lease)
    runnable = (
        select(Job.workspace_id, Job.id)
        .where(_runnable())
        .order_by(Job.run_after)
        .limit(1)
        .with_for_update(skip_locked=True)
        .cte("runnable")
    )
    claimed = await session.scalars(
        _take(lease).where(Job.workspace_id == runnable.c.workspace_id, Job.id == runnable.c.id)
    )
    return claimed.one_or_none()


async def _claim_in_two_steps(session: AsyncSession, lease: timedelta) -> Job | None:
    """The claim on Citus, where ``FOR UPDATE SKIP LOCKED`` cannot span shards.

    First the oldest runnable candidates are read without locks (the one statement that
    reads every shard); then each is taken with a single-shard ``UPDATE`` that checks again
    that it is runnable. Two workers reading the same candidate both try it; the second
    ``UPDATE`` waits for the first and then matches no row, so it moves on to the next.
    """
    candidates = await session.execute(
        select(Job.workspace_id, Job.id).where(_runnable()).order_by(Job.run_after).limit(CLAIM_CANDIDATES)
    )
    for workspace_id, job_id in candidates.all():
        claimed = await session.scalars(
            _take(lease).where(Job.workspace_id == workspace_id, Job.id == job_id, _runnable())
        )
        job = claimed.one_or_none()
        if job is not None:
            return job
    return None


async def complete_job(session: AsyncSession, job: Job, result: dict[str, Any]) -> None:
    await session.execute(
        update(Job)
        .where(Job.workspace_id == job.workspace_id, Job.id == job.id)
        .values(status="done", result=result, error=None, locked_until=None, updated_at=func.now())
    )


async def fail_job(session: AsyncSession, job: Job, error: str, *, retryable: bool) -> str:
    """Record a failure; the job is queued again with backoff unless it is out of attempts."""
    again = retryable and job.attempts < job.max_attempts
    delay = timedelta(seconds=min(2**job.attempts, MAX_BACKOFF_SECONDS))
    await session.execute(
        update(Job)
        .where(Job.workspace_id == job.workspace_id, Job.id == job.id)
        .values(
            status="queued" if again else "failed",
            error=error,
            locked_until=None,
            run_after=func.now() + delay,
            updated_at=func.now(),
        )
    )
    return "queued" if again else "failed"


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return (await session.scalars(select(Job).where(Job.id == job_id))).one_or_none()


def job_to_dict(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.id),
        "workspace_id": job.workspace_id,
        "flow": job.flow,
        "status": job.status,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
    }


async def job_counts(session: AsyncSession) -> dict[str, int]:
    """Jobs per status (queued, running, done, failed)."""
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status).order_by(Job.status))
    return {status: int(count) for status, count in rows.all()}
