"""The console's edit form, turned into a patch of the fields that really changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.errors import InvalidInput
from app.models import Memory
from app.store.memory_edits import MemoryPatch


def optional(value: str | None) -> str | None:
    """Empty form fields mean 'not given'."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_float(value: str | None, name: str) -> float | None:
    value = optional(value)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a number, not {value!r}") from exc


def parse_when(value: str | None, name: str) -> datetime | None:
    """A date (YYYY-MM-DD) or date and time from a form field, taken as UTC."""
    value = optional(value)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            f"{name} must be a date like 2026-01-31 or 2026-01-31T12:00, not {value!r}"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def metadata_text(memory: Memory) -> str:
    return json.dumps(memory.metadata_, indent=2, ensure_ascii=False, sort_keys=True)


def form_patch(memory: Memory, form: dict[str, Any]) -> MemoryPatch:
    """The fields of the edit form that differ from the stored memory."""
    changes: dict[str, Any] = {}
    for name in ("when_to_use", "content", "target"):
        value = str(form.get(name, getattr(memory, name))).replace("\r\n", "\n")
        if value != getattr(memory, name):
            changes[name] = value
    if not (
        changes.get("when_to_use", memory.when_to_use).strip()
        or changes.get("content", memory.content).strip()
    ):
        raise InvalidInput("a memory needs when_to_use or content")
    score = parse_float(str(form.get("score", "")), "score")
    if score is not None and score != memory.score:
        changes["score"] = score
    event_time = parse_when(str(form.get("event_time", "")), "event time")
    current_event = memory.event_time.replace(second=0, microsecond=0) if memory.event_time else None
    if event_time != current_event:
        changes["event_time"] = event_time
    return MemoryPatch(
        changes=changes, metadata=_metadata_patch(memory.metadata_, str(form.get("metadata", "")))
    )


def _metadata_patch(stored: dict[str, Any], text: str) -> dict[str, Any] | None:
    """Keys to set and keys to remove (None), or None when the metadata did not change."""
    text = text.strip() or "{}"
    try:
        wanted = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"metadata must be a JSON object: {exc}") from exc
    if not isinstance(wanted, dict):
        raise InvalidInput('metadata must be a JSON object, like {"source": "manual"}')
    if wanted == stored:
        return None
    removed = {key: None for key in stored if key not in wanted}
    return {**removed, **{k: v for k, v in wanted.items() if stored.get(k) != v or k not in stored}}
