"""record_task_memory and delete_task_memory: usage counters and pruning, atomic in SQL.

An agent reports each use of a retrieved memory (``freq``) and whether it helped
(``utility``); pruning removes memories used often that rarely helped.
"""

from __future__ import annotations

from typing import Any

from app.errors import InvalidInput
from app.models import Memory
from app.pipelines.task.domain import FlowResult
from app.services import Services
from app.store.memories import memory_to_reme
from app.store.task import prune_task_memories, record_memory_use


def memory_ids_to_record(memory_dicts: list[dict[str, Any]], memory_ids: list[str]) -> list[str]:
    """The ids named by ``memory_dicts`` (as retrieval returns them) and ``memory_ids``, once each.

    Nothing named is not an error: an agent whose retrieval found nothing reports ``[]``.
    """
    errors = [
        {"loc": ["body", "memory_dicts", i, "memory_id"], "msg": "missing or not a non-empty string"}
        for i, d in enumerate(memory_dicts)
        if not isinstance(d.get("memory_id"), str) or not d["memory_id"]
    ]
    if errors:
        raise InvalidInput("every memory in memory_dicts needs its memory_id", errors=errors)
    return list(dict.fromkeys([d["memory_id"] for d in memory_dicts] + memory_ids))


async def record_task_memory(
    services: Services,
    workspace_id: str,
    memory_ids: list[str],
    *,
    helped: bool,
    request_id: str | None,
) -> FlowResult:
    """Count one use of each memory, and one success when it helped; unknown ids are reported."""
    updated: list[Memory] = []
    if memory_ids:
        async with services.db.session() as session:
            updated = await record_memory_use(
                session, workspace_id, memory_ids, helped=helped, request_id=request_id
            )
    found = {m.memory_id for m in updated}
    missing = [i for i in memory_ids if i not in found]
    answer = f"recorded a use of {len(updated)} memor{'y' if len(updated) == 1 else 'ies'}"
    answer += " that helped" if helped else ""
    if missing:
        answer += f"; not found: {', '.join(missing)}"
    return FlowResult(
        answer=answer,
        metadata={
            # ReMe's keys: the memories as they are now. They are updated in place, so
            # nothing is deleted or inserted.
            "memory_list": [memory_to_reme(m) for m in updated],
            "deleted_memory_ids": [],
            "update_result": {"inserted_count": 0, "deleted_count": 0, "updated_count": len(updated)},
            "updated_memories": [
                {"memory_id": m.memory_id, "freq": m.freq, "utility": m.utility} for m in updated
            ],
            "not_found_memory_ids": missing,
        },
    )


async def delete_task_memory(
    services: Services,
    workspace_id: str,
    *,
    freq_threshold: int | None,
    utility_threshold: float | None,
    request_id: str | None,
) -> FlowResult:
    """Delete the task memories used at least ``freq_threshold`` times whose share of helpful
    uses (utility / freq) is below ``utility_threshold``; one SQL statement picks them."""
    settings = services.settings.task
    freq = settings.delete_freq_threshold if freq_threshold is None else freq_threshold
    utility = settings.delete_utility_threshold if utility_threshold is None else utility_threshold
    async with services.db.session() as session:
        deleted = await prune_task_memories(
            session, workspace_id, freq_threshold=freq, utility_threshold=utility, request_id=request_id
        )
    return FlowResult(
        answer=(
            f"deleted {len(deleted)} task memor{'y' if len(deleted) == 1 else 'ies'} used at least "
            f"{freq} times that helped in less than {utility:g} of their uses"
        ),
        metadata={
            "deleted_memory_ids": deleted,
            "update_result": {"inserted_count": 0, "deleted_count": len(deleted)},
            "freq_threshold": freq,
            "utility_threshold": utility,
        },
    )
