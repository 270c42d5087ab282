"""What changed in one history event of a memory: field by field, with a word-level diff of texts."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from app.models import MemoryEvent

# Fields that change with every write and say nothing about the memory itself.
QUIET_FIELDS = {"time_modified", "workspace_id", "memory_id"}
_TOKENS = re.compile(r"(\s+)")

Op = Literal["same", "del", "ins"]


@dataclass
class Segment:
    op: Op
    text: str


@dataclass
class FieldChange:
    name: str
    before: str | None
    after: str | None
    segments: list[Segment] = field(default_factory=list)


@dataclass
class EventView:
    event: MemoryEvent
    changes: list[FieldChange]


def _flat(snapshot: dict[str, Any] | None) -> dict[str, str]:
    """A snapshot as ``field -> text``; metadata keys become ``metadata.key``."""
    out: dict[str, str] = {}
    for key, value in (snapshot or {}).items():
        if key in QUIET_FIELDS:
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                out[f"metadata.{meta_key}"] = _text(meta_value)
        else:
            out[key] = _text(value)
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def word_diff(before: str, after: str) -> list[Segment]:
    """Segments that turn ``before`` into ``after``, word by word."""
    old, new = _TOKENS.split(before), _TOKENS.split(after)
    segments: list[Segment] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            segments.append(Segment("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            segments.append(Segment("del", "".join(old[i1:i2])))
        if j2 > j1:
            segments.append(Segment("ins", "".join(new[j1:j2])))
    return segments


def event_changes(event: MemoryEvent) -> list[FieldChange]:
    """The fields an event changed; for an add or a load, the fields it set; for a delete, what was lost."""
    before, after = _flat(event.before), _flat(event.after)
    changes: list[FieldChange] = []
    for name in sorted(set(before) | set(after), key=_field_order):
        old, new = before.get(name), after.get(name)
        if old == new or (not old and not new):
            continue
        segments = word_diff(old or "", new or "") if old and new else []
        changes.append(FieldChange(name, old, new, segments))
    return changes


ORDER = ["memory_type", "when_to_use", "content", "score", "target", "reflection_subject", "event_time"]


def _field_order(name: str) -> tuple[int, str]:
    return (ORDER.index(name), name) if name in ORDER else (len(ORDER), name)


def history_view(events: list[MemoryEvent]) -> list[EventView]:
    """Newest first, as a timeline reads."""
    return [EventView(e, event_changes(e)) for e in reversed(events)]
