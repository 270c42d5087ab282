"""ReMe 0.1.x compatible flows: ``POST /{flow}`` with ReMe's request fields and envelope."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from app.errors import NotFound
from app.routes import reme_personal, reme_task, reme_tool, reme_vector_store
from app.routes.flows import flow_tools

FLOW_HANDLERS: list[HTTPRouteHandler] = [
    *reme_task.ROUTES,
    *reme_personal.ROUTES,
    *reme_tool.ROUTES,
    *reme_vector_store.ROUTES,
]


def known_flows() -> list[str]:
    return sorted(path.strip("/") for handler in FLOW_HANDLERS for path in handler.paths)


@get("/list", summary="Every flow with its description and input schema (ReMe's GET /list)")
async def list_flows() -> list[dict[str, Any]]:
    return [tool.as_reme_listing() for tool in flow_tools(FLOW_HANDLERS)]


@post("/{flow:str}", summary="Unknown flow", include_in_schema=False, status_code=200)
async def unknown_flow(flow: FromPath[str]) -> None:
    raise NotFound(f"unknown flow {flow!r}; known flows: {', '.join(known_flows())}")


def compat_routes() -> list[HTTPRouteHandler]:
    return [*FLOW_HANDLERS, list_flows, unknown_flow]
