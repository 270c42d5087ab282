"""Fixtures of the client tests: the sync and async clients against the live service."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeAlias, TypeVar

import httpx
import pytest
from pydantic import BaseModel
from reme_client import AsyncReMeClient, ReMeClient

from tests.support.server import RunningServer

T = TypeVar("T")
AnyClient: TypeAlias = ReMeClient | AsyncReMeClient


@pytest.fixture(params=["sync", "async"])
async def reme(
    request: pytest.FixtureRequest, app_server: RunningServer, client: httpx.AsyncClient
) -> AsyncIterator[AnyClient]:
    """Each test runs with ``ReMeClient`` and with ``AsyncReMeClient``; the tables are emptied after."""
    if request.param == "sync":
        with ReMeClient(app_server.base_url, backoff=0.01) as sync_client:
            yield sync_client
    else:
        async with AsyncReMeClient(app_server.base_url, backoff=0.01) as async_client:
            yield async_client


async def done(value: T | Awaitable[T]) -> T:
    """The result of a client call, whichever client made it."""
    if inspect.isawaitable(value):
        return await value
    return value


async def collect(items: Any) -> list[Any]:
    """Every item of an iterator or an async iterator."""
    if hasattr(items, "__aiter__"):
        return [item async for item in items]
    return list(items)


def undeclared_fields(model: BaseModel, path: str = "") -> list[str]:
    """Keys the service sent that the client's models do not declare, anywhere inside ``model``."""
    found = [f"{path}{type(model).__name__}.{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        found += _undeclared_in(getattr(model, name), f"{path}{type(model).__name__}.{name}/")
    return found


def _undeclared_in(value: Any, path: str) -> list[str]:
    if isinstance(value, BaseModel):
        return undeclared_fields(value, path)
    if isinstance(value, list | tuple):
        return [found for item in value for found in _undeclared_in(item, path)]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _undeclared_in(item, path)]
    return []
