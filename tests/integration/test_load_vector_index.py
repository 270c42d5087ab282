"""Large loads set the vector index aside and have it built after them, without losing a row.

The servers here are configured so that any load of 100 memories or more counts as large.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database
from app.settings import LoadSettings, Settings
from app.store.vector_index import BUILD_LOCK_KEY, build_vector_index
from tests.conftest import app_settings
from tests.integration.test_cli_output import reme
from tests.integration.test_faults_load import renumbered
from tests.integration.test_load_statistics import analyze_count, analyze_count_after
from tests.integration.test_vector_store import APPWORLD, BFCL, load, place_file, reme_lines
from tests.support.database import wait_for_lock_wait
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

REPO = Path(__file__).resolve().parents[2]
# Above EXACT_SCAN_MAX_ROWS (app/store/search.py): searches of the workspace walk the index
# when there is one.
COPIES = 5


def aside_settings(database_url: str, standin: StandInOpenAI, storage_dir: Path, *, delay: float) -> Settings:
    load_settings = LoadSettings(
        index_rebuild_min_rows=100, index_rebuild_min_share=0.0, index_rebuild_delay_seconds=delay
    )
    return app_settings(database_url, standin, storage_dir, load=load_settings)


@pytest.fixture
def waiting_server(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    """A server whose index builds wait ten minutes after a load: long enough to look."""
    running = start_server(aside_settings(database_url, standin, storage_dir, delay=600))
    yield running
    running.stop()


async def index_oid(engine: AsyncEngine) -> int | None:
    """The vector index, once searches can use it (a concurrent build shows it invalid before)."""
    async with engine.connect() as conn:
        oid = await conn.scalar(
            text(
                "SELECT indexrelid::oid FROM pg_index "
                "WHERE indexrelid = to_regclass('ix_memory_embedding_hnsw') AND indisvalid"
            )
        )
    return None if oid is None else int(oid)


async def wait_for_index(engine: AsyncEngine) -> int:
    """The index once it is valid (an earlier test's large load may have it still building)."""
    async with asyncio.timeout(300):
        while True:
            oid = await index_oid(engine)
            if oid is not None:
                return oid
            await asyncio.sleep(0.2)


@pytest.fixture
async def index_restored(
    engine: AsyncEngine, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> AsyncIterator[None]:
    """Whatever a test leaves, the next one finds the index in place."""
    yield
    if await index_oid(engine) is None:
        running = start_server(aside_settings(database_url, standin, storage_dir, delay=0))
        try:
            await wait_for_index(engine)
        finally:
            running.stop()


async def top_hits(base_url: str, workspace_id: str, query: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        response = await http.post(f"/v1/workspaces/{workspace_id}/search", json={"query": query, "top_k": 5})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def stored_count(engine: AsyncEngine, workspace_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM memory WHERE workspace_id = :w"), {"w": workspace_id}
        )
    return int(count or 0)


async def test_a_large_load_is_searchable_at_once_and_the_next_start_builds_the_index(
    client: httpx.AsyncClient,
    waiting_server: RunningServer,
    engine: AsyncEngine,
    database_url: str,
    standin: StandInOpenAI,
    storage_dir: Path,
    tmp_path: Path,
    index_restored: None,
) -> None:
    # Given the vector index, and a file holding every bfcl memory five times under new ids
    before = await wait_for_index(engine)
    workspace_id = f"aside-{uuid.uuid4().hex[:8]}"
    folder = storage_dir / uuid.uuid4().hex
    folder.mkdir()
    renumbered(BFCL, COPIES, folder / f"{workspace_id}.jsonl")
    query = reme_lines(BFCL)[0]["when_to_use"]

    # When the file is loaded through a server whose index builds wait
    async with httpx.AsyncClient(base_url=waiting_server.base_url, timeout=300) as http:
        response = await http.post(
            "/vector_store", json={"workspace_id": workspace_id, "action": "load", "path": str(folder)}
        )
    assert response.status_code == 200, response.text

    # Then every row is in and searchable while the index is not there yet: the five copies
    # of the memory whose situation is the query rank first
    assert await index_oid(engine) is None
    assert await stored_count(engine, workspace_id) == COPIES * len(reme_lines(BFCL))
    hits = await top_hits(waiting_server.base_url, workspace_id, query)
    assert [hit["when_to_use"] for hit in hits] == [query] * COPIES
    status = await asyncio.to_thread(reme, database_url, "status")
    assert "no vector index: a large load set it aside" in status.stdout

    # And when that server stops before building it, the next one to start builds it
    waiting_server.stop()
    restarted = start_server(aside_settings(database_url, standin, storage_dir, delay=0))
    try:
        after = await wait_for_index(engine)
        assert after != before
        hits = await top_hits(restarted.base_url, workspace_id, query)
        assert [hit["when_to_use"] for hit in hits] == [query] * COPIES
    finally:
        restarted.stop()


async def test_a_load_failing_after_setting_the_index_aside_leaves_index_and_workspace_as_they_were(
    client: httpx.AsyncClient,
    waiting_server: RunningServer,
    engine: AsyncEngine,
    storage_dir: Path,
    tmp_path: Path,
    index_restored: None,
) -> None:
    # Given a workspace holding appworld's memories, and a database that refuses one memory
    workspace_id = f"refused-{uuid.uuid4().hex[:8]}"
    await load(client, storage_dir, APPWORLD, workspace_id)
    before_oid = await wait_for_index(engine)
    before_count = await stored_count(engine, workspace_id)
    records = [{**r, "memory_id": uuid.uuid4().hex} for r in reme_lines(BFCL)]
    records[-1]["content"] = "REFUSED-BY-TRIGGER"
    source = tmp_path / "refused.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.content = 'REFUSED-BY-TRIGGER' THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER refuse_marked BEFORE INSERT ON memory "
                "FOR EACH ROW EXECUTE FUNCTION refuse_marked()"
            )
        )
    try:
        # When the file is loaded over it, and the move of its rows into place fails
        async with httpx.AsyncClient(base_url=waiting_server.base_url, timeout=300) as http:
            response = await http.post(
                "/vector_store",
                json={
                    "workspace_id": workspace_id,
                    "action": "load",
                    "path": place_file(storage_dir, source, workspace_id),
                },
            )
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER refuse_marked ON memory"))
            await conn.execute(text("DROP FUNCTION refuse_marked()"))

    # Then the load failed, the same index is in place, and the workspace is untouched
    assert response.status_code != 200
    assert response.json()["success"] is False
    assert await index_oid(engine) == before_oid
    assert await stored_count(engine, workspace_id) == before_count


async def test_reme_load_builds_the_index_it_set_aside_before_it_ends(
    client: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path, index_restored: None
) -> None:
    # Given the vector index, and a file of a few thousand memories
    before = await wait_for_index(engine)
    big = renumbered(BFCL, 3, tmp_path / "big.jsonl")
    workspace_id = f"cli-aside-{uuid.uuid4().hex[:8]}"

    # When `reme load` loads it with loads of 100 memories counting as large
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LOG_LEVEL": "WARNING",
        "REME_LOAD__INDEX_REBUILD_MIN_ROWS": "100",
        "REME_LOAD__INDEX_REBUILD_MIN_SHARE": "0",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "load",
        workspace_id,
        str(big),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stdout, _ = await process.communicate()

    # Then it says so, and when it has ended a new index is in place over every row
    assert process.returncode == 0
    assert "vector index built in" in stdout.decode()
    after = await index_oid(engine)
    assert after is not None and after != before
    assert await stored_count(engine, workspace_id) == 3 * len(reme_lines(BFCL))


async def test_an_index_left_invalid_by_a_failed_build_is_built_again(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    database: Database,
    database_url: str,
    index_restored: None,
) -> None:
    # Given an index that a concurrent build left invalid (PostgreSQL keeps it, unused)
    before = await wait_for_index(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE pg_index SET indisvalid = false "
                "WHERE indexrelid = 'ix_memory_embedding_hnsw'::regclass"
            )
        )
    status = await asyncio.to_thread(reme, database_url, "status")
    assert "no vector index" in status.stdout

    # When the builder runs
    built = await build_vector_index(database, LoadSettings())

    # Then it dropped the invalid one and built a valid index in its place
    assert built is True
    after = await index_oid(engine)
    assert after is not None and after != before


