"""Request and response models shared by the HTTP interfaces."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ReMeResponse(BaseModel):
    """ReMe's answer envelope, used by every compat flow and every error."""

    answer: str = ""
    messages: list[Any] = Field(default_factory=list)
    success: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


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
