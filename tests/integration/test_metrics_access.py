"""Who may read /metrics (auth on: an admin key or the metrics token), and the cached gauges."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth import create_key
from app.settings import AuthSettings, MetricsSettings, Settings
from tests.conftest import app_settings
from tests.integration.task_support import seed_memories
from tests.support.metrics import parse, scrape
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

TOKEN = "scrape-token-0123456789"
AS_SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def secured_server(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    settings: Settings = app_settings(
        database_url,
        standin,
        storage_dir,
        auth=AuthSettings(enabled=True),
        metrics=MetricsSettings(token=TOKEN, refresh_seconds=0),
    )
    running = start_server(settings)
    yield running
    running.stop()


@pytest.fixture
async def secured(
    secured_server: RunningServer, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    # `client` empties the tables (keys included) after each test.
    async with httpx.AsyncClient(base_url=secured_server.base_url, timeout=60) as http:
        yield http


async def new_key(engine: AsyncEngine, scope: str) -> str:
    async with AsyncSession(engine) as session, session.begin():
        _, key = await create_key(session, name=f"{scope}-key", scope=scope, workspaces=None)
    return key


async def test_metrics_without_a_key_are_refused_and_the_refusal_is_counted(
    secured: httpx.AsyncClient,
) -> None:
    before = await scrape(secured, **AS_SCRAPER)

    refused = await secured.get("/metrics")

    assert refused.status_code == 401
    assert "REME_METRICS__TOKEN" in refused.json()["answer"]
    after = await scrape(secured, **AS_SCRAPER)
    missing = after.value("reme_auth_failures_total", reason="missing")
    assert missing - before.value("reme_auth_failures_total", reason="missing") == 1


async def test_a_read_key_may_not_read_metrics_but_an_admin_key_may(
    secured: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    reader, admin = await new_key(engine, "read"), await new_key(engine, "admin")

    as_reader = await secured.get("/metrics", headers={"Authorization": f"Bearer {reader}"})
    as_admin = await secured.get("/metrics", headers={"X-API-Key": admin})

    assert as_reader.status_code == 403
    assert as_admin.status_code == 200
    assert "reme_http_requests_total" in as_admin.text


async def test_a_wrong_token_is_refused(secured: httpx.AsyncClient) -> None:
    response = await secured.get("/metrics", headers={"Authorization": "Bearer not-the-token"})

    assert response.status_code == 401


async def test_refused_flow_requests_are_counted_by_reason(secured: httpx.AsyncClient) -> None:
    before = await scrape(secured, **AS_SCRAPER)

    await secured.post("/retrieve_task_memory", json={"workspace_id": "w", "query": "q"})
    await secured.post(
        "/retrieve_task_memory", json={"workspace_id": "w", "query": "q"}, headers={"X-API-Key": "nope"}
    )

    after = await scrape(secured, **AS_SCRAPER)
    for reason in ("missing", "unknown"):
        moved = after.value("reme_auth_failures_total", reason=reason)
        assert moved - before.value("reme_auth_failures_total", reason=reason) == 1, reason


async def test_the_memory_gauge_counts_stored_memories_by_type(
    secured: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await seed_memories(
        engine,
        None,
        "gauge",
        [
            {"when_to_use": "one"},
            {"when_to_use": "two"},
            {"when_to_use": "a user fact", "memory_type": "personal"},
        ],
    )

    samples = await scrape(secured, **AS_SCRAPER)

    assert samples.value("reme_memories", memory_type="task") == 2
    assert samples.value("reme_memories", memory_type="personal") == 1
    assert samples.value("reme_jobs_in_queue", status="queued") == 0


async def test_metrics_can_be_switched_off(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> None:
    settings = app_settings(database_url, standin, storage_dir, metrics=MetricsSettings(enabled=False))
    running = start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as http:
            response = await http.get("/metrics")
    finally:
        running.stop()

    assert response.status_code == 404
    assert "REME_METRICS__ENABLED" in response.json()["answer"]


async def test_a_metrics_token_protects_metrics_even_with_auth_off(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> None:
    settings = app_settings(database_url, standin, storage_dir, metrics=MetricsSettings(token=TOKEN))
    running = start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as http:
            without = await http.get("/metrics")
            with_token = await http.get("/metrics", headers=AS_SCRAPER)
            flows_stay_open = await http.post(
                "/retrieve_task_memory", json={"workspace_id": "w", "query": "q"}
            )
    finally:
        running.stop()

    assert without.status_code == 401
    assert "admin key" not in without.json()["answer"]
    assert with_token.status_code == 200
    assert flows_stay_open.status_code == 200


def test_the_exposition_parses_as_prometheus_text() -> None:
    from app.observability.metrics import exposition

    samples = parse(exposition().decode())

    assert "reme_http_request_duration_seconds_bucket" in {name for name, _, _ in samples.rows}
