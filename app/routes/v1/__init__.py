"""The resource-style REST API under /v1."""

from __future__ import annotations

from litestar import Router


def v1_router() -> Router:
    return Router(path="/v1", route_handlers=[], tags=["v1"])
