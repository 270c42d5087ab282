"""The client's own rules, without a service: retry decisions, path encoding, the two clients' methods."""

from __future__ import annotations

import inspect

import httpx
import pytest
from reme_client import AsyncReMeClient, ReMeClient
from reme_client._core import Call, RetryPolicy, read_nothing, segment
from reme_client.errors import (
    GatewayTimeoutError,
    PayloadTooLargeError,
    ReMeAPIError,
    ServerError,
    error_class,
)

POST = Call("POST", "/summary_task_memory", read_nothing, json={})
GET = Call("GET", "/v1/workspaces", read_nothing)
STREAMED = Call("POST", "/v1/workspaces/w/import", read_nothing, content=iter([b"{}\n"]))
NO_JITTER = RetryPolicy(max_retries=3, backoff=0.5, max_backoff=3.0, jitter=lambda: 1.0)


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"answer": "x", "success": False, "metadata": {}})


@pytest.mark.parametrize("status", [503, 504])
def test_503_and_504_are_retried_with_growing_capped_delays(status: int) -> None:
    delays = [NO_JITTER.after_status(attempt, POST, answer(status)) for attempt in range(4)]

    assert delays == [0.5, 1.0, 2.0, None]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 500])
def test_other_errors_are_never_retried(status: int) -> None:
    assert NO_JITTER.after_status(0, POST, answer(status)) is None


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert NO_JITTER.after_status(0, POST, answer(503, **{"retry-after": "2"})) == 2.0
    assert NO_JITTER.after_status(0, POST, answer(503, **{"retry-after": "60"})) == 3.0


def test_a_request_that_never_left_is_retried_whatever_its_method() -> None:
    refused = httpx.ConnectError("refused")

    assert NO_JITTER.after_error(0, POST, refused) == 0.5
    assert NO_JITTER.after_error(0, GET, refused) == 0.5


def test_a_request_that_may_have_arrived_is_retried_only_when_repeating_it_is_harmless() -> None:
    dropped = httpx.RemoteProtocolError("server disconnected")
    timed_out = httpx.ReadTimeout("no answer")

    assert NO_JITTER.after_error(0, POST, dropped) is None
    assert NO_JITTER.after_error(0, POST, timed_out) is None
    assert NO_JITTER.after_error(0, GET, timed_out) == 0.5


def test_a_streamed_body_is_never_sent_twice() -> None:
    assert NO_JITTER.after_status(0, STREAMED, answer(503)) is None
    assert NO_JITTER.after_error(0, STREAMED, httpx.ConnectError("refused")) is None


def test_path_segments_are_percent_encoded_and_dot_segments_refused() -> None:
    assert segment("team a@b/c?d#é") == "team%20a%40b%2Fc%3Fd%23%C3%A9"
    for bad in ("", ".", ".."):
        with pytest.raises(ValueError):
            segment(bad)


def test_statuses_map_to_their_error_classes() -> None:
    assert error_class(413) is PayloadTooLargeError
    assert error_class(504) is GatewayTimeoutError
    assert error_class(502) is ServerError
    assert error_class(418) is ReMeAPIError


def test_both_clients_have_the_same_methods_with_the_same_parameters() -> None:
    def methods(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in inspect.getmembers(cls, callable)
            if not name.startswith("_") and name not in {"close", "aclose"}
        }

    sync, asynchronous = methods(ReMeClient), methods(AsyncReMeClient)

    assert sync == asynchronous
    assert {"iter_memories", "wait_for_job", "export_workspace", "import_memories", "search"} <= set(sync)
    assert inspect.iscoroutinefunction(AsyncReMeClient.retrieve_task_memory)


def test_the_api_key_is_sent_as_a_bearer_token_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REME_API_KEY", "from-env")
    monkeypatch.setenv("REME_BASE_URL", "http://memory.internal:9000/")

    from_env = ReMeClient()
    given = ReMeClient("http://127.0.0.1:1", api_key="given")

    assert from_env.settings.base_url == "http://memory.internal:9000"
    assert from_env.settings.headers["authorization"] == "Bearer from-env"
    assert given.settings.headers["authorization"] == "Bearer given"
    from_env.close()
    given.close()
