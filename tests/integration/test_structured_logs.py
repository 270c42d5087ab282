"""REME_LOG__FORMAT=json: one JSON object per line, with the request's id, workspace, flow,
status and duration; control characters escaped. And the slow-statement log."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from app.db import build_engine
from app.logging import JsonFormatter, log_handler
from app.settings import LogSettings, Settings
from tests.support.processes import wait_until


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the access log writes in JSON, while the test runs."""
    stream = io.StringIO()
    handler = log_handler(stream, "json")
    access = logging.getLogger("reme.access")
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    yield stream
    access.removeHandler(handler)
    access.setLevel(level)


def lines_of(stream: io.StringIO, request_id: str) -> list[dict[str, object]]:
    """The request's access lines; the server writes its line just after the response is sent."""

    def written() -> list[dict[str, object]]:
        entries = [json.loads(line) for line in stream.getvalue().splitlines()]
        return [entry for entry in entries if entry["request_id"] == request_id]

    return wait_until(written, 10, f"the access line of {request_id}")


async def test_an_access_line_is_one_json_object_with_workspace_flow_status_and_duration(
    client: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    response = await client.post(
        "/retrieve_task_memory",
        json={"workspace_id": "logged", "query": "how to log in"},
        headers={"X-Request-Id": "json-line-1"},
    )

    assert response.status_code == 200, response.text
    [entry] = lines_of(json_log, "json-line-1")
    assert entry["workspace"] == "logged"
    assert entry["flow"] == "retrieve_task_memory"
    assert entry["status"] == 200
    assert entry["route"] == "/retrieve_task_memory"
    assert isinstance(entry["duration_ms"], float)
    assert entry["level"] == "INFO" and entry["logger"] == "reme.access"


async def test_control_characters_in_a_logged_value_are_escaped_in_json(
    client: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    forged = '/x%1b[31m%0a{"level": "ERROR", "message": "forged"}%e2%80%a8%c2%85'

    await client.get(forged, headers={"X-Request-Id": "json-line-2"})

    [entry] = lines_of(json_log, "json-line-2")
    written = json_log.getvalue()
    assert "\x1b" not in written and "\u2028" not in written and "\x85" not in written
    assert entry["path"] == '/x\x1b[31m\n{"level": "ERROR", "message": "forged"}\u2028\x85'
    assert all(json.loads(line)["message"] != "forged" for line in written.splitlines())


def test_the_command_line_writes_json_lines_when_asked(database_url: str) -> None:
    env = {
        **os.environ,
        "REME_DATABASE_URL": database_url,
        "REME_EMBEDDING__PROVIDER": "local",
        "REME_LOG__FORMAT": "json",
    }

    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--log-level", "DEBUG", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    logged = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert logged, result.stderr
    for line in logged:
        entry = json.loads(line)
        assert {"time", "level", "logger", "request_id", "message"} <= entry.keys()


async def test_a_slow_statement_is_logged_with_its_shape_and_never_its_parameters(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, log=LogSettings(slow_statement_ms=50))
    engine = build_engine(database_url, settings)
    try:
        with caplog.at_level(logging.WARNING, logger="reme.sql"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.3), :secret"), {"secret": "hunter2-secret"})
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()

    [record] = [r for r in caplog.records if r.name == "reme.sql"]
    line = JsonFormatter().format(record)
    assert "hunter2-secret" not in line
    entry = json.loads(line)
    assert entry["statement"] == "SELECT pg_sleep(0.3), $1"
    assert entry["duration_ms"] >= 50
    assert entry["level"] == "WARNING"


async def test_statements_under_the_threshold_are_not_logged(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=database_url, log=LogSettings(slow_statement_ms=60_000))
    engine = build_engine(database_url, settings)
    try:
        with caplog.at_level(logging.WARNING, logger="reme.sql"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.3)"))
    finally:
        await engine.dispose()

    assert [r for r in caplog.records if r.name == "reme.sql"] == []
