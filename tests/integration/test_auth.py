"""API keys: with auth enabled every interface needs a key, scoped to workspaces and a scope."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import AuthSettings, Settings
from tests.conftest import app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI


def reme_keys(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", *args],
        env={**os.environ, "REME_DATABASE_URL": database_url, "REME_EMBEDDING__PROVIDER": "local"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def create_key(database_url: str, *args: str) -> str:
    result = reme_keys(database_url, "create", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def auth_settings(database_url: str, standin: StandInOpenAI, storage_dir: Path) -> Settings:
    return app_settings(database_url, standin, storage_dir, auth=AuthSettings(enabled=True))


@pytest.fixture(scope="module")
def auth_server(app_server: RunningServer, auth_settings: Settings) -> Iterator[RunningServer]:
    running = start_server(auth_settings)
    yield running
    running.stop()


@pytest.fixture
async def secured(auth_server: RunningServer, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    # `client` empties the tables (keys included) after each test.
    async with httpx.AsyncClient(base_url=auth_server.base_url, timeout=60) as http:
        yield http


def retrieve(workspace: str) -> dict[str, object]:
    return {"workspace_id": workspace, "query": "how to log in", "top_k": 3}


async def test_health_stays_open(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/health")).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/schema/swagger", "/docs/static/swagger-ui.css"])
async def test_the_api_docs_stay_open(secured: httpx.AsyncClient, path: str) -> None:
    assert (await secured.get(path)).status_code == 200


async def test_the_list_of_flows_stays_open_like_the_schema(secured: httpx.AsyncClient) -> None:
    response = await secured.get("/list")

    assert response.status_code == 200
    assert "react" in {item["function"]["name"] for item in response.json()}


async def test_react_needs_only_a_read_key_for_its_workspace(
    secured: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "--name", "reader", "--workspace", "a", "--scope", "read")

    mine = await secured.post("/react", json={"workspace_id": "a", "query": "hi"}, headers={"X-API-Key": key})
    other = await secured.post(
        "/react", json={"workspace_id": "b", "query": "hi"}, headers={"X-API-Key": key}
    )

    assert mine.status_code == 200, mine.text
    assert other.status_code == 403


async def test_no_key_is_401(secured: httpx.AsyncClient) -> None:
    response = await secured.post("/retrieve_task_memory_simple", json=retrieve("a"))

    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response.json()["metadata"]["request_id"] == response.headers["x-request-id"]


async def test_unknown_key_is_401(secured: httpx.AsyncClient) -> None:
    response = await secured.post(
        "/retrieve_task_memory_simple", json=retrieve("a"), headers={"X-API-Key": "reme_not-a-key"}
    )

    assert response.status_code == 401


async def test_key_works_in_its_workspace_with_either_header(
    secured: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "--name", "agent-a", "--workspace", "a", "--scope", "write")

    bearer = await secured.post(
        "/retrieve_task_memory_simple", json=retrieve("a"), headers={"Authorization": f"Bearer {key}"}
    )
    header = await secured.post(
        "/retrieve_task_memory_simple", json=retrieve("a"), headers={"X-API-Key": key}
    )

    assert bearer.status_code == 200, bearer.text
    assert header.status_code == 200, header.text


async def test_key_for_one_workspace_is_403_in_another(secured: httpx.AsyncClient, database_url: str) -> None:
    key = create_key(database_url, "--name", "agent-a", "--workspace", "a", "--scope", "write")

    response = await secured.post(
        "/retrieve_task_memory_simple", json=retrieve("b"), headers={"X-API-Key": key}
    )

    assert response.status_code == 403
    assert "'b'" in response.json()["answer"]


async def test_copy_from_a_foreign_source_workspace_is_403(
    secured: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "--name", "agent-a", "--workspace", "a", "--scope", "write")

    response = await secured.post(
        "/vector_store",
        json={"workspace_id": "a", "action": "copy", "src_workspace_id": "b"},
        headers={"X-API-Key": key},
    )

    assert response.status_code == 403


async def test_read_key_cannot_write(secured: httpx.AsyncClient, database_url: str) -> None:
    key = create_key(database_url, "--name", "reader", "--workspace", "a", "--scope", "read")

    read = await secured.post("/retrieve_task_memory_simple", json=retrieve("a"), headers={"X-API-Key": key})
    write = await secured.post(
        "/record_task_memory", json={"workspace_id": "a", "memory_ids": []}, headers={"X-API-Key": key}
    )

    assert read.status_code == 200
    assert write.status_code == 403


async def test_revoked_key_is_401(secured: httpx.AsyncClient, database_url: str) -> None:
    key = create_key(database_url, "--name", "temp", "--all", "--scope", "read")
    listed = reme_keys(database_url, "list")
    key_id = next(line.split()[0] for line in listed.stdout.splitlines() if " temp " in line)

    revoked = reme_keys(database_url, "revoke", key_id)
    response = await secured.post(
        "/retrieve_task_memory_simple", json=retrieve("a"), headers={"X-API-Key": key}
    )

    assert revoked.returncode == 0, revoked.stderr
    assert response.status_code == 401


async def test_keys_are_stored_as_hashes(secured: httpx.AsyncClient, database_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    key = create_key(database_url, "--name", "hashed", "--all", "--scope", "admin")

    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT key_sha256 FROM api_key"))).scalars().all()
    assert key not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


async def test_library_list_needs_only_a_valid_key(secured: httpx.AsyncClient, database_url: str) -> None:
    key = create_key(database_url, "--name", "reader", "--workspace", "a", "--scope", "read")

    assert (await secured.get("/v1/library")).status_code == 401
    assert (await secured.get("/v1/library", headers={"X-API-Key": key})).status_code == 200


async def test_library_load_is_a_write_on_its_target_workspace(
    secured: httpx.AsyncClient, database_url: str
) -> None:
    writer = create_key(database_url, "--name", "agent-a", "--workspace", "a", "--scope", "write")
    reader = create_key(database_url, "--name", "reader", "--workspace", "a", "--scope", "read")
    into_a = {"workspace_id": "a"}

    by_reader = await secured.post("/v1/library/appworld/load", json=into_a, headers={"X-API-Key": reader})
    elsewhere = await secured.post("/v1/library/appworld/load", headers={"X-API-Key": writer})
    allowed = await secured.post("/v1/library/appworld/load", json=into_a, headers={"X-API-Key": writer})

    assert by_reader.status_code == 403
    assert elsewhere.status_code == 403  # the default target is a workspace named "appworld"
    assert "'appworld'" in elsewhere.json()["answer"]
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["loaded"] == 193


async def test_a_body_nested_a_thousand_levels_deep_is_a_400_not_a_crash(
    secured: httpx.AsyncClient, database_url: str
) -> None:
    key = create_key(database_url, "--name", "deep", "--workspace", "a", "--scope", "write")
    body = '{"workspace_id": "a", "query": "q", "extra": ' + '{"k": ' * 1000 + "1" + "}" * 1001

    response = await secured.post(
        "/retrieve_task_memory_simple",
        content=body,
        headers={"content-type": "application/json", "X-API-Key": key},
    )

    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.json()["answer"]
