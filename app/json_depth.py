"""How deeply JSON values may nest where the service stores them (metadata, tool input).

PostgreSQL stores deeper values, but serialising them back can fail, and a row that cannot
be read breaks every listing and search of its workspace; so depth is checked on the way in.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

MAX_JSON_DEPTH = 32


def json_depth(value: Any, stop_after: int = MAX_JSON_DEPTH) -> int:
    """Levels of objects and lists in ``value`` (a scalar is 0), counted without recursion.

    Counting stops once ``stop_after`` is passed.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def deepest_path(value: Any, limit: int) -> str | None:
    """Where ``value`` first nests deeper than ``limit`` ("a.0.b..."), or None if it does not."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: Any = [(str(key), child) for key, child in item.items()]
        elif isinstance(item, list | tuple):
            children = [(str(index), child) for index, child in enumerate(item)]
        else:
            continue
        if depth + 1 > limit:
            shown = ".".join(path[:6]) + (".…" if len(path) > 6 else "")
            return shown or "the value"
        stack.extend((child, depth + 1, (*path, key)) for key, child in children)
    return None


def within_depth(value: Any) -> Any:
    """``value`` unchanged; a ``ValueError`` naming the limit when it nests too deeply."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep (the limit for stored JSON)")
    return value


# A JSON object the service stores; validation refuses one nested too deeply.
JsonObject = Annotated[dict[str, Any], AfterValidator(within_depth)]
