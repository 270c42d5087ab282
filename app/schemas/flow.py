"""The fields every ReMe-compatible flow accepts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models.workspace import WORKSPACE_ID_PATTERN


class FlowRequest(BaseModel):
    """Fields every ReMe flow accepts; flows add their own. Unknown fields are ignored, as in ReMe."""

    model_config = ConfigDict(extra="allow")

    workspace_id: str = Field(default="default", pattern=WORKSPACE_ID_PATTERN)
    query: str = ""
    messages: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
