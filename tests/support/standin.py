"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, so tests run the real ``openai`` client.

Chat answers come from ``queue_chat(...)`` first, then from ``responder``. ``set_mode`` makes the
next requests fail (HTTP 500), stall (``timeout_seconds``) or answer garbage. Embeddings are
deterministic hashed bag-of-words vectors: texts sharing words are close, others are not; they
come as base64 when the request asks for it, unless ``embeddings_as_floats`` is set (a server that
ignores ``encoding_format``), and ``embedding_body`` replaces the whole answer with given text
(``chat_body`` does the same for chat answers).

    with StandInOpenAI() as stand_in:
        stand_in.responder = lambda request: {"answer": 42}
        client = AsyncOpenAI(base_url=stand_in.base_url, api_key="test")
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "error", "timeout", "garbage"]
Answer = dict[str, Any] | str
Responder = Callable[[dict[str, Any]], Answer]

GARBAGE = "this is not json at all"
_WORD = re.compile(r"\w+")
_TRIGRAM_WEIGHT = 0.25


def schema_name(request_json: dict[str, Any]) -> str | None:
    """The ``response_format.json_schema.name`` of a chat request, to route answers by step."""
    name = ((request_json.get("response_format") or {}).get("json_schema") or {}).get("name")
    return name if isinstance(name, str) else None


def minimal_answer(request_json: dict[str, Any]) -> Answer:
    """The default answer: the smallest object the request's JSON schema accepts, else ``{}``."""
    schema = ((request_json.get("response_format") or {}).get("json_schema") or {}).get("schema")
    value = _minimal_value(schema, schema.get("$defs", {})) if isinstance(schema, dict) else {}
    return value if isinstance(value, dict) else {}


