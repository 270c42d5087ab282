"""On a Citus cluster: the layout of the tables, the single-shard check itself, work across
workspaces on different workers, advisory locks on the shard, and growing the cluster live.

These run when REME_TEST_DATABASE_URL is a Citus coordinator (`.ci/run` makes one); otherwise
they skip, saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database, head_revision, normalise_url, run_alembic
from app.settings import Settings
from app.store.memories import lock_workspace
from tests.support.citus import MultiShardGuard
from tests.support.server import free_port
from tests.support.standby import LocalServer, as_server_user, server_directory

# Safety net only: a rebalance that cannot finish (it retries failing tasks forever) fails the test.
REBALANCE_TIMEOUT = 120
WORKSPACE_TABLES = {
    "workspace",
    "memory",
    "memory_event",
    "validation_record",
    "trajectory",
    "tool_call",
    "job",
}


@pytest.fixture(autouse=True)
def _needs_citus(citus_url: str | None) -> None:
    if citus_url is None:
        pytest.skip("needs a Citus coordinator: set REME_TEST_DATABASE_URL to one (.ci/run makes a cluster)")


@pytest.fixture
async def citus(client: httpx.AsyncClient, citus_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection to the coordinator, for looking at the cluster (not the service's)."""
    conn = await asyncpg.connect(normalise_url(citus_url).replace("+asyncpg", "", 1))
    yield conn
    await conn.close()


@pytest.fixture
async def service_db(settings: Settings) -> AsyncIterator[Database]:
    """The service's own Database, as the app opens it (its statements are checked)."""
    db = Database(settings)
    await db.start()
    await db.prepare()
    yield db
    await db.stop()


async def worker_of(citus: asyncpg.Connection, workspace_id: str) -> int:
    """The port of the worker holding a workspace's shard."""
    port: int = await citus.fetchval(
        "SELECT nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) "
        "WHERE shardid = get_shard_id_for_distribution_column('workspace', $1::text)",
        workspace_id,
    )
    return port


async def workspaces_on_two_workers(citus: asyncpg.Connection) -> tuple[str, str]:
    first = "alpha"
    home = await worker_of(citus, first)
    for n in range(100):
        other = f"beta-{n}"
        if await worker_of(citus, other) != home:
            return first, other
    raise AssertionError("every workspace id tried lands on one worker")


async def test_workspace_tables_are_distributed_by_workspace_and_co_located(
    citus: asyncpg.Connection,
) -> None:
    rows = await citus.fetch(
        "SELECT table_name::text AS name, citus_table_type AS kind, distribution_column AS column, "
        "colocation_id FROM citus_tables"
    )
    tables = {r["name"]: r for r in rows}

    assert {n for n, r in tables.items() if r["kind"] == "distributed"} == WORKSPACE_TABLES
    assert tables["workspace"]["column"] == "id"
    assert {tables[n]["column"] for n in WORKSPACE_TABLES - {"workspace"}} == {"workspace_id"}
    assert len({tables[n]["colocation_id"] for n in WORKSPACE_TABLES}) == 1
    assert {n for n, r in tables.items() if r["kind"] == "reference"} == {"api_key", "reme_setting"}


async def test_a_multi_shard_statement_of_the_service_is_refused_and_recorded(
    service_db: Database, multi_shard_guard: MultiShardGuard
) -> None:
    async with service_db.session() as session:
        one = await session.scalar(text("SELECT count(*) FROM memory WHERE workspace_id = 'w'"))
    with pytest.raises(Exception, match="multi-task query"):
        async with service_db.session() as session:
            await session.scalar(text("SELECT count(*) FROM memory"))

    assert one == 0
    assert multi_shard_guard.refused == ["SELECT count(*) FROM memory"]
    multi_shard_guard.refused.clear()


async def test_copy_and_export_import_between_workspaces_on_different_workers(
    client: httpx.AsyncClient, citus: asyncpg.Connection
) -> None:
    source, target = await workspaces_on_two_workers(citus)
    added = await client.post(
        f"/v1/workspaces/{source}/memories", json=[{"content": f"fact {n}"} for n in range(4)]
    )
    assert added.status_code == 201, added.text

    copied = await client.post(
        "/vector_store", json={"workspace_id": target, "action": "copy", "src_workspace_id": source}
    )
    exported = await client.get(f"/v1/workspaces/{source}/export", params={"include_embeddings": "true"})
    imported = await client.post(
        f"/v1/workspaces/{target}-import/import",
        content=exported.content,
        headers={"Content-Type": "application/x-ndjson"},
    )

    assert copied.json()["metadata"]["action_result"]["size"] == 4
    assert imported.json()["imported"] == 4
    for workspace in (target, f"{target}-import"):
        page = (await client.get(f"/v1/workspaces/{workspace}/memories")).json()
        assert sorted(m["content"] for m in page["items"]) == [f"fact {n}" for n in range(4)]


