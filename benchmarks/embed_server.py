"""A fast, deterministic OpenAI-compatible stand-in for the benchmarks, on loopback.

Both services under test point their embedding (and chat) client at the same instance, so
model time is identical and small on both sides. Embeddings are hashed bags of words plus
lighter character trigrams (texts sharing words are close), computed with numpy from a
per-word cache. Chat answers are built from the request's JSON schema so the pipelines get
well-formed, non-empty structured output. ``GET /stats`` reports calls and the time the
server spent answering, so a benchmark can subtract model time.

    python -m benchmarks.embed_server --port 0 --dim 384   # prints "READY <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import random
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")
TRIGRAM_WEIGHT = 0.25
MAX_CACHED_WORDS = 500_000


class HashedEmbedder:
    """Unit vectors from signed word buckets plus character-trigram buckets."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._words: dict[str, np.ndarray] = {}

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        return int.from_bytes(digest[:4], "little") % self.dim, 1.0 if digest[4] & 1 else -1.0

    def _word_vector(self, word: str) -> np.ndarray:
        cached = self._words.get(word)
        if cached is not None:
            return cached
        vector = np.zeros(self.dim, dtype=np.float32)
        bucket, sign = self._bucket(f"w:{word}")
        vector[bucket] += sign
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            bucket, sign = self._bucket(f"c:{padded[start : start + 3]}")
            vector[bucket] += sign * TRIGRAM_WEIGHT
        if len(self._words) < MAX_CACHED_WORDS:
            self._words[word] = vector
        return vector

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit row per text, float32, shape (len(texts), dim)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or ["<empty>"]
            for word in words:
                out[row] += self._word_vector(word)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return out


# ---------------------------------------------------------------------------------------------
# Chat: structured answers from the JSON schema of the request


def rich_answer(request: dict[str, Any]) -> dict[str, Any]:
    """A filled-in object for the request's schema: every property set, arrays of two items."""
    response_format = request.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    prompt = " ".join(str(m.get("content") or "") for m in request.get("messages", []))
    if not isinstance(schema, dict):
        return {}
    value = _fill(schema, schema.get("$defs", {}), _Seed(prompt), "")
    return value if isinstance(value, dict) else {}


@dataclass
class _Seed:
    prompt: str
    counter: int = 0

    def text(self, name: str) -> str:
        """Words of the prompt, drawn by a hash of the prompt: new prompts give new answers."""
        self.counter += 1
        words = sorted(set(_WORD.findall(self.prompt))) or ["nothing"]
        digest = hashlib.blake2b(f"{self.prompt}|{name}|{self.counter}".encode(), digest_size=8).digest()
        rng = random.Random(digest)
        return f"{name.replace('_', ' ')}: " + " ".join(rng.choice(words) for _ in range(14))


def _fill(schema: dict[str, Any], defs: dict[str, Any], seed: _Seed, name: str) -> Any:
    if "$ref" in schema:
        return _fill(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, seed, name)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("anyOf"):
        options = [o for o in schema["anyOf"] if o.get("type") != "null"] or schema["anyOf"]
        return _fill(options[0], defs, seed, name)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {key: _fill(sub, defs, seed, key) for key, sub in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        count = schema.get("maxItems", 2)
        values = [_fill(items, defs, seed, name) for _ in range(min(2, count))]
        # Lists of judgements or rankings refer to candidates by index: number them in order.
        for index, value in enumerate(values):
            if isinstance(value, dict) and "index" in value:
                value["index"] = index
        return values
    if kind == "string":
        return seed.text(name)
    if kind == "boolean":
        return True
    if kind == "integer":
        return 0 if name in ("index", "position") else 1
    if kind == "number":
        maximum = schema.get("maximum")
        return float(maximum) if maximum is not None else 1.0
    return None


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    content = json.dumps(rich_answer(request))
    return {
        "id": f"chatcmpl-bench-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "bench"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 with keep-alive on asyncio streams


@dataclass
class Stats:
    embedding_calls: int = 0
    embedding_texts: int = 0
    chat_calls: int = 0
    busy_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StandIn:
    def __init__(self, dim: int) -> None:
        self.embedder = HashedEmbedder(dim)
        self.stats = Stats()

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
        dim = int(body.get("dimensions") or self.embedder.dim)
        if dim != self.embedder.dim:
            raise ValueError(f"this stand-in serves {self.embedder.dim} dimensions, not {dim}")
        vectors = self.embedder.embed(texts)
        if body.get("encoding_format") == "base64":
            encoded: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            encoded = vectors.tolist()
        self.stats.embedding_calls += 1
        self.stats.embedding_texts += len(texts)
        tokens = sum(len(t.split()) for t in texts) or 1
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)],
            "model": body.get("model", "bench"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def route(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == "/stats":
            return 200, self.stats.as_dict()
        if method == "POST" and path == "/stats/reset":
            self.stats = Stats()
            return 200, self.stats.as_dict()
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}]}
        if method != "POST":
            return 404, {"error": {"message": f"no route for {method} {path}"}}
        body = json.loads(raw or b"{}")
        if path.endswith("/embeddings"):
            return 200, self.embeddings(body)
        if path.endswith("/chat/completions"):
            self.stats.chat_calls += 1
            return 200, chat_completion(body)
        return 404, {"error": {"message": f"no route for POST {path}"}}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Without it, keep-alive requests stall ~40 ms on delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                raw = await reader.readexactly(length) if length else b""
                started = time.perf_counter()
                try:
                    status, payload = self.route(method, path, raw)
                except Exception as exc:  # a bad request shows up as a 500 in the client's logs
                    status, payload = 500, {"error": {"message": f"{type(exc).__name__}: {exc}"}}
                data = json.dumps(payload).encode()
                self.stats.busy_seconds += time.perf_counter() - started
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(port: int, dim: int) -> None:
    stand_in = StandIn(dim)
    server = await asyncio.start_server(stand_in.handle, "127.0.0.1", port, limit=1 << 24, backlog=512)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.dim))


if __name__ == "__main__":
    main()
