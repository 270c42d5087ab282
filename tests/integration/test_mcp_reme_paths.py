"""The ReMe client paths over MCP: react, empty records, unknown tools, any-script ids, top_k."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.support.standin import StandInOpenAI

REPO = Path(__file__).resolve().parents[2]
MEMORY = {"when_to_use": "When cooking rice for many guests", "content": "Use 1.5 parts water per part rice."}


@asynccontextmanager
async def mcp_session(
    database_url: str, storage_dir: Path, standin: StandInOpenAI
) -> AsyncIterator[ClientSession]:
    """``reme mcp --transport stdio`` on the test database, with the stand-in as its chat model."""
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_STORAGE__ALLOWED_DIR": str(storage_dir),
        "REME_LLM__BASE_URL": standin.base_url,
        "REME_LLM__API_KEY": "test-key",
        "REME_LLM__MODEL": "stand-in",
        "REME_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "app.cli", "mcp", "--transport", "stdio"], env=env, cwd=str(REPO)
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await asyncio.wait_for(session.initialize(), timeout=120)
        yield session


def metadata_of(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None
    metadata: dict[str, Any] = result.structured_content["metadata"]
    return metadata


async def test_react_is_a_tool_answered_by_the_chat_model_with_task_memories(
    client: httpx.AsyncClient, database_url: str, storage_dir: Path, standin: StandInOpenAI
) -> None:
    await client.post("/v1/workspaces/kitchen/memories", json=MEMORY)
    standin.responder = lambda request: "Use 4.5 cups of water for 3 cups of rice."

    async with mcp_session(database_url, storage_dir, standin) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        result = await session.call_tool("react", {"workspace_id": "kitchen", "query": "rice for 12 people?"})

    assert "react" in tools
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["answer"] == "Use 4.5 cups of water for 3 cups of rice."
    assert [m["role"] for m in result.structured_content["messages"]] == ["user", "assistant"]
    assert [m["content"] for m in metadata_of(result)["memory_list"]] == [MEMORY["content"]]


async def test_lenient_reme_answers_are_tool_results_not_errors(
    client: httpx.AsyncClient, database_url: str, storage_dir: Path, standin: StandInOpenAI
) -> None:
    await client.post("/v1/workspaces/%E5%BC%A0%E4%B8%89/memories", json=MEMORY)

    async with mcp_session(database_url, storage_dir, standin) as session:
        record = await session.call_tool(
            "record_task_memory", {"workspace_id": "张三", "memory_dicts": [], "update_utility": True}
        )
        tools = await session.call_tool(
            "retrieve_tool_memory", {"workspace_id": "张三", "tool_names": "web_search"}
        )
        found = await session.call_tool(
            "retrieve_task_memory_simple", {"workspace_id": "张三", "query": "cook rice", "top_k": 5000}
        )
        nothing = await session.call_tool(
            "retrieve_task_memory_simple", {"workspace_id": "my workspace", "query": "cook rice"}
        )

    assert record.is_error is False
    assert metadata_of(record)["update_result"]["updated_count"] == 0
    assert tools.is_error is False
    assert metadata_of(tools)["unknown"] == ["web_search"]
    assert found.is_error is False
    assert [m["workspace_id"] for m in metadata_of(found)["memory_list"]] == ["张三"]
    assert "top_k 5000 is above the limit" in metadata_of(found)["notes"][0]
    assert nothing.is_error is False
    assert nothing.structured_content is not None
    assert nothing.structured_content["answer"] == ""