async def test_the_workspace_lock_is_taken_on_the_worker_holding_the_workspace(
    client: httpx.AsyncClient, service_db: Database, citus: asyncpg.Connection
) -> None:
    await client.post("/v1/workspaces/locked/memories", json={"content": "x"})
    home = await worker_of(citus, "locked")

    async with service_db.session() as session:
        await lock_workspace(session, "locked")
        held = await citus.fetch(
            "SELECT nodeport, result FROM run_command_on_workers("
            "$$SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'$$)"
        )
        on_coordinator = await citus.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")

    assert {r["nodeport"]: int(r["result"]) for r in held}[home] == 1
    assert on_coordinator == 0


async def test_going_below_0005_on_citus_is_refused_and_changes_nothing(service_db: Database) -> None:
    assert service_db.engine is not None
    with pytest.raises(RuntimeError, match="refusing to downgrade below 0005 on Citus"):
        async with service_db.engine.begin() as conn:
            await conn.run_sync(run_alembic, "downgrade", "0004", service_db.settings)

    assert await service_db.current_revision() == head_revision(service_db.settings)


# --- growing the cluster live -------------------------------------------------------------------


@asynccontextmanager
async def extra_worker(citus: asyncpg.Connection, url: str) -> AsyncIterator[LocalServer]:
    """One more worker like the others, registered; drained, removed and stopped afterwards."""
    bin_dir = Path(await citus.fetchval("SELECT setting FROM pg_config WHERE name = 'BINDIR'"))
    database = make_url(url).database or "postgres"
    with server_directory("reme-citus-worker-") as data:
        server = LocalServer(bin_dir, data, free_port())
        as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"])
        server.configure("shared_preload_libraries = 'citus'", "max_connections = 200")
        server.start()
        try:
            await prepare_worker(server, database)
            # Shards left behind by earlier moves are dropped in the background; a move onto a
            # node holding one fails, so they go first.
            await citus.execute("CALL citus_cleanup_orphaned_resources()")
            await citus.execute("SELECT citus_add_node('127.0.0.1', $1)", server.port)
            try:
                yield server
            finally:
                await citus.execute(
                    "SELECT citus_rebalance_stop() FROM citus_rebalance_status() WHERE state = 'running'"
                )
                await citus.execute(
                    "SELECT citus_drain_node('127.0.0.1', $1, shard_transfer_mode => 'block_writes')",
                    server.port,
                )
                # Drop what the moves left behind while this node is still up, then let it go.
                await citus.execute("CALL citus_cleanup_orphaned_resources()")
                await citus.execute("SELECT citus_remove_node('127.0.0.1', $1)", server.port)
        finally:
            server.stop()


async def prepare_worker(server: LocalServer, database: str) -> None:
    if database != "postgres":
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/{database}")
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS citus; CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()


async def test_a_worker_added_and_rebalanced_under_load_loses_nothing(
    client: httpx.AsyncClient, citus: asyncpg.Connection, citus_url: str, engine: AsyncEngine
) -> None:
    workspaces = [f"grow-{n}" for n in range(8)]
    for workspace in workspaces:
        await client.post(f"/v1/workspaces/{workspace}/memories", json=[{"content": f"{workspace} seed"}])
    sent = {workspace: 1 for workspace in workspaces}
    errors: list[str] = []
    rebalanced = asyncio.Event()

    async def load(workspace: str) -> None:
        batch = 0
        while not rebalanced.is_set() or batch < 3:
            body = [{"content": f"{workspace} batch {batch} item {i}"} for i in range(5)]
            response = await client.post(f"/v1/workspaces/{workspace}/memories", json=body)
            if response.status_code == 201:
                sent[workspace] += 5
            else:
                errors.append(f"add {workspace}: {response.status_code} {response.text[:200]}")
            found = await client.post(
                f"/v1/workspaces/{workspace}/search", json={"query": "item", "mode": "text"}
            )
            if found.status_code != 200:
                errors.append(f"search {workspace}: {found.status_code} {found.text[:200]}")
            batch += 1

    async with extra_worker(citus, citus_url) as worker:
        loads = [asyncio.create_task(load(w)) for w in workspaces]
        try:
            # block_writes: the test cluster runs with wal_level = replica (no logical decoding), so
            # a moving shard group holds its writes for the copy instead of replicating them.
            await citus.execute("SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')")
            await citus.execute("SELECT citus_rebalance_wait()", timeout=REBALANCE_TIMEOUT)
        finally:
            rebalanced.set()
            await asyncio.gather(*loads)
        moved = await citus.fetchval(
            "SELECT count(*) FROM pg_dist_placement JOIN pg_dist_node USING (groupid) WHERE nodeport = $1",
            worker.port,
        )
        stored = {}
        async with engine.connect() as conn:
            for workspace in workspaces:
                stored[workspace] = await conn.scalar(
                    text("SELECT count(*) FROM memory WHERE workspace_id = :w"), {"w": workspace}
                )

    assert errors == []
    assert moved > 0
    assert stored == sent
