"""A vector search in one statement finds what the transaction path finds.

app.store.vector_search answers vector searches in one statement outside a transaction: a
small filtered set exactly, a set known to be large through the HNSW index on a connection
whose session holds the index-scan settings. These tests compare them with the transaction
path (app.store.search.search_memories) on data loaded through the service, filter by filter.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import Database
from app.providers.embeddings import build_embedder
from app.settings import Settings
from app.store import vector_search
from app.store.search import (
    INDEX_SCAN_SETTINGS,
    SearchFilters,
    SearchHit,
    SearchRequest,
    search,
    search_memories,
)
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
    vector_search._large_sets.clear()


async def _load_and_embed_questions(
    client: httpx.AsyncClient, storage_dir: Path, settings: Settings, questions: list[str]
) -> list[list[float]]:
    """Load the conversation's turns through the service; the questions' vectors."""
    await load_turns(client, storage_dir, TURNS)
    embedder = build_embedder(settings.embedding)
    vectors = await embedder.embed(questions)
    await embedder.close()
    return vectors


async def test_one_statement_finds_what_the_transaction_finds(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path, settings: Settings, database: Database
) -> None:
    vectors = await _load_and_embed_questions(client, storage_dir, settings, QUESTIONS)
    compared = 0
    for filters in FILTERS:
        for vector in vectors:
            request = SearchRequest(filters=filters, top_k=3, mode="vector", embedding=vector)
            async with database.read_autocommit() as connection:
                one = await vector_search.small_set_vector_search(
                    connection, filters, vector, 3, max_rows=100
                )
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
    (vector,) = await _load_and_embed_questions(client, storage_dir, settings, QUESTIONS[:1])
    filters = SearchFilters(workspace_id=WS, memory_type="personal")

    async with database.read_autocommit() as connection:
        over = await vector_search.small_set_vector_search(
            connection, filters, vector, 3, max_rows=len(TURNS) - 1
        )
        at = await vector_search.small_set_vector_search(connection, filters, vector, 3, max_rows=len(TURNS))
    assert over is None
    assert at is not None and len(at) == 3

    # A set found large is searched through the index, with the same answer
    vector_search.remember_large(filters)
    assert vector_search.known_large(filters)
    assert not vector_search.known_large(SearchFilters(workspace_id=WS, memory_type="task"))
    request = SearchRequest(filters=filters, top_k=3, mode="vector", embedding=vector)
    assert _listed(await search(database, request)) == _listed(at)


async def test_a_large_set_is_searched_through_the_index_in_one_statement(
    client: httpx.AsyncClient, engine: AsyncEngine, storage_dir: Path, settings: Settings, database: Database
) -> None:
    vectors = await _load_and_embed_questions(client, storage_dir, settings, QUESTIONS)
    covered = [f for f in FILTERS if f.target is None and f.min_score is None]
    compared = 0
    for filters in covered:
        vector_search.remember_large(filters)
        for vector in vectors:
            request = SearchRequest(filters=filters, top_k=3, mode="vector", embedding=vector)
            async with AsyncSession(engine) as session, session.begin():
                reference = _listed(await search_memories(session, request))
            async with database.read_autocommit(INDEX_SCAN_SETTINGS) as connection:
                walked = await vector_search.index_vector_search(connection, filters, vector, 3)
            assert _listed(walked) == reference
            assert _listed(await search(database, request)) == reference
            compared += len(reference)
    assert compared > 0


async def test_the_index_search_connection_holds_its_settings_and_walks_the_index(
    client: httpx.AsyncClient, storage_dir: Path, database: Database
) -> None:
    await load_turns(client, storage_dir, TURNS)
    filters = SearchFilters(workspace_id=WS, memory_type="personal")
    statement = vector_search._index_statement(filters.shape())
    params = {**filters.params(), "embedding": [1.0] * database.settings.embedding.resolved_dim, "top_k": 3}
    async with database.read_autocommit(INDEX_SCAN_SETTINGS) as connection:
        for name, value in INDEX_SCAN_SETTINGS.items():
            assert await connection.scalar(text(f"SELECT current_setting('{name}')")) == value
        plan = await connection.run_sync(lambda sync: _explain(sync, statement, params))
    # A handful of rows: without the settings the planner would sort them instead.
    assert "ix_memory_embedding_hnsw" in plan, plan
    async with database.read_autocommit() as connection:
        assert await connection.scalar(text("SELECT current_setting('enable_sort')")) == "on"


def _explain(connection: Any, statement: Any, params: dict[str, Any]) -> str:
    compiled = statement.compile(dialect=connection.dialect)
    values = compiled.construct_params(params)
    positional = tuple(values[name] for name in compiled.positiontup)
    rows = connection.exec_driver_sql("EXPLAIN " + str(compiled), positional)
    return "\n".join(row[0] for row in rows)
