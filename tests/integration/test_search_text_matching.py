"""How full text counts: every word (web-search syntax) in text mode; in hybrid mode also any word
among the vector list's memories."""

from __future__ import annotations

from typing import Any

import httpx

SEARCH = "/v1/workspaces/words/search"
MEMORIES = [
    {"when_to_use": "When a paginated API returns partial results", "content": "Loop over every page."},
    {"when_to_use": "When an API login fails", "content": "Refresh the access token first."},
    {"when_to_use": "When cooking rice for guests", "content": "One part rice, one and a half water."},
]


async def search(client: httpx.AsyncClient, **body: Any) -> list[dict[str, Any]]:
    response = await client.post(SEARCH, json=body)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def given_memories(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/workspaces/words/memories", json=MEMORIES)
    assert response.status_code == 201, response.text


async def test_hybrid_finds_keywords_of_a_long_question_that_no_memory_holds_entirely(
    client: httpx.AsyncClient,
) -> None:
    await given_memories(client)
    question = "my agent keeps getting partial results from a paginated endpoint, what should it do next"

    hits = await search(client, query=question, mode="hybrid", top_k=3)

    assert hits[0]["content"] == "Loop over every page."
    assert hits[0]["text_rank"] is not None


async def test_hybrid_ranks_a_memory_with_every_word_above_one_with_a_few(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    hits = await search(client, query="API login token", mode="hybrid", top_k=3)
    ranked = [h["content"] for h in hits if h["text_rank"] is not None]

    assert ranked[0] == "Refresh the access token first."
    assert "Loop over every page." in ranked  # matches "API" only, still in the text list


async def test_text_mode_needs_every_word_and_honours_exclusion(client: httpx.AsyncClient) -> None:
    await given_memories(client)

    every = await search(client, query="API partial", mode="text")
    excluded = await search(client, query="API -login", mode="text")

    assert [h["content"] for h in every] == ["Loop over every page."]
    assert [h["content"] for h in excluded] == ["Loop over every page."]
