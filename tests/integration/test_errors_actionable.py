"""Every error says what was wrong and where, in the envelope, with its request id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

JSON = {"content-type": "application/json"}


def assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error envelope, whose request id is the X-Request-ID header."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["metadata"]["request_id"]
    assert body["metadata"]["request_id"] == response.headers["x-request-id"]
    return body


@pytest.mark.parametrize("path", ["/retrieve_task_memory_simple", "/v1/workspaces"])
@pytest.mark.parametrize("content", [b"", b"  \n"])
async def test_an_empty_body_says_a_json_body_is_required(
    client: httpx.AsyncClient, path: str, content: bytes
) -> None:
    response = await client.post(path, content=content, headers=JSON)

    body = assert_envelope(response, 400)
    assert "a JSON body is required" in body["answer"]
    assert body["metadata"]["errors"][0]["loc"] == ["body"]


@pytest.mark.parametrize("path", ["/retrieve_task_memory_simple", "/v1/workspaces"])
async def test_truncated_json_names_line_column_and_character(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, content=b'{"query": "x",\n "top_k": 3', headers=JSON)

    body = assert_envelope(response, 400)
    assert "not valid JSON" in body["answer"]
    assert "line 2, column 12 (char 26)" in body["answer"]
    error = body["metadata"]["errors"][0]
    assert (error["loc"], error["line"], error["column"], error["char"]) == (["body"], 2, 12, 26)


async def test_a_stray_character_is_located(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/workspaces/w/search", content=b'{"query": "x", "top_k": }', headers=JSON
    )

    body = assert_envelope(response, 400)
    assert "line 1, column 25 (char 24)" in body["answer"]


async def test_a_body_that_is_not_utf8_names_the_byte(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/retrieve_task_memory_simple", content=b'{"query": "caf\xe9"}', headers=JSON
    )

    body = assert_envelope(response, 400)
    assert "not UTF-8" in body["answer"]
    assert "byte 14" in body["answer"]


async def test_a_query_parameter_is_named_as_the_caller_wrote_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workspaces", params={"limit": "0"})

    body = assert_envelope(response, 400)
    assert body["answer"] == "invalid request: query parameter 'limit': must be an integer >= 1 (got '0')"
    assert body["metadata"]["errors"] == [
        {"loc": ["query", "limit"], "msg": "must be an integer >= 1 (got '0')"}
    ]


async def test_a_renamed_query_parameter_lists_its_allowed_values(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workspaces/w/memories", params={"type": "foo"})

    body = assert_envelope(response, 400)
    assert "query parameter 'type': must be one of 'task', 'personal', 'tool' (got 'foo')" in body["answer"]
    assert "memory_type" not in body["answer"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "abc"}, "query parameter 'limit': must be an integer (got 'abc')"),
        ({"limit": "501"}, "query parameter 'limit': must be an integer <= 500 (got '501')"),
        ({"created_after": "yesterday"}, "query parameter 'created_after': must be an ISO 8601 date-time"),
        ({"min_score": "high"}, "query parameter 'min_score': must be a number (got 'high')"),
    ],
)
async def test_query_parameter_errors_say_what_the_value_must_be(
    client: httpx.AsyncClient, params: dict[str, str], expected: str
) -> None:
    response = await client.get("/v1/workspaces/w/memories", params=params)

    body = assert_envelope(response, 400)
    assert expected in body["answer"]
    assert "ParamType" not in body["answer"]


async def test_an_unknown_route_is_a_404_envelope_with_the_callers_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/nowhere", headers={"x-request-id": "trace-42"})

    body = assert_envelope(response, 404)
    assert body["metadata"]["request_id"] == "trace-42"
    assert body["answer"].startswith("no route GET /v1/nowhere; the operations are listed at /docs")


async def test_an_unknown_path_under_the_schema_is_a_404_envelope_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/nowhere")

    body = assert_envelope(response, 404)
    assert body["answer"].startswith("no route GET /schema/nowhere")
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_a_wrong_method_is_a_405_envelope_naming_the_allowed_ones(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")

    body = assert_envelope(response, 405)
    assert "DELETE is not allowed on /health" in body["answer"]
    assert "GET" in response.headers["allow"]
    assert "GET" in body["answer"]


async def test_an_unknown_flow_is_named_even_when_its_body_is_broken(client: httpx.AsyncClient) -> None:
    response = await client.post("/summarize_everything", content=b"{", headers=JSON)

    body = assert_envelope(response, 404)
    assert "unknown flow 'summarize_everything'" in body["answer"]
    assert "retrieve_task_memory" in body["answer"]


async def test_a_body_sent_as_a_form_is_told_to_be_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/retrieve_task_memory_simple", data={"query": "x"})

    body = assert_envelope(response, 400)
    assert "Content-Type: application/x-www-form-urlencoded; send application/json" in body["answer"]


async def test_a_body_field_error_keeps_its_path(client: httpx.AsyncClient) -> None:
    response = await client.post("/retrieve_task_memory_simple", json={"query": "x", "top_k": "many"})

    body = assert_envelope(response, 400)
    assert body["metadata"]["errors"][0]["loc"] == ["body", "top_k"]
    assert "body.top_k" in body["answer"]
