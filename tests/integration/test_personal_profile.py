"""The profile step: per-subject insights once a user has enough facts, kept up to date.

The test app keeps the default ``personal.profile_min_observations`` of 5.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.test_personal_summary import ScriptedPersonalModel, fact, rows, steps_asked
from tests.support.standin import StandInOpenAI

FOOD = {
    "My favourite food is sushi": "user's favourite food is sushi",
    "Ramen is great": "user loves ramen",
    "I eat tofu a lot": "user eats tofu",
    "Sunday is curry day": "user cooks curry on Sundays",
    "Green tea please": "user drinks green tea",
}
INSIGHT = {
    "subject": "food",
    "content": "user enjoys Japanese food, above all sushi and ramen",
    "keywords": ["Japanese food", "sushi", "ramen"],
}


def food_model() -> ScriptedPersonalModel:
    model = ScriptedPersonalModel(insights=[INSIGHT])
    for said, content in FOOD.items():
        model.says(said, fact(content, content.split()[-1:]))
    return model


async def summarise(client: httpx.AsyncClient, *said: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": s} for s in said]
    body = {"workspace_id": "ws", "trajectories": [{"messages": messages}]}
    response = await client.post("/summary_personal_memory", json=body)
    assert response.status_code == 200, response.json()
    metadata: dict[str, Any] = response.json()["metadata"]
    return metadata


async def test_no_insight_is_written_before_enough_facts(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    standin.responder = food_model()

    await summarise(client, *list(FOOD)[:4])

    assert "UserProfileInsights" not in steps_asked(standin)
    assert await rows(engine, "SELECT memory_id FROM memory WHERE reflection_subject <> ''") == []


async def test_enough_facts_give_a_per_subject_insight(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = food_model()

    metadata = await summarise(client, *FOOD)

    insights = [m for m in metadata["memory_list"] if m["reflection_subject"]]
    assert [(i["reflection_subject"], i["content"]) for i in insights] == [("food", INSIGHT["content"])]
    assert insights[0]["metadata"]["kind"] == "insight"
    assert insights[0]["target"] == "user"
    assert metadata["update_result"]["inserted_count"] == 6


async def test_a_changed_insight_is_updated_not_duplicated(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine
) -> None:
    model = food_model()
    standin.responder = model
    first = await summarise(client, *FOOD)
    [insight] = [m for m in first["memory_list"] if m["reflection_subject"]]
    model.says("I also love tempura", fact("user loves tempura", ["tempura"]))
    model.insights = [{**INSIGHT, "content": "user enjoys Japanese food: sushi, ramen and tempura"}]

    second = await summarise(client, "I also love tempura")

    [updated] = [m for m in second["memory_list"] if m["reflection_subject"]]
    assert updated["memory_id"] == insight["memory_id"]
    assert updated["content"] == "user enjoys Japanese food: sushi, ramen and tempura"
    stored = await rows(engine, "SELECT memory_id FROM memory WHERE reflection_subject <> ''")
    assert stored == [{"memory_id": insight["memory_id"]}]
    history = await rows(
        engine, "SELECT action FROM memory_event WHERE memory_id = :id ORDER BY id", id=insight["memory_id"]
    )
    assert [h["action"] for h in history] == ["add", "update"]


async def test_an_insight_ranks_above_a_single_observation_that_is_a_little_closer(
    client: httpx.AsyncClient, standin: StandInOpenAI
) -> None:
    standin.responder = food_model()
    await summarise(client, *FOOD)

    response = await client.post(
        "/retrieve_personal_memory",
        json={"workspace_id": "ws", "query": "what food does the user like?", "top_k": 2},
    )

    first, second = response.json()["metadata"]["memory_list"]
    assert first["reflection_subject"] == "food"
    assert second["content"] == "user's favourite food is sushi"
    assert second["similarity"] > first["similarity"]
