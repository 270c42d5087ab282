"""What the three tool flows share: their result shape, prompts and queued jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from app.services import Services
from app.store.jobs import enqueue_job
from app.store.memories import ensure_workspace

PROMPTS = Path(__file__).resolve().parent / "prompts"
# Guidelines are Markdown with their own headings, so answers separate tools by a rule.
SECTION_BREAK = "\n\n---\n\n"


@dataclass
class ToolFlowResult:
    """A flow's answer in ReMe's terms; ``status_code`` is the HTTP status to answer with."""

    answer: str
    success: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)
    status_code: int = 200

    def as_dict(self) -> dict[str, Any]:
        """The envelope fields, as a job's result."""
        return {"answer": self.answer, "success": self.success, "metadata": self.metadata}


def render_prompt(name: str, **values: Any) -> str:
    """The prompt file ``prompts/<name>.md`` with ``$placeholders`` filled in."""
    template = Template((PROMPTS / f"{name}.md").read_text(encoding="utf-8"))
    return template.substitute({key: str(value) for key, value in values.items()})


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


async def enqueue_tool_flow(
    services: Services, workspace_id: str, flow: str, payload: dict[str, Any]
) -> uuid.UUID:
    """Store a request as a job for ``reme worker`` (the ``async_mode`` path)."""
    async with services.db.session() as session:
        await ensure_workspace(session, workspace_id)
        return await enqueue_job(session, workspace_id, flow, payload)
