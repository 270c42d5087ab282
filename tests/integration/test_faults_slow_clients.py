"""Slow and numerous clients: closed after the header/body timeouts, capped in number, logged once."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import ServerSettings, Settings
from tests.conftest import app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI

MAX_CONNECTIONS = 12
# How long a test waits for the server to close a socket (the timeouts below are 1 s).
PATIENCE = 20.0


@pytest.fixture(scope="module")
def guarded_server(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    server = ServerSettings(header_timeout=1.0, body_timeout=1.0, max_connections=MAX_CONNECTIONS)
    settings: Settings = app_settings(database_url, standin, storage_dir, server=server)
    running = start_server(settings)
    yield running
    running.stop()


def connect(server: RunningServer) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=PATIENCE)
    return sock


def closed_by_server(sock: socket.socket, drip: bytes | None = None) -> bool:
    """Whether the server closes ``sock`` within PATIENCE, while ``drip`` is sent every 0.3 s."""
    deadline = time.monotonic() + PATIENCE
    sock.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            if drip is not None:
                sock.sendall(drip)
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if data == b"" or b"HTTP/1.1" in data:
            return True
    return False


def health(server: RunningServer) -> int:
    return httpx.get(server.base_url + "/health", timeout=PATIENCE).status_code


def test_a_client_sending_a_header_line_at_a_time_is_closed(
    guarded_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.http_server")
    sockets = [connect(guarded_server) for _ in range(4)]
    for sock in sockets:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n")

    closed = [closed_by_server(sock, drip=b"X-Slow: 1\r\n") for sock in sockets]

    assert all(closed), closed
    assert health(guarded_server) == 200
    slow = [r for r in caplog.records if "slow clients" in r.getMessage()]
    assert len(slow) == 1, [r.getMessage() for r in slow]
    for sock in sockets:
        sock.close()


def test_a_body_sent_a_byte_at_a_time_is_cut_off(guarded_server: RunningServer) -> None:
    sock = connect(guarded_server)
    sock.sendall(
        b"POST /v1/workspaces HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )

    assert closed_by_server(sock)
    sock.close()


def test_connections_past_the_limit_are_closed_and_the_service_stays_up(
    guarded_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.http_server")
    sockets = [connect(guarded_server) for _ in range(MAX_CONNECTIONS + 8)]

    closed = [closed_by_server(sock) for sock in sockets]

    assert all(closed), closed
    assert health(guarded_server) == 200
    limit = [r for r in caplog.records if "connection limit" in r.getMessage()]
    assert len(limit) == 1, [r.getMessage() for r in limit]
    for sock in sockets:
        sock.close()
