"""The embedded server's lifecycle: it stops when the last process using it has gone (even
one killed with SIGKILL), and a dead postmaster is started again under the service and worker."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.processes import (
    RemeProcesses,
    data_root,
    handle_pids,
    postmaster_pid,
    postmaster_running,
    reme_processes,
    status_of,
    wait_until,
)
from tests.support.server import free_port

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals and the embedded server's sockets")


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """One data directory for the module (each test ends with its server stopped)."""
    with data_root() as path:
        yield path


@pytest.fixture
def procs(root: Path) -> Iterator[RemeProcesses]:
    with reme_processes(root) as processes:
        yield processes


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_sigterm_of_an_mcp_server_detaches_it_and_stops_the_server(
    procs: RemeProcesses, transport: str
) -> None:
    port = free_port()
    mcp = procs.start("mcp", "--transport", transport, "--port", str(port))
    procs.attached(mcp)
    procs.listening(mcp, port)
    pgdata = procs.data_dir / "pg"
    assert postmaster_running(pgdata)

    code = procs.terminate(mcp, signal.SIGTERM)

    assert code == 0, procs.log_of(mcp)
    assert "Traceback" not in procs.log_of(mcp)
    assert mcp.pid not in handle_pids(procs.data_dir)
    wait_until(lambda: not postmaster_running(pgdata), 30, "the embedded server to stop")


def test_a_killed_process_is_pruned_and_the_server_stops_with_the_last_one(procs: RemeProcesses) -> None:
    serve = procs.serve(free_port())
    worker = procs.start("worker", "--poll", "0.2")
    procs.attached(worker)
    pgdata = procs.data_dir / "pg"

    procs.terminate(serve, signal.SIGKILL)
    assert postmaster_running(pgdata), "the worker still uses the server"
    procs.terminate(worker, signal.SIGTERM)

    # The worker, the last live user, stops the server and leaves no stale pid behind.
    wait_until(lambda: not postmaster_running(pgdata), 30, "the embedded server to stop")
    assert handle_pids(procs.data_dir) == []


def test_the_server_stops_when_its_only_user_is_killed(procs: RemeProcesses) -> None:
    serve = procs.serve(free_port())
    pgdata = procs.data_dir / "pg"

    procs.terminate(serve, signal.SIGKILL)

    wait_until(lambda: not postmaster_running(pgdata), 30, "the embedded server to stop after its user died")
    assert handle_pids(procs.data_dir) == []


def test_the_service_starts_a_killed_postmaster_again(procs: RemeProcesses) -> None:
    port = free_port()
    serve = procs.serve(port)
    pgdata = procs.data_dir / "pg"
    killed = postmaster_pid(pgdata)
    assert killed is not None

    os.kill(killed, signal.SIGKILL)

    ready = f"http://127.0.0.1:{port}/ready"
    wait_until(lambda: status_of(ready) == 503, 30, "/ready to report the outage")
    wait_until(lambda: status_of(ready) == 200, 90, "/ready to recover")
    assert postmaster_pid(pgdata) != killed
    assert serve.poll() is None
    # The restart is logged once the new server answers, which may be just after /ready does.
    wait_until(lambda: "it runs again" in procs.log_of(serve), 30, "the restart to be logged")


async def insert_job(url: str, flow: str) -> uuid.UUID | None:
    """Queue a job; None while the database cannot be reached."""
    job_id = uuid.uuid4()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO workspace (id) VALUES ('w1') ON CONFLICT DO NOTHING"))
            await conn.execute(
                text("INSERT INTO job (workspace_id, id, flow, payload) VALUES ('w1', :id, :flow, '{}')"),
                {"id": job_id, "flow": flow},
            )
    except (OSError, DBAPIError):
        return None
    finally:
        await engine.dispose()
    return job_id


async def job_status(url: str, job_id: uuid.UUID) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text("SELECT status FROM job WHERE id = :id"), {"id": job_id})
    finally:
        await engine.dispose()


def test_the_worker_waits_out_a_killed_postmaster_and_takes_jobs_again(procs: RemeProcesses) -> None:
    worker = procs.start("worker", "--poll", "0.2")
    procs.attached(worker)
    pgdata = procs.data_dir / "pg"
    url = f"postgresql+asyncpg://postgres@/reme?host={pgdata}"

    def processed(flow: str) -> None:
        # A job the worker has no handler for fails at once: proof that its loop runs.
        job_id = wait_until(lambda: asyncio.run(insert_job(url, flow)), 60, "the database to take a job")
        wait_until(lambda: asyncio.run(job_status(url, job_id)) == "failed", 60, f"the worker to take {flow}")

    processed("before-the-crash")
    killed = postmaster_pid(pgdata)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    # The worker notices either by a poll that fails, or by starting the server again itself
    # first (its check every 2 s); on a busy machine the second can come before any poll.
    noticed = ("database unavailable", "the embedded PostgreSQL had stopped")
    wait_until(lambda: any(line in procs.log_of(worker) for line in noticed), 30, "the worker to notice")
    wait_until(
        lambda: postmaster_running(pgdata) and postmaster_pid(pgdata) != killed, 60, "a new postmaster"
    )
    processed("after-the-crash")

    assert worker.poll() is None, procs.log_of(worker)
    assert "Traceback" not in procs.log_of(worker)
