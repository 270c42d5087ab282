"""Structured answers the task-memory steps ask the model for, and their prompts.

Each step has its own output class: its name is the JSON schema's name, so logs and the
test stand-in can tell the steps apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from app.pipelines.task.domain import Experience

PROMPT_DIR = Path(__file__).parent / "prompts"
# ReMe's kinds of step (memory metadata ``step_type``).
STEP_TYPES = ("reasoning", "action", "observation", "decision")


@cache
def _template(name: str) -> str:
    return (PROMPT_DIR / f"{name}.md").read_text(encoding="utf-8")


def prompt(name: str, **values: str) -> str:
    """The prompt file ``prompts/<name>.md`` with ``{placeholders}`` filled in."""
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


class ExperienceOut(BaseModel):
    when_to_use: str = Field(min_length=1, description="the situation in which the lesson applies")
    content: str = Field(min_length=1, description="the lesson itself, concrete and actionable")
    tags: list[str] = Field(default_factory=list, description="a few short keywords")
    tools_used: list[str] = Field(default_factory=list, description="tools the lesson is about")
    step_type: str = Field(
        default="",
        description="the kind of step the lesson is about: reasoning, action, observation or decision",
    )
    confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="how sure you are that the lesson will help, 0 to 1"
    )

    def to_experience(self) -> Experience:
        step_type = self.step_type.strip().lower()
        return Experience(
            when_to_use=self.when_to_use.strip(),
            content=self.content.strip(),
            tags=[t.strip() for t in self.tags if t.strip()],
            tools_used=[t.strip() for t in self.tools_used if t.strip()],
            confidence=self.confidence,
            step_type=step_type if step_type in STEP_TYPES else "",
        )


class ExtractedExperiences(BaseModel):
    experiences: list[ExperienceOut] = Field(default_factory=list)


class SuccessPatterns(ExtractedExperiences):
    """What made a successful run work."""


class FailureLessons(ExtractedExperiences):
    """What went wrong in a failed run and how to avoid it."""


class ComparativeInsights(ExtractedExperiences):
    """What separates the better run of a task from the worse one."""


class SimpleExperienceOut(ExperienceOut):
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


class TrajectoryExperiences(BaseModel):
    """The one-call extraction of summary_task_memory_simple."""

    experiences: list[SimpleExperienceOut] = Field(default_factory=list)


class JudgementOut(BaseModel):
    index: int = Field(ge=0, description="the number of the candidate judged")
    is_valid: bool
    score: float = Field(ge=0.0, le=1.0)
    feedback: str = ""


class CandidateJudgements(BaseModel):
    """The judge's verdicts; a malformed verdict is dropped here, which rejects its candidate."""

    judgements: list[JudgementOut] = Field(default_factory=list)

    @field_validator("judgements", mode="before")
    @classmethod
    def _drop_unreadable(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        readable = []
        for item in value:
            try:
                readable.append(JudgementOut.model_validate(item))
            except ValidationError:
                continue
        return readable


class RerankedMemories(BaseModel):
    """Candidate numbers, most useful first."""

    ranking: list[int] = Field(default_factory=list)


class RetrievalGuidance(BaseModel):
    guidance: str
