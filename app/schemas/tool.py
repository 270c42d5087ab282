"""Request models of the ReMe-compatible tool memory flows."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from app.schemas.flow import FlowRequest


class AddToolCallResultRequest(FlowRequest):
    """``add_tool_call_result``: items are validated one by one, so valid ones survive bad ones."""

    tool_call_results: list[Any] = Field(
        default_factory=list,
        description="Tool calls: {tool_name, input, output, success, time_cost, token_cost, create_time}",
    )
    tool_name: str = Field(default="", description="Used for items that do not name their tool.")
    async_mode: bool = False


class ToolNamesRequest(FlowRequest):
    """``summary_tool_memory`` and ``retrieve_tool_memory``: tools named exactly."""

    tool_names: list[str] = Field(description='Tool names: "a,b" or ["a", "b"].')
    async_mode: bool = False

    @field_validator("tool_names", mode="before")
    @classmethod
    def _comma_list_or_list(cls, value: Any) -> list[str]:
        if not isinstance(value, str | list):
            raise ValueError("expected a comma-separated string or a list of tool names")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise ValueError("every tool name must be a string")
        names = split_tool_names(value)
        if not names:
            raise ValueError("give at least one tool name")
        return names


def split_tool_names(value: Any) -> list[str]:
    """ReMe's ``tool_names``: a comma-separated string or a list; blanks and repeats dropped."""
    parts = value.split(",") if isinstance(value, str) else list(value or [])
    names: list[str] = []
    for part in parts:
        name = str(part).strip()
        if name and name not in names:
            names.append(name)
    return names
