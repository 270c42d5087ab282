"""A small set's vector search in one statement finds what the transaction path finds.

app.store.small_set answers vector searches of small filtered sets in one statement outside
a transaction; a set over the cap is left to the index search of app.store.search. These
tests compare the two paths on data loaded through the service, filter by filter.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import Database
from app.providers.embeddings import build_embedder
from app.settings import Settings
from app.store import small_set
from app.store.search import SearchFilters, SearchHit, SearchRequest, search, search_memories
from tests.integration.test_recall_signals import WS, load_turns
from tests.integration.test_text_ranked_ahead import QUESTIONS, TURNS


def _listed(hits: list[SearchHit]) -> list[tuple[str, str, str, str, float | None, float]]:
    return [
        (
            h.memory.memory_id,
            h.memory.content,
            h.memory.target,
            h.memory.memory_type,
            h.similarity,
            h.fused_score,
        )
        for h in hits
    ]


FILTERS = [
    SearchFilters(workspace_id=WS, memory_type="personal"),
    SearchFilters(workspace_id=WS, memory_type="personal", target="Mara"),
    SearchFilters(workspace_id=WS),
    SearchFilters(workspace_id=WS, created_after=datetime(2000, 1, 1), min_score=0.0),
    SearchFilters(workspace_id="no-such-workspace"),
]


@pytest.fixture(autouse=True)
def _forget_large_sets() -> None:
    small_set._large_sets.clear()


async def test_one_statement_finds_what_the_transaction_finds(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path, settings: Settings, database: Database
) -> None:
    await load_turns(client, storage_dir, TURNS)
    embedder = build_embedder(settings.embedding)
    vectors = await embedder.embed(QUESTIONS)
    await embedder.close()
    compared = 0
    for filters in FILTERS:
        for vector in vectors:
            request = SearchRequest(filters=filters, top_k=3, mode="vector", embedding=vector)
            async with database.read_autocommit() as connection:
                one = await small_set.small_set_vector_search(connection, filters, vector, 3, max_rows=100)
            async with AsyncSession(engine) as session, session.begin():
                reference = _listed(await search_memories(session, request))
            assert one is not None
            assert _listed(one) == reference
            assert _listed(await search(database, request)) == reference
            compared += len(reference)
    assert compared > 0


async def test_a_set_over_the_cap_is_left_to_the_index_search_and_remembered(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path, settings: Settings, database: Database
) -> None:
    await load_turns(client, storage_dir, TURNS)
    embedder = build_embedder(settings.embedding)
    (vector,) = await embedder.embed([QUESTIONS[0]])
    await embedder.close()
    filters = SearchFilters(workspace_id=WS, memory_type="personal")

    async with database.read_autocommit() as connection:
        over = await small_set.small_set_vector_search(
            connection, filters, vector, 3, max_rows=len(TURNS) - 1
        )
        at = await small_set.small_set_vector_search(connection, filters, vector, 3, max_rows=len(TURNS))
    assert over is None
    assert at is not None and len(at) == 3

    # A set found large is searched through search_memories, with the same answer
    small_set.remember_large(filters)
    assert small_set.known_large(filters)
    assert not small_set.known_large(SearchFilters(workspace_id=WS, memory_type="task"))
    request = SearchRequest(filters=filters, top_k=3, mode="vector", embedding=vector)
    assert _listed(await search(database, request)) == _listed(at)
