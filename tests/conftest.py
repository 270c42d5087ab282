"""Shared fixtures: a real PostgreSQL, the stand-in model server, and the app over HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db import Database
from app.settings import (
    LOCAL_EMBEDDING_DIM,
    LOCAL_EMBEDDING_MODEL,
    EmbeddingSettings,
    LimitSettings,
    LLMSettings,
    Settings,
    StorageSettings,
)
from tests.support.citus import MultiShardGuard, citus_coordinator_url
from tests.support.database import create_database, embedded_server, emptying_statements
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

# Modules that also run against a Citus coordinator (`pytest -m citus` with REME_TEST_DATABASE_URL
# set to one): every flow, /v1, load and dump, auth, jobs.
CITUS_MODULES = frozenset(
    {
        "test_auth",
        "test_citus",
        "test_jobs",
        "test_personal_retrieve",
        "test_personal_summary",
        "test_task_async",
        "test_task_record",
        "test_task_retrieve",
        "test_task_summary",
        "test_text_ranked_ahead",
        "test_tool_record",
        "test_tool_retrieve",
        "test_tool_summary",
        "test_v1_memories",
        "test_v1_search",
        "test_v1_trajectories",
        "test_v1_transfer",
        "test_v1_workspaces",
        "test_vector_store",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "citus: also run against a Citus coordinator (see CITUS_MODULES)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__.rsplit(".", 1)[-1] in CITUS_MODULES:
            item.add_marker(pytest.mark.citus)


@pytest.fixture(scope="session")
def citus_url() -> str | None:
    """REME_TEST_DATABASE_URL when it is a Citus coordinator, else None."""
    return citus_coordinator_url()


@pytest.fixture(scope="session")
def multi_shard_guard(citus_url: str | None) -> Iterator[MultiShardGuard | None]:
    """On Citus: the service's statements that fan out to every shard fail and are recorded."""
    if citus_url is None:
        yield None
        return
    guard = MultiShardGuard()
    guard.install()
    yield guard
    guard.uninstall()


@pytest.fixture(autouse=True)
def _single_shard_statements(multi_shard_guard: MultiShardGuard | None) -> Iterator[None]:
    """On Citus, a test fails when the service issued a multi-shard statement not allowed by name."""
    if multi_shard_guard is None:
        yield
        return
    multi_shard_guard.refused.clear()
    yield
    if multi_shard_guard.refused:
        listed = "\n  ".join(multi_shard_guard.refused)
        pytest.fail(f"multi-shard statements (see tests/support/citus.py):\n  {listed}", pytrace=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    if os.environ.get("REME_TEST_DATABASE_URL"):
        yield None
        return
    with embedded_server() as server:
        yield server


@pytest.fixture(scope="session")
def make_database(pg_server: Any) -> Callable[[str], str]:
    """Create a fresh, empty database and return its URL."""

    def make(name: str) -> str:
        if pg_server is None:
            base = os.environ["REME_TEST_DATABASE_URL"]
            pytest.skip(f"needs the embedded server to create database {name}; using {base}")
        return create_database(pg_server, name)

    return make


@pytest.fixture(scope="session")
def database_url(make_database: Callable[[str], str]) -> str:
    return os.environ.get("REME_TEST_DATABASE_URL") or make_database("reme_test")


@pytest.fixture(scope="session")
def standin() -> Iterator[StandInOpenAI]:
    server = StandInOpenAI(embedding_dim=384)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def storage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storage")


def api_embedding(standin: StandInOpenAI) -> EmbeddingSettings:
    """The suite's embedding model and size, called through the stand-in's API (real HTTP both
    ways): the database records the suite's model, and the app refuses to start with another."""
    return EmbeddingSettings(
        provider="openai",
        base_url=standin.base_url,
        api_key=SecretStr("test-key"),
        model=LOCAL_EMBEDDING_MODEL,
        dim=LOCAL_EMBEDDING_DIM,
        max_retries=0,
    )


def app_settings(database_url: str, standin: StandInOpenAI, storage_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test app: the given database, the stand-in LLM, the local embedder."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "llm": LLMSettings(
            base_url=standin.base_url, api_key="test-key", model="stand-in", timeout=3, max_retries=0
        ),
        "embedding": EmbeddingSettings(provider="local"),
        "storage": StorageSettings(allowed_dir=storage_dir),
        "limits": LimitSettings(),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str, standin: StandInOpenAI, storage_dir: Path) -> Settings:
    return app_settings(database_url, standin, storage_dir)


@pytest.fixture(scope="session")
def app_server(settings: Settings, multi_shard_guard: MultiShardGuard | None) -> Iterator[RunningServer]:
    running = start_server(settings)
    yield running
    running.stop()


@pytest.fixture(scope="session")
async def engine(app_server: RunningServer, database_url: str) -> AsyncIterator[AsyncEngine]:
    """A test-side connection to the app's database, to check what was stored."""
    from app.db import normalise_url

    eng = create_async_engine(normalise_url(database_url))
    yield eng
    await eng.dispose()


@pytest.fixture
async def client(
    app_server: RunningServer, engine: AsyncEngine, citus_url: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running app; the tables are emptied after the test."""
    async with httpx.AsyncClient(base_url=app_server.base_url, timeout=60) as http:
        yield http
    async with engine.begin() as conn:
        for statement in emptying_statements(citus=citus_url is not None):
            await conn.execute(text(statement))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The app's own database layer on the test database (started and stopped around the test)."""
    db = Database(settings)
    await db.start()
    yield db
    await db.stop()


@pytest.fixture(autouse=True)
def _reset_standin(standin: StandInOpenAI) -> None:
    """Each test starts with the stand-in model server in its default mode."""
    standin.reset()
