"""/v1 workspaces: create, list with a cursor, stats and delete."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_a_created_workspace_is_listed_with_its_settings(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v1/workspaces", json={"id": "team.alpha", "description": "the alpha team", "settings": {"top_k": 3}}
    )

    listed = (await client.get("/v1/workspaces")).json()

    assert created.status_code == 201
    assert listed["items"] == [
        {**created.json(), "id": "team.alpha", "description": "the alpha team", "settings": {"top_k": 3}}
    ]
    assert listed["next_cursor"] is None


async def test_creating_a_taken_id_is_a_conflict(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workspaces", json={"id": "twice"})

    response = await client.post("/v1/workspaces", json={"id": "twice"})

    assert response.status_code == 409


async def test_an_invalid_workspace_id_is_refused_with_its_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/workspaces", json={"id": "teams/ops"})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"][-1] == "id"


async def test_workspaces_are_listed_page_by_page(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await client.post("/v1/workspaces", json={"id": f"ws{n}"})

    first = (await client.get("/v1/workspaces", params={"limit": 2})).json()
    second = (await client.get("/v1/workspaces", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    third = (await client.get("/v1/workspaces", params={"limit": 2, "cursor": second["next_cursor"]})).json()

    ids = [w["id"] for page in (first, second, third) for w in page["items"]]
    assert ids == ["ws0", "ws1", "ws2", "ws3", "ws4"]
    assert third["next_cursor"] is None


async def test_stats_count_memories_by_type_with_scores_and_counters(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post(
        "/v1/workspaces/stats_ws/memories",
        json=[
            {"content": "a", "score": 1.0},
            {"content": "b", "score": 0.5},
            {"content": "c", "memory_type": "personal", "target": "bob", "score": 0.0},
        ],
    )
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE memory SET freq = 2, utility = 1 WHERE content = 'a'"))

    stats = (await client.get("/v1/workspaces/stats_ws/stats")).json()

    assert stats["memory_count"] == 3
    assert stats["by_type"] == {"task": 2, "personal": 1}
    assert stats["avg_score"] == 0.5
    assert (stats["freq_sum"], stats["utility_sum"]) == (2, 1)
    assert stats["last_write"] is not None


async def test_stats_of_an_unknown_workspace_are_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workspaces/ghost/stats")

    assert response.status_code == 404


async def test_deleting_a_workspace_removes_its_memories(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workspaces/doomed/memories", json={"content": "soon gone"})

    response = await client.delete("/v1/workspaces/doomed")

    assert response.json() == {"workspace_id": "doomed", "deleted": True, "memory_count": 1}
    assert (await client.get("/v1/workspaces/doomed/memories")).json()["items"] == []
    assert (await client.delete("/v1/workspaces/doomed")).status_code == 404
