"""``reme reembed`` moves a database to another embedding model and dimension."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import text

from app.db import Database
from app.errors import SchemaMismatch
from app.settings import EmbeddingSettings, Settings
from tests.support.standin import StandInOpenAI


async def test_reembed_switches_model_and_dimension_and_keeps_every_memory(
    make_database: Callable[[str], str], standin: StandInOpenAI
) -> None:
    url = make_database("reme_reembed")
    old = Database(Settings(database_url=url, embedding=EmbeddingSettings(provider="local")))
    await old.start()
    await old.prepare()
    async with old.session() as session:
        await session.execute(text("INSERT INTO workspace (id) VALUES ('w')"))
        await session.execute(
            text(
                "INSERT INTO memory (workspace_id, memory_id, memory_type, when_to_use, content, embedding) "
                "SELECT 'w', 'm' || i, 'task', 'situation ' || i, 'content ' || i, "
                "array_fill(0.1, ARRAY[384])::vector FROM generate_series(1, 30) AS i"
            )
        )
    await old.stop()
    new_env = {
        "REME_DATABASE_URL": url,
        "REME_EMBEDDING__PROVIDER": "openai",
        "REME_EMBEDDING__BASE_URL": standin.base_url,
        "REME_EMBEDDING__API_KEY": "test",
        "REME_EMBEDDING__MODEL": "stand-in-embedding",
        "REME_EMBEDDING__DIM": "64",
    }

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", "reembed", "--batch", "7"],
        env={**os.environ, **new_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "re-embedded 30 memories" in result.stdout
    new_settings = EmbeddingSettings(
        provider="openai", base_url=standin.base_url, model="stand-in-embedding", dim=64
    )
    new = Database(Settings(database_url=url, embedding=new_settings))
    await new.start()
    try:
        await new.prepare()
        async with new.session() as session:
            dims = (
                await session.execute(text("SELECT DISTINCT vector_dims(embedding) FROM memory"))
            ).scalars()
            count = await session.scalar(text("SELECT count(*) FROM memory WHERE embedding IS NOT NULL"))
            index = await session.scalar(text("SELECT to_regclass('ix_memory_embedding_hnsw') IS NOT NULL"))
        assert (list(dims), count, index) == ([64], 30, True)
    finally:
        await new.stop()
    with pytest.raises(SchemaMismatch):
        await old.start()
        try:
            await old.prepare()
        finally:
            await old.stop()
