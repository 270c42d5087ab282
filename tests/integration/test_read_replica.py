"""REME_DATABASE__READ_URL: listings, search and retrieval read a streaming replica; writes and
reads of one's own writes go to the primary.

The replica is a real hot standby of the embedded test server, made with the wheel's own
``pg_basebackup`` and listening on 127.0.0.1. Pausing its WAL replay makes the routing visible:
what is written after the pause exists on the primary only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.settings import DatabaseSettings, Settings
from tests.conftest import app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standby import LocalServer, streaming_standby
from tests.support.standin import StandInOpenAI

BASE = "/v1/workspaces/replicated/memories"
REPLAY_WAIT_SECONDS = 60


def plain(url: str) -> str:
    """An asyncpg URL for asyncpg itself (no SQLAlchemy driver name)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="module")
def primary_url(make_database: Callable[[str], str]) -> str:
    return make_database("reme_replica")


@pytest.fixture(scope="module")
def standby(pg_server: Any, primary_url: str) -> Iterator[LocalServer]:
    bin_dir = Path(pg_server.bin_path)
    if not (bin_dir / "pg_basebackup").is_file():
        pytest.skip(f"no pg_basebackup next to the embedded server in {bin_dir}")
    socket_dir = str(make_url(primary_url).query["host"])
    with streaming_standby(bin_dir, socket_dir) as server:
        yield server


@pytest.fixture(scope="module")
def replicated_app(
    primary_url: str, standby: LocalServer, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    settings: Settings = app_settings(
        primary_url, standin, storage_dir, database=DatabaseSettings(read_url=standby.url("reme_replica"))
    )
    running = start_server(settings)
    yield running
    running.stop()


@pytest.fixture
async def replica(standby: LocalServer, primary_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the standby; replay is resumed after the test."""
    conn = await asyncpg.connect(plain(standby.url("reme_replica")))
    yield conn
    await conn.execute("SELECT pg_wal_replay_resume()")
    await conn.close()


@pytest.fixture
async def client(replicated_app: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=replicated_app.base_url, timeout=60) as http:
        yield http


async def caught_up(replica: asyncpg.Connection, primary_url: str) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    primary = await asyncpg.connect(plain(primary_url))
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await primary.close()
    for _ in range(REPLAY_WAIT_SECONDS * 10):
        if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the standby did not replay up to {target}")


async def add(client: httpx.AsyncClient, content: str) -> str:
    response = await client.post(BASE, json={"when_to_use": content, "content": content})
    assert response.status_code == 201, response.text
    memory_id: str = response.json()["items"][0]["memory_id"]
    return memory_id


async def listed(client: httpx.AsyncClient) -> list[str]:
    response = await client.get(BASE)
    assert response.status_code == 200, response.text
    return [m["content"] for m in response.json()["items"]]


async def searched(client: httpx.AsyncClient, query: str) -> list[str]:
    response = await client.post("/v1/workspaces/replicated/search", json={"query": query, "mode": "text"})
    assert response.status_code == 200, response.text
    return [h["content"] for h in response.json()["items"]]


async def test_the_replica_is_a_streaming_hot_standby(replica: asyncpg.Connection) -> None:
    assert await replica.fetchval("SELECT pg_is_in_recovery()") is True
    assert await replica.fetchval("SELECT status FROM pg_stat_wal_receiver") == "streaming"


async def test_listings_and_search_read_the_replica_while_writes_go_to_the_primary(
    client: httpx.AsyncClient, replica: asyncpg.Connection, primary_url: str
) -> None:
    await add(client, "replicated lighthouse")
    await caught_up(replica, primary_url)
    await replica.execute("SELECT pg_wal_replay_pause()")

    fresh_id = await add(client, "fresh lighthouse")

    assert await listed(client) == ["replicated lighthouse"]
    assert await searched(client, "lighthouse") == ["replicated lighthouse"]
    own_write = await client.get(f"{BASE}/{fresh_id}")
    assert own_write.status_code == 200 and own_write.json()["content"] == "fresh lighthouse"


async def test_once_replayed_the_replica_shows_every_write(
    client: httpx.AsyncClient, replica: asyncpg.Connection, primary_url: str
) -> None:
    await add(client, "later beacon")
    await caught_up(replica, primary_url)

    assert "later beacon" in await listed(client)
    assert "later beacon" in await searched(client, "beacon")
