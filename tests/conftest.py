"""Shared fixtures: a real PostgreSQL, the stand-in model server, and the app over HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.settings import EmbeddingSettings, LimitSettings, LLMSettings, Settings, StorageSettings
from tests.support.database import create_database, embedded_server, truncate_sql
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI


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
def app_server(settings: Settings) -> Iterator[RunningServer]:
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
async def client(app_server: RunningServer, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running app; the tables are emptied after the test."""
    async with httpx.AsyncClient(base_url=app_server.base_url, timeout=60) as http:
        yield http
    async with engine.begin() as conn:
        await conn.execute(text(truncate_sql()))


@pytest.fixture(autouse=True)
def _reset_standin(standin: StandInOpenAI) -> None:
    """Each test starts with the stand-in model server in its default mode."""
    standin.reset()
