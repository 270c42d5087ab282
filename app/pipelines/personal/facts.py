"""What the personal pipelines pass between their steps: user messages, facts and decisions."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, Literal

from app.models import Memory, Trajectory
from app.pipelines.base import PipelineContext
from app.providers.llm import LLMClient
from app.services import Services
from app.settings import PersonalMemorySettings
from app.store.memories import NewMemory, format_time, new_memory_id, parse_time
from app.timeexpr import TimeRange

PROMPTS = Path(__file__).resolve().parent / "prompts"
# Long messages are cut in prompts; the stored trajectory keeps them whole.
PROMPT_MESSAGE_CHARS = 4000
Action = Literal["add", "update", "replace", "drop"]


@cache
def _prompt_template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.md").read_text(encoding="utf-8"))


def render_prompt(name: str, **values: Any) -> str:
    """The prompt ``prompts/<name>.md`` with its ``$placeholders`` filled."""
    return _prompt_template(name).substitute(**values)


def normalise_text(value: str) -> str:
    """The exact-duplicate key of a fact (the store compares the same way)."""
    return " ".join(re.findall(r"[^\W_]+", value.lower()))


def clip(value: str, limit: int = PROMPT_MESSAGE_CHARS) -> str:
    return value if len(value) <= limit else value[:limit] + " [...]"


def describe_time(moment: datetime) -> str:
    """A time as the prompts show it: ISO date and time with the weekday."""
    return moment.strftime("%Y-%m-%d %H:%M (%A)")


def message_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
        return "\n".join(part for part in parts if part)
    return str(content)


def message_time(value: Any) -> datetime | None:
    """A message's ``time_created``: ReMe's "YYYY-mm-dd HH:MM:SS", ISO 8601, or epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return parse_time(value)


@dataclass
class UserMessage:
    """One message of the user, numbered across the request."""

    index: int
    trajectory_id: uuid.UUID
    content: str
    said_at: datetime
    # The assistant turn just before, so a short answer ("yes, twice a week") can be understood.
    context: str = ""


def user_messages(trajectories: list[Trajectory]) -> list[UserMessage]:
    """The user's messages of stored trajectories, each with the time it was said.

    A message without ``time_created`` was said when the request arrived.
    """
    out: list[UserMessage] = []
    for trajectory in trajectories:
        previous = ""
        for message in trajectory.messages:
            if not isinstance(message, dict):
                continue
            text = message_text(message.get("content")).strip()
            if message.get("role", "user") != "user":
                previous = text
                continue
            if text:
                said_at = message_time(message.get("time_created")) or trajectory.created_at
                out.append(UserMessage(len(out), trajectory.id, text, said_at, clip(previous, 500)))
            previous = ""
    return out


@dataclass
class FactDraft:
    """A fact about the user read from one message, not yet reconciled with stored facts."""

    content: str
    keywords: list[str]
    observation_type: str
    message: UserMessage
    time_expression: str = ""
    llm_event_time: str = ""
    event_time: datetime | None = None
    event_range: TimeRange | None = None
    time_source: str = ""
    embedding: list[float] | None = None
    memory_id: str = field(default_factory=new_memory_id)

    def metadata(self) -> dict[str, Any]:
        """ReMe's personal metadata (keywords as one string) plus where the time came from."""
        out: dict[str, Any] = {
            "keywords": ", ".join(self.keywords),
            "source_message": self.message.content,
            "observation_type": self.observation_type,
            "message_time": format_time(self.message.said_at),
        }
        if self.event_range is not None:
            out["time_expression"] = self.event_range.expression
            out["event_time_end"] = format_time(self.event_range.end)
        elif self.time_expression:
            out["time_expression"] = self.time_expression
        if self.event_time is not None:
            out["event_time"] = format_time(self.event_time)
            out["event_time_source"] = self.time_source
        out["time_info"] = self.time_info()
        return out

    def time_info(self) -> str:
        """ReMe's ``time_info``: the time the fact is about, as said and as resolved ("" if none)."""
        said = self.event_range.expression if self.event_range is not None else self.time_expression
        if self.event_range is not None:
            last_day = self.event_range.end - timedelta(microseconds=1)
            start, end = self.event_range.start.date(), last_day.date()
            resolved = str(start) if start == end else f"{start} to {end}"
        elif self.event_time is not None:
            resolved = str(self.event_time.date())
        else:
            return said
        return f"{said} ({resolved})" if said else resolved

    def new_memory(self, user_name: str, author: str) -> NewMemory:
        return NewMemory(
            memory_type="personal",
            memory_id=self.memory_id,
            when_to_use=", ".join(self.keywords),
            content=self.content,
            embedding=self.embedding,
            target=user_name,
            author=author,
            metadata=self.metadata(),
            event_time=self.event_time,
            source_trajectory_id=self.message.trajectory_id,
        )


