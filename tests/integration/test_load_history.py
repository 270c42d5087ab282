"""A load writes the history of what it changed, each version as the other writes record it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import Memory
from app.store.memories import memory_snapshot

NDJSON = {"Content-Type": "application/x-ndjson"}


def memory_line(memory_id: str, content: str, **fields: Any) -> dict[str, Any]:
    return {"memory_id": memory_id, "memory_type": "personal", "content": content, **fields}


async def import_lines(
    client: httpx.AsyncClient, workspace_id: str, records: list[dict[str, Any]], *, replace: bool
) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    response = await client.post(
        f"/v1/workspaces/{workspace_id}/import",
        content=body,
        headers=NDJSON,
        params={"replace": "true" if replace else "false"},
    )
    assert response.status_code == 200, response.text


async def stored_snapshots(engine: AsyncEngine, workspace_id: str) -> dict[str, dict[str, Any]]:
    """``memory_snapshot`` of every stored memory, by id (what an edit would record)."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(select(Memory).where(Memory.workspace_id == workspace_id))
        return {m.memory_id: json.loads(json.dumps(memory_snapshot(m))) for m in rows}


async def events(engine: AsyncEngine, workspace_id: str, action: str) -> dict[str, dict[str, Any]]:
    """The ``before`` (deletes) or ``after`` (loads) of the workspace's events of ``action``."""
    column = "before" if action == "delete" else "after"
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT memory_id, {column} FROM memory_event WHERE workspace_id = :w AND action = :a"),
            {"w": workspace_id, "a": action},
        )
        return {memory_id: version for memory_id, version in rows.all()}


async def test_each_loaded_memory_is_recorded_as_it_was_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Given lines with and without event times (one to the microsecond), counters and metadata
    workspace_id = f"history-{uuid.uuid4().hex[:8]}"
    records = [
        memory_line(
            "m1",
            "Alice moved to Lisbon",
            target="alice",
            event_time="2025-03-04T05:06:07.123456+02:00",
            metadata={"source": "chat"},
            freq=3,
            utility=2,
        ),
        memory_line("m2", "Bob likes tea", event_time="2025-01-02T03:04:05Z", metadata={"n": 1.5}),
        memory_line("m3", "Carol plays chess", score=0.25),
    ]

    # When they are loaded
    await import_lines(client, workspace_id, records, replace=False)

    # Then each one's load event holds the version stored, as memory_snapshot gives it
    loaded = await events(engine, workspace_id, "load")
    assert loaded == await stored_snapshots(engine, workspace_id)
    assert loaded["m1"]["event_time"] == "2025-03-04T03:06:07.123456+00:00"
    assert loaded["m1"]["metadata"] == {
        "source": "chat",
        "event_time": "2025-03-04 03:06:07",
        "freq": 3,
        "utility": 2,
    }
    assert loaded["m2"]["metadata"]["event_time"] == "2025-01-02 03:04:05"
    assert loaded["m3"]["event_time"] is None
    assert loaded["m1"]["time_created"] != ""


async def test_a_replacing_load_records_the_last_version_of_each_memory_it_drops(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Given a workspace of three memories
    workspace_id = f"history-{uuid.uuid4().hex[:8]}"
    first = [
        memory_line("keep", "stays"),
        memory_line("drop1", "goes", event_time="2024-12-31T23:59:59Z"),
        memory_line("drop2", "goes too", metadata={"k": "v"}),
    ]
    await import_lines(client, workspace_id, first, replace=False)
    before = await stored_snapshots(engine, workspace_id)

    # When a load replaces them with one of the same and a new one
    await import_lines(
        client,
        workspace_id,
        [memory_line("keep", "stays, edited"), memory_line("new", "arrives")],
        replace=True,
    )

    # Then only the two memories gone are recorded as deleted, each with its last version
    assert await events(engine, workspace_id, "delete") == {
        "drop1": before["drop1"],
        "drop2": before["drop2"],
    }
    after = await stored_snapshots(engine, workspace_id)
    assert set(after) == {"keep", "new"}
    assert after["keep"]["content"] == "stays, edited"
