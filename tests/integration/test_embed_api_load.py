"""A bulk import embedded by an OpenAI-compatible API: every memory is stored with its own vector
(read from base64 or from number lists), and a body the service cannot read is a clear 503.

The app runs on the suite's database with the stand-in as its embedding API (real HTTP both ways).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import LOCAL_EMBEDDING_DIM, LoadSettings
from app.store.memories import embedding_text
from tests.conftest import api_embedding, app_settings
from tests.support.server import RunningServer, start_server
from tests.support.standin import StandInOpenAI, hashed_embedding

DIM = LOCAL_EMBEDDING_DIM
NDJSON = {"Content-Type": "application/x-ndjson"}
# More memories than one staging step (app.store.transfer.STAGE_STEP): the steps' rows must
# each meet their own vectors.
MANY = 2600


@pytest.fixture(scope="module")
def api_app(
    app_server: RunningServer, database_url: str, standin: StandInOpenAI, storage_dir: Path
) -> Iterator[RunningServer]:
    embedding = api_embedding(standin)
    # The vector index is kept through the loads (not set aside): this server stops before it
    # would build a set-aside index, and the tests after these need the index.
    keep_index = LoadSettings(index_rebuild_max_rows=0)
    running = start_server(
        app_settings(database_url, standin, storage_dir, embedding=embedding, load=keep_index)
    )
    yield running
    running.stop()


async def import_lines(
    app: RunningServer, workspace_id: str, records: list[dict[str, Any]]
) -> httpx.Response:
    content = "".join(json.dumps(record) + "\n" for record in records).encode()
    async with httpx.AsyncClient(base_url=app.base_url, timeout=120) as http:
        return await http.post(f"/v1/workspaces/{workspace_id}/import", content=content, headers=NDJSON)


async def stored_vectors(engine: AsyncEngine, workspace_id: str) -> dict[str, tuple[str, np.ndarray]]:
    """Each stored memory's embedding text and vector, by id."""
    query = text(
        "SELECT memory_id, memory_type, when_to_use, content, target, embedding::text AS vector "
        "FROM memory WHERE workspace_id = :workspace_id"
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query, {"workspace_id": workspace_id})).all()
    return {
        row.memory_id: (
            embedding_text(row.when_to_use, row.content, memory_type=row.memory_type, target=row.target),
            np.asarray(json.loads(row.vector), dtype=np.float32),
        )
        for row in rows
    }


def assert_vectors_of_their_texts(stored: dict[str, tuple[str, np.ndarray]]) -> None:
    for memory_id, (embedded, vector) in stored.items():
        expected = np.asarray(hashed_embedding(embedded, DIM), dtype=np.float32)
        np.testing.assert_allclose(vector, expected, atol=1e-6, err_msg=memory_id)


async def test_an_import_of_several_steps_stores_each_memory_with_its_own_vector(
    api_app: RunningServer, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    records = [{"content": f"memory {n} about topic {n % 97} and item {n * 7}"} for n in range(MANY)]

    response = await import_lines(api_app, "api-many", records)

    assert response.status_code == 200, response.text
    assert {request["encoding_format"] for request in standin.embedding_requests} == {"base64"}
    stored = await stored_vectors(engine, "api-many")
    assert len(stored) == MANY
    assert_vectors_of_their_texts(stored)


async def test_an_api_that_answers_number_lists_is_loaded_the_same(
    api_app: RunningServer, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    standin.embeddings_as_floats = True
    records = [{"content": f"plain numbers {n}"} for n in range(20)]

    response = await import_lines(api_app, "api-floats", records)

    assert response.status_code == 200, response.text
    stored = await stored_vectors(engine, "api-floats")
    assert len(stored) == 20
    assert_vectors_of_their_texts(stored)


async def test_an_embedding_body_that_cannot_be_read_is_a_503_naming_it_and_writes_nothing(
    api_app: RunningServer, engine: AsyncEngine, standin: StandInOpenAI
) -> None:
    standin.embedding_body = '{"object": "list", "data": [{"index": 0, "embedding": "%%%"}]}'

    response = await import_lines(api_app, "api-malformed", [{"content": "never stored"}])

    assert response.status_code == 503, response.text
    assert "malformed response" in response.text
    assert "Invalid base64 encoded string" in response.text
    assert await stored_vectors(engine, "api-malformed") == {}
