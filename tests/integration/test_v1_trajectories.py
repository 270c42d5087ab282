"""/v1 trajectories: list, and one with the memories and validation records derived from it."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

BASE = "/v1/workspaces/runs/trajectories"


async def given_trajectory(engine: AsyncEngine, *, task_id: str = "t1", kind: str = "task") -> uuid.UUID:
    """A stored trajectory with one kept and one rejected candidate, as a summary leaves them."""
    trajectory_id = uuid.uuid4()
    messages = [{"role": "user", "content": "book a flight"}]
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO workspace (id) VALUES ('runs') ON CONFLICT DO NOTHING"))
        await conn.execute(
            text(
                "INSERT INTO trajectory (workspace_id, id, kind, task_id, messages, score, status) "
                "VALUES ('runs', :id, :kind, :task_id, CAST(:messages AS jsonb), 1.0, 'done')"
            ),
            {"id": trajectory_id, "kind": kind, "task_id": task_id, "messages": json.dumps(messages)},
        )
        memory_id = uuid.uuid4().hex
        await conn.execute(
            text(
                "INSERT INTO memory (workspace_id, memory_id, memory_type, content, source_trajectory_id) "
                "VALUES ('runs', :memory_id, 'task', 'check the date first', :id)"
            ),
            {"memory_id": memory_id, "id": trajectory_id},
        )
        await conn.execute(
            text(
                "INSERT INTO validation_record "
                "(workspace_id, trajectory_id, memory_id, candidate, is_valid, score) "
                "VALUES ('runs', :id, :memory_id, '{\"content\": \"check the date first\"}', true, 0.9), "
                "('runs', :id, NULL, '{\"content\": \"be lucky\"}', false, 0.1)"
            ),
            {"memory_id": memory_id, "id": trajectory_id},
        )
    return trajectory_id


async def test_a_trajectory_comes_with_its_memories_and_validation_records(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    trajectory_id = await given_trajectory(engine)

    detail = (await client.get(f"{BASE}/{trajectory_id}")).json()

    assert detail["messages"] == [{"role": "user", "content": "book a flight"}]
    assert [m["content"] for m in detail["memories"]] == ["check the date first"]
    assert [(r["is_valid"], r["candidate"]["content"]) for r in detail["validation_records"]] == [
        (True, "check the date first"),
        (False, "be lucky"),
    ]


async def test_trajectories_are_listed_newest_first_without_messages(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    older = await given_trajectory(engine, task_id="older")
    newer = await given_trajectory(engine, task_id="newer")

    page = (await client.get(BASE)).json()

    assert [t["id"] for t in page["items"]] == [str(newer), str(older)]
    assert "messages" not in page["items"][0]


async def test_trajectories_are_paged_and_filtered(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for n in range(3):
        await given_trajectory(engine, task_id=f"t{n}")
    await given_trajectory(engine, task_id="p", kind="personal")

    first = (await client.get(BASE, params={"kind": "task", "limit": 2})).json()
    second = (
        await client.get(BASE, params={"kind": "task", "limit": 2, "cursor": first["next_cursor"]})
    ).json()

    tasks = [t["task_id"] for t in first["items"] + second["items"]]
    assert tasks == ["t2", "t1", "t0"]
    assert second["next_cursor"] is None


async def test_an_unknown_trajectory_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/{uuid.uuid4()}")

    assert response.status_code == 404
