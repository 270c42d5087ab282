"""Workspace ids: any script, spaces and '@' included; never a path; /v1 takes them URL-encoded."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

PEOPLE_AND_TEAMS = ["user@example.com", "张三", "my workspace"]
REFUSED = ["teams/ops", "back\\slash", "tab\there", "bell\x07", ".", "..", "", "x" * 129]
MEMORY = {"when_to_use": "When a deploy fails on a locked table", "content": "Retry after the lock is gone."}


def v1(workspace_id: str, rest: str = "") -> str:
    return f"/v1/workspaces/{quote(workspace_id, safe='')}{rest}"


@pytest.mark.parametrize("workspace_id", PEOPLE_AND_TEAMS)
async def test_ids_of_people_and_teams_work_in_flows_and_in_v1_paths(
    client: httpx.AsyncClient, workspace_id: str
) -> None:
    added = await client.post(v1(workspace_id, "/memories"), json=MEMORY)
    assert added.status_code == 201, added.text
    memory_id = added.json()["items"][0]["memory_id"]

    found = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": workspace_id, "query": "deploy fails"}
    )
    recorded = await client.post(
        "/record_task_memory", json={"workspace_id": workspace_id, "memory_ids": [memory_id]}
    )
    stats = await client.get(v1(workspace_id, "/stats"))
    shown = await client.get(v1(workspace_id, f"/memories/{memory_id}"))

    assert [m["memory_id"] for m in found.json()["metadata"]["memory_list"]] == [memory_id]
    assert found.json()["metadata"]["memory_list"][0]["workspace_id"] == workspace_id
    assert recorded.json()["metadata"]["updated_memories"][0]["freq"] == 1
    assert stats.status_code == 200 and stats.json()["memory_count"] == 1
    assert shown.json()["workspace_id"] == workspace_id


@pytest.mark.parametrize("workspace_id", PEOPLE_AND_TEAMS)
async def test_dump_and_load_write_the_id_as_a_file_name_inside_the_folder(
    client: httpx.AsyncClient, storage_dir: Path, workspace_id: str
) -> None:
    await client.post(v1(workspace_id, "/memories"), json=MEMORY)

    dumped = await client.post(
        "/vector_store", json={"workspace_id": workspace_id, "action": "dump", "path": "ids"}
    )
    copy_id = f"{workspace_id} (copy)"
    (storage_dir / "ids" / f"{copy_id}.jsonl").write_bytes(
        (storage_dir / "ids" / f"{workspace_id}.jsonl").read_bytes()
    )
    loaded = await client.post(
        "/vector_store", json={"workspace_id": copy_id, "action": "load", "path": "ids"}
    )

    assert dumped.status_code == 200, dumped.text
    assert (
        Path(dumped.json()["metadata"]["action_result"]["path"])
        == storage_dir / "ids" / f"{workspace_id}.jsonl"
    )
    line = json.loads((storage_dir / "ids" / f"{workspace_id}.jsonl").read_text(encoding="utf-8"))
    assert line["workspace_id"] == workspace_id
    assert loaded.json()["metadata"]["action_result"]["size"] == 1


async def test_an_export_names_its_file_in_any_script(client: httpx.AsyncClient) -> None:
    await client.post(v1("张三", "/memories"), json=MEMORY)

    response = await client.get(v1("张三", "/export"))

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert "filename*=UTF-8''%E5%BC%A0%E4%B8%89.ndjson" in disposition
    assert len(response.text.splitlines()) == 1


@pytest.mark.parametrize("workspace_id", REFUSED)
async def test_ids_that_could_leave_a_folder_or_break_a_file_name_are_refused(
    client: httpx.AsyncClient, workspace_id: str
) -> None:
    flow = await client.post("/vector_store", json={"workspace_id": workspace_id, "action": "list"})
    created = await client.post("/v1/workspaces", json={"id": workspace_id})

    assert flow.status_code == 400, flow.text
    assert flow.json()["metadata"]["errors"][0]["loc"][-1] == "workspace_id"
    assert created.status_code == 400, created.text
    assert created.json()["metadata"]["errors"][0]["loc"][-1] == "id"


async def test_a_copy_source_is_held_to_the_same_rule(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/vector_store", json={"workspace_id": "w", "action": "copy", "src_workspace_id": "../etc"}
    )

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"][-1] == "src_workspace_id"


async def test_an_id_whose_file_name_is_too_long_for_the_file_system_is_a_400_on_dump(
    client: httpx.AsyncClient, storage_dir: Path
) -> None:
    workspace_id = "张" * 128  # 384 bytes in UTF-8; file names stop at 255
    await client.post(v1(workspace_id, "/memories"), json=MEMORY)

    response = await client.post(
        "/vector_store", json={"workspace_id": workspace_id, "action": "dump", "path": "long"}
    )
    named = await client.post(
        "/vector_store", json={"workspace_id": workspace_id, "action": "dump", "path": "long/zhang.jsonl"}
    )

    assert response.status_code == 400
    assert "255" in response.json()["answer"]
    assert named.status_code == 200, named.text
    assert (storage_dir / "long" / "zhang.jsonl").is_file()


async def test_ids_of_the_old_rule_keep_working(client: httpx.AsyncClient) -> None:
    response = await client.post(v1("agent_1:team.a-b", "/memories"), json=MEMORY)

    assert response.status_code == 201


@pytest.mark.parametrize("workspace_id", ["a/b", "..", "tab\there"])
async def test_the_database_refuses_what_the_api_refuses(
    client: httpx.AsyncClient, engine: AsyncEngine, workspace_id: str
) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO workspace (id) VALUES (:id)"), {"id": workspace_id})
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO workspace (id) VALUES (:id)"), {"id": "张三 @ home"})
