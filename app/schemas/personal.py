"""Request models of the ReMe-compatible personal memory flows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.schemas.flow import FlowRequest
from app.store.memories import parse_time

USER_NAME = Field(default="user", min_length=1, max_length=256, description="whose facts these are (target)")


def _readable_time(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    try:
        parse_time(value)
    except (TypeError, ValueError):
        raise ValueError("not a time: use 'YYYY-mm-dd HH:MM:SS' or ISO 8601") from None
    return value


class PersonalMessage(BaseModel):
    """A chat message; ``time_created`` is when it was said (default: when the request arrived)."""

    model_config = ConfigDict(extra="allow")

    role: str = "user"
    content: str | list[Any] | None = ""
    time_created: str | float | None = None

    _check_time = field_validator("time_created")(_readable_time)


class PersonalTrajectory(BaseModel):
    model_config = ConfigDict(extra="allow")

    task_id: str = ""
    messages: list[PersonalMessage] = Field(default_factory=list)
    score: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SummaryPersonalMemoryRequest(FlowRequest):
    """``summary_personal_memory``: conversations to read facts about ``user_name`` from."""

    trajectories: list[PersonalTrajectory] = Field(default_factory=list)
    user_name: str = USER_NAME
    async_mode: bool = False


class RetrievePersonalMemoryRequest(FlowRequest):
    """``retrieve_personal_memory``: what is known about ``user_name`` that answers ``query``.

    Time phrases in the query are read relative to ``reference_time`` (or
    ``metadata.reference_time``), else to now.
    """

    top_k: int = Field(default=3, ge=1)
    user_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="whose facts to search (target); absent: every user's facts in the workspace",
    )
    reference_time: str | None = None

    _check_time = field_validator("reference_time")(_readable_time)

    def reference_datetime(self) -> datetime | None:
        value = self.reference_time or self.metadata.get("reference_time")
        try:
            return parse_time(value)
        except (TypeError, ValueError):
            return None
