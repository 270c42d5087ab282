"""Errors become typed exceptions; 503/504 and connection failures are retried, 4xx never."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from reme_client import (
    AsyncReMeClient,
    BadRequestError,
    NotFoundError,
    ReMeClient,
    ReMeConnectionError,
    ServiceUnavailableError,
)

from tests.client.conftest import AnyClient, collect, done
from tests.integration.task_support import responder, trajectory
from tests.support.server import RunningServer, free_port
from tests.support.standin import StandInOpenAI


class Attempts:
    """Counts the HTTP requests a client sends (an httpx event hook)."""

    def __init__(self) -> None:
        self.count = 0

    def hook(self, request: httpx.Request) -> None:
        self.count += 1

    async def async_hook(self, request: httpx.Request) -> None:
        self.count += 1


@pytest.fixture(params=["sync", "async"])
async def counted(
    request: pytest.FixtureRequest, app_server: RunningServer, client: httpx.AsyncClient
) -> AsyncIterator[tuple[AnyClient, Attempts]]:
    """A client (sync, then async) whose requests are counted, with fast backoff."""
    attempts = Attempts()
    if request.param == "sync":
        with httpx.Client(event_hooks={"request": [attempts.hook]}) as http:
            yield ReMeClient(app_server.base_url, backoff=0.01, http_client=http), attempts
    else:
        async with httpx.AsyncClient(event_hooks={"request": [attempts.async_hook]}) as http:
            yield AsyncReMeClient(app_server.base_url, backoff=0.01, http_client=http), attempts


async def test_invalid_input_raises_bad_request_with_field_errors_and_is_not_retried(
    counted: tuple[AnyClient, Attempts],
) -> None:
    reme, attempts = counted
    runs = [{"task_id": "t1", "score": 1.0, "messages": []}]

    with pytest.raises(BadRequestError) as raised:
        await done(reme.summary_task_memory("agent", runs))

    error = raised.value
    assert error.status_code == 400 and "messages" in error.message
    assert ("body", "trajectories", "0", "messages") in [e.loc[:4] for e in error.errors]
    assert error.request_id and len(error.request_id) >= 16
    assert attempts.count == 1


async def test_an_unknown_memory_raises_not_found_once(counted: tuple[AnyClient, Attempts]) -> None:
    reme, attempts = counted

    with pytest.raises(NotFoundError) as raised:
        await done(reme.get_memory("w1", "missing"))

    assert raised.value.status_code == 404 and "missing" in raised.value.message
    assert attempts.count == 1


async def test_a_503_is_retried_and_the_retry_succeeds(
    counted: tuple[AnyClient, Attempts], standin: StandInOpenAI
) -> None:
    reme, attempts = counted
    standin.responder = responder(failure=[], comparative=[])
    standin.set_mode("error", count=1)  # the first model call fails: the service answers 503

    summary = await done(reme.summary_task_memory("agent", [trajectory("t1", 1.0)]))

    assert attempts.count == 2 and len(summary.memory_list) == 1
    runs = await collect(reme.iter_trajectories("agent"))
    assert sorted(r.status for r in runs) == ["done", "failed"]  # the failed attempt kept its input


async def test_a_503_that_persists_raises_after_the_retries(
    counted: tuple[AnyClient, Attempts], standin: StandInOpenAI
) -> None:
    reme, attempts = counted
    standin.set_mode("error")

    with pytest.raises(ServiceUnavailableError) as raised:
        await done(reme.summary_task_memory("agent", [trajectory("t1", 1.0)]))

    assert attempts.count == 3  # max_retries=2
    assert raised.value.status_code == 503 and raised.value.request_id


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_connection_failures_are_retried_then_raised(kind: str) -> None:
    attempts = Attempts()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    reme: AnyClient
    if kind == "sync":
        http: httpx.Client | httpx.AsyncClient = httpx.Client(event_hooks={"request": [attempts.hook]})
        reme = ReMeClient(url, backoff=0.01, max_retries=3, http_client=http)  # type: ignore[arg-type]
    else:
        http = httpx.AsyncClient(event_hooks={"request": [attempts.async_hook]})
        reme = AsyncReMeClient(url, backoff=0.01, max_retries=3, http_client=http)  # type: ignore[arg-type]

    with pytest.raises(ReMeConnectionError) as raised:
        await done(reme.retrieve_task_memory_simple("agent", "anything"))

    assert attempts.count == 4 and "ConnectError" in str(raised.value)
