"""summary_tool_memory: a guideline per tool from its recent calls, with statistics from SQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.jobs import run_worker
from app.main import job_handlers
from app.services import Services
from app.settings import Settings
from tests.support.standin import StandInOpenAI, schema_name

WORKSPACE = "tools_ws"
GUIDELINE = "Use specific queries; keep max_results at 10 or below."


def tool_call(n: int, *, good: bool, success: bool, time_cost: float, token_cost: float) -> dict[str, Any]:
    """A call whose output tells the stand-in judge how to score it."""
    return {
        "tool_name": "web_search",
        "input": {"query": f"query {n}"},
        "output": f"{'GOOD' if good else 'BAD'} result {n}",
        "success": success,
        "time_cost": time_cost,
        "token_cost": token_cost,
    }


def scripted_model(request: dict[str, Any]) -> dict[str, Any]:
    """Judge GOOD outputs 1 and BAD ones 0; write a fixed guideline."""
    if schema_name(request) == "ToolCallJudgement":
        prompt = request["messages"][-1]["content"]
        return {
            "summary": "a search",
            "evaluation": "as expected",
            "score": 1 if "GOOD result" in prompt else 0,
        }
    if schema_name(request) == "ToolGuideline":
        return {"guideline": GUIDELINE}
    return {}


async def add_calls(http: httpx.AsyncClient, calls: list[dict[str, Any]]) -> httpx.Response:
    response = await http.post(
        "/add_tool_call_result", json={"workspace_id": WORKSPACE, "tool_call_results": calls}
    )
    assert response.status_code == 200, response.text
    return response


async def summarize(http: httpx.AsyncClient, tool_names: Any) -> httpx.Response:
    return await http.post("/summary_tool_memory", json={"workspace_id": WORKSPACE, "tool_names": tool_names})


async def unsummarized_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM tool_call WHERE NOT is_summarized"))
    return int(count or 0)


@pytest.fixture(autouse=True)
def _scripted_model(standin: StandInOpenAI) -> None:
    standin.responder = scripted_model


async def test_statistics_equal_a_hand_computation(client: httpx.AsyncClient, standin: StandInOpenAI) -> None:
    # Given four judged calls (scores 1, 1, 0, 0) and a fifth that the judge failed on.
    await add_calls(
        client,
        [
            tool_call(1, good=True, success=True, time_cost=1, token_cost=10),
            tool_call(2, good=True, success=True, time_cost=2, token_cost=20),
            tool_call(3, good=False, success=False, time_cost=3, token_cost=30),
            tool_call(4, good=False, success=True, time_cost=6, token_cost=40),
        ],
    )
    standin.set_mode("error", 1)
    await add_calls(client, [tool_call(5, good=True, success=False, time_cost=8, token_cost=50)])

    response = await summarize(client, "web_search")

    body = response.json()
    assert response.status_code == 200
    stats = body["metadata"]["stats"]["web_search"]
    # success 3 of 5; score over the 4 judged calls only; time (1+2+3+6+8)/5; tokens (10+..+50)/5
    assert stats["call_count"] == 5
    assert stats["judged_count"] == 4
    assert stats["success_rate"] == pytest.approx(0.6)
    assert stats["avg_score"] == pytest.approx(0.5)
    assert stats["avg_time_cost"] == pytest.approx(4.0)
    assert stats["avg_token_cost"] == pytest.approx(30.0)
    [memory] = body["metadata"]["memory_list"]
    assert memory["metadata"]["statistics"] == stats
    assert memory["content"].startswith(GUIDELINE)
    assert "## Statistics" in memory["content"]
    assert "**Success Rate**: 60.00%" in memory["content"]
    assert "**Average Score**: 0.500 over 4 judged call(s)" in memory["content"]


async def test_summary_marks_the_calls_and_a_tool_with_nothing_new_is_skipped(
    client: httpx.AsyncClient, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])
    first = await summarize(client, ["web_search"])
    assert first.json()["metadata"]["summarized"] == ["web_search"]
    assert await unsummarized_count(engine) == 0
    asked = len(standin.chat_requests)

    second = await summarize(client, ["web_search"])

    body = second.json()
    assert second.status_code == 200
    assert body["metadata"]["summarized"] == []
    assert body["metadata"]["skipped"] == ["web_search"]
    assert len(standin.chat_requests) == asked  # no model call for a tool with nothing new
    assert body["metadata"]["memory_list"][0]["content"].startswith(GUIDELINE)


async def test_a_new_call_makes_the_tool_summarised_again(client: httpx.AsyncClient) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])
    await summarize(client, "web_search")
    await add_calls(client, [tool_call(2, good=False, success=False, time_cost=1, token_cost=10)])

    response = await summarize(client, "web_search")

    assert response.json()["metadata"]["summarized"] == ["web_search"]
    assert response.json()["metadata"]["stats"]["web_search"]["call_count"] == 2


async def test_the_guideline_write_is_recorded_in_the_memory_history(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])

    await summarize(client, "web_search")

    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT action, after->>'content' AS content FROM memory_event ORDER BY id")
        )
        events = [(action, (content or "")[: len(GUIDELINE)]) for action, content in rows.all()]
    assert events == [("add", ""), ("update", GUIDELINE)]


async def test_an_unknown_tool_is_reported_beside_the_known_ones(client: httpx.AsyncClient) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])

    response = await summarize(client, "web_search, no_such_tool")

    body = response.json()
    assert response.status_code == 200
    assert body["metadata"]["summarized"] == ["web_search"]
    assert body["metadata"]["unknown"] == ["no_such_tool"]
    assert "'no_such_tool'" in body["answer"]


async def test_only_unknown_tools_is_a_404_naming_them(client: httpx.AsyncClient) -> None:
    response = await summarize(client, "no_such_tool")

    body = response.json()
    assert response.status_code == 404
    assert body["success"] is False
    assert "'no_such_tool'" in body["answer"]


@pytest.mark.parametrize(("mode", "status"), [("error", 503), ("timeout", 504)])
async def test_a_model_failure_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, standin: StandInOpenAI, mode: str, status: int
) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])
    standin.set_mode(mode)  # type: ignore[arg-type]

    response = await summarize(client, "web_search")

    assert response.status_code == status
    assert response.json()["success"] is False
    assert await unsummarized_count(engine) == 1
    async with engine.connect() as conn:
        content = await conn.scalar(text("SELECT content FROM memory WHERE memory_type = 'tool'"))
    assert content == ""


async def test_empty_tool_names_are_a_400(client: httpx.AsyncClient) -> None:
    response = await summarize(client, " , ")

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"][-1] == "tool_names"


async def test_async_mode_queues_a_job_that_the_worker_runs(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    await add_calls(client, [tool_call(1, good=True, success=True, time_cost=1, token_cost=10)])
    response = await client.post(
        "/summary_tool_memory",
        json={"workspace_id": WORKSPACE, "tool_names": "web_search", "async_mode": True},
    )
    assert response.status_code == 202

    services = await Services.start(settings)
    try:
        ran = await run_worker(services, job_handlers(), once=True)
    finally:
        await services.stop()

    assert ran == 1
    async with engine.connect() as conn:
        job = (await conn.execute(text("SELECT flow, status FROM job"))).one()
        content = await conn.scalar(text("SELECT content FROM memory WHERE memory_type = 'tool'"))
    assert tuple(job) == ("summary_tool_memory", "done")
    assert content.startswith(GUIDELINE)
