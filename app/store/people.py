"""People a query names: the known ``target`` values of a workspace found in the query's words.

A personal memory's ``target`` is the person it is about. "When did Caroline go to the support
group?" names Caroline: her memories deserve a ranked list of their own in the search, even
though the question does not say ``user_name``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, func, select, text

# At most this many distinct targets are read per workspace (a workspace of many people
# is not a conversation between a few; beyond this, no name detection).
MAX_TARGETS = 500
# Names shorter than this are not looked for (initials, "me", "AI"...).
MIN_NAME_LENGTH = 3

# A loose index scan over (workspace_id, memory_type, target): one index probe per distinct
# target, however many memories each has.
_DISTINCT_TARGETS = text(
    """
    WITH RECURSIVE names(target) AS (
        (SELECT target FROM memory
          WHERE workspace_id = :t_ws AND memory_type = :t_type AND target > ''
          ORDER BY target LIMIT 1)
        UNION ALL
        SELECT (SELECT m.target FROM memory m
                 WHERE m.workspace_id = :t_ws AND m.memory_type = :t_type AND m.target > names.target
                 ORDER BY m.target LIMIT 1)
          FROM names WHERE names.target IS NOT NULL
    )
    SELECT target FROM names WHERE target IS NOT NULL LIMIT :t_cap
    """
)


def targets_subquery() -> Any:
    """The distinct targets as an array (a scalar subquery), parameters from :func:`people_params`."""
    listed = _DISTINCT_TARGETS.columns(target=String).subquery("named_targets")
    return select(func.array_agg(listed.c.target)).scalar_subquery()


def people_params(workspace_id: str, memory_type: str = "personal") -> dict[str, Any]:
    return {"t_ws": workspace_id, "t_type": memory_type, "t_cap": MAX_TARGETS + 1}


def names_in(query: str, targets: list[str]) -> list[str]:
    """The targets the query names: the whole name, or its first word, as a word of the query.

    Case-insensitive ("caroline" names Caroline); a possessive ("Caroline's") counts.
    """
    words = {w.casefold() for w in re.findall(r"\w+", query)}
    folded = query.casefold()
    found = []
    for target in targets:
        name = target.strip().casefold()
        parts = re.findall(r"\w+", name)
        if not parts or len(parts[0]) < MIN_NAME_LENGTH:
            continue
        if parts[0] in words or re.search(rf"\b{re.escape(name)}\b", folded):
            found.append(target)
    return found
