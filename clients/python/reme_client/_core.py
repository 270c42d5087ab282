"""What the sync and async clients share: a request is described once as a ``Call`` (method, path,
body, how to read the answer), and the two transports only send it. Errors, retries, paths and
headers are decided here, so both clients behave the same."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from reme_client.errors import FieldError, ReMeConnectionError, ReMeTimeoutError, error_class
from reme_client.models.flows import ReMeResponse

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "http://127.0.0.1:8002"
CLIENT_VERSION = "0.1.0"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({503, 504})


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] | None = None
    # A raw body (NDJSON import): bytes, or an iterator that can be sent only once.
    content: Any = None
    headers: dict[str, str] | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    @property
    def replayable(self) -> bool:
        """False when the body is a stream: it is spent after the first attempt."""
        return self.content is None or isinstance(self.content, bytes)

    def answer(self, response: httpx.Response) -> T:
        """The typed result, or the typed error the answer stands for."""
        if not response.is_success:
            raise_for_answer(response)
        return self.read(response)


def segment(value: str | object) -> str:
    """One path segment, percent-encoded (workspace ids may hold spaces, ``@``, any script)."""
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"{text!r} cannot be a path segment (a workspace, memory or job id)")
    return quote(text, safe="")


def query(**values: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in values.items() if v is not None}


def body(model: BaseModel) -> dict[str, Any]:
    """A request model as JSON, leaving out what the caller did not set (the service's defaults apply)."""
    return model.model_dump(mode="json", exclude_unset=True)


def read_model(model: type[M]) -> Callable[[httpx.Response], M]:
    def read(response: httpx.Response) -> M:
        return model.model_validate(response.json())

    return read


def read_flow(model: type[M]) -> Callable[[httpx.Response], M]:
    """A flow's envelope as ``model``: ``answer`` and ``success`` beside the fields of ``metadata``,
    and the envelope's ``messages`` when the model declares them (``react``'s conversation)."""

    def read(response: httpx.Response) -> M:
        envelope = ReMeResponse.model_validate(response.json())
        fields = {**envelope.metadata, "answer": envelope.answer, "success": envelope.success}
        if "messages" in model.model_fields:
            fields["messages"] = envelope.messages
        return model.model_validate(fields)

    return read


def read_nothing(response: httpx.Response) -> None:
    return None


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the ``ReMeAPIError`` subclass of an error answer (its body must have been read)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    metadata: dict[str, Any] = {}
    message = response.text[:500] or response.reason_phrase
    if isinstance(payload, dict) and "answer" in payload:
        message = str(payload["answer"])
        found = payload.get("metadata")
        metadata = found if isinstance(found, dict) else {}
    errors = [
        FieldError(loc=tuple(item.get("loc", ())), msg=str(item.get("msg", "")))
        for item in metadata.get("errors", [])
        if isinstance(item, dict)
    ]
    request_id = response.headers.get("x-request-id") or metadata.get("request_id")
    raise error_class(response.status_code)(
        response.status_code, message, errors=errors, request_id=request_id, metadata=metadata
    )


def ndjson_line(item: Mapping[str, Any] | str | bytes) -> bytes:
    """One line of an NDJSON import body: a dict is encoded, text is sent as given."""
    if isinstance(item, Mapping):
        return json.dumps(dict(item), ensure_ascii=False).encode() + b"\n"
    raw = item.encode() if isinstance(item, str) else item
    return raw if raw.endswith(b"\n") else raw + b"\n"


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff (and jitter) on 503/504 and on connection failures; never on
    4xx. A request that may have reached the service (a read timeout, a dropped connection) is retried
    only when repeating it is harmless (GET, DELETE)."""

    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def after_status(self, attempt: int, call: Call[Any], response: httpx.Response) -> float | None:
        """Seconds to wait before the next attempt, or None to keep this answer."""
        if attempt >= self.max_retries or response.status_code not in RETRY_STATUSES:
            return None
        if not call.replayable:
            return None
        return self._delay(attempt, response.headers.get("retry-after"))

    def after_error(self, attempt: int, call: Call[Any], error: httpx.TransportError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise."""
        if attempt >= self.max_retries or not call.replayable:
            return None
        never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if never_sent or call.idempotent:
            return self._delay(attempt, None)
        return None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * 2.0**attempt, self.max_backoff) * (0.5 + self.jitter() / 2)


def transport_error(error: httpx.TransportError, call: Call[Any], base_url: str) -> Exception:
    """The client's exception for a request that got no answer."""
    where = f"{call.method} {base_url}{call.path}"
    if isinstance(error, httpx.TimeoutException):
        return ReMeTimeoutError(f"{where}: no answer in time ({type(error).__name__})")
    return ReMeConnectionError(f"{where}: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class Settings:
    """Connection settings shared by both clients; ``REME_BASE_URL`` and ``REME_API_KEY`` fill the
    ones not given."""

    base_url: str
    api_key: str | None
    timeout: httpx.Timeout
    retry: RetryPolicy
    headers: dict[str, str]

    @classmethod
    def of(
        cls,
        base_url: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        backoff: float,
        headers: Mapping[str, str] | None,
    ) -> Settings:
        base = (base_url or os.environ.get("REME_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("REME_API_KEY") or None
        all_headers = {"user-agent": f"reme-client/{CLIENT_VERSION}", **(headers or {})}
        if key:
            all_headers["authorization"] = f"Bearer {key}"
        limits = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        return cls(base, key, limits, RetryPolicy(max_retries=max_retries, backoff=backoff), all_headers)
