"""A synchronous summary killed mid-model-call: its trajectories are marked interrupted, then retried."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import SUCCESS, responder, rows, trajectory
from tests.integration.test_faults_worker import worker_env
from tests.integration.test_task_async import run_worker_once
from tests.support.server import free_port
from tests.support.standin import StandInOpenAI

WORKSPACE = "stranded"


@contextlib.asynccontextmanager
async def reme_serve(
    database_url: str, standin: StandInOpenAI, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, httpx.AsyncClient]]:
    """``reme serve`` in its own process, once it answers ``/health``; SIGKILLed on the way out."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--port",
        str(port),
        env={**worker_env(database_url, standin), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as http:
            for _ in range(1200):
                assert process.returncode is None, "reme serve exited before it was ready"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            yield process, http
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            await process.wait()


async def serve_and_kill_during_a_summary(database_url: str, standin: StandInOpenAI) -> None:
    """``reme serve`` in its own process, SIGKILLed while a synchronous summary waits on the model."""
    standin.timeout_seconds = 300
    standin.set_mode("timeout")
    async with reme_serve(database_url, standin) as (process, http):
        body = {"workspace_id": WORKSPACE, "trajectories": [trajectory("t1", 1.0)]}
        summary = asyncio.create_task(http.post("/summary_task_memory", json=body))
        for _ in range(1200):
            if standin.chat_requests:
                break
            await asyncio.sleep(0.1)
        assert standin.chat_requests, "the summary never called the model"
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), timeout=30)
        with contextlib.suppress(httpx.TransportError):
            await summary
    standin.set_mode("ok")


async def trajectory_row(engine: AsyncEngine) -> dict[str, Any]:
    found = await rows(
        engine,
        "SELECT id, status, error, attempts, lease_until IS NOT NULL AS leased FROM trajectory",
    )
    assert len(found) == 1, found
    return found[0]


async def test_a_killed_summary_is_marked_interrupted_and_can_be_retried(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, database_url: str
) -> None:
    # Given a synchronous summary whose process was killed while the model was thinking
    await serve_and_kill_during_a_summary(database_url, standin)
    stranded = await trajectory_row(engine)
    assert (stranded["status"], stranded["leased"]) == ("pending", True)

    # When its lease runs out (time passes) and a worker looks around
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE trajectory SET lease_until = now() - interval '1 second'"))
    await run_worker_once(database_url, standin)

    # Then the trajectory says it was interrupted
    failed = await trajectory_row(engine)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("interrupted")
    assert failed["attempts"] == 1

    # When it is retried through /v1 and the worker runs the job
    standin.responder = responder()
    retried = await client.post(f"/v1/workspaces/{WORKSPACE}/trajectories/{stranded['id']}/retry")
    assert retried.status_code == 202, retried.text
    assert (await trajectory_row(engine))["status"] == "pending"
    await run_worker_once(database_url, standin)

    # Then it is summarised: done, with its memory
    done = await trajectory_row(engine)
    assert (done["status"], done["attempts"]) == ("done", 2)
    assert [r["content"] for r in await rows(engine, "SELECT content FROM memory")] == [SUCCESS["content"]]


async def test_only_a_failed_trajectory_can_be_retried(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = responder()
    summary = await client.post(
        "/summary_task_memory", json={"workspace_id": WORKSPACE, "trajectories": [trajectory("t1", 1.0)]}
    )
    assert summary.status_code == 200, summary.text
    done = await trajectory_row(engine)

    again = await client.post(f"/v1/workspaces/{WORKSPACE}/trajectories/{done['id']}/retry")
    unknown = await client.post(
        f"/v1/workspaces/{WORKSPACE}/trajectories/00000000-0000-0000-0000-000000000000/retry"
    )

    assert again.status_code == 409, again.text
    assert "only a failed trajectory" in again.json()["answer"]
    assert unknown.status_code == 404, unknown.text
    assert (await trajectory_row(engine))["status"] == "done"


async def test_the_service_itself_marks_stranded_trajectories_without_a_worker(
    standin: StandInOpenAI, engine: AsyncEngine, database_url: str
) -> None:
    # Given a trajectory stranded by a killed summary, whose lease has run out
    await serve_and_kill_during_a_summary(database_url, standin)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE trajectory SET lease_until = now() - interval '1 second'"))
    assert (await trajectory_row(engine))["status"] == "pending"

    # When the service runs again, and no `reme worker` ever does
    async with reme_serve(database_url, standin, REME_LIMITS__STRANDED_SWEEP_SECONDS="0.2"):
        for _ in range(600):
            if (await trajectory_row(engine))["status"] != "pending":
                break
            await asyncio.sleep(0.1)

    # Then the service has marked it interrupted, ready to be retried
    swept = await trajectory_row(engine)
    assert swept["status"] == "failed", swept
    assert swept["error"].startswith("interrupted")
