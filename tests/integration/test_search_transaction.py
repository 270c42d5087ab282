"""A search in a large workspace may turn sorting off for its planner: what its transaction sees after."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database
from app.store.search import EXACT_SCAN_MAX_ROWS, SearchFilters, SearchRequest, search_memories

WORKSPACE = "large-for-sort"


@pytest.fixture(scope="module")
async def large_workspace(engine: AsyncEngine) -> AsyncIterator[str]:
    """More task memories than are ranked exactly, so that the search walks the index."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO workspace (id) VALUES (:ws)"), {"ws": WORKSPACE})
        await conn.execute(
            text(
                "INSERT INTO memory (workspace_id, memory_id, memory_type, content, embedding) "
                "SELECT :ws, 'm' || i, 'task', 'step ' || i, "
                "array_fill((i % 7 + 1)::float8 / 10, ARRAY[384])::vector FROM generate_series(1, :n) AS i"
            ),
            {"ws": WORKSPACE, "n": EXACT_SCAN_MAX_ROWS + 100},
        )
    yield WORKSPACE
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM workspace WHERE id = :ws"), {"ws": WORKSPACE})


def vector_search(workspace: str) -> SearchRequest:
    return SearchRequest(
        filters=SearchFilters(workspace_id=workspace, memory_type="task"), top_k=5, embedding=[0.1] * 384
    )


async def test_statements_after_a_search_in_its_transaction_plan_with_sorting(
    database: Database, large_workspace: str
) -> None:
    async with database.session() as session:
        hits = await search_memories(session, vector_search(large_workspace))
        sorting = await session.scalar(text("SHOW enable_sort"))

    assert len(hits) == 5
    assert sorting == "on"


async def test_a_search_that_ends_its_transaction_skips_turning_sorting_on_again(
    database: Database, large_workspace: str
) -> None:
    async with database.session() as session:
        hits = await search_memories(session, vector_search(large_workspace), ends_transaction=True)
        sorting = await session.scalar(text("SHOW enable_sort"))
    async with database.session() as session:
        next_transaction = await session.scalar(text("SHOW enable_sort"))

    assert len(hits) == 5
    assert sorting == "off"  # the round trip saved; the setting was local to the transaction
    assert next_transaction == "on"
