"""add_tool_call_result: calls are validated, deduplicated by hash, judged, and trimmed per tool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.jobs import run_worker
from app.main import job_handlers
from app.services import Services
from app.settings import LLMSettings, Settings, ToolMemorySettings
from tests.conftest import app_settings
from tests.support.server import start_server
from tests.support.standin import StandInOpenAI, schema_name

WORKSPACE = "tools_ws"


def tool_call(n: int, tool: str = "web_search", **fields: Any) -> dict[str, Any]:
    """A distinct, valid call of ``tool`` (its input and output depend on ``n``)."""
    call = {
        "tool_name": tool,
        "input": {"query": f"query {n}", "max_results": 10},
        "output": f"found {n} results",
        "success": True,
        "time_cost": 1.5,
        "token_cost": 100,
        "create_time": f"2025-10-15 14:{n % 60:02d}:00",
    }
    call.update(fields)
    return call


def judge_everything(request: dict[str, Any]) -> dict[str, Any]:
    if schema_name(request) == "ToolCallJudgement":
        return {"summary": "searched and found results", "evaluation": "the query was specific", "score": 1}
    return {}


async def add_calls(http: httpx.AsyncClient, calls: list[Any], workspace: str = WORKSPACE) -> httpx.Response:
    return await http.post(
        "/add_tool_call_result", json={"workspace_id": workspace, "tool_call_results": calls}
    )


async def stored_calls(engine: AsyncEngine, tool: str = "web_search") -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM tool_call WHERE workspace_id = :w AND tool_name = :t ORDER BY id"),
            {"w": WORKSPACE, "t": tool},
        )
        return [dict(row._mapping) for row in rows]


@pytest.fixture
async def other_app(
    request: pytest.FixtureRequest, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database with the settings overrides given as the test's param."""
    settings: Settings = app_settings(database_url, standin, storage_dir, **request.param)
    running = start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
            yield http
    finally:
        running.stop()


