"""MCP over streamable HTTP with auth enabled: a key is required, and it only reaches its workspaces.

The server is ``reme mcp --transport streamable-http`` as an operator runs it; the client is
the mcp package's own streamable HTTP client.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth import hash_key
from tests.integration.test_auth import create_key
from tests.integration.test_vector_store import APPWORLD, load
from tests.support.server import RunningServer, free_port

REPO = Path(__file__).resolve().parents[2]
# Given to the server as REME_API_KEY: a key it must not lend to HTTP clients that send none.
SERVER_SIDE_KEY = "reme_server_side_key_" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def mcp_url(app_server: RunningServer, database_url: str, storage_dir: Path) -> Iterator[str]:
    """``reme mcp --transport streamable-http`` on a free port, auth enabled, on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_AUTH__ENABLED": "true",
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_STORAGE__ALLOWED_DIR": str(storage_dir),
        "REME_LOG_LEVEL": "WARNING",
        "REME_API_KEY": SERVER_SIDE_KEY,
    }
    command = [sys.executable, "-m", "app.cli", "mcp", "--transport", "streamable-http"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(process, port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for_port(process: subprocess.Popen[bytes], port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"reme mcp exited with {process.returncode}: {stderr[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("reme mcp did not start listening in time")


@asynccontextmanager
async def mcp_session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def refusal(url: str, headers: dict[str, str] | None = None) -> MCPError:
    """The error an MCP session fails to open with (the client raises it inside task groups)."""
    try:
        async with mcp_session(url, headers):
            pass
    except BaseException as exc:  # looked through below, re-raised if unexpected
        found = mcp_error_in(exc)
        if found is None:
            raise
        return found
    raise AssertionError("the MCP session was accepted")


def mcp_error_in(exc: BaseException) -> MCPError | None:
    if isinstance(exc, MCPError):
        return exc
    for inner in exc.exceptions if isinstance(exc, BaseExceptionGroup) else ():
        found = mcp_error_in(inner)
        if found is not None:
            return found
    return None


def listing(workspace: str) -> dict[str, str]:
    return {"workspace_id": workspace, "action": "list"}


async def test_without_a_key_the_mcp_endpoint_answers_401(mcp_url: str, client: httpx.AsyncClient) -> None:
    # When a client opens an MCP session without a key
    refused = await refusal(mcp_url)
    raw = await client.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

    # Then the session is refused with the reason, and the HTTP answer is a 401
    assert "API key is required" in refused.message
    assert raw.status_code == 401
    assert raw.headers["www-authenticate"] == "Bearer"


async def test_an_unknown_key_is_refused(mcp_url: str, client: httpx.AsyncClient) -> None:
    refused = await refusal(mcp_url, {"Authorization": "Bearer reme_not_a_key"})

    assert "unknown or revoked" in refused.message


async def test_the_servers_own_key_is_not_lent_to_http_clients(
    mcp_url: str, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Given the server was started with REME_API_KEY set to a key valid for every workspace
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO api_key (id, name, key_sha256, workspaces, scope) "
                "VALUES (:id, 'server', :sha, NULL, 'admin')"
            ),
            {"id": uuid.uuid4(), "sha": hash_key(SERVER_SIDE_KEY)},
        )

    # When a client without a key connects, then it is still refused
    refused = await refusal(mcp_url)
    assert "API key is required" in refused.message


async def test_a_key_calls_tools_in_its_workspace_and_is_refused_in_another(
    mcp_url: str, client: httpx.AsyncClient, storage_dir: Path, database_url: str
) -> None:
    # Given workspace a holds appworld's memories, and a read key for workspace a
    await load(client, storage_dir, APPWORLD, "a")
    key = create_key(database_url, "--name", "agent-a", "--workspace", "a", "--scope", "read")

    # When its MCP client lists workspace a, then workspace b
    async with mcp_session(mcp_url, {"Authorization": f"Bearer {key}"}) as session:
        own = await session.call_tool("vector_store", listing("a"))
        other = await session.call_tool("vector_store", listing("b"))

    # Then a's memories come back, and b is refused as the HTTP API would (403)
    assert own.is_error is False
    assert own.structured_content is not None
    assert len(own.structured_content["metadata"]["action_result"]) == 193
    assert other.is_error is True
    assert other.structured_content is not None
    assert other.structured_content["answer"] == "key 'agent-a' may not read workspace 'b'"


async def test_a_read_key_cannot_write_through_mcp(
    mcp_url: str, client: httpx.AsyncClient, database_url: str
) -> None:
    # Given a read key for workspace a, sent as X-API-Key
    key = create_key(database_url, "--name", "reader", "--workspace", "a", "--scope", "read")

    # When its client asks to delete the workspace
    async with mcp_session(mcp_url, {"X-API-Key": key}) as session:
        result = await session.call_tool("vector_store", {"workspace_id": "a", "action": "delete"})

    # Then the call is refused
    assert result.is_error is True
    assert result.structured_content is not None
    assert result.structured_content["answer"] == "key 'reader' may not write workspace 'a'"
