"""The model providers, through the real ``openai`` client against the stand-in server.

The session-wide ``standin`` fixture and its reset before each test live in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import math
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from app.errors import EmbeddingTimeout, EmbeddingUnavailable, LLMTimeout, LLMUnavailable
from app.providers.embeddings import (
    LocalEmbedder,
    MeteredEmbedder,
    OpenAIEmbedder,
    QueryCachedEmbedder,
    build_embedder,
)
from app.providers.llm import LLMClient, TokenUsage
from app.settings import EmbeddingSettings, LLMSettings
from tests.support.standin import StandInOpenAI, schema_name


class Verdict(BaseModel):
    score: float
    reason: str


class Plan(BaseModel):
    steps: int


MESSAGES = [
    {"role": "system", "content": "You judge task trajectories."},
    {"role": "user", "content": "Was this run a success?"},
]


def llm_settings(standin: StandInOpenAI, **overrides: Any) -> LLMSettings:
    values: dict[str, Any] = {
        "base_url": standin.base_url,
        "api_key": SecretStr("sk-test-secret"),
        "model": "stand-in-chat",
        "timeout": 5.0,
        "max_retries": 0,
        **overrides,
    }
    return LLMSettings(**values)


@pytest.fixture
async def llm(standin: StandInOpenAI) -> AsyncIterator[LLMClient]:
    client = LLMClient(llm_settings(standin))
    yield client
    await client.close()


def embedding_settings(standin: StandInOpenAI, **overrides: Any) -> EmbeddingSettings:
    values: dict[str, Any] = {
        "base_url": standin.base_url,
        "model": "stand-in-embedding",
        "dim": 384,
        "max_retries": 0,
        **overrides,
    }
    return EmbeddingSettings(**values)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


# -- chat model ------------------------------------------------------------------------------


async def test_structured_output_is_parsed_and_validated(standin: StandInOpenAI, llm: LLMClient) -> None:
    standin.responder = lambda request: {"score": 0.9, "reason": "tests passed"}

    verdict = await llm.structured(MESSAGES, Verdict, step="judge")

    assert verdict == Verdict(score=0.9, reason="tests passed")
    request = standin.chat_requests[0]
    assert request["response_format"]["type"] == "json_schema"
    assert schema_name(request) == "Verdict"
    assert request["response_format"]["json_schema"]["schema"] == Verdict.model_json_schema()
    assert request["model"] == "stand-in-chat"


async def test_answer_in_code_fence_with_prose_is_accepted(standin: StandInOpenAI, llm: LLMClient) -> None:
    standin.queue_chat('Here you go:\n```json\n{"score": 1, "reason": "ok"}\n```\nHope it helps.')

    verdict = await llm.structured(MESSAGES, Verdict, step="judge")

    assert verdict == Verdict(score=1.0, reason="ok")
    assert len(standin.chat_requests) == 1


async def test_json_object_mode_puts_the_schema_in_the_system_prompt(
    standin: StandInOpenAI,
) -> None:
    standin.responder = lambda request: {"score": 0.5, "reason": "partly"}
    client = LLMClient(llm_settings(standin, structured_output="json_object"))

    verdict = await client.structured(MESSAGES, Verdict, step="judge")
    await client.close()

    assert verdict.score == 0.5
    request = standin.chat_requests[0]
    assert request["response_format"] == {"type": "json_object"}
    system = request["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You judge task trajectories.")
    assert json.dumps(Verdict.model_json_schema()) in system["content"]
    assert request["messages"][1:] == MESSAGES[1:]


async def test_invalid_output_is_retried_once_with_the_error(standin: StandInOpenAI, llm: LLMClient) -> None:
    standin.queue_chat({"score": "high"}, {"score": 0.7, "reason": "fixed"})

    verdict = await llm.structured(MESSAGES, Verdict, step="judge")

    assert verdict == Verdict(score=0.7, reason="fixed")
    first, second = standin.chat_requests
    correction = second["messages"][-1]
    assert correction["role"] == "user"
    assert "score" in correction["content"] and "reason" in correction["content"]
    assert second["messages"][: len(first["messages"])] == first["messages"]


async def test_output_still_invalid_after_retry_raises_llm_unavailable(
    standin: StandInOpenAI, llm: LLMClient
) -> None:
    standin.set_mode("garbage")

    with pytest.raises(LLMUnavailable, match="judge: model output was not valid"):
        await llm.structured(MESSAGES, Verdict, step="judge")

    assert len(standin.chat_requests) == 2


async def test_server_error_raises_llm_unavailable_without_the_key(
    standin: StandInOpenAI, llm: LLMClient
) -> None:
    standin.set_mode("error", count=1)

    with pytest.raises(LLMUnavailable) as raised:
        await llm.structured(MESSAGES, Verdict, step="judge")

    assert not isinstance(raised.value, LLMTimeout)
    assert "judge" in raised.value.message and "500" in raised.value.message
    assert "sk-test-secret" not in raised.value.message
    assert standin.mode == "ok"


async def test_slow_server_raises_llm_timeout(standin: StandInOpenAI) -> None:
    standin.timeout_seconds = 2.0
    standin.set_mode("timeout", count=1)
    client = LLMClient(llm_settings(standin, timeout=0.5, max_retries=0))

    with pytest.raises(LLMTimeout, match="judge"):
        await client.structured(MESSAGES, Verdict, step="judge")
    await client.close()


@pytest.mark.parametrize(
    "body", ['{"choices": "none here"}', "<html>bad gateway</html>"], ids=["not-a-completion", "not-json"]
)
async def test_a_malformed_chat_body_raises_llm_unavailable(
    standin: StandInOpenAI, llm: LLMClient, body: str
) -> None:
    standin.chat_body = body

    with pytest.raises(LLMUnavailable, match="judge: malformed response"):
        await llm.structured(MESSAGES, Verdict, step="judge")


async def test_each_output_class_sends_its_own_schema_on_every_call(
    standin: StandInOpenAI, llm: LLMClient
) -> None:
    standin.queue_chat({"score": 1, "reason": "a"}, {"steps": 3}, {"score": 0, "reason": "b"})

    await llm.structured(MESSAGES, Verdict, step="judge")
    await llm.structured(MESSAGES, Plan, step="plan")
    await llm.structured(MESSAGES, Verdict, step="judge")

    first, second, third = standin.chat_requests
    assert [schema_name(r) for r in (first, second, third)] == ["Verdict", "Plan", "Verdict"]
    assert second["response_format"]["json_schema"]["schema"] == Plan.model_json_schema()
    assert third["response_format"] == first["response_format"]
    assert [r["messages"] for r in (first, second, third)] == [MESSAGES] * 3


async def test_token_usage_accumulates_over_calls(standin: StandInOpenAI, llm: LLMClient) -> None:
    standin.queue_chat("not json", {"score": 1, "reason": "a"}, {"score": 0, "reason": "b"})
    usage = TokenUsage()

    await llm.structured(MESSAGES, Verdict, step="judge", usage=usage)
    after_first = TokenUsage(usage.prompt_tokens, usage.completion_tokens, usage.calls)
    await llm.structured(MESSAGES, Verdict, step="judge", usage=usage)

    assert after_first.calls == 2
    assert usage.calls == 3
    assert usage.prompt_tokens > after_first.prompt_tokens > 0
    assert usage.completion_tokens > after_first.completion_tokens > 0
    assert usage.as_dict()["total_tokens"] == usage.prompt_tokens + usage.completion_tokens


def test_token_usage_add_sums_every_field() -> None:
    usage = TokenUsage(1, 2, 1)

    usage.add(TokenUsage(10, 20, 2))

    assert usage.as_dict() == {
        "prompt_tokens": 11,
        "completion_tokens": 22,
        "total_tokens": 33,
        "calls": 3,
    }


# -- embedding API ---------------------------------------------------------------------------


async def test_openai_embedder_batches_and_keeps_order(standin: StandInOpenAI) -> None:
    texts = [f"memory number {i} about topic {i * 7}" for i in range(10)]
    embedder = OpenAIEmbedder(embedding_settings(standin, batch_size=3))

    vectors = await embedder.embed(texts)
    singles = [(await embedder.embed([text]))[0] for text in texts]
    await embedder.close()

    batch_sizes = [len(request["input"]) for request in standin.embedding_requests[:4]]
    assert sorted(batch_sizes) == [1, 3, 3, 3]
    assert len(vectors) == 10
    for vector, single in zip(vectors, singles, strict=True):
        assert cosine(vector, single) > 0.9999
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-4)


async def test_openai_embedder_passes_dimensions_only_when_set(standin: StandInOpenAI) -> None:
    with_dim = OpenAIEmbedder(embedding_settings(standin, dim=64))
    without_dim = OpenAIEmbedder(embedding_settings(standin, dim=None))
    standin.embedding_dim = 1024

    assert len((await with_dim.embed(["a"]))[0]) == 64
    assert len((await without_dim.embed(["a"]))[0]) == 1024
    await with_dim.close()
    await without_dim.close()

    first, second = standin.embedding_requests
    assert first["dimensions"] == 64
    assert "dimensions" not in second


async def test_openai_embedder_rejects_wrong_dimension(standin: StandInOpenAI) -> None:
    standin.embedding_dim = 8
    embedder = OpenAIEmbedder(embedding_settings(standin, dim=None))

    with pytest.raises(EmbeddingUnavailable, match="8 dimensions, expected 1024"):
        await embedder.embed(["hello"])
    await embedder.close()


async def test_openai_embedder_server_error_raises_embedding_unavailable(
    standin: StandInOpenAI,
) -> None:
    standin.set_mode("error")
    embedder = OpenAIEmbedder(embedding_settings(standin))

    with pytest.raises(EmbeddingUnavailable, match="500"):
        await embedder.embed(["hello"])
    await embedder.close()


async def test_openai_embedder_timeout_raises_embedding_timeout(standin: StandInOpenAI) -> None:
    standin.timeout_seconds = 2.0
    standin.set_mode("timeout", count=1)
    embedder = OpenAIEmbedder(embedding_settings(standin, timeout=0.5))

    with pytest.raises(EmbeddingTimeout, match=r"timed out after 0\.5s"):
        await embedder.embed(["hello"])
    # The next call goes through (a new connection; the timed-out one is dropped).
    assert len(await embedder.embed(["hello"])) == 1
    await embedder.close()


async def test_openai_embedder_unreachable_server_raises_embedding_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = EmbeddingSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", dim=384, max_retries=0)
    embedder = OpenAIEmbedder(settings)

    with pytest.raises(
        EmbeddingUnavailable, match=re.escape(f"could not connect to http://127.0.0.1:{port}/v1")
    ):
        await embedder.embed(["hello"])
    await embedder.close()


async def test_openai_embedder_handles_empty_inputs(standin: StandInOpenAI) -> None:
    embedder = OpenAIEmbedder(embedding_settings(standin))

    assert await embedder.embed([]) == []
    (vector,) = await embedder.embed([""])
    await embedder.close()

    assert len(vector) == 384
    assert standin.embedding_requests[0]["input"] == [" "]


def test_build_embedder_chooses_by_provider(standin: StandInOpenAI) -> None:
    local, remote = build_embedder(EmbeddingSettings()), build_embedder(embedding_settings(standin))

    # Either one is wrapped to be counted and timed (/metrics), behind the query cache.
    for built, model in ((local, LocalEmbedder), (remote, OpenAIEmbedder)):
        assert isinstance(built, QueryCachedEmbedder)
        assert isinstance(built.inner, MeteredEmbedder) and isinstance(built.inner.inner, model)


def test_build_embedder_without_a_query_cache(standin: StandInOpenAI) -> None:
    built = build_embedder(embedding_settings(standin, query_cache_size=0))

    assert isinstance(built, MeteredEmbedder) and isinstance(built.inner, OpenAIEmbedder)


async def test_a_repeated_query_is_embedded_once_and_gets_the_same_vector(standin: StandInOpenAI) -> None:
    embedder = build_embedder(embedding_settings(standin, query_cache_size=2))

    first = await embedder.embed_query("how to deploy")
    again = await embedder.embed_query("how to deploy")
    await embedder.close()

    assert again == first
    assert [request["input"] for request in standin.embedding_requests] == [["how to deploy"]]


async def test_the_query_cache_drops_the_least_recently_used_query(standin: StandInOpenAI) -> None:
    embedder = build_embedder(embedding_settings(standin, query_cache_size=2))

    for query in ["a", "b", "a", "c", "a", "b"]:  # "b" is the least recent when "c" comes in
        await embedder.embed_query(query)
    await embedder.close()

    assert [request["input"] for request in standin.embedding_requests] == [["a"], ["b"], ["c"], ["b"]]


async def test_texts_of_a_write_are_not_cached(standin: StandInOpenAI) -> None:
    embedder = build_embedder(embedding_settings(standin, query_cache_size=8))

    await embedder.embed(["one", "two"])
    await embedder.embed(["one"])
    await embedder.embed_query("one")
    await embedder.embed(["one"])
    await embedder.close()

    # a write of one text is a write too; only the query is kept (and was not taken from a write)
    assert [request["input"] for request in standin.embedding_requests] == [
        ["one", "two"],
        ["one"],
        ["one"],
        ["one"],
    ]


# -- local model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return LocalEmbedder(EmbeddingSettings(provider="local", batch_size=4))


async def test_local_embedder_puts_paraphrases_closer_than_unrelated_text(
    local: LocalEmbedder,
) -> None:
    reset, forgot, weather = await local.embed(
        [
            "How do I reset my password?",
            "I forgot my password and need to change it",
            "The weather in Paris is sunny today",
        ]
    )

    assert cosine(reset, forgot) > cosine(reset, weather) + 0.2
    assert cosine(reset, forgot) > cosine(forgot, weather) + 0.2


async def test_local_embedder_gives_unit_vectors_of_384(local: LocalEmbedder) -> None:
    vectors = await local.embed(["a short text", "", "x " * 1000])

    assert local.dim == 384
    assert local.model_name == "all-MiniLM-L6-v2-int8"
    for vector in vectors:
        assert len(vector) == 384
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-4)


async def test_local_embedder_batch_equals_one_by_one(local: LocalEmbedder) -> None:
    texts = [
        "Use the retry decorator for flaky network calls",
        "ok",
        "The deployment failed because the migration locked the users table for ten minutes",
        "Prefer pagination over loading every row",
        "",
        "Tool search_web works best with short, specific queries and an explicit year",
    ]

    batched = await local.embed(texts)
    singles = [(await local.embed([text]))[0] for text in texts]

    for vector, single in zip(batched, singles, strict=True):
        assert cosine(vector, single) > 0.999


async def test_local_embedder_returns_nothing_for_no_texts(local: LocalEmbedder) -> None:
    assert await local.embed([]) == []
