"""The fields every ReMe-compatible flow accepts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from app.models.workspace import WORKSPACE_ID_JSON_PATTERN, WORKSPACE_ID_MAX_LENGTH, workspace_id_problem


def _checked_workspace_id(value: str) -> str:
    problem = workspace_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# 1-128 characters of any script; no '/', '\\' or control characters, not '.' or '..'.
_DESCRIPTION = (
    "a memory namespace: 1-128 characters of any script, spaces and @ included; "
    "no '/', '\\' or control characters; not '.' or '..'"
)

# The Field gives Litestar's OpenAPI the bounds; WithJsonSchema gives pydantic's schema (MCP, GET
# /list) the full rule as a pattern, which pydantic's own regex engine could not check.
WorkspaceId = Annotated[
    str,
    Field(min_length=1, max_length=WORKSPACE_ID_MAX_LENGTH, description=_DESCRIPTION),
    AfterValidator(_checked_workspace_id),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": WORKSPACE_ID_MAX_LENGTH,
            "pattern": WORKSPACE_ID_JSON_PATTERN,
            "description": _DESCRIPTION,
        }
    ),
]


class FlowRequest(BaseModel):
    """Fields every ReMe flow accepts; flows add their own. Unknown fields are ignored, as in ReMe."""

    model_config = ConfigDict(extra="allow")

    workspace_id: WorkspaceId = "default"
    query: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
