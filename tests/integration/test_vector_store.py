"""ReMe's POST /vector_store: list, dump, load, copy, delete and delete_ids on real ReMe files."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.fixtures import APPWORLD, BFCL


def reme_lines(source: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in source.read_text().splitlines() if line.strip()]


def place_file(storage_dir: Path, source: Path, workspace_id: str) -> str:
    """Copy a ReMe dump into its own directory under the allowed dir; returns that directory."""
    folder = storage_dir / uuid.uuid4().hex
    folder.mkdir()
    shutil.copy(source, folder / f"{workspace_id}.jsonl")
    return str(folder)


async def action(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/vector_store", json=body)


async def load(
    client: httpx.AsyncClient, storage_dir: Path, source: Path, workspace_id: str
) -> dict[str, Any]:
    path = place_file(storage_dir, source, workspace_id)
    response = await action(client, workspace_id=workspace_id, action="load", path=path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(client: httpx.AsyncClient, workspace_id: str) -> list[dict[str, Any]]:
    response = await action(client, workspace_id=workspace_id, action="list")
    assert response.status_code == 200, response.text
    memories: list[dict[str, Any]] = response.json()["metadata"]["action_result"]
    return memories


async def test_loading_appworld_lists_its_193_memories(client: httpx.AsyncClient, storage_dir: Path) -> None:
    body = await load(client, storage_dir, APPWORLD, "appworld")

    assert body["success"] is True
    assert body["metadata"]["action_result"]["size"] == 193
    memories = await listed(client, "appworld")
    assert len(memories) == 193
    assert {m["memory_id"] for m in memories} == {r["memory_id"] for r in reme_lines(APPWORLD)}
    assert {m["workspace_id"] for m in memories} == {"appworld"}


async def test_loading_bfcl_lists_its_474_memories(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await load(client, storage_dir, BFCL, "bfcl")

    memories = await listed(client, "bfcl")

    assert len(memories) == 474
    assert "embedding" not in memories[0]


async def test_load_keeps_fields_of_each_memory(client: httpx.AsyncClient, storage_dir: Path) -> None:
    original = reme_lines(BFCL)[0]
    await load(client, storage_dir, BFCL, "bfcl")

    memory = next(m for m in await listed(client, "bfcl") if m["memory_id"] == original["memory_id"])

    for name in ("memory_type", "when_to_use", "content", "score", "time_created", "time_modified", "author"):
        assert memory[name] == original[name], name
    assert memory["metadata"]["extra_info"] == original["metadata"]["extra_info"]


async def test_load_computes_a_vector_for_every_memory(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    async with engine.connect() as conn:
        missing = await conn.scalar(
            text("SELECT count(*) FROM memory WHERE workspace_id = 'appworld' AND embedding IS NULL")
        )
    assert missing == 0


async def test_load_replaces_what_the_workspace_held(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await load(client, storage_dir, BFCL, "shared")

    await load(client, storage_dir, APPWORLD, "shared")

    assert len(await listed(client, "shared")) == 193


async def test_load_moves_counters_from_metadata_into_columns(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine
) -> None:
    line = {**reme_lines(APPWORLD)[0], "metadata": {"freq": 4, "utility": 3, "note": "kept"}}
    folder = storage_dir / uuid.uuid4().hex
    folder.mkdir()
    (folder / "counted.jsonl").write_text(json.dumps(line) + "\n")

    await action(client, workspace_id="counted", action="load", path=str(folder))

    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT freq, utility, metadata FROM memory"))).one()
    assert (row.freq, row.utility, row.metadata) == (4, 3, {"note": "kept"})
    (memory,) = await listed(client, "counted")
    assert memory["metadata"] == {"note": "kept", "freq": 4, "utility": 3}


async def test_dump_writes_the_same_memory_ids_and_texts(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")
    out = storage_dir / uuid.uuid4().hex

    response = await action(client, workspace_id="appworld", action="dump", path=str(out))

    assert response.json()["metadata"]["action_result"]["size"] == 193
    dumped = reme_lines(out / "appworld.jsonl")
    texts = {(r["memory_id"], r["when_to_use"], r["content"]) for r in dumped}
    assert texts == {(r["memory_id"], r["when_to_use"], r["content"]) for r in reme_lines(APPWORLD)}
    assert "embedding" not in dumped[0]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


async def test_a_dump_loads_back_into_another_workspace(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await load(client, storage_dir, BFCL, "bfcl")
    out = storage_dir / uuid.uuid4().hex
    await action(client, workspace_id="bfcl", action="dump", path=str(out))
    (out / "bfcl.jsonl").rename(out / "restored.jsonl")

    await action(client, workspace_id="restored", action="load", path=str(out))

    before = {m["memory_id"]: m for m in await listed(client, "bfcl")}
    after = {m["memory_id"]: m for m in await listed(client, "restored")}
    assert after.keys() == before.keys()
    sample = next(iter(before))
    assert {**after[sample], "workspace_id": "bfcl"} == before[sample]


async def test_copy_copies_memories_with_their_vectors(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    response = await action(client, workspace_id="copy", action="copy", src_workspace_id="appworld")

    assert response.json()["metadata"]["action_result"]["size"] == 193
    assert len(await listed(client, "copy")) == 193
    assert len(await listed(client, "appworld")) == 193
    # One workspace per query: on Citus each is one shard (a join across two would not be).
    vectors = text("SELECT memory_id, embedding::text FROM memory WHERE workspace_id = :workspace_id")
    async with engine.connect() as conn:
        source = set((await conn.execute(vectors, {"workspace_id": "appworld"})).all())
        copied = set((await conn.execute(vectors, {"workspace_id": "copy"})).all())
        events = await conn.scalar(
            text("SELECT count(*) FROM memory_event WHERE workspace_id = 'copy' AND action = 'copy'")
        )
    assert len(source) == 193 and copied == source
    assert events == 193


async def test_delete_removes_the_workspace_and_its_memories(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    response = await action(client, workspace_id="appworld", action="delete")

    assert response.json()["metadata"]["action_result"]["deleted_count"] == 193
    assert await listed(client, "appworld") == []
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM workspace WHERE id = 'appworld'")) == 0


async def test_delete_ids_removes_only_the_given_memories(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")
    doomed = [r["memory_id"] for r in reme_lines(APPWORLD)[:3]]

    response = await action(client, workspace_id="appworld", action="delete_ids", memory_ids=doomed)

    assert sorted(response.json()["metadata"]["action_result"]["deleted_ids"]) == sorted(doomed)
    remaining = {m["memory_id"] for m in await listed(client, "appworld")}
    assert len(remaining) == 190
    assert not remaining & set(doomed)


async def test_list_honours_top_k(client: httpx.AsyncClient, storage_dir: Path) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    response = await action(client, workspace_id="appworld", action="list", top_k=7)

    assert len(response.json()["metadata"]["action_result"]) == 7


async def test_retrieval_over_loaded_appworld_memories_finds_relevant_ones(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    response = await client.post(
        "/v1/workspaces/appworld/search",
        json={"query": "How do I collect every page of results from a paginated API?", "top_k": 5},
    )

    hits = response.json()["items"]
    assert len(hits) == 5
    about_paging = [h for h in hits if "paginat" in (h["when_to_use"] + h["content"]).lower()]
    assert len(about_paging) >= 4, [h["when_to_use"] for h in hits]


async def test_a_path_outside_the_allowed_directory_is_refused(
    client: httpx.AsyncClient, storage_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"

    for act in ("load", "dump"):
        response = await action(client, workspace_id="appworld", action=act, path=str(outside))
        assert response.status_code == 400, act
        assert str(outside) in response.json()["answer"]
        assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "path"]


async def test_a_relative_path_cannot_climb_out_of_the_allowed_directory(client: httpx.AsyncClient) -> None:
    response = await action(client, workspace_id="appworld", action="dump", path="../../etc")

    assert response.status_code == 400
    assert "../../etc" in response.json()["answer"]


async def test_loading_a_missing_file_is_not_found(client: httpx.AsyncClient, storage_dir: Path) -> None:
    response = await action(
        client, workspace_id="nothing_here", action="load", path=str(storage_dir / "none")
    )

    assert response.status_code == 404
    assert "nothing_here.jsonl" in response.json()["answer"]


async def test_a_bad_line_fails_the_load_and_names_the_line(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    folder = Path(place_file(storage_dir, APPWORLD, "broken"))
    with (folder / "broken.jsonl").open("a") as handle:
        handle.write("{not json\n")

    response = await action(client, workspace_id="broken", action="load", path=str(folder))

    assert response.status_code == 400
    assert "line 194" in response.json()["answer"]
    assert await listed(client, "broken") == []


async def test_an_unknown_action_is_refused(client: httpx.AsyncClient) -> None:
    response = await action(client, workspace_id="appworld", action="explode")

    assert response.status_code == 400
    assert response.json()["success"] is False
