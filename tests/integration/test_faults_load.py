"""A bulk load that dies or fails midway leaves the workspace exactly as it was before."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import api_embedding, app_settings
from tests.integration.test_vector_store import APPWORLD, BFCL, load, place_file, reme_lines
from tests.support.database import wait_for_lock_wait
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = "kept"
# tqdm's counter on stderr: "embedding:  27%|##7       | 512/1896"
PROGRESS = re.compile(rb"(\d+)/(\d+)")


async def snapshot(engine: AsyncEngine) -> tuple[set[str], int]:
    """The workspace's memory ids and how many history events it has."""
    async with engine.connect() as conn:
        ids = set(
            (
                await conn.scalars(
                    text("SELECT memory_id FROM memory WHERE workspace_id = :w"), {"w": WORKSPACE}
                )
            ).all()
        )
        events = await conn.scalar(
            text("SELECT count(*) FROM memory_event WHERE workspace_id = :w"), {"w": WORKSPACE}
        )
    return ids, int(events or 0)


def renumbered(source: Path, copies: int, target: Path) -> Path:
    """``copies`` copies of a ReMe dump, every memory under a new id."""
    records = reme_lines(source)
    with target.open("w") as handle:
        for _ in range(copies):
            for record in records:
                handle.write(json.dumps({**record, "memory_id": uuid.uuid4().hex}) + "\n")
    return target


async def start_load(database_url: str, file: Path) -> asyncio.subprocess.Process:
    """``reme load kept FILE`` as a child process, as an operator runs it."""
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "load",
        WORKSPACE,
        str(file),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def wait_for_progress(process: asyncio.subprocess.Process) -> int:
    """Read the progress bar until some memories are embedded; returns how many."""
    assert process.stderr is not None
    seen = b""
    async with asyncio.timeout(120):
        while chunk := await process.stderr.read(4096):
            seen += chunk
            done = [int(m.group(1)) for m in PROGRESS.finditer(seen)]
            if done and max(done) > 0:
                return max(done)
    raise AssertionError(f"no embedding progress seen; stderr: {seen.decode(errors='replace')[-2000:]}")


async def kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), timeout=30)


async def test_a_load_killed_while_embedding_leaves_the_workspace_as_it_was(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    # Given a workspace holding appworld's memories, and a file of a few thousand others
    await load(client, storage_dir, APPWORLD, WORKSPACE)
    before = await snapshot(engine)
    big = renumbered(BFCL, 4, tmp_path / "big.jsonl")

    # When `reme load` is killed once it has embedded part of the file
    process = await start_load(database_url, big)
    embedded = await wait_for_progress(process)
    await kill(process)

    # Then the load had not finished, and the workspace holds exactly what it held before
    assert 0 < embedded < 4 * len(reme_lines(BFCL))
    assert process.returncode == -signal.SIGKILL
    assert await snapshot(engine) == before


async def test_a_load_killed_while_writing_leaves_the_workspace_as_it_was(
    client: httpx.AsyncClient, storage_dir: Path, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    # Given a workspace holding appworld's memories, one of them locked by another transaction
    await load(client, storage_dir, APPWORLD, WORKSPACE)
    before = await snapshot(engine)
    big = renumbered(BFCL, 1, tmp_path / "big.jsonl")
    async with engine.connect() as blocker:
        await blocker.execute(
            text("SELECT 1 FROM memory WHERE workspace_id = :w LIMIT 1 FOR UPDATE"), {"w": WORKSPACE}
        )

        # When `reme load` is killed while its transaction is replacing the memories
        process = await start_load(database_url, big)
        pid = await wait_for_blocked_replace(engine)
        await kill(process)
        await blocker.rollback()
        await wait_until_gone(engine, pid)

    # Then nothing of the half-done replacement is left
    assert process.returncode == -signal.SIGKILL
    assert await snapshot(engine) == before


async def wait_for_blocked_replace(engine: AsyncEngine) -> int:
    """The backend pid of the load's DELETE once it waits on the locked row (the statement
    that deletes may also write the history of what it deletes: the DELETE is then inside)."""
    return await wait_for_lock_wait(engine, "%DELETE FROM memory %")


async def wait_until_gone(engine: AsyncEngine, pid: int) -> None:
    """Until the killed load's backend has noticed and rolled back."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
    async with asyncio.timeout(30):
        while True:
            async with engine.connect() as conn:
                if not await conn.scalar(query, {"p": pid}):
                    return
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def failing_embedder_app(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    """The app on the same database, embedding through the stand-in's API (same model and size)."""
    embedding = api_embedding(standin)
    running = start_server(app_settings(database_url, standin, storage_dir, embedding=embedding))
    yield running
    running.stop()


async def test_a_load_whose_embedding_fails_is_a_503_and_changes_nothing(
    client: httpx.AsyncClient,
    storage_dir: Path,
    engine: AsyncEngine,
    standin: StandInOpenAI,
    failing_embedder_app: RunningServer,
) -> None:
    # Given a workspace holding appworld's memories, and an embedding API that fails
    await load(client, storage_dir, APPWORLD, WORKSPACE)
    before = await snapshot(engine)
    standin.set_mode("error")

    # When bfcl is loaded over it through the app using that API
    path = place_file(storage_dir, BFCL, WORKSPACE)
    async with httpx.AsyncClient(base_url=failing_embedder_app.base_url, timeout=60) as http:
        response = await http.post(
            "/vector_store", json={"workspace_id": WORKSPACE, "action": "load", "path": path}
        )

    # Then the answer is a clear 503 and the workspace is untouched
    assert response.status_code == 503
    assert response.json()["success"] is False
    assert "embedding API failed" in response.json()["answer"]
    assert standin.embedding_requests
    assert await snapshot(engine) == before
