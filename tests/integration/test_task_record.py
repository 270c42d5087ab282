"""record_task_memory and delete_task_memory: atomic counters, exact pruning, history kept."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.task_support import rows, seed_memories


async def counters(engine: AsyncEngine) -> dict[str, tuple[int, int]]:
    found = await rows(engine, "SELECT memory_id, freq, utility FROM memory")
    return {r["memory_id"]: (r["freq"], r["utility"]) for r in found}


async def test_recording_memory_dicts_counts_a_use_and_a_success(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    ids = await seed_memories(
        engine, None, "w1", [{"when_to_use": "a"}, {"when_to_use": "b"}, {"when_to_use": "c"}]
    )
    dicts = [{"memory_id": ids[0], "content": "as retrieval returned it"}, {"memory_id": ids[1]}]

    response = await client.post(
        "/record_task_memory", json={"workspace_id": "w1", "memory_dicts": dicts, "update_utility": True}
    )

    assert response.status_code == 200, response.json()
    assert await counters(engine) == {ids[0]: (1, 1), ids[1]: (1, 1), ids[2]: (0, 0)}
    events = await rows(engine, "SELECT memory_id, action, after FROM memory_event ORDER BY memory_id")
    assert sorted(e["memory_id"] for e in events) == sorted(ids[:2])
    assert {e["action"] for e in events} == {"record"}
    assert events[0]["after"]["helped"] is True


async def test_recording_ids_without_utility_counts_only_the_use(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    [memory_id] = await seed_memories(engine, None, "w1", [{"when_to_use": "a", "freq": 2, "utility": 1}])

    response = await client.post(
        "/record_task_memory", json={"workspace_id": "w1", "memory_ids": [memory_id]}
    )

    assert response.json()["metadata"]["updated_memories"] == [
        {"memory_id": memory_id, "freq": 3, "utility": 1}
    ]
    assert await counters(engine) == {memory_id: (3, 1)}


async def test_unknown_ids_are_reported_not_created(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await client.post("/record_task_memory", json={"workspace_id": "w1", "memory_ids": ["nope"]})

    assert response.status_code == 200
    assert response.json()["metadata"]["not_found_memory_ids"] == ["nope"]
    assert await rows(engine, "SELECT 1 FROM memory") == []


async def test_a_memory_dict_without_an_id_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    body = {"workspace_id": "w1", "memory_dicts": [{"memory_id": "x"}, {"content": "no id"}]}

    response = await client.post("/record_task_memory", json=body)

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "memory_dicts", 1, "memory_id"]


async def test_twenty_concurrent_records_lose_no_increment(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    [memory_id] = await seed_memories(engine, None, "w1", [{"when_to_use": "a"}])

    responses = await asyncio.gather(
        *(
            client.post(
                "/record_task_memory",
                json={"workspace_id": "w1", "memory_ids": [memory_id], "update_utility": i % 2 == 0},
            )
            for i in range(20)
        )
    )

    assert [r.status_code for r in responses] == [200] * 20
    assert await counters(engine) == {memory_id: (20, 10)}
    assert len(await rows(engine, "SELECT 1 FROM memory_event WHERE action = 'record'")) == 20


async def test_delete_removes_exactly_the_task_memories_the_rule_selects(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # (freq, utility): deleted when freq >= 5 and utility / freq < 0.5.
    cases = {
        "never_used": (0, 0, False),
        "below_freq": (4, 0, False),
        "unhelpful": (5, 0, True),
        "at_ratio": (10, 5, False),
        "under_ratio": (10, 4, True),
        "helpful": (6, 6, False),
    }
    await seed_memories(
        engine,
        None,
        "w1",
        [
            {"memory_id": name, "when_to_use": name, "freq": f, "utility": u}
            for name, (f, u, _) in cases.items()
        ],
    )
    await seed_memories(
        engine,
        None,
        "w1",
        [{"memory_id": "personal", "when_to_use": "p", "memory_type": "personal", "freq": 9}],
    )
    await seed_memories(engine, None, "other", [{"memory_id": "elsewhere", "when_to_use": "e", "freq": 9}])

    response = await client.post(
        "/delete_task_memory", json={"workspace_id": "w1", "freq_threshold": 5, "utility_threshold": 0.5}
    )

    deleted = response.json()["metadata"]["deleted_memory_ids"]
    assert sorted(deleted) == ["under_ratio", "unhelpful"]
    remaining = {r["memory_id"] for r in await rows(engine, "SELECT memory_id FROM memory")}
    assert remaining == {"never_used", "below_freq", "at_ratio", "helpful", "personal", "elsewhere"}
    events = await rows(engine, "SELECT memory_id, action, before FROM memory_event ORDER BY memory_id")
    assert [(e["memory_id"], e["action"]) for e in events] == [
        ("under_ratio", "delete"),
        ("unhelpful", "delete"),
    ]
    assert events[0]["before"]["metadata"]["freq"] == 10


async def test_delete_with_nothing_to_prune_deletes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post("/delete_task_memory", json={"workspace_id": "empty"})

    assert response.status_code == 200
    assert response.json()["metadata"]["deleted_memory_ids"] == []
