"""What the OpenAI-compatible embedder reads from the wire: base64 float32 (what it asks for),
plain number lists from servers that ignore ``encoding_format``, and bodies it cannot read.

The real ``openai`` client talks HTTP to the stand-in (``tests/conftest.py`` resets it per test).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from app.errors import EmbeddingUnavailable
from app.providers.embeddings import OpenAIEmbedder
from app.settings import EmbeddingSettings
from tests.support.standin import StandInOpenAI, hashed_embedding

TEXTS = ["the cat sat on the mat", "deploy the service with docker", "", "cats and mats"]


@pytest.fixture
async def embedder(standin: StandInOpenAI) -> AsyncIterator[OpenAIEmbedder]:
    settings = EmbeddingSettings(
        base_url=standin.base_url, model="stand-in-embedding", dim=8, max_retries=0, batch_size=3
    )
    model = OpenAIEmbedder(settings)
    yield model
    await model.close()


def expected(texts: list[str], dim: int = 8) -> np.ndarray:
    return np.asarray([hashed_embedding(text or " ", dim) for text in texts], dtype=np.float32)


def b64(vector: list[float]) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def body(*items: dict[str, Any]) -> str:
    return json.dumps({"object": "list", "data": list(items), "model": "m"})


async def test_vectors_are_requested_as_base64_and_read_in_input_order(
    standin: StandInOpenAI, embedder: OpenAIEmbedder
) -> None:
    vectors = await embedder.embed_matrix(TEXTS)

    assert {request["encoding_format"] for request in standin.embedding_requests} == {"base64"}
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, 8)
    np.testing.assert_allclose(vectors, expected(TEXTS), atol=1e-6)


async def test_lists_of_vectors_match_the_matrix(embedder: OpenAIEmbedder) -> None:
    as_lists = await embedder.embed(TEXTS)

    np.testing.assert_allclose(np.asarray(as_lists), expected(TEXTS), atol=1e-6)
    assert all(isinstance(value, float) for value in as_lists[0])


async def test_number_lists_are_read_from_a_server_that_ignores_base64(
    standin: StandInOpenAI, embedder: OpenAIEmbedder
) -> None:
    standin.embeddings_as_floats = True

    vectors = await embedder.embed_matrix(TEXTS)

    np.testing.assert_allclose(vectors, expected(TEXTS), atol=1e-6)


async def test_items_are_placed_by_their_index_and_normalised(
    standin: StandInOpenAI, embedder: OpenAIEmbedder
) -> None:
    first, second = [3.0, 4.0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 2]
    standin.embedding_body = body(
        {"object": "embedding", "index": 1, "embedding": b64(second)},
        {"object": "embedding", "index": 0, "embedding": first},
    )

    vectors = await embedder.embed_matrix(["one", "two"])

    np.testing.assert_allclose(vectors, [[0.6, 0.8, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]])


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("<html>bad gateway</html>", "malformed response"),
        (json.dumps({"object": "list"}), "missing required field `data`"),
        (
            body({"index": 0, "embedding": "@@not base64@@"}),
            "Invalid base64 encoded string - at `$.data[0].embedding`",
        ),
        (body({"index": 0, "embedding": "AAAAAAA="}), "5 bytes, not whole float32"),
        (body({"index": 0, "embedding": None}), "malformed response"),
        (body({"index": 1, "embedding": b64([1.0] * 8)}), "index 1 is out of range"),
    ],
)
async def test_a_body_that_cannot_be_read_is_a_clear_embedding_error(
    standin: StandInOpenAI, embedder: OpenAIEmbedder, answer: str, reason: str
) -> None:
    standin.embedding_body = answer

    with pytest.raises(EmbeddingUnavailable, match="embedding API failed") as raised:
        await embedder.embed_matrix(["one"])

    assert reason in str(raised.value)


async def test_a_repeated_index_is_refused(standin: StandInOpenAI, embedder: OpenAIEmbedder) -> None:
    vector = b64([1.0] * 8)
    standin.embedding_body = body({"index": 0, "embedding": vector}, {"index": 0, "embedding": vector})

    with pytest.raises(EmbeddingUnavailable, match="index 0 is out of range or repeated"):
        await embedder.embed_matrix(["one", "two"])


async def test_a_wrong_count_names_both_numbers(standin: StandInOpenAI, embedder: OpenAIEmbedder) -> None:
    standin.embedding_body = body({"index": 0, "embedding": b64([1.0] * 8)})

    with pytest.raises(EmbeddingUnavailable, match="returned 1 vectors for 2 texts"):
        await embedder.embed_matrix(["one", "two"])


@pytest.mark.parametrize("as_floats", [False, True])
async def test_a_wrong_dimension_names_both_sizes(standin: StandInOpenAI, as_floats: bool) -> None:
    # No size asked (as for a model that takes none): the stand-in answers in its own.
    standin.embedding_dim = 6
    standin.embeddings_as_floats = as_floats
    embedder = OpenAIEmbedder(
        EmbeddingSettings(base_url=standin.base_url, model="m", dim=None, max_retries=0)
    )

    with pytest.raises(EmbeddingUnavailable, match=f"returned 6 dimensions, expected {embedder.dim}"):
        await embedder.embed_matrix(["one"])
    await embedder.close()
