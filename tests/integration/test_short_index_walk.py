"""A filtered walk of the HNSW index that ends short of top_k is ranked exactly instead.

The graph holds every workspace's memories. A query that falls among another workspace's
memories can use up what an iterative index scan visits (``hnsw.max_scan_tuples``), or sit in a
part of the graph its own rows cannot be reached from, and return fewer than ``top_k``
memories although thousands match (seen with synthetic vectors: 2 of 100 random queries of a
5k workspace in a 126k table found nothing). Here the walk is made to end short for sure
(10 candidates, no iterative scan, all of them another workspace's), and both search paths
must still answer with the exact top 5.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database
from app.store import search as search_module
from app.store import vector_search
from app.store.search import (
    EXACT_SCAN_MAX_ROWS,
    INDEX_SCAN_SETTINGS,
    SearchFilters,
    SearchRequest,
    search,
)

FAR = "far-from-the-query"
CROWD = "crowd-at-the-query"
DIM = 384
# All ones: the crowd's memories lie around it, the far workspace's are orthogonal to it.
QUERY = [1.0] * DIM
# A walk that ends short for sure: 10 candidates (all the crowd's), no iterative scan after them.
SHORT_WALK = {"hnsw.ef_search": "10", "hnsw.iterative_scan": "off"}


def _vectors(sign_pattern: str) -> str:
    """One distinct vector per row i: a base pattern with one component raised."""
    return (
        f"(SELECT array_agg({sign_pattern} + CASE WHEN j = i % {DIM} + 1 THEN 0.5 + i / 10000.0 ELSE 0 END) "
        f"FROM generate_series(1, {DIM}) AS j)::vector"
    )


@pytest.fixture(scope="module")
async def two_workspaces(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        for ws, count, pattern in (
            (FAR, EXACT_SCAN_MAX_ROWS + 100, "CASE WHEN j % 2 = 0 THEN 1 ELSE -1 END"),
            (CROWD, 300, "1"),
        ):
            await conn.execute(text("INSERT INTO workspace (id) VALUES (:ws)"), {"ws": ws})
            await conn.execute(
                text(
                    "INSERT INTO memory (workspace_id, memory_id, memory_type, content, embedding) "
                    "SELECT CAST(:ws AS varchar), CAST(:ws AS varchar) || '-' || i, 'task', 'step ' || i, "
                    f"{_vectors(pattern)} "
                    "FROM generate_series(1, :n) AS i"
                ),
                {"ws": ws, "n": count},
            )
        await conn.execute(text("ANALYZE memory"))
    yield
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM workspace WHERE id IN (:a, :b)"), {"a": FAR, "b": CROWD})


def _request() -> SearchRequest:
    return SearchRequest(
        filters=SearchFilters(workspace_id=FAR, memory_type="task"), top_k=5, embedding=QUERY
    )


async def _exact_top5(database: Database) -> list[str]:
    async with database.session() as session:
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        rows = await session.execute(
            text(
                "SELECT memory_id FROM memory WHERE workspace_id = :ws AND memory_type = 'task' "
                "ORDER BY embedding <=> CAST(:q AS vector), memory_id LIMIT 5"
            ),
            {"ws": FAR, "q": str(QUERY)},
        )
        return [row[0] for row in rows]


async def test_the_transaction_path_ranks_exactly_when_the_walk_ends_short(
    database: Database, two_workspaces: None
) -> None:
    expected = await _exact_top5(database)
    async with database.session() as session:
        for name, value in SHORT_WALK.items():
            await session.execute(
                text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
            )
        walked = await search_module._ranked_by_vector(session, _request(), exact=False)
        hits = await search_module._vector_only(session, _request(), exact=False)
    assert len(walked) < 5  # the condition is there
    assert [h.memory.memory_id for h in hits] == expected


async def test_the_one_statement_path_ranks_exactly_when_the_walk_ends_short(
    database: Database, two_workspaces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await _exact_top5(database)
    settings = {**INDEX_SCAN_SETTINGS, **SHORT_WALK}
    monkeypatch.setattr(search_module, "INDEX_SCAN_SETTINGS", settings)
    request = _request()
    vector_search.remember_large(request.filters)
    async with database.read_autocommit(settings) as connection:
        walked = await vector_search.index_vector_search(connection, request.filters, QUERY, 5)
    hits = await search(database, request)
    assert len(walked) < 5  # the condition is there
    assert [h.memory.memory_id for h in hits] == expected
