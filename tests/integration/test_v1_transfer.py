"""/v1 export and import as NDJSON streams."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_vector_store import APPWORLD

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


async def test_export_streams_one_memory_per_line_with_our_fields(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/workspaces/src/memories",
        json=[{"content": "one", "event_time": "2025-05-05T10:00:00Z"}, {"content": "two"}],
    )

    response = await client.get("/v1/workspaces/src/export")

    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = lines_of(response)
    assert [r["content"] for r in records] == ["one", "two"]
    assert {"event_time", "freq", "utility", "memory_id", "when_to_use", "metadata"} <= records[0].keys()
    assert records[0]["event_time"].startswith("2025-05-05T10:00:00")
    assert "embedding" not in records[0]


async def test_export_includes_vectors_only_on_request(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workspaces/src/memories", json={"content": "one"})

    response = await client.get("/v1/workspaces/src/export", params={"include_embeddings": "true"})

    (record,) = lines_of(response)
    assert len(record["embedding"]) == 384
    assert record["embedding_model"]


async def test_an_export_imports_into_another_workspace(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await client.post("/v1/workspaces/src/memories", json=[{"content": f"memory {n}"} for n in range(5)])
    exported = await client.get("/v1/workspaces/src/export", params={"include_embeddings": "true"})

    response = await client.post("/v1/workspaces/dst/import", content=exported.content, headers=NDJSON)

    assert response.json() == {"workspace_id": "dst", "imported": 5}
    # One workspace per query: on Citus each is one shard (a join across two would not be).
    query = text("SELECT memory_id, embedding::text FROM memory WHERE workspace_id = :workspace_id")
    async with engine.connect() as conn:
        src = set((await conn.execute(query, {"workspace_id": "src"})).all())
        dst = set((await conn.execute(query, {"workspace_id": "dst"})).all())
    assert len(src) == 5 and dst == src


async def test_import_reads_reme_dump_lines(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/workspaces/appworld/import", content=APPWORLD.read_bytes(), headers=NDJSON
    )

    assert response.json()["imported"] == 193
    page = (await client.get("/v1/workspaces/appworld/memories", params={"limit": 500})).json()
    assert len(page["items"]) == 193


async def test_a_bad_line_rejects_the_whole_import_naming_its_number(client: httpx.AsyncClient) -> None:
    body = ndjson([{"content": "fine"}, {"content": "also fine"}]) + b'{"content": "broken"\n'

    response = await client.post("/v1/workspaces/dst/import", content=body, headers=NDJSON)

    assert response.status_code == 400
    assert "line 3" in response.json()["answer"]
    assert (await client.get("/v1/workspaces/dst/memories")).json()["items"] == []


async def test_a_line_above_the_size_limit_is_refused(client: httpx.AsyncClient) -> None:
    body = ndjson([{"content": "fine"}, {"content": "x" * (1024 * 1024 + 1)}])

    response = await client.post("/v1/workspaces/dst/import", content=body, headers=NDJSON)

    assert response.status_code == 413
    assert "line 2" in response.json()["answer"]


async def test_importing_again_replaces_memories_with_the_same_id(client: httpx.AsyncClient) -> None:
    first = ndjson([{"memory_id": "m1", "content": "old text"}])
    second = ndjson([{"memory_id": "m1", "content": "new text"}])
    await client.post("/v1/workspaces/dst/import", content=first, headers=NDJSON)

    await client.post("/v1/workspaces/dst/import", content=second, headers=NDJSON)

    items = (await client.get("/v1/workspaces/dst/memories")).json()["items"]
    assert [(m["memory_id"], m["content"]) for m in items] == [("m1", "new text")]


async def test_exporting_an_unknown_workspace_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workspaces/ghost/export")

    assert response.status_code == 404
