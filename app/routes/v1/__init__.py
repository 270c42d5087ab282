"""The resource-style REST API under /v1."""

from __future__ import annotations

from litestar import Router

from app.routes.v1.jobs import JobController


def v1_router() -> Router:
    return Router(path="/v1", route_handlers=[JobController], tags=["v1"])
