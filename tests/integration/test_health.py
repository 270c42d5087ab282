"""The service is alive, ready, documented, and answers unknown flows clearly."""

from __future__ import annotations

import httpx


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json()["status"] == "healthy"  # as ReMe answers


async def test_ready_reports_database_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["revision"] == body["head"] is not None
    assert body["embedding_dim"] == 384


async def test_openapi_schema_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")

    assert response.status_code == 200
    assert "/health" in response.json()["paths"]
    assert (await client.get("/schema/swagger")).status_code == 200


async def test_unknown_flow_is_a_404_in_remes_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/no_such_flow", json={"workspace_id": "w"})

    body = response.json()
    assert response.status_code == 404
    assert body["success"] is False
    assert "no_such_flow" in body["answer"]
    assert set(body) == {"answer", "messages", "success", "metadata"}


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "trace-123"})
    fresh = await client.get("/health")

    assert given.headers["x-request-id"] == "trace-123"
    assert len(fresh.headers["x-request-id"]) == 32


async def test_error_envelope_names_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/no_such_flow", json={}, headers={"X-Request-ID": "abc"})

    assert response.json()["metadata"]["request_id"] == "abc"
