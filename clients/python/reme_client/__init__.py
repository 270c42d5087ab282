"""Python client of the ReMe memory service (sync ``ReMeClient`` and async ``AsyncReMeClient``)."""

from reme_client._async import AsyncReMeClient
from reme_client._core import CLIENT_VERSION
from reme_client._sync import ReMeClient
from reme_client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FieldError,
    GatewayTimeoutError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ReMeAPIError,
    ReMeConnectionError,
    ReMeError,
    ReMeTimeoutError,
    ServerError,
    ServiceUnavailableError,
)
from reme_client.models.flows import PersonalMessage, PersonalTrajectory, TaskMessage, TaskTrajectory
from reme_client.models.results import ReMeMemory
from reme_client.models.v1 import Library, LibraryLoaded, Memory, MemoryPatch, NewMemory, SearchHit

__version__ = CLIENT_VERSION

__all__ = [
    "AsyncReMeClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FieldError",
    "GatewayTimeoutError",
    "JobFailedError",
    "JobTimeoutError",
    "Library",
    "LibraryLoaded",
    "Memory",
    "MemoryPatch",
    "NewMemory",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PersonalMessage",
    "PersonalTrajectory",
    "ReMeAPIError",
    "ReMeClient",
    "ReMeConnectionError",
    "ReMeError",
    "ReMeMemory",
    "ReMeTimeoutError",
    "SearchHit",
    "ServerError",
    "ServiceUnavailableError",
    "TaskMessage",
    "TaskTrajectory",
]
