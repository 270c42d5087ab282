"""The line formats of memory files and streams, and where such files may live.

Two formats, one parser. ReMe's dump format (``<dir>/<workspace_id>.jsonl``) has the fields of
ReMe's memory dicts, with the counters inside ``metadata``; our NDJSON adds ``event_time``,
``freq``, ``utility``, ``target`` and ``reflection_subject`` at the top level and, on request,
the vector with the name of the model that made it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

from app.errors import InvalidInput, NotFound, PayloadTooLarge
from app.models import MEMORY_TYPES, Memory, workspace_id_problem
from app.providers.embeddings import Embedder
from app.store.memories import NewMemory, memory_to_reme, new_memory_id, parse_time


def memory_from_record(record: Any, *, line: int) -> NewMemory:
    """A memory from one line of either format; ``workspace_id`` in the line is ignored."""
    if not isinstance(record, dict):
        raise _line_error(line, "a line must hold one JSON object")
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _line_error(line, "metadata must be an object")
    metadata = dict(metadata)
    memory_type = str(record.get("memory_type") or "task")
    if memory_type not in MEMORY_TYPES:
        raise _line_error(line, f"memory_type must be one of {', '.join(MEMORY_TYPES)}, not {memory_type!r}")
    try:
        # Counters and event times live in columns; ReMe keeps them in metadata.
        in_metadata = {key: metadata.pop(key, None) for key in ("freq", "utility", "event_time")}
        freq = int(record.get("freq", in_metadata["freq"]) or 0)
        utility = int(record.get("utility", in_metadata["utility"]) or 0)
        event_time = parse_time(record.get("event_time") or in_metadata["event_time"])
        created = parse_time(record.get("time_created"))
        memory = NewMemory(
            memory_type=memory_type,
            when_to_use=str(record.get("when_to_use") or ""),
            content=str(record.get("content") or ""),
            memory_id=str(record.get("memory_id") or new_memory_id()),
            score=float(record.get("score") or 0.0),
            target=str(record.get("target") or ""),
            reflection_subject=str(record.get("reflection_subject") or ""),
            author=str(record.get("author") or ""),
            metadata=metadata,
            freq=freq,
            utility=utility,
            event_time=event_time,
            time_created=created,
            time_modified=parse_time(record.get("time_modified")) or created,
        )
    except (TypeError, ValueError) as exc:
        raise _line_error(line, f"invalid value: {exc}") from exc
    if not (memory.when_to_use or memory.content):
        raise _line_error(line, "a memory needs when_to_use or content")
    if len(memory.memory_id) > 128:
        raise _line_error(line, "memory_id is longer than 128 characters")
    return memory


def _line_error(line: int, message: str) -> InvalidInput:
    return InvalidInput(f"line {line}: {message}", errors=[{"loc": ["body", f"line {line}"], "msg": message}])


class ParsedLine:
    """One memory read from a line, with the vector the line carried (if any)."""

    __slots__ = ("embedding", "embedding_model", "memory")

    def __init__(self, memory: NewMemory, record: dict[str, Any]) -> None:
        self.memory = memory
        vector = record.get("embedding")
        self.embedding: list[float] | None = vector if isinstance(vector, list) else None
        self.embedding_model: str | None = record.get("embedding_model")


def parse_lines(lines: Iterable[bytes | str], *, max_line_bytes: int | None = None) -> list[ParsedLine]:
    """Parse JSON lines (blank lines skipped); a bad line fails the whole input, naming its number."""
    parsed: list[ParsedLine] = []
    for number, raw in enumerate(lines, start=1):
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if max_line_bytes is not None and size > max_line_bytes:
            raise PayloadTooLarge(
                f"line {number} has {size} bytes; the limit is {max_line_bytes} "
                "(settings.limits.max_import_line_bytes)",
                errors=[{"loc": ["body", f"line {number}"], "msg": "line too long"}],
            )
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise _line_error(number, f"not valid JSON ({exc})") from exc
        parsed.append(ParsedLine(memory_from_record(record, line=number), record))
    return parsed


def unique_memories(lines: Sequence[ParsedLine], embedder: Embedder) -> list[NewMemory]:
    """The memories to write: the last line wins for a repeated id; vectors of our model are kept."""
    by_id: dict[str, NewMemory] = {}
    for line in lines:
        memory = line.memory
        if (
            line.embedding is not None
            and line.embedding_model == embedder.model_name
            and len(line.embedding) == embedder.dim
        ):
            memory.embedding = [float(x) for x in line.embedding]
        by_id.pop(memory.memory_id, None)
        by_id[memory.memory_id] = memory
    return list(by_id.values())


def memory_to_record(
    memory: Memory, *, extended: bool = False, embedding_model: str | None = None
) -> dict[str, Any]:
    """A memory as one line: ReMe's dump format, or (``extended``) our NDJSON format.

    ``embedding_model`` adds the vector (the memory must have been read with it).
    """
    record = memory_to_reme(memory)
    if extended:
        record["target"] = memory.target
        record["reflection_subject"] = memory.reflection_subject
        record["event_time"] = memory.event_time.isoformat() if memory.event_time else None
        record["freq"] = memory.freq
        record["utility"] = memory.utility
    if embedding_model is not None and memory.embedding is not None:
        record["embedding"] = [float(x) for x in memory.embedding]
        record["embedding_model"] = embedding_model
    return record


# File systems cap a file name at 255 bytes; a 128-character id in a non-Latin script can exceed it.
MAX_FILE_NAME_BYTES = 255


def workspace_file_name(workspace_id: str) -> str:
    """``<workspace_id>.jsonl``: a plain name in the target folder, never a path.

    Workspace ids hold no '/', '\\' or control characters and are not '.' or '..' (the model's
    rule), so the name cannot leave the folder; this checks again, and checks the length.
    """
    problem = workspace_id_problem(workspace_id)
    if problem:
        raise InvalidInput(
            f"invalid workspace id {workspace_id!r}: {problem}",
            errors=[{"loc": ["body", "workspace_id"], "msg": problem}],
        )
    name = f"{workspace_id}.jsonl"
    size = len(name.encode("utf-8"))
    if size > MAX_FILE_NAME_BYTES:
        raise InvalidInput(
            f"the file name {name!r} would be {size} bytes in UTF-8, above the file system limit of "
            f"{MAX_FILE_NAME_BYTES}; give a path ending in .jsonl to name the file yourself",
            errors=[{"loc": ["body", "path"], "msg": "workspace id too long for a file name"}],
        )
    return name


def resolve_workspace_file(allowed_dir: Path, path: str, workspace_id: str) -> Path:
    """``<path>/<workspace_id>.jsonl``, or ``path`` itself when it names a .jsonl file.

    The file must resolve inside ``allowed_dir``.

    Relative paths are taken from ``allowed_dir``; symlinks are resolved before the check.
    """
    if not path:
        raise InvalidInput(
            "path is required for dump and load", errors=[{"loc": ["body", "path"], "msg": "required"}]
        )
    given = Path(path).expanduser()
    base = given if given.is_absolute() else allowed_dir / given
    target = base if base.suffix == ".jsonl" else base / workspace_file_name(workspace_id)
    resolved = target.resolve()
    if not resolved.is_relative_to(allowed_dir):
        raise InvalidInput(
            f"path {path!r} resolves to {resolved}, outside the allowed directory {allowed_dir} "
            "(set REME_STORAGE__ALLOWED_DIR to change it)",
            errors=[{"loc": ["body", "path"], "msg": "outside the allowed directory"}],
        )
    return resolved


def read_memory_file(file: Path, *, max_line_bytes: int | None = None) -> list[ParsedLine]:
    """Parse a ReMe dump file or one of our NDJSON exports."""
    if not file.is_file():
        raise NotFound(f"no file {file}")
    with file.open("rb") as handle:
        return parse_lines(handle, max_line_bytes=max_line_bytes)


async def collect_lines(chunks: AsyncIterator[bytes], max_line_bytes: int) -> list[bytes]:
    """Split a streamed body into lines, refusing a line longer than ``max_line_bytes`` early."""
    lines: list[bytes] = []
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        lines.extend(complete)
        if len(pending) > max_line_bytes:
            number = len(lines) + 1
            raise PayloadTooLarge(
                f"line {number} is longer than {max_line_bytes} bytes "
                "(settings.limits.max_import_line_bytes)",
                errors=[{"loc": ["body", f"line {number}"], "msg": "line too long"}],
            )
    if pending:
        lines.append(pending)
    return lines