async def test_the_builder_refreshes_the_statistics_once_it_has_built_the_index(
    client: httpx.AsyncClient, engine: AsyncEngine, database: Database, index_restored: None
) -> None:
    # Given an index to build again (loads that set it aside leave their ANALYZE to the build)
    await wait_for_index(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE pg_index SET indisvalid = false "
                "WHERE indexrelid = 'ix_memory_embedding_hnsw'::regclass"
            )
        )
    before = await analyze_count(engine)

    # When the builder runs
    assert await build_vector_index(database, LoadSettings()) is True

    # Then it analysed the table
    assert await analyze_count_after(engine, before, wait=15) == before + 1


async def test_a_large_load_during_an_index_build_keeps_the_index(
    client: httpx.AsyncClient,
    waiting_server: RunningServer,
    engine: AsyncEngine,
    storage_dir: Path,
    index_restored: None,
) -> None:
    # Given a build in progress elsewhere (it holds the build lock)
    before = await wait_for_index(engine)
    workspace_id = f"during-{uuid.uuid4().hex[:8]}"
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": BUILD_LOCK_KEY})
        try:
            # When a load large enough to set the index aside comes in (the server counts any
            # load of 100 memories as large)
            async with asyncio.timeout(120):
                await load_through(waiting_server, storage_dir, workspace_id)
        finally:
            await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BUILD_LOCK_KEY})
            await holder.commit()

    # Then it did not wait for the build, kept the index, and wrote every row
    assert await index_oid(engine) == before
    assert await stored_count(engine, workspace_id) == len(reme_lines(APPWORLD))


