"""retrieve_tool_memory: each named tool's guideline, by exact name, without a model call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.standin import StandInOpenAI, schema_name

WORKSPACE = "tools_ws"


def guideline_per_tool(request: dict[str, Any]) -> dict[str, Any]:
    """Write a guideline that names the tool the prompt is about."""
    if schema_name(request) == "ToolGuideline":
        prompt = request["messages"][-1]["content"]
        tool = prompt.split("Tool: ", 1)[1].split("\n", 1)[0]
        return {"guideline": f"How to call {tool} well."}
    return {"summary": "", "evaluation": "", "score": 1}


@pytest.fixture(autouse=True)
def _scripted_model(standin: StandInOpenAI) -> None:
    standin.responder = guideline_per_tool


async def record_and_summarize(http: httpx.AsyncClient, *tools: str) -> None:
    calls = [{"tool_name": tool, "input": {"q": tool}, "output": "ok"} for tool in tools]
    recorded = await http.post(
        "/add_tool_call_result", json={"workspace_id": WORKSPACE, "tool_call_results": calls}
    )
    assert recorded.status_code == 200, recorded.text
    summarized = await http.post(
        "/summary_tool_memory", json={"workspace_id": WORKSPACE, "tool_names": list(tools)}
    )
    assert summarized.status_code == 200, summarized.text


async def retrieve(http: httpx.AsyncClient, tool_names: Any) -> httpx.Response:
    return await http.post(
        "/retrieve_tool_memory", json={"workspace_id": WORKSPACE, "tool_names": tool_names}
    )


async def test_the_guideline_is_found_by_exact_tool_name(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    await record_and_summarize(client, "web_search", "web_search_v2")
    asked = len(standin.chat_requests)

    response = await retrieve(client, "web_search")

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert [m["when_to_use"] for m in body["metadata"]["memory_list"]] == ["web_search"]
    assert body["answer"].startswith("Tool: web_search\nHow to call web_search well.")
    assert "web_search_v2" not in body["answer"]
    assert len(standin.chat_requests) == asked


async def test_guidelines_of_several_tools_are_joined_in_the_order_asked(client: httpx.AsyncClient) -> None:
    await record_and_summarize(client, "calculator", "web_search")

    as_list = await retrieve(client, ["web_search", "calculator"])
    as_text = await retrieve(client, "web_search,calculator")

    assert as_list.json()["answer"] == as_text.json()["answer"]
    sections = as_list.json()["answer"].split("\n\n---\n\n")
    assert [s.split("\n", 1)[0] for s in sections] == ["Tool: web_search", "Tool: calculator"]


async def test_an_unknown_tool_name_is_listed_and_the_known_guidelines_still_come_back(
    client: httpx.AsyncClient,
) -> None:
    await record_and_summarize(client, "web_search")

    response = await retrieve(client, "web_search,Web_Search")

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["answer"].startswith("Tool: web_search\n")
    assert "Web_Search" not in body["answer"]
    assert body["metadata"]["unknown"] == ["Web_Search"]
    assert "Web_Search" in body["metadata"]["notes"][0]
    assert [m["when_to_use"] for m in body["metadata"]["memory_list"]] == ["web_search"]


async def test_only_unknown_tool_names_answer_an_empty_string(client: httpx.AsyncClient) -> None:
    response = await retrieve(client, ["no_such_tool"])

    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == ""
    assert body["metadata"]["memory_list"] == []
    assert body["metadata"]["unknown"] == ["no_such_tool"]


async def test_a_tool_recorded_but_not_yet_summarised_says_so(client: httpx.AsyncClient) -> None:
    await client.post(
        "/add_tool_call_result",
        json={
            "workspace_id": WORKSPACE,
            "tool_call_results": [{"tool_name": "grep", "input": "x", "output": "y"}],
        },
    )

    response = await retrieve(client, "grep")

    assert response.status_code == 200
    assert "No guideline yet: 1 call(s) recorded" in response.json()["answer"]
    assert len(response.json()["metadata"]["memory_list"][0]["tool_call_results"]) == 1