async def test_new_calls_are_stored_judged_and_listed_in_the_tool_memory(
    client: httpx.AsyncClient, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    standin.responder = judge_everything

    response = await add_calls(client, [tool_call(1), tool_call(2)])

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["metadata"]["judged"] is True
    [memory] = body["metadata"]["memory_list"]
    assert memory["memory_type"] == "tool"
    assert memory["when_to_use"] == "web_search"
    assert [c["output"] for c in memory["tool_call_results"]] == ["found 1 results", "found 2 results"]
    assert memory["tool_call_results"][0]["summary"] == "searched and found results"
    rows = await stored_calls(engine)
    assert [(r["is_judged"], r["score"], r["call_time"].isoformat()) for r in rows] == [
        (True, 1.0, "2025-10-15T14:01:00+00:00"),
        (True, 1.0, "2025-10-15T14:02:00+00:00"),
    ]
    assert len(standin.chat_requests) == 2


async def test_output_that_is_not_a_string_is_stored_as_json(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await add_calls(client, [tool_call(1, output={"rows": [1, 2]})])

    assert response.status_code == 200
    [row] = await stored_calls(engine)
    assert row["output"] == '{"rows": [1, 2]}'


async def test_a_call_already_recorded_is_ignored(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    first = tool_call(1, input={"query": "q", "max_results": 10})
    await add_calls(client, [first])
    # The same input with its keys in another order is the same call.
    again = tool_call(1, input={"max_results": 10, "query": "q"}, time_cost=9.0)

    response = await add_calls(client, [again, again])

    body = response.json()
    assert response.status_code == 200
    assert body["metadata"]["deduplication_stats"] == {"total_new": 2, "added": 0, "deduplicated": 2}
    assert len(await stored_calls(engine)) == 1


async def test_identical_requests_sent_concurrently_store_the_call_once(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = [tool_call(7)]

    responses = await asyncio.gather(*(add_calls(client, payload) for _ in range(8)))

    assert [r.status_code for r in responses] == [200] * 8
    assert sum(r.json()["metadata"]["deduplication_stats"]["added"] for r in responses) == 1
    assert len(await stored_calls(engine)) == 1
    async with engine.connect() as conn:
        tool_memories = await conn.scalar(
            text("SELECT count(*) FROM memory WHERE workspace_id = :w AND memory_type = 'tool'"),
            {"w": WORKSPACE},
        )
    assert tool_memories == 1


async def test_concurrent_requests_naming_tools_in_opposite_orders_all_succeed(
    client: httpx.AsyncClient, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    standin.responder = judge_everything
    batches = [
        [tool_call(n, "alpha"), tool_call(n, "beta")]
        if n % 2
        else [tool_call(n, "beta"), tool_call(n, "alpha")]
        for n in range(6)
    ]

    responses = await asyncio.gather(*(add_calls(client, batch) for batch in batches))

    assert [r.status_code for r in responses] == [200] * 6
    assert len(await stored_calls(engine, "alpha")) == len(await stored_calls(engine, "beta")) == 6


@pytest.mark.parametrize("other_app", [{"tool": ToolMemorySettings(keep_last=5)}], indirect=True)
async def test_only_the_latest_calls_of_each_tool_are_kept(
    client: httpx.AsyncClient, other_app: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_calls(other_app, [tool_call(n) for n in range(4)] + [tool_call(0, tool="calculator")])

    response = await add_calls(other_app, [tool_call(n) for n in range(4, 7)])

    assert response.json()["metadata"]["trimmed_count"] == 2
    assert [r["output"] for r in await stored_calls(engine)] == [f"found {n} results" for n in range(2, 7)]
    assert len(await stored_calls(engine, "calculator")) == 1
    [memory] = response.json()["metadata"]["memory_list"]
    assert len(memory["tool_call_results"]) == 5


@pytest.mark.parametrize("mode", ["error", "garbage", "timeout"])
async def test_a_judge_failure_stores_the_calls_unjudged_and_says_so(
    client: httpx.AsyncClient, engine: AsyncEngine, standin: StandInOpenAI, mode: str
) -> None:
    standin.set_mode(mode)  # type: ignore[arg-type]

    response = await add_calls(client, [tool_call(1), tool_call(2)])

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["metadata"]["judged"] is False
    assert body["metadata"]["unjudged_count"] == 2
    assert "stored unjudged" in body["metadata"]["warning"]
    assert "judge_tool_call" in body["metadata"]["warning"]
    assert [r["is_judged"] for r in await stored_calls(engine)] == [False, False]


@pytest.mark.parametrize("other_app", [{"llm": LLMSettings()}], indirect=True)
async def test_without_a_chat_model_the_calls_are_stored_unjudged(
    client: httpx.AsyncClient, other_app: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await add_calls(other_app, [tool_call(1)])

    body = response.json()
    assert response.status_code == 200
    assert body["metadata"]["judged"] is False
    assert "REME_LLM__BASE_URL" in body["metadata"]["warning"]
    assert [r["is_judged"] for r in await stored_calls(engine)] == [False]


async def test_a_mixed_batch_keeps_the_valid_calls_and_names_the_invalid_items(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    calls = [
        tool_call(1),
        tool_call(2, tool_name="  "),
        tool_call(3, time_cost=-1),
        "not a call",
        tool_call(4),
    ]

    response = await add_calls(client, calls)

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    rejected = {r["index"]: r["errors"][0]["loc"] for r in body["metadata"]["rejected"]}
    assert rejected == {
        1: ["body", "tool_call_results", 1, "tool_name"],
        2: ["body", "tool_call_results", 2, "time_cost"],
        3: ["body", "tool_call_results", 3],
    }
    assert "rejected item 2: time_cost" in body["answer"]
    assert [r["output"] for r in await stored_calls(engine)] == ["found 1 results", "found 4 results"]


async def test_a_batch_with_no_valid_call_is_a_400_naming_the_item_and_field(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await add_calls(client, [tool_call(1, create_time="yesterday-ish")])

    body = response.json()
    assert response.status_code == 400
    assert body["success"] is False
    assert body["metadata"]["errors"][0]["loc"] == ["body", "tool_call_results", 0, "create_time"]
    assert "item 0" in body["answer"] and "create_time" in body["answer"]
    assert await stored_calls(engine) == []


async def test_a_missing_token_cost_is_estimated_from_the_call_size(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    call = tool_call(1, input="x" * 40, output="y" * 80)
    del call["token_cost"]

    await add_calls(client, [call])

    [row] = await stored_calls(engine)
    assert row["token_cost"] == 30  # (40 + 80) characters / 4


async def test_async_mode_checks_the_items_now_and_records_them_in_the_worker(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    invalid = await client.post(
        "/add_tool_call_result",
        json={"workspace_id": WORKSPACE, "tool_call_results": [{"output": "x"}], "async_mode": True},
    )
    queued = await client.post(
        "/add_tool_call_result",
        json={"workspace_id": WORKSPACE, "tool_call_results": [tool_call(1)], "async_mode": True},
    )
    assert invalid.status_code == 400
    assert queued.status_code == 202
    assert await stored_calls(engine) == []

    services = await Services.start(settings)
    try:
        ran = await run_worker(services, job_handlers(), once=True)
    finally:
        await services.stop()

    assert ran == 1
    assert [r["output"] for r in await stored_calls(engine)] == ["found 1 results"]
