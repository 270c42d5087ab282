"""Reading trajectories: limits, outcome split, comparison pairs, and text for prompts."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from app.errors import InvalidInput
from app.pipelines.task.domain import NewTrajectory, StoredTrajectory
from app.settings import LimitSettings

# A single message longer than this is cut in the middle when shown to the model.
PROMPT_MESSAGE_CHARS = 4_000
# Characters of each message after the task kept in a query built from messages.
CONTEXT_CHARS = 300


def content_length(content: Any) -> int:
    """Characters of a message's content, whether text or a list of parts."""
    if content is None:
        return 0
    if isinstance(content, str):
        return len(content)
    return len(json.dumps(content, ensure_ascii=False))


def check_trajectory_limits(trajectories: Sequence[NewTrajectory], limits: LimitSettings) -> None:
    """Refuse requests above the configured limits, naming the offending place."""
    if len(trajectories) > limits.max_trajectories:
        raise InvalidInput(
            f"too many trajectories: {len(trajectories)} > {limits.max_trajectories}",
            errors=[{"loc": ["body", "trajectories"], "msg": f"at most {limits.max_trajectories} items"}],
        )
    errors: list[dict[str, Any]] = []
    for t_index, trajectory in enumerate(trajectories):
        if len(trajectory.messages) > limits.max_messages:
            errors.append(
                {
                    "loc": ["body", "trajectories", t_index, "messages"],
                    "msg": f"{len(trajectory.messages)} messages; at most {limits.max_messages}",
                }
            )
            continue
        for m_index, message in enumerate(trajectory.messages):
            length = content_length(message.get("content"))
            if length > limits.max_message_chars:
                errors.append(
                    {
                        "loc": ["body", "trajectories", t_index, "messages", m_index, "content"],
                        "msg": f"{length} characters; at most {limits.max_message_chars}",
                    }
                )
    if errors:
        where = "; ".join(".".join(str(p) for p in e["loc"][1:]) + f": {e['msg']}" for e in errors[:3])
        raise InvalidInput(f"trajectories over the size limits: {where}", errors=errors)


def split_by_outcome(
    trajectories: Sequence[StoredTrajectory], success_threshold: float
) -> tuple[list[StoredTrajectory], list[StoredTrajectory]]:
    """Successes (score at or above the threshold) and failures, in input order."""
    successes = [t for t in trajectories if t.score >= success_threshold]
    failures = [t for t in trajectories if t.score < success_threshold]
    return successes, failures


def comparison_pairs(
    trajectories: Sequence[StoredTrajectory],
) -> list[tuple[StoredTrajectory, StoredTrajectory]]:
    """Per task_id, the best run against the worst, when their scores differ.

    Trajectories without a task_id are runs of unknown tasks: comparing them would contrast
    unrelated work, so they are left out.
    """
    groups: dict[str, list[StoredTrajectory]] = defaultdict(list)
    for trajectory in trajectories:
        if trajectory.task_id:
            groups[trajectory.task_id].append(trajectory)
    pairs = []
    for runs in groups.values():
        if len(runs) < 2:
            continue
        best = max(runs, key=lambda t: t.score)
        worst = min(runs, key=lambda t: t.score)
        if best.score != worst.score:
            pairs.append((best, worst))
    return pairs


def render_trajectory(trajectory: StoredTrajectory, max_chars: int) -> str:
    """The messages as numbered plain text, tool calls included, cut to ``max_chars``."""
    lines = [f"task_id: {trajectory.task_id or '(none)'}; score: {trajectory.score:g}"]
    for index, message in enumerate(trajectory.messages):
        lines.append(_render_message(index, message))
    text = "\n".join(lines)
    return _cut_middle(text, max_chars)


def _render_message(index: int, message: dict[str, Any]) -> str:
    role = message.get("role", "?")
    content = message.get("content")
    body = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False) if content else ""
    parts = [f"[{index}] {role}: {_cut_middle(body.strip(), PROMPT_MESSAGE_CHARS)}"]
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        # ReMe puts name/arguments on the call; OpenAI nests them under "function".
        nested = call.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else call
        parts.append(f"    -> call {function.get('name', '?')}({function.get('arguments', '')})")
    return "\n".join(parts)


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = max(limit // 2 - 20, 0)
    return f"{text[:keep]}\n[... {len(text) - 2 * keep} characters left out ...]\n{text[-keep:]}"


def retrieval_query(query: str, messages: Sequence[dict[str, Any]], max_chars: int = 2_000) -> str:
    """The text to search with: the query given, else the last user message and what followed.

    The last user message states the task; up to two messages after it (the agent's steps and
    tool results so far) say where the agent is in it, so a short part of each is added.
    """
    if query.strip():
        return query.strip()
    texts = [(m.get("role"), m.get("content")) for m in messages]
    user_positions = [i for i, (role, _) in enumerate(texts) if role == "user"]
    if user_positions:
        last = user_positions[-1]
        task, context = texts[last][1], [c for _, c in texts[last + 1 : last + 3]]
    else:
        task, context = None, [c for _, c in texts[-2:]]
    parts = [task.strip()] if isinstance(task, str) and task.strip() else []
    parts += [_cut_middle(c.strip(), CONTEXT_CHARS) for c in context if isinstance(c, str) and c.strip()]
    return _cut_middle("\n".join(parts), max_chars)
