"""Paths real ReMe 0.1 clients take: GET /list, POST /react, empty records, ReMe's answer keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.providers.embeddings import Embedder, build_embedder
from app.settings import EmbeddingSettings, LLMSettings
from tests.conftest import app_settings
from tests.integration.task_support import rows, seed_memories
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

RICE = {"when_to_use": "When cooking rice for many guests", "content": "Use 1.5 parts water per part rice."}
TRAIN = {
    "when_to_use": "When booking a train at short notice",
    "content": "Compare flexible and saver fares.",
}


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[Embedder]:
    model = build_embedder(EmbeddingSettings(provider="local"))
    yield model
    await model.close()


@pytest.fixture(scope="module")
def app_without_llm(
    database_url: str, standin: StandInOpenAI, storage_dir: Path, app_server: RunningServer
) -> Iterator[RunningServer]:
    running = start_server(app_settings(database_url, standin, storage_dir, llm=LLMSettings()))
    yield running
    running.stop()


async def test_record_with_no_memories_answers_200_and_records_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    [memory_id] = await seed_memories(engine, None, "w1", [RICE])

    response = await client.post(
        "/record_task_memory", json={"workspace_id": "w1", "memory_dicts": [], "update_utility": True}
    )

    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True
    assert body["metadata"]["memory_list"] == []
    assert body["metadata"]["update_result"] == {"inserted_count": 0, "deleted_count": 0, "updated_count": 0}
    assert await rows(engine, "SELECT freq, utility FROM memory") == [{"freq": 0, "utility": 0}]
    assert await rows(engine, "SELECT 1 FROM memory_event WHERE memory_id = :id", id=memory_id) == []


async def test_record_answers_remes_keys_with_the_updated_memories(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    [memory_id] = await seed_memories(engine, None, "w1", [RICE])

    response = await client.post(
        "/record_task_memory",
        json={
            "workspace_id": "w1",
            "memory_dicts": [{"memory_id": memory_id}, {"memory_id": "gone"}],
            "update_utility": True,
        },
    )

    metadata = response.json()["metadata"]
    assert response.status_code == 200
    [memory] = metadata["memory_list"]
    assert memory["memory_id"] == memory_id
    assert memory["content"] == RICE["content"]
    assert (memory["metadata"]["freq"], memory["metadata"]["utility"]) == (1, 1)
    assert metadata["deleted_memory_ids"] == []
    assert metadata["update_result"]["updated_count"] == 1
    assert metadata["not_found_memory_ids"] == ["gone"]


async def test_list_shows_every_flow_with_its_description_and_input_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/list")

    assert response.status_code == 200
    listed = {item["function"]["name"]: item for item in response.json()}
    assert {
        "summary_task_memory",
        "retrieve_task_memory",
        "retrieve_task_memory_simple",
        "record_task_memory",
        "delete_task_memory",
        "summary_personal_memory",
        "retrieve_personal_memory",
        "vector_store",
        "react",
        "add_tool_call_result",
        "summary_tool_memory",
        "retrieve_tool_memory",
    } <= listed.keys()
    record = listed["record_task_memory"]
    assert record["type"] == "function"
    assert record["function"]["description"]
    parameters = record["function"]["parameters"]
    assert parameters["type"] == "object"
    assert {"workspace_id", "memory_dicts", "update_utility"} <= parameters["properties"].keys()
    assert parameters["properties"]["update_utility"]["type"] == "boolean"
    assert listed["vector_store"]["function"]["parameters"]["required"] == ["action"]


async def test_react_answers_with_the_most_relevant_task_memories_in_context(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder, standin: StandInOpenAI
) -> None:
    await seed_memories(engine, embedder, "w1", [RICE, TRAIN])
    standin.responder = lambda request: "Boil 3 cups of rice in 4.5 cups of water."

    response = await client.post(
        "/react", json={"workspace_id": "w1", "query": "How do I cook rice for twelve people?", "top_k": 1}
    )

    body = response.json()
    assert response.status_code == 200, body
    assert body["answer"] == "Boil 3 cups of rice in 4.5 cups of water."
    [request] = standin.chat_requests
    system, question = request["messages"]
    assert RICE["content"] in system["content"]
    assert TRAIN["content"] not in system["content"]
    assert question == {"role": "user", "content": "How do I cook rice for twelve people?"}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["messages"][1]["content"] == body["answer"]
    assert {"reasoning_content", "tool_calls", "tool_call_id", "time_created", "metadata"} <= body[
        "messages"
    ][0].keys()
    assert [m["content"] for m in body["metadata"]["memory_list"]] == [RICE["content"]]


async def test_react_takes_messages_and_its_conversation_can_be_summarised(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = lambda request: "Rinse it first." if "json_schema" not in str(request) else {}
    messages = [{"role": "user", "content": "How should I cook rice?"}]

    answered = await client.post("/react", json={"workspace_id": "demo", "messages": messages})
    standin.responder = lambda request: {}
    summarised = await client.post(
        "/summary_task_memory",
        json={
            "workspace_id": "demo",
            "trajectories": [{"messages": answered.json()["messages"], "score": 1.0}],
        },
    )

    assert answered.status_code == 200, answered.json()
    assert answered.json()["answer"] == "Rinse it first."
    assert answered.json()["metadata"]["memory_list"] == []
    assert summarised.status_code == 200, summarised.json()


async def test_react_without_a_chat_model_is_a_503_naming_the_setting(
    app_without_llm: RunningServer, client: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(base_url=app_without_llm.base_url, timeout=60) as http:
        response = await http.post("/react", json={"workspace_id": "w1", "query": "cook rice"})

    assert response.status_code == 503
    assert response.json()["success"] is False
    assert "REME_LLM__BASE_URL" in response.json()["answer"]


async def test_react_without_query_or_messages_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/react", json={"workspace_id": "w1"})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "query"]


async def test_summaries_write_remes_step_type_and_confidence(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        experience = {**RICE, "tags": [], "tools_used": [], "step_type": "Action", "confidence": 0.9}
        return {"experiences": [experience]}

    standin.responder = answer

    response = await client.post(
        "/summary_task_memory_simple",
        json={
            "workspace_id": "w1",
            "trajectories": [{"messages": [{"role": "user", "content": "cook rice"}], "score": 1.0}],
        },
    )

    [memory] = response.json()["metadata"]["memory_list"]
    assert memory["metadata"]["step_type"] == "action"
    assert memory["metadata"]["confidence"] == 0.9
