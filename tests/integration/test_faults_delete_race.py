"""Deleting a workspace while a summary of it waits on the model: the delete wins, cleanly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import responder, trajectory
from tests.support.standin import StandInOpenAI, minimal_answer

WORKSPACE = "w1"


def gated(standin: StandInOpenAI, answer: Callable[[dict[str, Any]], Any]) -> threading.Event:
    """Make every model answer wait until the returned event is set."""
    gate = threading.Event()

    def slow(request: dict[str, Any]) -> Any:
        gate.wait(60)
        return answer(request)

    standin.responder = slow
    return gate


async def wait_for_model_call(standin: StandInOpenAI) -> None:
    for _ in range(600):
        if standin.chat_requests:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the flow never called the model")


async def count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), {"ws": WORKSPACE})).scalar_one())


FLOWS: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], Any]]] = [
    ("/summary_task_memory", {"trajectories": [trajectory("t1", 1.0)]}, responder()),
    (
        "/summary_personal_memory",
        {"trajectories": [{"messages": [{"role": "user", "content": "I moved to Lisbon last year"}]}]},
        minimal_answer,
    ),
    (
        "/add_tool_call_result",
        {"tool_call_results": [{"tool_name": "search", "input": {"q": "x"}, "output": "y", "success": True}]},
        minimal_answer,
    ),
]


@pytest.mark.parametrize(("flow", "body", "answer"), FLOWS, ids=[f[0] for f in FLOWS])
async def test_a_workspace_deleted_during_a_summary_stays_deleted(
    client: httpx.AsyncClient,
    standin: StandInOpenAI,
    engine: AsyncEngine,
    flow: str,
    body: dict[str, Any],
    answer: Callable[[dict[str, Any]], Any],
) -> None:
    # Given a flow of W1 waiting on a slow model
    gate = gated(standin, answer)
    running = asyncio.create_task(client.post(flow, json={"workspace_id": WORKSPACE, **body}))
    try:
        await wait_for_model_call(standin)

        # When W1 is deleted, then the model answers
        deleted = await client.delete(f"/v1/workspaces/{WORKSPACE}")
    finally:
        gate.set()
    response = await running

    # Then the delete stands, and the flow says why it stored nothing
    assert deleted.status_code == 200, deleted.text
    assert response.status_code == 409, response.text
    assert "was deleted while" in response.json()["answer"]
    assert await count(engine, "SELECT count(*) FROM workspace WHERE id = :ws") == 0
    assert await count(engine, "SELECT count(*) FROM memory WHERE workspace_id = :ws") == 0
    assert await count(engine, "SELECT count(*) FROM trajectory WHERE workspace_id = :ws") == 0
