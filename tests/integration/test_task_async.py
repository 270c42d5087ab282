"""async_mode on the summary flows: input and job stored together, 202, the worker finishes it."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import SUCCESS, responder, rows, trajectory
from tests.support.standin import StandInOpenAI


async def run_worker_once(database_url: str, standin: StandInOpenAI | None, *, expect_code: int = 0) -> str:
    """``reme worker --once`` in its own process, against the test database and the stand-in
    (no chat model at all when ``standin`` is None); returns stdout and stderr together."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REME_LLM__", "FLOW_LLM_"))}
    env.update({"REME_DATABASE_URL": database_url, "REME_EMBEDDING__PROVIDER": "local"})
    if standin is not None:
        env.update(
            {
                "REME_LLM__BASE_URL": standin.base_url,
                "REME_LLM__API_KEY": "x",
                "REME_LLM__MODEL": "stand-in",
                "REME_LLM__MAX_RETRIES": "0",
            }
        )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        "--once",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == expect_code, output.decode()
    return output.decode()


@pytest.mark.parametrize("flow", ["summary_task_memory", "summary_task_memory_simple"])
async def test_async_summary_is_accepted_then_done_by_the_worker(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, database_url: str, flow: str
) -> None:
    standin.responder = responder()
    body = {"workspace_id": "w1", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]}

    accepted = await client.post(f"/{flow}", json=body)

    assert accepted.status_code == 202, accepted.json()
    job_id = accepted.json()["metadata"]["job_id"]
    assert standin.chat_requests == []
    [run] = await rows(engine, "SELECT status FROM trajectory")
    assert run["status"] == "pending"
    queued = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert queued["status"] == "queued"

    output = await run_worker_once(database_url, standin)

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "done", (job, output)
    assert f"worker chat model: stand-in at {standin.base_url}" in output
    assert "processed 1 job(s): 1 done, 0 failed" in output
    assert [m["content"] for m in job["result"]["memory_list"]] == [SUCCESS["content"]]
    assert job["result"]["update_result"]["inserted_count"] == 1
    assert [r["content"] for r in await rows(engine, "SELECT content FROM memory")] == [SUCCESS["content"]]
    assert [r["status"] for r in await rows(engine, "SELECT status FROM trajectory")] == ["done"]


async def test_a_failed_async_summary_keeps_the_error_on_job_and_trajectory(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, database_url: str
) -> None:
    body = {"workspace_id": "w1", "async_mode": True, "trajectories": [trajectory("t1", 0.0)]}
    job_id = (await client.post("/summary_task_memory", json=body)).json()["metadata"]["job_id"]
    standin.set_mode("error")

    output = await run_worker_once(database_url, standin, expect_code=1)

    assert "processed 1 job(s): 0 done, 1 failed" in output
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "queued"  # to be retried after a backoff
    assert "HTTP 500" in job["error"]
    [run] = await rows(engine, "SELECT status, error FROM trajectory")
    assert run["status"] == "failed"
    assert run["error"] == job["error"]
    assert await rows(engine, "SELECT 1 FROM memory") == []


async def test_a_worker_without_a_chat_model_says_so_and_fails_the_job_and_its_exit_code(
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = {"workspace_id": "w1", "async_mode": True, "trajectories": [trajectory("t1", 1.0)]}
    job_id = (await client.post("/summary_task_memory", json=body)).json()["metadata"]["job_id"]

    output = await run_worker_once(database_url, None, expect_code=1)

    assert "worker chat model: none: summary flows answer 503" in output
    assert "processed 1 job(s): 0 done, 1 failed" in output
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "failed"  # no retry can give it a chat model
    assert "REME_LLM__BASE_URL" in job["error"]
