"""A load large next to the memory table refreshes the planner's statistics when it commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.store import transfer
from app.store.vector_index import estimated_rows
from tests.integration.test_vector_store import APPWORLD, load


async def analyze_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        count = await conn.scalar(
            text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'memory'")
        )
    return int(count or 0)


async def analyze_count_after(engine: AsyncEngine, before: int, wait: float) -> int:
    """The count once it moves past ``before``, or after ``wait`` seconds.

    A backend publishes its statistics up to about ten seconds after it goes idle.
    """
    count = before
    for _ in range(int(wait / 0.2) + 1):
        count = await analyze_count(engine)
        if count != before:
            break
        await asyncio.sleep(0.2)
    return count


async def test_a_load_large_next_to_the_table_analyzes_it_and_a_small_one_does_not(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app under test runs in this process: set the share so that each load decides one way.
    monkeypatch.setattr(transfer, "ANALYZE_MIN_SHARE", 0.0)
    before = await analyze_count(engine)

    await load(client, storage_dir, APPWORLD, "appworld")

    after_first = await analyze_count_after(engine, before, wait=15)
    assert after_first == before + 1
    # The table now holds the file's 193 memories by the planner's estimate; the same load
    # again is not a thousand times as large.
    monkeypatch.setattr(transfer, "ANALYZE_MIN_SHARE", 1000.0)

    await load(client, storage_dir, APPWORLD, "appworld_again")

    assert await analyze_count_after(engine, after_first, wait=2) == after_first


async def test_a_load_below_the_minimum_rows_leaves_statistics_to_autovacuum(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "ANALYZE_MIN_SHARE", 0.0)
    monkeypatch.setattr(transfer, "ANALYZE_MIN_ROWS", 194)
    before = await analyze_count(engine)

    await load(client, storage_dir, APPWORLD, "appworld")

    assert await analyze_count_after(engine, before, wait=2) == before


async def test_a_load_does_not_wait_for_statistics_behind_an_index_build(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the table held as a concurrent index build holds it (ANALYZE needs that lock too)
    monkeypatch.setattr(transfer, "ANALYZE_MIN_SHARE", 0.0)
    async with engine.connect() as holder:
        await holder.execute(text("LOCK TABLE memory IN SHARE UPDATE EXCLUSIVE MODE"))
        try:
            # When a load large enough to refresh the statistics comes in
            async with asyncio.timeout(120):
                await load(client, storage_dir, APPWORLD, "during_build")
        finally:
            await holder.rollback()

    # Then it ended without waiting for the lock, every memory written
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM memory WHERE workspace_id = 'during_build'"))
    assert count == 193


async def test_the_table_estimate_counts_rows_written_since_the_last_analyze(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given fresh statistics, and loads that leave them as they are
    await load(client, storage_dir, APPWORLD, "counted_before")
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE memory"))
        await conn.commit()
        before = await estimated_rows(AsyncSession(bind=conn))
    monkeypatch.setattr(transfer, "ANALYZE_MIN_ROWS", 10_000)

    # When as many memories again are loaded
    await load(client, storage_dir, APPWORLD, "counted_after")

    # Then the estimate grew by about as many (pages written since, at the density measured)
    async with engine.connect() as conn:
        after = await estimated_rows(AsyncSession(bind=conn))
    assert after - before > 0.8 * 193