async def test_a_large_load_during_a_concurrent_build_stops_it_and_sets_the_index_aside(
    client: httpx.AsyncClient,
    waiting_server: RunningServer,
    engine: AsyncEngine,
    database: Database,
    storage_dir: Path,
    index_restored: None,
) -> None:
    # Given the builder building the index (held at its last wait by an open snapshot)
    await wait_for_index(engine)
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX ix_memory_embedding_hnsw"))
    workspace_id = f"stops-{uuid.uuid4().hex[:8]}"
    async with engine.connect() as reader:
        reader = await reader.execution_options(isolation_level="REPEATABLE READ")
        await reader.execute(text("SELECT count(*) FROM workspace"))
        build = asyncio.create_task(build_vector_index(database, LoadSettings()))
        try:
            await wait_for_waiting_build(engine)

            # When a load large enough to set the index aside comes in
            async with asyncio.timeout(120):
                await load_through(waiting_server, storage_dir, workspace_id)
        finally:
            await reader.rollback()

    # Then the build was stopped (and says it did not build), every row is written, and the
    # index is left for the build after the load
    assert await build is False
    assert await stored_count(engine, workspace_id) == len(reme_lines(APPWORLD))
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT to_regclass('ix_memory_embedding_hnsw')")) is None


async def wait_for_waiting_build(engine: AsyncEngine) -> None:
    await wait_for_lock_wait(engine, "CREATE INDEX CONCURRENTLY%")


async def load_through(server: RunningServer, storage_dir: Path, workspace_id: str) -> None:
    folder = place_file(storage_dir, APPWORLD, workspace_id)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
        response = await http.post(
            "/vector_store", json={"workspace_id": workspace_id, "action": "load", "path": folder}
        )
    assert response.status_code == 200, response.text
