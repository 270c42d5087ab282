"""The MCP server over stdio, driven by the mcp package's own client."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.integration.test_vector_store import APPWORLD, load

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def mcp_session(database_url: str, storage_dir: Path) -> AsyncIterator[ClientSession]:
    """``reme mcp --transport stdio`` as a child process, on the test database."""
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_STORAGE__ALLOWED_DIR": str(storage_dir),
        "REME_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "app.cli", "mcp", "--transport", "stdio"], env=env, cwd=str(REPO)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await asyncio.wait_for(session.initialize(), timeout=120)
        yield session


async def test_every_flow_is_a_tool_with_a_typed_input_schema(
    client: httpx.AsyncClient, database_url: str, storage_dir: Path
) -> None:
    async with mcp_session(database_url, storage_dir) as session:
        listed = await session.list_tools()

    tools = {tool.name: tool for tool in listed.tools}
    assert {"vector_store", "retrieve_task_memory", "summary_task_memory"} <= tools.keys()
    schema = tools["vector_store"].input_schema
    assert {"workspace_id", "action", "path", "src_workspace_id", "memory_ids"} <= schema["properties"].keys()
    assert schema["properties"]["action"]["enum"] == ["list", "dump", "load", "copy", "delete", "delete_ids"]


async def test_a_tool_call_returns_the_memory_list_as_structured_content(
    client: httpx.AsyncClient, database_url: str, storage_dir: Path
) -> None:
    await load(client, storage_dir, APPWORLD, "appworld")

    async with mcp_session(database_url, storage_dir) as session:
        listing = await session.call_tool("vector_store", {"workspace_id": "appworld", "action": "list"})
        retrieval = await session.call_tool(
            "retrieve_task_memory_simple",
            {"workspace_id": "appworld", "query": "paginated API responses", "top_k": 3},
        )

    assert listing.is_error is False
    assert listing.structured_content is not None
    assert len(listing.structured_content["metadata"]["action_result"]) == 193
    assert retrieval.is_error is False
    assert retrieval.structured_content is not None
    memories = retrieval.structured_content["metadata"]["memory_list"]
    assert len(memories) == 3
    assert all(m["workspace_id"] == "appworld" for m in memories)


async def test_invalid_tool_arguments_come_back_as_a_tool_error(
    client: httpx.AsyncClient, database_url: str, storage_dir: Path
) -> None:
    async with mcp_session(database_url, storage_dir) as session:
        result = await session.call_tool("vector_store", {"workspace_id": "appworld", "action": "explode"})

    assert result.is_error is True
    assert result.structured_content is not None
    assert result.structured_content["success"] is False
    assert "action" in result.structured_content["answer"]
    assert result.structured_content["metadata"]["request_id"]
    assert result.structured_content["metadata"]["errors"][0]["loc"] == ["body", "action"]
