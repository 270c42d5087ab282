"""The durable job queue: leases, retries with backoff, SKIP LOCKED, and the status route."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.citus import SESSION_FLAG
from app.store.jobs import claim_job, complete_job, enqueue_job, fail_job
from app.store.memories import ensure_workspace

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(
    engine: AsyncEngine, client: httpx.AsyncClient, citus_url: str | None
) -> AsyncIterator[Sessions]:
    # `client` empties the tables after the test. On Citus the claim takes its two steps.
    maker = async_sessionmaker(engine, expire_on_commit=False, info={SESSION_FLAG: citus_url is not None})
    async with maker() as session, session.begin():
        await ensure_workspace(session, "jobs")
    yield maker


async def enqueue(sessions: Sessions, flow: str = "noop", max_attempts: int = 3) -> uuid.UUID:
    async with sessions() as session, session.begin():
        return await enqueue_job(session, "jobs", flow, {"n": 1}, max_attempts=max_attempts)


async def test_a_leased_job_is_not_taken_twice(sessions: Sessions) -> None:
    job_id = await enqueue(sessions)

    async with sessions() as session, session.begin():
        first = await claim_job(session)
    async with sessions() as session, session.begin():
        second = await claim_job(session)

    assert first is not None and first.id == job_id and first.attempts == 1
    assert second is None


async def test_a_job_whose_worker_died_is_taken_again_when_its_lease_ends(sessions: Sessions) -> None:
    job_id = await enqueue(sessions)
    async with sessions() as session, session.begin():
        await claim_job(session, lease=timedelta(milliseconds=50))
    # the worker "dies": it never completes or fails the job
    await asyncio.sleep(0.2)

    async with sessions() as session, session.begin():
        again = await claim_job(session)

    assert again is not None and again.id == job_id
    assert again.attempts == 2


async def test_concurrent_workers_take_different_jobs(sessions: Sessions) -> None:
    ids = {await enqueue(sessions) for _ in range(6)}

    async def take() -> uuid.UUID | None:
        async with sessions() as session, session.begin():
            job = await claim_job(session)
            await asyncio.sleep(0.05)  # hold the row lock while the others look
            return job.id if job else None

    taken = await asyncio.gather(*(take() for _ in range(6)))

    assert set(taken) == ids


async def test_a_failed_job_is_retried_with_backoff_then_kept_failed_with_its_error(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    job_id = await enqueue(sessions, max_attempts=2)
    async with sessions() as session, session.begin():
        job = await claim_job(session)
        assert job is not None
        first = await fail_job(session, job, "model down", retryable=True)
    async with engine.begin() as conn:  # skip the backoff wait
        await conn.execute(text("UPDATE job SET run_after = now()"))
    async with sessions() as session, session.begin():
        job = await claim_job(session)
        assert job is not None
        second = await fail_job(session, job, "model still down", retryable=True)
    async with sessions() as session, session.begin():
        third = await claim_job(session)

    assert (first, second, third) == ("queued", "failed", None)
    async with engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT status, error, attempts FROM job WHERE id = :i"), {"i": job_id})
        ).one()
    assert tuple(row) == ("failed", "model still down", 2)


async def test_a_permanent_failure_is_not_retried(sessions: Sessions) -> None:
    await enqueue(sessions, max_attempts=5)
    async with sessions() as session, session.begin():
        job = await claim_job(session)
        assert job is not None
        status = await fail_job(session, job, "bad input", retryable=False)

    assert status == "failed"


async def test_job_status_route_reports_the_result(sessions: Sessions, client: httpx.AsyncClient) -> None:
    job_id = await enqueue(sessions)
    async with sessions() as session, session.begin():
        job = await claim_job(session)
        assert job is not None
        await complete_job(session, job, {"inserted": 3})

    response = await client.get(f"/v1/jobs/{job_id}")

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["result"], body["attempts"]) == ("done", {"inserted": 3}, 1)


async def test_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/jobs/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["success"] is False
