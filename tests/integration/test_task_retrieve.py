"""retrieve_task_memory(_simple): one SQL search, top_k honoured, score untouched, model optional."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.providers.embeddings import Embedder, build_embedder
from app.settings import EmbeddingSettings
from tests.integration.task_support import at, rows, seed_memories, steps_called
from tests.support.standin import StandInOpenAI

TOPICS = [
    ("When planning a multi-city flight itinerary", "Search each leg separately and compare total fares."),
    (
        "When debugging a failing Python unit test",
        "Run the single test with -x and read the first traceback.",
    ),
    ("When writing a SQL query over a large table", "Check the plan with EXPLAIN before adding indexes."),
    ("When analysing a public company's financial results", "Read the annual report's cash-flow statement."),
    ("When cooking rice for many guests", "Use a ratio of one part rice to one and a half parts water."),
    ("When translating a legal contract", "Keep defined terms consistent across every clause."),
]


@pytest.fixture(scope="module")
async def embedder() -> AsyncIterator[Embedder]:
    model = build_embedder(EmbeddingSettings(provider="local"))
    yield model
    await model.close()


async def seed_topics(
    engine: AsyncEngine, embedder: Embedder, workspace_id: str = "w1", **fields: Any
) -> list[str]:
    memories = [
        {"when_to_use": w, "content": c, "score": round(0.1 * (i + 1), 2), **fields}
        for i, (w, c) in enumerate(TOPICS)
    ]
    return await seed_memories(engine, embedder, workspace_id, memories)


async def test_top_k_is_honoured_and_stored_scores_are_returned_untouched(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)

    response = await client.post(
        "/retrieve_task_memory_simple",
        json={"workspace_id": "w1", "query": "debug a failing unit test", "top_k": 3},
    )

    memories = response.json()["metadata"]["memory_list"]
    assert len(memories) == 3
    assert memories[0]["when_to_use"] == TOPICS[1][0]
    assert memories[0]["score"] == 0.2
    similarities = [m["similarity"] for m in memories]
    assert similarities == sorted(similarities, reverse=True)
    assert all(m["score"] != m["similarity"] for m in memories)
    stored = await rows(engine, "SELECT score FROM memory ORDER BY score")
    assert [r["score"] for r in stored] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


async def test_top_k_above_the_limit_is_clamped_with_a_note(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder, settings: Any
) -> None:
    await seed_topics(engine, embedder)
    limit = settings.limits.max_top_k

    response = await client.post(
        "/retrieve_task_memory",
        json={"workspace_id": "w1", "query": "cook rice", "top_k": limit + 1},
    )

    body = response.json()
    assert response.status_code == 200, body
    assert len(body["metadata"]["memory_list"]) == len(TOPICS)
    assert f"top_k {limit + 1} is above the limit of {limit}" in body["metadata"]["notes"][0]


async def test_top_k_defaults_to_three_as_in_reme(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)

    simple = await client.post("/retrieve_task_memory_simple", json={"workspace_id": "w1", "query": "rice"})
    full = await client.post("/retrieve_task_memory", json={"workspace_id": "w1", "query": "rice"})

    assert len(simple.json()["metadata"]["memory_list"]) == 3
    assert len(full.json()["metadata"]["memory_list"]) == 3
    assert "notes" not in simple.json()["metadata"]


async def test_no_match_answers_an_empty_string_and_says_why_in_metadata(client: httpx.AsyncClient) -> None:
    for flow in ("retrieve_task_memory", "retrieve_task_memory_simple"):
        response = await client.post(f"/{flow}", json={"workspace_id": "never_written", "query": "rice"})

        body = response.json()
        assert response.status_code == 200, body
        assert body["answer"] == ""
        assert body["metadata"]["memory_list"] == []
        assert body["metadata"]["notes"] == ["no task memory matched the query"]


async def test_query_is_built_from_the_last_user_message(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)
    messages = [
        {"role": "user", "content": "How do I cook rice for a party?"},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "I need to plan flights visiting three cities."},
    ]

    response = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": "w1", "messages": messages, "top_k": 1}
    )

    metadata = response.json()["metadata"]
    assert metadata["query"].startswith("I need to plan flights")
    assert [m["when_to_use"] for m in metadata["memory_list"]] == [TOPICS[0][0]]


async def test_no_query_and_no_messages_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/retrieve_task_memory", json={"workspace_id": "w1"})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "query"]


async def test_unknown_workspace_returns_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/retrieve_task_memory", json={"workspace_id": "nobody", "query": "anything"}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["metadata"]["memory_list"] == []


async def test_min_score_time_range_and_metadata_filters_apply(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_memories(
        engine,
        embedder,
        "w1",
        [
            {
                "when_to_use": "When planning flights",
                "score": 0.9,
                "time_created": at("2025-01-10T00:00:00+00:00"),
                "metadata": {"team": "a"},
            },
            {
                "when_to_use": "When planning flight legs",
                "score": 0.2,
                "time_created": at("2025-01-10T00:00:00+00:00"),
                "metadata": {"team": "a"},
            },
            {
                "when_to_use": "When planning flight budgets",
                "score": 0.9,
                "time_created": at("2025-03-10T00:00:00+00:00"),
                "metadata": {"team": "a"},
            },
            {
                "when_to_use": "When planning flight seats",
                "score": 0.9,
                "time_created": at("2025-01-10T00:00:00+00:00"),
                "metadata": {"team": "b"},
            },
        ],
    )
    body = {
        "workspace_id": "w1",
        "query": "planning flights",
        "min_score": 0.5,
        "created_after": "2025-01-01 00:00:00",
        "created_before": "2025-02-01T00:00:00Z",
        "metadata_filter": {"team": "a"},
    }

    response = await client.post("/retrieve_task_memory_simple", json=body)

    assert [m["when_to_use"] for m in response.json()["metadata"]["memory_list"]] == ["When planning flights"]


async def test_an_unreadable_time_filter_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/retrieve_task_memory", json={"query": "x", "created_after": "last tuesday"}
    )

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "created_after"]


async def test_hybrid_mode_reports_text_rank_and_fused_score(
    client: httpx.AsyncClient, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)

    hybrid = await client.post(
        "/retrieve_task_memory_simple",
        json={"workspace_id": "w1", "query": "EXPLAIN plan indexes", "search_mode": "hybrid"},
    )
    vector = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": "w1", "query": "EXPLAIN plan indexes"}
    )

    first = hybrid.json()["metadata"]["memory_list"][0]
    assert hybrid.json()["metadata"]["search_mode"] == "hybrid"
    assert first["when_to_use"] == TOPICS[2][0]
    assert first["text_rank"] > 0 and first["fused_score"] > 0 and first["similarity"] is not None
    assert "text_rank" not in vector.json()["metadata"]["memory_list"][0]


async def test_retrieve_answers_guidance_text_without_calling_the_model_by_default(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)

    response = await client.post(
        "/retrieve_task_memory", json={"workspace_id": "w1", "query": "cook rice", "top_k": 2}
    )

    answer = response.json()["answer"]
    assert TOPICS[4][1] in answer
    assert answer.count("Advice:") == 2
    assert standin.chat_requests == []


async def test_simple_answer_is_a_numbered_list_and_never_calls_the_model(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)

    response = await client.post(
        "/retrieve_task_memory_simple",
        json={"workspace_id": "w1", "query": "cook rice", "top_k": 2, "rerank": True, "rewrite": True},
    )

    lines = response.json()["answer"].splitlines()
    assert lines[0] == f"1. {TOPICS[4][0]}: {TOPICS[4][1]}"
    assert lines[1].startswith("2. ")
    assert standin.chat_requests == []


async def test_rerank_orders_a_wider_pool_and_still_returns_top_k(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)
    plain = await client.post(
        "/retrieve_task_memory_simple", json={"workspace_id": "w1", "query": "cook rice", "top_k": 6}
    )
    by_similarity = [m["memory_id"] for m in plain.json()["metadata"]["memory_list"]]
    standin.responder = lambda request: {"ranking": [5, 4]}

    response = await client.post(
        "/retrieve_task_memory", json={"workspace_id": "w1", "query": "cook rice", "top_k": 2, "rerank": True}
    )

    memories = response.json()["metadata"]["memory_list"]
    assert steps_called(standin.chat_requests) == ["RerankedMemories"]
    assert "5. when_to_use:" in standin.chat_requests[0]["messages"][0]["content"]  # six shown for two places
    assert [m["memory_id"] for m in memories] == [by_similarity[5], by_similarity[4]]


async def test_rewrite_answers_the_models_guidance(
    client: httpx.AsyncClient, standin: StandInOpenAI, engine: AsyncEngine, embedder: Embedder
) -> None:
    await seed_topics(engine, embedder)
    standin.responder = lambda request: {"guidance": "Use one and a half parts water."}

    response = await client.post(
        "/retrieve_task_memory", json={"workspace_id": "w1", "query": "cook rice", "rewrite": True}
    )

    assert response.json()["answer"] == "Use one and a half parts water."
    assert steps_called(standin.chat_requests) == ["RetrievalGuidance"]
    assert len(response.json()["metadata"]["memory_list"]) == 3  # the default top_k, as in ReMe
