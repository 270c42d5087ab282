"""The memory library: ready-made task memories shipped with the package (ReMe's, see NOTICE.md).

A library is a file in ReMe's dump format next to this module. Loading one goes through the same
code as ``reme load`` and ``vector_store`` load (parse, embed with the configured model, write
in one transaction); by default it adds to the workspace (same ids are replaced), so loading
twice changes nothing and a workspace's own memories stay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from app.errors import NotFound
from app.services import Services
from app.store.memory_lines import read_memory_file
from app.store.transfer import Progress, write_memories
from app.store.workspaces import require_valid_workspace_id

LIBRARY_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LibraryEntry:
    name: str
    description: str
    file: Path

    @cached_property
    def memory_count(self) -> int:
        """Memories in the file (one per non-empty line)."""
        with self.file.open("rb") as handle:
            return sum(1 for line in handle if line.strip())


LIBRARY: dict[str, LibraryEntry] = {
    entry.name: entry
    for entry in (
        LibraryEntry(
            "appworld",
            "Task memories from AppWorld agent runs (apps and their APIs: login, paging, "
            "verifying results); ReMe, Apache-2.0",
            LIBRARY_DIR / "appworld.jsonl",
        ),
        LibraryEntry(
            "bfcl_v3",
            "Task memories from BFCL v3 function-calling runs (choosing and sequencing tool "
            "calls); ReMe, Apache-2.0",
            LIBRARY_DIR / "bfcl_v3.jsonl",
        ),
    )
}


def library_entry(name: str) -> LibraryEntry:
    """The library called ``name``, or a 404 that lists the ones there are."""
    entry = LIBRARY.get(name)
    if entry is None:
        raise NotFound(
            f"no memory library named {name!r}; available: {', '.join(sorted(LIBRARY))}",
            errors=[{"loc": ["path", "name"], "msg": f"unknown library {name!r}"}],
        )
    return entry


@dataclass(frozen=True)
class LibraryTarget:
    """A library and the workspace it is to be loaded into."""

    entry: LibraryEntry
    workspace_id: str

    @property
    def file(self) -> Path:
        return self.entry.file


def library_target(name: str, workspace_id: str | None = None, *, loc: str = "body") -> LibraryTarget:
    """Where loading library ``name`` goes: its file, and ``workspace_id`` or else a workspace named
    after the library. The one place that rule lives (the API, the CLI, the console and the auth gate
    use it); an unknown name is a 404, a bad workspace id a 400 naming ``loc``."""
    entry = library_entry(name)
    if workspace_id:
        require_valid_workspace_id(workspace_id, loc=loc)
    return LibraryTarget(entry, workspace_id or entry.name)


async def load_library(
    services: Services,
    target: LibraryTarget,
    *,
    replace: bool = False,
    request_id: str | None = None,
    reason: str | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Load a library into its target workspace; returns the count.

    With ``replace`` the library becomes the workspace's only content, as ``reme load`` does.
    """
    lines = await asyncio.to_thread(read_memory_file, target.file)
    return await write_memories(
        services,
        target.workspace_id,
        lines,
        replace=replace,
        reason=reason or f"memory library {target.entry.name}",
        request_id=request_id,
        on_progress=on_progress,
    )
