"""Start-up refuses a foreign embedding space; backup and restore bring back every row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Database, head_revision
from app.settings import EmbeddingSettings, Settings


def reme(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_start_with_another_dimension_exits_non_zero_and_changes_nothing(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("reme_dim_mismatch")
    db = Database(Settings(database_url=url, embedding=EmbeddingSettings(provider="local")))
    await db.start()
    await db.prepare()
    revision_before = await db.current_revision()
    await db.stop()

    result = reme(
        "serve", "--port", "0", env={"REME_DATABASE_URL": url, "REME_EMBEDDING__DIM": "512"}, timeout=60
    )

    assert result.returncode != 0
    assert "dimension 384" in result.stderr and "dimension 512" in result.stderr
    assert "reme reembed" in result.stderr
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        dim = await conn.scalar(text("SELECT value FROM reme_setting WHERE key = 'embedding_dim'"))
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    await engine.dispose()
    assert (dim, revision) == ("384", revision_before)


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A directory the embedded server's system user can reach.

    Not pytest's tmp_path: pytest keeps its base directory at mode 0700, and another
    pytest session starting meanwhile resets it, locking the PostgreSQL user out.
    """
    root = Path(tempfile.mkdtemp(prefix="reme-backup-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_backup_then_restore_into_a_fresh_data_dir_brings_back_every_row(data_root: Path) -> None:
    source_dir, target_dir, backup = data_root / "a", data_root / "b", data_root / "reme.dump"
    upgraded = reme("db", "upgrade", env={"REME_DATA_DIR": str(source_dir)})
    assert upgraded.returncode == 0, upgraded.stderr

    db = Database(Settings(data_dir=source_dir, embedding=EmbeddingSettings(provider="local")))
    await db.start()
    async with db.session() as session:
        await session.execute(text("INSERT INTO workspace (id) VALUES ('w1'), ('w2')"))
        await session.execute(
            text(
                "INSERT INTO memory (workspace_id, memory_id, memory_type, content, embedding) "
                "SELECT 'w1', 'm' || i, 'task', 'memory ' || i, array_fill(0.1, ARRAY[384])::vector "
                "FROM generate_series(1, 25) AS i"
            )
        )
    # A second process attaches to the running embedded server for the backup.
    backed_up = reme("db", "backup", str(backup), env={"REME_DATA_DIR": str(source_dir)})
    await db.stop()
    assert backed_up.returncode == 0, backed_up.stderr

    restored = reme("db", "restore", str(backup), env={"REME_DATA_DIR": str(target_dir)})
    assert restored.returncode == 0, restored.stderr

    copy = Database(Settings(data_dir=target_dir, embedding=EmbeddingSettings(provider="local")))
    await copy.start()
    try:
        async with copy.session() as session:
            workspaces = await session.scalar(text("SELECT count(*) FROM workspace"))
            memories = await session.scalar(text("SELECT count(*) FROM memory WHERE embedding IS NOT NULL"))
        revision = await copy.current_revision()
    finally:
        await copy.stop()
    assert (workspaces, memories, revision) == (2, 25, head_revision(copy.settings))