def _minimal_value(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _minimal_value(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "default" in schema or "enum" in schema:
        return schema["default"] if "default" in schema else schema["enum"][0]
    if schema.get("anyOf"):
        return _minimal_value(schema["anyOf"][0], defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = schema.get("required", [])
        return {name: _minimal_value(properties.get(name, {}), defs) for name in required}
    simple = {"string": "", "integer": 0, "number": 0.0, "boolean": False, "array": []}
    return simple.get(kind) if isinstance(kind, str) else None


def hashed_embedding(text: str, dim: int) -> list[float]:
    """A unit vector from word buckets (signed) plus lighter character-trigram buckets."""
    vector = [0.0] * dim
    words = _WORD.findall(text.lower()) or ["<empty>"]
    for word in words:
        bucket, sign = _bucket(f"w:{word}", dim)
        vector[bucket] += sign
        padded = f"#{word}#"
        for start in range(len(padded) - 2):
            bucket, sign = _bucket(f"c:{padded[start : start + 3]}", dim)
            vector[bucket] += sign * _TRIGRAM_WEIGHT
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


@lru_cache(maxsize=200_000)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.sha1(feature.encode()).digest()
    return int.from_bytes(digest[:4], "little") % dim, 1.0 if digest[4] & 1 else -1.0


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


class StandInOpenAI:
    """The scripted server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, *, embedding_dim: int = 384, timeout_seconds: float = 5.0) -> None:
        self.embedding_dim = self._initial_embedding_dim = embedding_dim
        self.timeout_seconds = self._initial_timeout_seconds = timeout_seconds
        self.responder: Responder = minimal_answer
        self.embeddings_as_floats = False
        self.embedding_body: str | None = None
        self.chat_body: str | None = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._answers: deque[Answer] = deque()
        # Assign ``mode`` directly for an open-ended mode, or use ``set_mode``.
        self.mode: Mode = "ok"
        self.mode_count: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandInOpenAI:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stand-in-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_open_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandInOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue_chat(self, *answers: Answer) -> None:
        """Answers for the next chat requests, used in order before ``responder``."""
        with self._lock:
            self._answers.extend(answers)

    def set_mode(self, mode: Mode, count: int | None = None) -> None:
        """Answer the next ``count`` requests (all, if None) in ``mode``, then return to ok.

        "error" and "timeout" apply to every POST; "garbage" only changes chat answers.
        """
        with self._lock:
            self.mode = mode
            self.mode_count = count

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("/embeddings")]

    def reset(self) -> None:
        """Forget requests and queued answers; back to ok mode and the constructor's settings."""
        with self._lock:
            self.requests.clear()
            self._answers.clear()
            self.mode, self.mode_count = "ok", None
        self.responder = minimal_answer
        self.embeddings_as_floats = False
        self.embedding_body = None
        self.chat_body = None
        self.embedding_dim = self._initial_embedding_dim
        self.timeout_seconds = self._initial_timeout_seconds

    def _take_mode(self, path: str, body: dict[str, Any]) -> Mode:
        with self._lock:
            self.requests.append((path, body))
            mode = self.mode
            if self.mode_count is not None:
                self.mode_count -= 1
                if self.mode_count <= 0:
                    self.mode, self.mode_count = "ok", None
            return mode

    def _chat_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            queued = self._answers.popleft() if self._answers else None
        answer = queued if queued is not None else self.responder(body)
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return _chat_completion(body, content)

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body.get("input", [])
        texts = [texts] if isinstance(texts, str) else list(texts)
        dim = int(body.get("dimensions") or self.embedding_dim)
        vectors = [hashed_embedding(str(text), dim) for text in texts]
        encoded: list[Any] = vectors
        if body.get("encoding_format") == "base64" and not self.embeddings_as_floats:
            encoded = [base64.b64encode(struct.pack(f"<{dim}f", *v)).decode() for v in vectors]
        data = [
            {"object": "embedding", "index": index, "embedding": embedding}
            for index, embedding in enumerate(encoded)
        ]
        tokens = sum(_count_tokens(str(text)) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "stand-in-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _chat_completion(request: dict[str, Any], content: str) -> dict[str, Any]:
    prompt = " ".join(str(message.get("content") or "") for message in request.get("messages", []))
    prompt_tokens, completion_tokens = _count_tokens(prompt), _count_tokens(content)
    message = {"role": "assistant", "content": content}
    return {
        "id": f"chatcmpl-standin-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "stand-in-chat"),
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: StandInOpenAI

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Without this, keep-alive requests stall ~40 ms on delayed ACKs.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-request (timeouts, shutdown) are expected, not failures.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        """Wake handler threads idling on keep-alive connections so they end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._send_error(404, f"no route for GET {self.path}")
            return
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "stand-in"}
            for name in ("stand-in-chat", "stand-in-embedding")
        ]
        self._send_json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/embeddings"):
            self._send_error(404, f"no route for POST {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_error(400, "request body is not JSON")
            return
        stand_in = self.server.stand_in
        mode = stand_in._take_mode(path, body)
        if mode == "timeout":
            stand_in._stopping.wait(stand_in.timeout_seconds)
        elif mode == "error":
            self._send_error(500, "the stand-in was told to fail")
            return
        if path == "/v1/embeddings" and stand_in.embedding_body is not None:
            self._send(200, stand_in.embedding_body.encode())
            return
        if path == "/v1/chat/completions" and stand_in.chat_body is not None:
            self._send(200, stand_in.chat_body.encode())
            return
        try:
            if path == "/v1/embeddings":
                answer = stand_in._embeddings(body)
            elif mode == "garbage":
                answer = _chat_completion(body, GARBAGE)
            else:
                answer = stand_in._chat_answer(body)
        except Exception as exc:  # a failing responder shows up in the test as an HTTP 500
            self._send_error(500, f"stand-in responder raised {type(exc).__name__}: {exc}")
            return
        self._send_json(200, answer)

    def _send_error(self, status: int, message: str) -> None:
        error = {"message": message, "type": "server_error", "param": None, "code": None}
        self._send_json(status, {"error": error})

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired while the stand-in stalled).
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
