"""Domain errors. They know nothing of HTTP; ``app.routes.errors`` maps them to answers."""

from __future__ import annotations

from typing import Any


class ReMeError(Exception):
    """Base class of every error the service raises on purpose."""

    status_code = 500

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class InvalidInput(ReMeError):
    """The request is malformed; ``errors`` lists ``{"loc": [...], "msg": str}`` items."""

    status_code = 400


class NotFound(ReMeError):
    status_code = 404


class Conflict(ReMeError):
    status_code = 409


class PayloadTooLarge(ReMeError):
    status_code = 413


class Unauthorized(ReMeError):
    status_code = 401


class Forbidden(ReMeError):
    status_code = 403


class LLMNotConfigured(ReMeError):
    """A flow needs a chat model and none is configured."""

    status_code = 503

    def __init__(self, flow: str) -> None:
        super().__init__(
            f"{flow} needs a chat model, and none is configured: set REME_LLM__BASE_URL "
            "(or FLOW_LLM_BASE_URL) and REME_LLM__API_KEY, and REME_LLM__MODEL"
        )


class LLMUnavailable(ReMeError):
    """The chat model failed (connection, server error, or output that stays invalid)."""

    status_code = 503


class LLMTimeout(LLMUnavailable):
    status_code = 504


class EmbeddingUnavailable(ReMeError):
    status_code = 503


class EmbeddingTimeout(EmbeddingUnavailable):
    status_code = 504


class SchemaMismatch(ReMeError):
    """The database was built for another embedding model or dimension."""

    status_code = 500
