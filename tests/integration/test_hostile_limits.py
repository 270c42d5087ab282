"""Input past the service's limits: a 400 naming the limit or the field, nothing stored, no 5xx."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WORKSPACE = "limits"


def nested(depth: int) -> dict[str, Any]:
    """``{"k": {"k": ... {"leaf": 1}}}`` with ``depth`` levels of objects."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def words(count: int) -> str:
    return " ".join(f"word{i}" for i in range(count))


async def count_rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def add_memory(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    body = {"when_to_use": "when limits are tested", "content": "a memory", **fields}
    return await client.post(f"/v1/workspaces/{WORKSPACE}/memories", json=body)


def assert_names(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    for word in words:
        assert word in response.text, (word, response.text)


async def test_deep_metadata_is_refused_before_it_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await add_memory(client, metadata=nested(900))

    assert_names(response, "metadata", "32 levels")
    assert await count_rows(engine, "memory") == 0
    listing = await client.get(f"/v1/workspaces/{WORKSPACE}/memories")
    assert listing.status_code == 200


async def test_metadata_at_the_depth_limit_is_stored_and_read_back(client: httpx.AsyncClient) -> None:
    response = await add_memory(client, metadata=nested(32))

    assert response.status_code in (200, 201), response.text
    listing = await client.get(f"/v1/workspaces/{WORKSPACE}/memories")
    assert listing.status_code == 200
    assert '"leaf":1' in listing.text.replace(" ", "")


async def test_deep_trajectory_metadata_in_a_summary_is_refused(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    trajectory = {"messages": [{"role": "user", "content": "hi"}], "score": 1.0, "metadata": nested(900)}

    response = await client.post(
        "/summary_task_memory", json={"workspace_id": WORKSPACE, "trajectories": [trajectory]}
    )

    assert_names(response, "metadata", "32 levels")
    assert await count_rows(engine, "trajectory") == 0


async def test_a_deep_tool_call_input_is_refused_and_not_stored(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    call = {"tool_name": "deep", "input": nested(900), "output": "o", "success": True}

    response = await client.post(
        "/add_tool_call_result", json={"workspace_id": WORKSPACE, "tool_call_results": [call]}
    )

    assert_names(response, "input", "32 levels")
    assert await count_rows(engine, "tool_call") == 0
    retrieved = await client.post(
        "/retrieve_tool_memory", json={"workspace_id": WORKSPACE, "tool_names": ["deep"]}
    )
    assert retrieved.status_code < 500


async def test_a_body_nested_a_thousand_levels_is_a_400(client: httpx.AsyncClient) -> None:
    body = '{"workspace_id": "limits", "query": "q", "extra": ' + '{"k": ' * 1000 + "1" + "}" * 1001

    response = await client.post(
        "/retrieve_task_memory", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("flow", "extra"),
    [
        ("/retrieve_task_memory", {"search_mode": "hybrid"}),
        ("/retrieve_personal_memory", {}),
    ],
)
async def test_a_20000_word_query_is_a_400_naming_the_limit(
    client: httpx.AsyncClient, flow: str, extra: dict[str, Any]
) -> None:
    await add_memory(client, memory_type="personal", target="user")

    response = await client.post(flow, json={"workspace_id": WORKSPACE, "query": words(20_000), **extra})

    assert_names(response, "query", "20000 words", "1000")


async def test_a_20000_word_hybrid_search_is_a_400(client: httpx.AsyncClient) -> None:
    await add_memory(client)

    response = await client.post(
        f"/v1/workspaces/{WORKSPACE}/search", json={"query": words(20_000), "mode": "hybrid"}
    )

    assert_names(response, "query", "1000")


async def test_a_query_at_the_word_limit_is_answered(client: httpx.AsyncClient) -> None:
    await add_memory(client)

    response = await client.post(
        f"/v1/workspaces/{WORKSPACE}/search", json={"query": words(1000), "mode": "hybrid"}
    )

    assert response.status_code == 200, response.text


async def test_a_memory_too_long_to_index_is_a_400_naming_the_limit(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    huge = words(250_000)  # about 2.25 MB

    response = await add_memory(client, content=huge)

    assert_names(response, "characters", "100000")
    assert await count_rows(engine, "memory") == 0


async def test_a_forged_trajectories_cursor_is_a_400(client: httpx.AsyncClient) -> None:
    for values in ([1, 2], ["2026-01-01T00:00:00+00:00", 5], [None, None], {"a": 1}):
        cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()

        response = await client.get(f"/v1/workspaces/{WORKSPACE}/trajectories", params={"cursor": cursor})

        assert_names(response, "cursor")


@pytest.mark.parametrize(
    ("reference_time", "query"),
    [("9999-12-31 12:00:00", "what did I do next year"), ("0001-01-01 00:00:00", "what did I eat yesterday")],
)
async def test_a_time_phrase_past_the_calendar_is_a_400_naming_reference_time(
    client: httpx.AsyncClient, reference_time: str, query: str
) -> None:
    response = await client.post(
        "/retrieve_personal_memory",
        json={"workspace_id": WORKSPACE, "query": query, "reference_time": reference_time},
    )

    assert_names(response, "reference_time", "outside the calendar")


async def test_an_absurd_message_time_is_a_400_and_no_trajectory_is_left(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    trajectory = {"messages": [{"role": "user", "content": "I moved to Lisbon", "time_created": 1e20}]}

    response = await client.post(
        "/summary_personal_memory", json={"workspace_id": WORKSPACE, "trajectories": [trajectory]}
    )

    assert_names(response, "time_created")
    assert await count_rows(engine, "trajectory") == 0


async def test_more_ids_than_postgres_has_parameters_are_answered(client: httpx.AsyncClient) -> None:
    await add_memory(client, memory_id="kept")
    ids = [f"id-{i}" for i in range(40_000)]

    deleted = await client.post(
        "/vector_store", json={"workspace_id": WORKSPACE, "action": "delete_ids", "memory_ids": ids}
    )
    tools = await client.post("/retrieve_tool_memory", json={"workspace_id": WORKSPACE, "tool_names": ids})

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["metadata"]["action_result"]["deleted_count"] == 0
    assert tools.status_code in (200, 404), tools.text
    assert "database unavailable" not in tools.text
