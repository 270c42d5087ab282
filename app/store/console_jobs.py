"""The job queue as the memory console shows it: counts per status, a page of jobs, retry."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import JOB_STATUSES, Job
from app.store.browse import Page, after_key, encode_cursor
from app.store.console import EXACT_COUNT_CAP, Tally


def _visible(only: Collection[str] | None) -> list[ColumnElement[bool]]:
    return [] if only is None else [Job.workspace_id.in_(list(only))]


async def job_counts(session: AsyncSession, only: Collection[str] | None = None) -> dict[str, Tally]:
    """Jobs per status, each counted from the (status, run_after) index up to the cap."""
    out: dict[str, Tally] = {}
    for status in JOB_STATUSES:
        limited = (
            select(literal(1))
            .select_from(Job)
            .where(Job.status == status, *_visible(only))
            .limit(EXACT_COUNT_CAP + 1)
            .subquery()
        )
        counted = int(await session.scalar(select(func.count()).select_from(limited)) or 0)
        out[status] = Tally(min(counted, EXACT_COUNT_CAP), exact=counted <= EXACT_COUNT_CAP)
    return out


async def list_jobs(
    session: AsyncSession,
    status: str,
    *,
    limit: int,
    cursor: str | None = None,
    only: Collection[str] | None = None,
) -> Page[Job]:
    """Jobs of one status, most recently scheduled first (keyset on run_after, id)."""
    query: Any = (
        select(Job)
        .where(
            Job.status == status,
            *_visible(only),
            *after_key(Job.run_after, Job.id, cursor, "desc", uuid.UUID),
        )
        .order_by(Job.run_after.desc(), Job.id.desc())
        .limit(limit + 1)
    )
    rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].run_after, str(rows[-1].id)) if more else None
    return Page(rows, next_cursor)


async def find_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    job = await session.scalar(select(Job).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


async def retry_job(session: AsyncSession, job_id: uuid.UUID) -> Job:
    """Queue a failed job again with a fresh set of attempts; its last error stays until it runs."""
    job = await find_job(session, job_id)
    retried = await session.scalar(
        update(Job)
        .where(Job.workspace_id == job.workspace_id, Job.id == job_id, Job.status == "failed")
        .values(status="queued", attempts=0, run_after=func.now(), locked_until=None, updated_at=func.now())
        .returning(Job)
    )
    if retried is None:
        raise Conflict(f"job {job_id} is {job.status}, not failed: only failed jobs can be retried")
    return retried
