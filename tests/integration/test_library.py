"""The memory library shipped with the package: ``reme library`` and /v1/library load it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.fixtures import APPWORLD, BFCL


async def reme(database_url: str, *args: str) -> tuple[int, str, str]:
    """The ``reme`` command line in a child process, on the test database."""
    env = {**os.environ, "REME_DATABASE_URL": database_url, "REME_EMBEDDING__PROVIDER": "local"}
    env.pop("REME_LOG_LEVEL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def memory_ids(source: Path) -> set[str]:
    return {json.loads(line)["memory_id"] for line in source.read_text().splitlines() if line.strip()}


async def listed(client: httpx.AsyncClient, workspace_id: str) -> list[dict[str, Any]]:
    response = await client.post("/vector_store", json={"workspace_id": workspace_id, "action": "list"})
    assert response.status_code == 200, response.text
    memories: list[dict[str, Any]] = response.json()["metadata"]["action_result"]
    return memories


async def test_reme_library_list_names_both_libraries_with_their_sizes(database_url: str) -> None:
    code, out, err = await reme(database_url, "library", "list")

    assert code == 0, err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:3]}
    assert rows == {"appworld": "193", "bfcl_v3": "474"}


async def test_reme_library_load_fills_a_workspace_named_after_the_library(
    client: httpx.AsyncClient, database_url: str
) -> None:
    code, out, err = await reme(database_url, "library", "load", "appworld")

    assert code == 0, err
    assert "loaded 193 memories of library appworld into workspace appworld" in out
    assert "reme: database: postgresql://postgres@/" in err
    memories = await listed(client, "appworld")
    assert {m["memory_id"] for m in memories} == memory_ids(APPWORLD)
    assert {m["workspace_id"] for m in memories} == {"appworld"}


async def test_reme_library_load_into_another_workspace(client: httpx.AsyncClient, database_url: str) -> None:
    code, out, err = await reme(database_url, "library", "load", "bfcl_v3", "--workspace", "tools")

    assert code == 0, err
    assert "loaded 474 memories of library bfcl_v3 into workspace tools" in out
    assert len(await listed(client, "tools")) == 474
    assert await listed(client, "bfcl_v3") == []


async def test_reme_library_load_of_an_unknown_name_lists_the_known_ones(database_url: str) -> None:
    code, _, err = await reme(database_url, "library", "load", "webarena")

    assert code == 2
    assert "no memory library named 'webarena'; available: appworld, bfcl_v3" in err
    assert "Traceback" not in err


async def test_http_lists_the_libraries(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/library")

    assert response.status_code == 200
    sizes = {item["name"]: item["memory_count"] for item in response.json()["items"]}
    assert sizes == {"appworld": 193, "bfcl_v3": 474}


async def test_http_load_without_a_body_uses_the_library_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/library/appworld/load")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "library": "appworld",
        "workspace_id": "appworld",
        "loaded": 193,
        "replaced": False,
    }
    assert len(await listed(client, "appworld")) == 193


async def test_http_load_into_a_given_workspace(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/library/bfcl_v3/load", json={"workspace_id": "agent_tools"})

    assert response.status_code == 200, response.text
    assert response.json()["loaded"] == 474
    memories = await listed(client, "agent_tools")
    assert {m["memory_id"] for m in memories} == memory_ids(BFCL)


async def test_loading_adds_to_a_workspace_and_twice_changes_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workspaces/mine/memories", json=[{"content": "my own memory"}])

    for _ in range(2):
        response = await client.post("/v1/library/appworld/load", json={"workspace_id": "mine"})
        assert response.status_code == 200, response.text

    contents = [m["content"] for m in await listed(client, "mine")]
    assert len(contents) == 194
    assert "my own memory" in contents


async def test_replace_makes_the_library_the_only_content(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workspaces/mine/memories", json=[{"content": "my own memory"}])

    response = await client.post("/v1/library/appworld/load", json={"workspace_id": "mine", "replace": True})

    assert response.json()["replaced"] is True
    contents = [m["content"] for m in await listed(client, "mine")]
    assert len(contents) == 193
    assert "my own memory" not in contents


async def test_http_load_of_an_unknown_library_is_404_naming_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/library/webarena/load")

    assert response.status_code == 404
    assert "available: appworld, bfcl_v3" in response.json()["answer"]


async def test_http_load_into_an_invalid_workspace_id_is_400_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/library/appworld/load", json={"workspace_id": "no/slashes"})

    assert response.status_code == 400
    assert (await client.get("/v1/workspaces")).json()["items"] == []


async def test_loaded_library_answers_searches(client: httpx.AsyncClient) -> None:
    await client.post("/v1/library/appworld/load")

    response = await client.post(
        "/v1/workspaces/appworld/search", json={"query": "paginated API results", "top_k": 5}
    )

    hits = response.json()["items"]
    assert len(hits) == 5
    assert any("paginat" in (h["when_to_use"] + h["content"]).lower() for h in hits)
