"""Limits answer a clear 4xx in ReMe's envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import AuthSettings, LimitSettings
from tests.conftest import app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

SMALL_BODY = 4096


@pytest.fixture(scope="module", params=[False, True], ids=["open", "auth"])
def small_app(
    request: pytest.FixtureRequest, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    settings = app_settings(
        database_url,
        standin,
        storage_dir,
        limits=LimitSettings(max_body_bytes=SMALL_BODY),
        auth=AuthSettings(enabled=request.param),
    )
    running = start_server(settings)
    yield running
    running.stop()


async def test_a_body_over_the_limit_is_413(small_app: RunningServer) -> None:
    body = {"workspace_id": "w", "query": "x" * (SMALL_BODY * 2)}

    async with httpx.AsyncClient(base_url=small_app.base_url) as http:
        response = await http.post("/retrieve_task_memory_simple", json=body)

    assert response.status_code == 413
    assert response.json()["success"] is False
    assert f"limit of {SMALL_BODY} bytes" in response.json()["answer"]
