"""/v1 search: vector, text and hybrid modes with filters."""

from __future__ import annotations

from typing import Any

import httpx

SEARCH = "/v1/workspaces/kb/search"

MEMORIES = [
    {"when_to_use": "When a paginated API returns partial results", "content": "Loop over every page."},
    {"when_to_use": "When an API login fails", "content": "Refresh the access token first.", "score": 0.9},
    {
        "memory_type": "personal",
        "target": "alice",
        "content": "Alice goes hiking every weekend",
        "metadata": {"topic": "hobby"},
        "event_time": "2025-06-01T09:00:00Z",
    },
    {
        "memory_type": "personal",
        "target": "bob",
        "content": "Bob goes hiking in the Alps",
        "metadata": {"topic": "hobby"},
        "event_time": "2024-01-01T09:00:00Z",
    },
]


async def search(client: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def given_memories(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/workspaces/kb/memories", json=MEMORIES)
    assert response.status_code == 201, response.text


async def test_vector_search_ranks_the_closest_memory_first(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    hits = await search(client, query="how to fetch all pages of results", top_k=2)

    assert hits[0]["content"] == "Loop over every page."
    assert hits[0]["similarity"] > hits[1]["similarity"]
    assert "embedding" not in hits[0]


async def test_text_search_matches_words(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    hits = await search(client, query="token", mode="text")

    assert [h["content"] for h in hits] == ["Refresh the access token first."]
    assert hits[0]["similarity"] is None


async def test_hybrid_search_reports_both_signals(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    hits = await search(client, query="access token refresh", mode="hybrid", top_k=3)

    assert hits[0]["content"] == "Refresh the access token first."
    assert hits[0]["similarity"] is not None and hits[0]["text_rank"] is not None


async def test_filters_on_type_target_time_score_and_metadata(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    alice = await search(client, query="hiking", memory_type="personal", target="alice", top_k=5)
    recent = await search(client, query="hiking", event_after="2025-01-01T00:00:00Z", top_k=5)
    good = await search(client, query="api", min_score=0.5, top_k=5)
    hobbies = await search(client, query="hiking", metadata={"topic": "hobby"}, top_k=5)

    assert [h["target"] for h in alice] == ["alice"]
    assert [h["target"] for h in recent] == ["alice"]
    assert [h["content"] for h in good] == ["Refresh the access token first."]
    assert {h["target"] for h in hobbies} == {"alice", "bob"}


async def test_top_k_above_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(SEARCH, json={"query": "x", "top_k": 100_000})

    assert response.status_code == 400
    assert response.json()["metadata"]["errors"][0]["loc"] == ["body", "top_k"]
