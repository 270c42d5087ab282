"""Hostile strings in text and id fields: stored literally or refused with a 4xx, never a 5xx."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SQL_FRAGMENTS = [
    "'; DROP TABLE memory; --",
    '" OR 1=1 --',
    "$1); DELETE FROM workspace; --",
    "memory_id' UNION SELECT * FROM api_key --",
]
HUGE_UNICODE = "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 Ω≈ç√ 中文 العربية " * 2000  # about 60k characters, 4-byte code points


@pytest.mark.parametrize("fragment", SQL_FRAGMENTS)
async def test_sql_fragments_in_text_are_stored_and_found_literally(
    client: httpx.AsyncClient, fragment: str
) -> None:
    added = await client.post(
        "/add_tool_call_result",
        json={
            "workspace_id": "hostile",
            "tool_call_results": [
                {"tool_name": fragment, "input": {"q": fragment}, "output": fragment, "success": True}
            ],
        },
    )
    found = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": "hostile", "query": fragment}
    )
    tables = await client.get("/health")

    assert added.status_code == 200, added.text
    assert found.status_code == 200
    assert tables.status_code == 200
    listed = await client.post(
        "/retrieve_tool_memory", json={"workspace_id": "hostile", "tool_names": [fragment]}
    )
    assert listed.status_code in (200, 404)
    assert fragment in listed.text


@pytest.mark.parametrize("workspace_id", SQL_FRAGMENTS)
async def test_sql_in_a_workspace_id_is_only_a_name(client: httpx.AsyncClient, workspace_id: str) -> None:
    # Workspace ids may hold any character but '/', '\\' and control characters; they only
    # ever reach SQL as parameters.
    found = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": workspace_id, "query": "q"}
    )
    listed = await client.post("/vector_store", json={"workspace_id": workspace_id, "action": "list"})
    tables = await client.get("/ready")

    assert found.status_code == 200, found.text
    assert found.json()["metadata"]["memory_list"] == []
    assert listed.json()["metadata"]["action_result"] == []
    assert tables.status_code == 200


@pytest.mark.parametrize("workspace_id", ["a" * 129, "", "ws\x00id", "ws/../../etc", "..", "ws\\..\\etc"])
async def test_hostile_workspace_ids_are_a_400(client: httpx.AsyncClient, workspace_id: str) -> None:
    response = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": workspace_id, "query": "q"}
    )

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "workspace_id" in response.text


@pytest.mark.parametrize(
    ("flow", "body"),
    [
        (
            "summary_task_memory",
            {"trajectories": [{"messages": [{"role": "user", "content": "hi\x00there"}], "score": 1.0}]},
        ),
        (
            "add_tool_call_result",
            {"tool_call_results": [{"tool_name": "t", "input": {"k\x00": 1}, "output": "o"}]},
        ),
        ("record_task_memory", {"memory_ids": ["id\x00"]}),
    ],
)
async def test_nul_bytes_are_refused_with_a_clear_400_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, flow: str, body: dict[str, object]
) -> None:
    response = await client.post(f"/{flow}", json={"workspace_id": "nul", **body})

    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert "NUL" in response.json()["answer"] or "\\u0000" in response.json()["answer"]
    async with engine.connect() as conn:
        stored = await conn.scalar(
            text(
                "SELECT (SELECT count(*) FROM trajectory WHERE workspace_id = 'nul')"
                " + (SELECT count(*) FROM tool_call WHERE workspace_id = 'nul')"
                " + (SELECT count(*) FROM memory WHERE workspace_id = 'nul')"
            )
        )
    assert stored == 0


async def test_a_nul_byte_in_a_query_never_fails_the_server(client: httpx.AsyncClient) -> None:
    for mode in ("vector", "hybrid"):
        response = await client.post(
            "/retrieve_task_memory_simple",
            json={"workspace_id": "nul", "query": "a\x00b", "search_mode": mode},
        )

        assert response.status_code in (200, 400), response.text


async def test_huge_unicode_text_round_trips(client: httpx.AsyncClient) -> None:
    added = await client.post(
        "/add_tool_call_result",
        json={
            "workspace_id": "unicode",
            "tool_call_results": [{"tool_name": "echo", "input": {"text": "x"}, "output": HUGE_UNICODE}],
        },
    )
    found = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": "unicode", "query": HUGE_UNICODE}
    )

    assert added.status_code == 200, added.text
    assert found.status_code == 200, found.text
