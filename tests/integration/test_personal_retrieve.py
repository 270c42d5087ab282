"""retrieve_personal_memory: a user's facts for a question, scoped to the user and aware of time.

Facts are stored through summary_personal_memory with the scripted stand-in model, so their
event times are resolved the way real requests resolve them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import LLMSettings, Settings
from tests.conftest import app_settings
from tests.integration.test_personal_summary import ScriptedPersonalModel, fact, steps_asked
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

# Wednesday 12 March 2025: "last weekend" is Saturday 8 and Sunday 9 March.
ASKED_ON = "2025-03-12 10:00:00"


async def remember(
    client: httpx.AsyncClient,
    model: ScriptedPersonalModel,
    said: str,
    *,
    user: str = "user",
    when: str = ASKED_ON,
) -> dict[str, Any]:
    """Store what ``model`` extracts from ``said``, as said at ``when``; returns the stored memory."""
    message = {"role": "user", "content": said, "time_created": when}
    body = {"workspace_id": "ws", "user_name": user, "trajectories": [{"messages": [message]}]}
    response = await client.post("/summary_personal_memory", json=body)
    assert response.status_code == 200, response.json()
    memory: dict[str, Any] = response.json()["metadata"]["memory_list"][0]
    return memory


async def retrieve(client: httpx.AsyncClient, query: str, **fields: Any) -> httpx.Response:
    body = {"workspace_id": "ws", "query": query, "top_k": 5, "reference_time": ASKED_ON, **fields}
    return await client.post("/retrieve_personal_memory", json=body)


async def test_the_answer_lists_the_users_facts_one_per_line(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    model = ScriptedPersonalModel()
    model.says("I love sushi", fact("user loves sushi and ramen", ["sushi", "ramen"]))
    model.says("I have a cat", fact("user has a cat named Shadow", ["cat"]))
    standin.responder = model
    await remember(client, model, "I love sushi")
    await remember(client, model, "I have a cat")

    response = await retrieve(client, "what Japanese food does the user like?", top_k=1)

    body = response.json()
    assert response.status_code == 200, body
    assert body["answer"] == "user loves sushi and ramen"
    [memory] = body["metadata"]["memory_list"]
    assert memory["content"] == "user loves sushi and ramen"
    assert 0 < memory["similarity"] <= 1
    assert memory["score"] == 0.0  # similarity never overwrites score


async def test_facts_of_two_users_never_mix(client: httpx.AsyncClient, standin: StandInOpenAI) -> None:
    model = ScriptedPersonalModel()
    model.says("I love sushi", fact("user loves sushi", ["sushi"]))
    model.says("I love sushi too", fact("user loves sushi very much", ["sushi"]))
    standin.responder = model
    await remember(client, model, "I love sushi", user="alice")
    await remember(client, model, "I love sushi too", user="bob")

    response = await retrieve(client, "does the user love sushi?", user_name="alice")

    memories = response.json()["metadata"]["memory_list"]
    assert [m["target"] for m in memories] == ["alice"]
    assert response.json()["answer"] == "user loves sushi"


async def test_last_weekend_ranks_that_weekends_fact_above_a_textually_closer_one(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    model = ScriptedPersonalModel()
    model.says(
        "I went kayaking", fact("user went kayaking on Lake Tahoe", ["kayak"], time_expression="last weekend")
    )
    model.says(
        "Laundry weekend",
        fact("user spent the weekend of 18 January doing laundry", ["laundry"], time_expression="18 January"),
    )
    standin.responder = model
    kayak = await remember(client, model, "I went kayaking")
    laundry = await remember(client, model, "Laundry weekend")
    assert kayak["metadata"]["event_time"] == "2025-03-08 00:00:00"
    assert laundry["metadata"]["event_time"] == "2025-01-18 00:00:00"

    response = await retrieve(client, "what did I do last weekend?")

    body = response.json()
    ranked = body["metadata"]["memory_list"]
    assert [m["memory_id"] for m in ranked] == [kayak["memory_id"], laundry["memory_id"]]
    assert ranked[1]["similarity"] > ranked[0]["similarity"]  # the other fact is textually closer
    assert body["metadata"]["time_range"] == {
        "start": "2025-03-08 00:00:00",
        "end": "2025-03-10 00:00:00",
        "expression": "last weekend",
        "source": "resolver",
    }
    assert steps_asked(standin).count("QueryTimeRange") == 0


async def test_a_time_phrase_the_resolver_cannot_read_is_asked_of_the_model(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    model = ScriptedPersonalModel()
    model.says(
        "Camping trip", fact("user went camping in Yosemite", ["camping"], event_time="2024-07-20T00:00:00")
    )
    model.says("Ski trip", fact("user went skiing and camping in the Alps", ["ski"], event_time="2025-01-10"))
    standin.responder = model
    camping = await remember(client, model, "Camping trip")
    await remember(client, model, "Ski trip")
    model.time_range = {
        "has_time": True,
        "start": "2024-06-01T00:00:00",
        "end": "2024-09-01T00:00:00",
        "expression": "last summer",
    }

    response = await retrieve(client, "where did I go camping last summer?")

    metadata = response.json()["metadata"]
    assert metadata["memory_list"][0]["memory_id"] == camping["memory_id"]
    assert metadata["time_range"]["source"] == "llm"
    assert "QueryTimeRange" in steps_asked(standin)


async def test_a_failing_model_does_not_fail_a_retrieval(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    model = ScriptedPersonalModel().says("I ski", fact("user skis", ["ski"]))
    standin.responder = model
    await remember(client, model, "I ski")
    standin.set_mode("error")

    response = await retrieve(client, "what did I do last summer?")

    body = response.json()
    assert response.status_code == 200, body
    assert body["answer"] == "user skis"
    assert body["metadata"]["time_range"] is None
    assert "time phrase not resolved" in body["metadata"]["notes"][0]


async def test_an_unknown_workspace_returns_nothing(client: httpx.AsyncClient) -> None:
    response = await retrieve(client, "anything?", workspace_id="never_written")

    body = response.json()
    assert response.status_code == 200
    assert body["answer"] == ""
    assert body["metadata"]["memory_list"] == []


async def test_top_k_above_the_limit_is_clamped_with_a_note(client: httpx.AsyncClient) -> None:
    response = await retrieve(client, "anything?", top_k=10_000)

    body = response.json()
    assert response.status_code == 200, body
    assert "top_k 10000 is above the limit" in body["metadata"]["notes"][0]


@pytest.fixture(scope="module")
def app_without_llm(
    database_url: str, standin: StandInOpenAI, storage_dir: Path, app_server: RunningServer
) -> Iterator[RunningServer]:
    settings: Settings = app_settings(database_url, standin, storage_dir, llm=LLMSettings())
    running = start_server(settings)
    yield running
    running.stop()


async def test_without_a_model_retrieval_works_and_summary_says_what_to_configure(
    client: httpx.AsyncClient, standin: StandInOpenAI, app_without_llm: RunningServer
) -> None:
    model = ScriptedPersonalModel().says("I ski", fact("user skis", ["ski"]))
    standin.responder = model
    await remember(client, model, "I ski")
    standin.requests.clear()

    async with httpx.AsyncClient(base_url=app_without_llm.base_url, timeout=30) as other:
        found = await retrieve(other, "what did I do last summer?")
        refused = await other.post(
            "/summary_personal_memory",
            json={"workspace_id": "ws", "trajectories": [{"messages": [{"role": "user", "content": "hi"}]}]},
        )

    assert found.json()["answer"] == "user skis"
    assert refused.status_code == 503
    assert "REME_LLM__BASE_URL" in refused.json()["answer"]
    assert standin.chat_requests == []
