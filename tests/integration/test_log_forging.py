"""A request cannot write a line of its own into the log: control characters are escaped."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.logging import configure_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The service's own log set-up, writing into a buffer for the length of the test."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("INFO")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def logged_lines(buffer: io.StringIO, wanted: str) -> list[str]:
    """The buffer's lines once ``wanted`` shows up (the access line is written after the response)."""
    for _ in range(500):
        if wanted in buffer.getvalue():
            break
        await asyncio.sleep(0.01)
    return buffer.getvalue().splitlines()


async def test_a_newline_in_the_url_does_not_forge_an_access_log_line(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    forged = "w%0a2026-01-01 00:00:00,000 INFO reme.access [-] DELETE workspace-w 200 1.0ms%0d%1b[2J"

    response = await client.get(f"/v1/workspaces/{forged}/memories")

    assert response.status_code < 500
    lines = await logged_lines(log_lines, "reme.access")
    access = [line for line in lines if "reme.access" in line]
    assert not any(line.startswith("2026-01-01") for line in lines), lines
    assert len(access) == 1, access
    assert any("/v1/workspaces/w\\n2026-01-01" in line and "\\r\\x1b[2J" in line for line in access), access


def test_a_traceback_cannot_start_a_record_of_its_own(log_lines: io.StringIO) -> None:
    try:
        raise ValueError("bad path\n2026-01-01 00:00:00,000 INFO reme.access [-] DELETE /v1/x 200")
    except ValueError:
        logging.getLogger("reme.test").exception("failed on %s", "a\nb")

    lines = log_lines.getvalue().splitlines()
    assert lines[0].endswith("failed on a\\nb")
    assert all(line.startswith(" ") for line in lines[1:]), lines
