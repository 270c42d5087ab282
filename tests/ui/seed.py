"""Data for the console tests and screenshots, written the way the service writes it.

Memories and edits go through the /v1 API; trajectories with their validation records, tool
calls and jobs are inserted as the pipelines leave them (the pipelines need a chat model).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TASK_MEMORIES = [
    (
        "When a listing API returns a next_page token",
        "Loop until next_page is empty; the first page is never all.",
    ),
    ("When booking a flight for a user", "Confirm the date and the airport code before paying."),
    ("When a spreadsheet export times out", "Export per month and merge the files afterwards."),
    ("When the user asks for the cheapest option", "Compare totals including fees, not list prices."),
    ("When an API answers 429 Too Many Requests", "Wait for the Retry-After seconds, then retry once."),
]
PERSONAL_MEMORIES = [
    ("user", "Prefers window seats on flights longer than two hours."),
    ("user", "Is vegetarian and avoids mushrooms."),
    ("user", "Runs a half marathon every spring in Oslo."),
]


async def add_memories(
    client: httpx.AsyncClient, workspace: str, memories: list[dict[str, Any]]
) -> list[str]:
    response = await client.post(f"/v1/workspaces/{workspace}/memories", json=memories)
    assert response.status_code == 201, response.text
    return [m["memory_id"] for m in response.json()["items"]]


async def seed_workspace(client: httpx.AsyncClient, workspace: str) -> list[str]:
    """Task and personal memories with varied scores and usage counters; returns their ids."""
    task = [
        {"memory_type": "task", "when_to_use": w, "content": c, "score": 0.6 + 0.08 * i, "author": "judge"}
        for i, (w, c) in enumerate(TASK_MEMORIES)
    ]
    personal = [
        {
            "memory_type": "personal",
            "content": c,
            "target": t,
            "reflection_subject": "preferences",
            "score": 0.9,
        }
        for t, c in PERSONAL_MEMORIES
    ]
    ids = await add_memories(client, workspace, task + personal)
    return ids


async def set_usage(engine: AsyncEngine, workspace: str, memory_id: str, freq: int, utility: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE memory SET freq = :f, utility = :u WHERE workspace_id = :ws AND memory_id = :id"),
            {"f": freq, "u": utility, "ws": workspace, "id": memory_id},
        )


async def given_trajectory(
    engine: AsyncEngine, workspace: str, *, status: str = "done", error: str | None = None
) -> tuple[uuid.UUID, str]:
    """A summarised trajectory with one kept and one rejected candidate; returns it and the kept memory."""
    trajectory_id = uuid.uuid4()
    memory_id = uuid.uuid4().hex
    messages = [
        {"role": "user", "content": "Find the cheapest flight to Oslo next Friday"},
        {"role": "assistant", "content": "Searched three sites and compared totals including fees."},
        {"role": "tool", "content": '{"cheapest": "SK 4035", "total": 142.5}'},
        {"role": "assistant", "content": "Booked SK 4035 for 142.50 EUR."},
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO workspace (id) VALUES (:ws) ON CONFLICT DO NOTHING"), {"ws": workspace}
        )
        await conn.execute(
            text(
                "INSERT INTO trajectory (workspace_id, id, kind, task_id, messages, score, status, error,"
                " attempts, processed_at) VALUES (:ws, :id, 'task', 'flight-oslo', CAST(:messages AS jsonb),"
                " 1.0, :status, :error, 1, now())"
            ),
            {
                "ws": workspace,
                "id": trajectory_id,
                "messages": json.dumps(messages),
                "status": status,
                "error": error,
            },
        )
        if status != "done":
            return trajectory_id, ""
        await conn.execute(
            text(
                "INSERT INTO memory (workspace_id, memory_id, memory_type, when_to_use, content, score,"
                " source_trajectory_id) VALUES (:ws, :mid, 'task', 'When comparing flight prices',"
                " 'Compare totals including fees across at least three sites.', 0.85, :id)"
            ),
            {"ws": workspace, "mid": memory_id, "id": trajectory_id},
        )
        await conn.execute(
            text(
                "INSERT INTO validation_record (workspace_id, trajectory_id, memory_id, candidate, is_valid,"
                " score, feedback, model) VALUES"
                " (:ws, :id, :mid, CAST(:kept AS jsonb), true, 0.85, 'Specific and reusable.', 'stand-in'),"
                " (:ws, :id, NULL, CAST(:rejected AS jsonb), false, 0.2, 'Luck is not a method.', 'stand-in')"
            ),
            {
                "ws": workspace,
                "id": trajectory_id,
                "mid": memory_id,
                "kept": json.dumps(
                    {"when_to_use": "When comparing flight prices", "content": "Compare totals"}
                ),
                "rejected": json.dumps({"when_to_use": "When booking", "content": "Hope for a cheap fare"}),
            },
        )
    return trajectory_id, memory_id


async def given_tool_calls(engine: AsyncEngine, client: httpx.AsyncClient, workspace: str, tool: str) -> None:
    """Ten calls over five days (the later ones succeed more) and the tool's guideline memory."""
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    rows = [
        {
            "ws": workspace,
            "tool": tool,
            "hash": uuid.uuid4().hex,
            "input": json.dumps({"query": f"flights page {i}"}),
            "output": "ok: 20 results" if i % 3 else "error: timeout after 30 s",
            "success": bool(i % 3),
            "time": 0.4 + 0.1 * i,
            "tokens": 120 + 10 * i,
            "at": start + timedelta(days=i // 2),
        }
        for i in range(10)
    ]
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO workspace (id) VALUES (:ws) ON CONFLICT DO NOTHING"), {"ws": workspace}
        )
        await conn.execute(
            text(
                "INSERT INTO tool_call (workspace_id, tool_name, call_hash, input, output, success,"
                " time_cost, token_cost, call_time, score, is_judged, evaluation) VALUES (:ws, :tool,"
                " :hash, CAST(:input AS jsonb), :output, :success, :time, :tokens, :at, 0.7, true,"
                " 'reasonable call')"
            ),
            rows,
        )
    await add_memories(
        client,
        workspace,
        [
            {
                "memory_type": "tool",
                "when_to_use": tool,
                "content": f"Call {tool} with one query per page; retry a timeout once with a smaller page.",
            }
        ],
    )


async def given_failed_job(engine: AsyncEngine, workspace: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO workspace (id) VALUES (:ws) ON CONFLICT DO NOTHING"), {"ws": workspace}
        )
        await conn.execute(
            text(
                "INSERT INTO job (workspace_id, id, flow, payload, status, attempts, max_attempts, error)"
                " VALUES (:ws, :id, 'summary_task_memory', '{}', 'failed', 3, 3,"
                " 'LLMUnavailable: the chat model answered 500 three times')"
            ),
            {"ws": workspace, "id": job_id},
        )
    return job_id
