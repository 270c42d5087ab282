"""Errors the client raises. An answer of the service becomes a ``ReMeAPIError`` subclass chosen by
its status, carrying the message (the envelope's ``answer``), the field errors and the request id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """Where a value was wrong (``loc``, e.g. ``("body", "trajectories", "0", "score")``) and why."""

    loc: tuple[str | int, ...]
    msg: str

    def __str__(self) -> str:
        return f"{'.'.join(map(str, self.loc))}: {self.msg}"


class ReMeError(Exception):
    """Base of every error raised by the client."""


class ReMeConnectionError(ReMeError):
    """The service could not be reached (after the configured retries)."""


class ReMeTimeoutError(ReMeError):
    """No answer within the client's timeout."""


class ReMeAPIError(ReMeError):
    """The service answered with an error status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        errors: list[FieldError] | None = None,
        request_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.errors = errors or []
        self.request_id = request_id
        self.metadata = metadata or {}
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"{self.status_code}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequestError(ReMeAPIError):
    """400: invalid input; ``errors`` names each wrong field. Nothing was written."""


class AuthenticationError(ReMeAPIError):
    """401: the API key is missing or unknown."""


class PermissionDeniedError(ReMeAPIError):
    """403: the API key may not use this workspace or scope."""


class NotFoundError(ReMeAPIError):
    """404: unknown flow, workspace, memory, trajectory, job or tool."""


class ConflictError(ReMeAPIError):
    """409: conflicts with stored data (an id already taken)."""


class PayloadTooLargeError(ReMeAPIError):
    """413: the body (or an import line) exceeds the service's limit."""


class ServerError(ReMeAPIError):
    """5xx: the service failed; 503 and 504 are retried before this is raised."""


class ServiceUnavailableError(ServerError):
    """503: the model or the database failed or is not configured; inputs already stored stay stored."""


class GatewayTimeoutError(ServerError):
    """504: a model call timed out."""


class JobFailedError(ReMeError):
    """``wait_for_job``: the job ended ``failed``; ``job`` holds its error and attempts."""

    def __init__(self, job: Any) -> None:
        self.job = job
        super().__init__(f"job {job.job_id} ({job.flow}) failed after {job.attempts} attempt(s): {job.error}")


class JobTimeoutError(ReMeError, TimeoutError):
    """``wait_for_job``: the job had not finished when the wait ran out; ``job`` is its last state."""

    def __init__(self, job: Any, waited: float) -> None:
        self.job = job
        super().__init__(f"job {job.job_id} still {job.status} after {waited:.0f}s")


ERRORS_BY_STATUS: dict[int, type[ReMeAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def error_class(status_code: int) -> type[ReMeAPIError]:
    if status_code in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status_code]
    return ServerError if status_code >= 500 else ReMeAPIError
