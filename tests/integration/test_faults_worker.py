"""A summary job whose worker dies mid-model-call is taken again once its lease runs out."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import SUCCESS, responder, rows, trajectory
from tests.integration.test_task_async import run_worker_once
from tests.support.standin import StandInOpenAI


def worker_env(database_url: str, standin: StandInOpenAI) -> dict[str, str]:
    return {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_LLM__BASE_URL": standin.base_url,
        "REME_LLM__API_KEY": "x",
        "REME_LLM__MODEL": "stand-in",
        "REME_LLM__MAX_RETRIES": "0",
        "REME_LLM__TIMEOUT": "120",
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LOG_LEVEL": "WARNING",
    }


async def enqueue_summary(client: httpx.AsyncClient) -> str:
    body = {"workspace_id": "w1", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]}
    accepted = await client.post("/summary_task_memory", json=body)
    assert accepted.status_code == 202, accepted.text
    job_id: str = accepted.json()["metadata"]["job_id"]
    return job_id


async def worker_killed_in_a_model_call(database_url: str, standin: StandInOpenAI) -> int:
    """Start ``reme worker`` with the model stalling, and SIGKILL it once it is waiting on it;
    returns how many model calls it had made."""
    standin.timeout_seconds = 300
    standin.set_mode("timeout")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env=worker_env(database_url, standin),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not standin.chat_requests:
            assert process.returncode is None, "the worker exited before calling the model"
            assert time.monotonic() < deadline, "the worker never called the model"
            await asyncio.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), timeout=30)
    standin.set_mode("ok")
    return len(standin.chat_requests)


async def job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_dead_workers_job_waits_for_its_lease_to_end(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, database_url: str
) -> None:
    # Given a summary job whose worker was killed while waiting on the model
    job_id = await enqueue_summary(client)
    calls = await worker_killed_in_a_model_call(database_url, standin)
    standin.responder = responder()

    # When another worker looks for work while the dead worker's lease still runs
    await run_worker_once(database_url, standin)

    # Then it leaves the job alone: still running, on its first attempt, nothing written
    leased = await job(client, job_id)
    assert (leased["status"], leased["attempts"]) == ("running", 1)
    assert len(standin.chat_requests) == calls
    assert await rows(engine, "SELECT 1 FROM memory") == []


async def test_a_dead_workers_job_is_done_by_the_next_worker_after_the_lease(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, database_url: str
) -> None:
    # Given a summary job whose worker was killed while waiting on the model
    job_id = await enqueue_summary(client)
    await worker_killed_in_a_model_call(database_url, standin)
    standin.responder = responder()
    # ...and the lease it held has run out (time passes: the lease lasts ten minutes)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE job SET locked_until = now() - interval '1 second' WHERE id = :id"), {"id": job_id}
        )

    # When the next worker runs
    output = await run_worker_once(database_url, standin)

    # Then the job is done on its second attempt, with one memory and its trajectory done
    done = await job(client, job_id)
    assert (done["status"], done["attempts"]) == ("done", 2), (done, output)
    assert [m["content"] for m in done["result"]["memory_list"]] == [SUCCESS["content"]]
    assert [r["content"] for r in await rows(engine, "SELECT content FROM memory")] == [SUCCESS["content"]]
    assert [r["status"] for r in await rows(engine, "SELECT status FROM trajectory")] == ["done"]
