"""/v1 memories: direct adds, filters, stable cursor pagination, patch, delete and history."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

BASE = "/v1/workspaces/agent/memories"


async def add(client: httpx.AsyncClient, body: Any, workspace: str = "agent") -> list[dict[str, Any]]:
    response = await client.post(f"/v1/workspaces/{workspace}/memories", json=body)
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def memory(n: int, **fields: Any) -> dict[str, Any]:
    return {"when_to_use": f"situation {n}", "content": f"advice number {n}", **fields}


async def test_adding_a_memory_embeds_it_without_an_llm(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (added,) = await add(client, memory(1, score=0.8, metadata={"source": "manual"}))

    assert added["workspace_id"] == "agent"
    assert len(added["memory_id"]) == 32
    assert added["score"] == 0.8
    assert added["metadata"] == {"source": "manual"}
    assert "embedding" not in added
    async with engine.connect() as conn:
        has_vector = await conn.scalar(text("SELECT embedding IS NOT NULL FROM memory"))
    assert has_vector is True


async def test_a_list_of_memories_is_added_in_one_request(client: httpx.AsyncClient) -> None:
    added = await add(client, [memory(n) for n in range(3)])

    assert [m["content"] for m in added] == ["advice number 0", "advice number 1", "advice number 2"]


async def test_adding_a_taken_memory_id_is_a_conflict(client: httpx.AsyncClient) -> None:
    await add(client, memory(1, memory_id="fixed-id"))

    response = await client.post(BASE, json=memory(2, memory_id="fixed-id"))

    assert response.status_code == 409
    assert "fixed-id" in response.json()["answer"]


async def test_a_memory_without_text_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(BASE, json={"when_to_use": "", "content": " "})

    assert response.status_code == 400
    assert response.json()["success"] is False


async def test_get_returns_one_memory_and_404_for_unknown(client: httpx.AsyncClient) -> None:
    (added,) = await add(client, memory(1))

    found = await client.get(f"{BASE}/{added['memory_id']}")
    missing = await client.get(f"{BASE}/nope")

    assert found.json()["content"] == "advice number 1"
    assert missing.status_code == 404


async def test_list_filters_by_type_target_and_score(client: httpx.AsyncClient) -> None:
    await add(
        client,
        [
            memory(1, memory_type="task", score=0.9),
            memory(2, memory_type="task", score=0.2),
            memory(3, memory_type="personal", target="alice", score=0.9),
        ],
    )

    tasks = (await client.get(BASE, params={"type": "task", "min_score": 0.5})).json()["items"]
    alice = (await client.get(BASE, params={"target": "alice"})).json()["items"]

    assert [m["content"] for m in tasks] == ["advice number 1"]
    assert [m["content"] for m in alice] == ["advice number 3"]


async def test_pages_stay_stable_while_rows_are_inserted(client: httpx.AsyncClient) -> None:
    await add(client, [memory(n) for n in range(5)])
    await add(client, [memory(n) for n in range(5, 10)])
    first = (await client.get(BASE, params={"limit": 4})).json()

    await add(client, [memory(n) for n in range(100, 103)])
    seen = [m["content"] for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get(BASE, params={"limit": 4, "cursor": cursor})).json()
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if len(seen) == 8:
            await add(client, memory(200))

    assert len(seen) == len(set(seen))
    assert {f"advice number {n}" for n in range(10)} <= set(seen)


async def test_limit_above_the_maximum_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(BASE, params={"limit": 501})

    assert response.status_code == 400


async def test_a_forged_cursor_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(BASE, params={"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["query", "cursor"]


async def test_patch_changes_fields_and_reembeds_changed_text(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    (added,) = await add(client, memory(1, metadata={"keep": 1, "drop": 2}))
    async with engine.connect() as conn:
        before = await conn.scalar(text("SELECT embedding::text FROM memory"))

    response = await client.patch(
        f"{BASE}/{added['memory_id']}",
        json={"when_to_use": "a completely different situation", "score": 0.7, "metadata": {"drop": None}},
    )

    patched = response.json()
    assert (patched["when_to_use"], patched["score"], patched["metadata"]) == (
        "a completely different situation",
        0.7,
        {"keep": 1},
    )
    async with engine.connect() as conn:
        after = await conn.scalar(text("SELECT embedding::text FROM memory"))
    assert after != before


async def test_history_shows_add_update_and_delete_of_one_memory(client: httpx.AsyncClient) -> None:
    (added,) = await add(client, memory(1))
    url = f"{BASE}/{added['memory_id']}"
    await client.patch(url, json={"content": "better advice"})
    deleted = await client.delete(url)

    history = (await client.get(f"{url}/history")).json()["events"]

    assert deleted.status_code == 204
    assert [e["action"] for e in history] == ["add", "update", "delete"]
    assert history[1]["before"]["content"] == "advice number 1"
    assert history[1]["after"]["content"] == "better advice"
    assert history[2]["before"]["content"] == "better advice"
    assert (await client.get(url)).status_code == 404


async def test_deleting_an_unknown_memory_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"{BASE}/nope")

    assert response.status_code == 404
