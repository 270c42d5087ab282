"""A large load refreshes the planner's statistics of the memory table when it commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store import transfer
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


async def test_a_small_load_leaves_statistics_to_autovacuum(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine
) -> None:
    before = await analyze_count(engine)

    await load(client, storage_dir, APPWORLD, "appworld")

    assert await analyze_count_after(engine, before, wait=2) == before


async def test_a_load_at_the_threshold_analyzes_the_memory_table(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app under test runs in this process: lower the threshold to the file's size.
    monkeypatch.setattr(transfer, "ANALYZE_AFTER_ROWS", 193)
    before = await analyze_count(engine)

    await load(client, storage_dir, APPWORLD, "appworld")

    assert await analyze_count_after(engine, before, wait=15) == before + 1
