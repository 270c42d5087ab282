"""MCP over streamable HTTP: errors name what was wrong and where, and carry a request id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_auth_mcp import REPO, wait_for_port
from tests.support.server import RunningServer, free_port

MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def mcp_base(app_server: RunningServer, database_url: str, storage_dir: Path) -> Iterator[str]:
    """``reme mcp --transport streamable-http`` on a free port, on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_STORAGE__ALLOWED_DIR": str(storage_dir),
        "REME_LOG_LEVEL": "WARNING",
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
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def test_malformed_json_rpc_is_located_and_has_a_request_id(mcp_base: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{mcp_base}/mcp", content=b'{"jsonrpc": "2.0",\n "id": 1, "method": }', headers=MCP_HEADERS
        )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700
    assert "line 2 column 21" in response.json()["error"]["message"]
    assert response.headers["x-request-id"]


async def test_an_unknown_path_names_the_mcp_endpoint(mcp_base: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{mcp_base}/docs", headers={"x-request-id": "mcp-trace-7"})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == "no MCP endpoint at /docs; this server answers at /mcp"
    assert error["data"]["request_id"] == "mcp-trace-7"
    assert response.headers["x-request-id"] == "mcp-trace-7"