@dataclass
class KnownFact:
    """A stored fact shown to the reconcile step under a short label (``m1``...)."""

    label: str
    memory: Memory
    similarity: float


@dataclass
class FactDecision:
    """What happens to one new fact."""

    fact: FactDraft
    action: Action
    target: Memory | None = None
    target_id: str | None = None
    merged_content: str = ""
    merged_keywords: list[str] = field(default_factory=list)
    merged_embedding: list[float] | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The decision as the response's metadata lists it."""
        written = {"add": self.fact.memory_id, "replace": self.fact.memory_id, "update": self.target_id}
        return {
            "fact": self.fact.content,
            "action": self.action,
            "memory_id": written.get(self.action),
            "target_memory_id": self.target_id,
            "event_time": format_time(self.fact.event_time) or None,
            "reason": self.reason,
        }


@dataclass
class InsightDraft:
    """A per-subject insight to add, or to write over an existing one (``existing``)."""

    subject: str
    content: str
    keywords: list[str]
    existing: Memory | None = None
    embedding: list[float] | None = None
    memory_id: str = field(default_factory=new_memory_id)


@dataclass(kw_only=True)
class SummaryContext(PipelineContext):
    """Everything ``summary_personal_memory`` learns on its way, step by step."""

    services: Services
    llm: LLMClient
    user_name: str = "user"
    trajectory_ids: list[uuid.UUID] = field(default_factory=list)
    messages: list[UserMessage] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)
    informative: list[UserMessage] = field(default_factory=list)
    facts: list[FactDraft] = field(default_factory=list)
    # Keyed by the new fact's memory id: the stored fact it repeats word for word, or its neighbours.
    duplicates: dict[str, str] = field(default_factory=dict)
    neighbours: dict[str, list[KnownFact]] = field(default_factory=dict)
    stored_fact_count: int = 0
    recent_facts: list[Memory] = field(default_factory=list)
    insights: list[Memory] = field(default_factory=list)
    decisions: list[FactDecision] = field(default_factory=list)
    insight_drafts: list[InsightDraft] = field(default_factory=list)
    memory_list: list[dict[str, Any]] = field(default_factory=list)
    deleted_memory_ids: list[str] = field(default_factory=list)

    @property
    def settings(self) -> PersonalMemorySettings:
        return self.services.settings.personal

    @property
    def author(self) -> str:
        return self.llm.settings.model

    def result(self) -> dict[str, Any]:
        """The response's metadata (and an asynchronous job's result)."""
        counts = {action: 0 for action in ("add", "update", "replace", "drop")}
        for decision in self.decisions:
            counts[decision.action] += 1
        return {
            "memory_list": self.memory_list,
            "deleted_memory_ids": self.deleted_memory_ids,
            "update_result": {
                "inserted_count": counts["add"]
                + counts["replace"]
                + sum(1 for d in self.insight_drafts if d.existing is None),
                "updated_count": counts["update"] + sum(1 for d in self.insight_drafts if d.existing),
                "deleted_count": len(self.deleted_memory_ids),
                "dropped_count": counts["drop"],
            },
            "decisions": [d.as_dict() for d in self.decisions],
            "user_name": self.user_name,
            "trajectory_ids": [str(i) for i in self.trajectory_ids],
            **self.run_metadata(),
        }
