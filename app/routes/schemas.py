"""Request and response models shared by the HTTP interfaces."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.json_depth import MAX_JSON_DEPTH, JsonObject, deepest_path
from app.models.workspace import WORKSPACE_ID_PATTERN

# A flow's body: stored JSON (MAX_JSON_DEPTH) plus the levels that carry it (trajectories, messages).
MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8


class ReMeResponse(BaseModel):
    """ReMe's answer envelope, used by every compat flow and every error."""

    answer: str = ""
    messages: list[Any] = Field(default_factory=list)
    success: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class FlowRequest(BaseModel):
    """Fields every ReMe flow accepts; flows add their own. Unknown fields are ignored, as in ReMe."""

    model_config = ConfigDict(extra="allow")

    workspace_id: str = Field(default="default", pattern=WORKSPACE_ID_PATTERN)
    query: str = ""
    messages: list[JsonObject] = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _not_too_deep(cls, data: Any) -> Any:
        # Stored fields are also checked one by one, at MAX_JSON_DEPTH; this bounds the rest.
        where = deepest_path(data, MAX_BODY_DEPTH)
        if where is not None:
            raise ValueError(
                f"{where} is nested too deeply: the body may nest {MAX_BODY_DEPTH} levels, "
                f"stored JSON (metadata, messages, tool input) {MAX_JSON_DEPTH} levels"
            )
        return data


class HealthResponse(BaseModel):
    status: str
    version: str


class ReadyResponse(BaseModel):
    status: str
    database: str
    revision: str | None
    head: str | None
    embedding_model: str
    embedding_dim: int
    llm_configured: bool
