"""Helpers shared by the ReMe-compatible flow handlers, and the catalog of flows.

The catalog (``flow_tools``) is read from the registered flow routes: ``GET /list`` answers it
in ReMe's format and the MCP server lists the same flows as tools.
"""

from __future__ import annotations

import typing
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.handlers import HTTPRouteHandler
from pydantic import BaseModel

from app.logging import current_request_id
from app.routes.schemas import ReMeResponse


def reme_answer(answer: str = "", *, success: bool = True, **metadata: Any) -> ReMeResponse:
    """ReMe's envelope with the request id added to the metadata."""
    metadata.setdefault("request_id", current_request_id())
    return ReMeResponse(answer=answer, success=success, metadata=metadata)


def accepted(job_id: uuid.UUID, flow: str) -> Response[ReMeResponse]:
    """202 for a request taken in ``async_mode``: poll ``GET /v1/jobs/{job_id}``."""
    body = reme_answer(
        f"accepted: {flow} runs as job {job_id}; poll /v1/jobs/{job_id}",
        job_id=str(job_id),
        status="queued",
    )
    return Response(body, status_code=202)


@dataclass(frozen=True)
class FlowTool:
    """One ReMe flow: its name, path, description and the JSON schema of its input."""

    name: str
    path: str
    description: str
    input_schema: dict[str, Any]

    def as_reme_listing(self) -> dict[str, Any]:
        """The flow as ReMe's ``GET /list`` shows it: an OpenAI-style function tool."""
        parameters = {"type": "object", "properties": {}, "required": [], **self.input_schema}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": parameters},
        }


def request_model(handler: HTTPRouteHandler) -> type[BaseModel] | None:
    """The pydantic model of a flow handler's ``data`` parameter, if it has one."""
    hints = typing.get_type_hints(handler.fn, include_extras=True)
    annotation = hints.get("data")
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def flow_tools(handlers: list[HTTPRouteHandler]) -> list[FlowTool]:
    """A tool per flow route, sorted by name."""
    tools: list[FlowTool] = []
    for handler in handlers:
        model = request_model(handler)
        schema = model.model_json_schema() if model else {"type": "object", "additionalProperties": True}
        summary = handler.summary or (handler.fn.__doc__ or "").strip().split("\n")[0]
        for path in sorted(handler.paths):
            name = path.strip("/")
            description = f"{summary}. ReMe flow POST {path}; returns ReMe's envelope".lstrip(". ")
            tools.append(FlowTool(name=name, path=path, description=description, input_schema=schema))
    return sorted(tools, key=lambda t: t.name)
