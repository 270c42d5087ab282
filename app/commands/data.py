"""``reme load`` and ``reme dump``: a workspace from or to a file, with progress bars.

Files are ReMe's dump format (``.jsonl``, what ``vector_store`` dump/load use) or our NDJSON
(``.ndjson``: counters, event times and optionally vectors at the top level). Loading reads
both; a file's vectors are reused when they come from the configured embedding model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Literal

from app.commands import EXIT_USAGE, cli_services, progress_bar

FileFormat = Literal["reme", "ndjson"]


def register(sub: argparse._SubParsersAction) -> None:
    load = sub.add_parser("load", help="replace a workspace's memories with those of a file")
    load.add_argument("workspace")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=("auto", "reme", "ndjson"), default="auto")
    load.add_argument("--merge", action="store_true", help="keep other memories (same ids are replaced)")
    load.set_defaults(func=run_load)
    dump = sub.add_parser("dump", help="write a workspace's memories to a file")
    dump.add_argument("workspace")
    dump.add_argument("file", type=Path)
    dump.add_argument("--format", choices=("auto", "reme", "ndjson"), default="auto")
    dump.add_argument("--include-embeddings", action="store_true", help="ndjson only: add the vectors")
    dump.set_defaults(func=run_dump)


def detect_format(file: Path) -> FileFormat:
    """NDJSON when the first memory has our top-level fields, else ReMe's format."""
    with file.open("rb") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                ours = isinstance(record, dict) and ("freq" in record or "embedding" in record)
                return "ndjson" if ours else "reme"
    return "reme"


def run_load(args: argparse.Namespace) -> int:
    from app.errors import ReMeError
    from app.store.memory_lines import read_memory_file
    from app.store.transfer import write_memories
    from app.store.vector_index import vector_index_present
    from app.store.workspaces import require_valid_workspace_id

    file: Path = args.file
    try:
        require_valid_workspace_id(args.workspace, loc="argument")
        file_format = detect_format(file) if args.format == "auto" else args.format
        lines = read_memory_file(file)
    except (ReMeError, OSError, ValueError) as exc:
        print(f"reme load: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return EXIT_USAGE
    if file_format == "reme":
        for line in lines:
            line.embedding = None

    started = time.perf_counter()
    timings: dict[str, float] = {}
    built: list[bool] = []  # whether the index was there once its build ended

    async def work() -> int:
        async with cli_services() as services:
            with progress_bar("embedding", len(lines)) as bar:
                count = await write_memories(
                    services,
                    args.workspace,
                    lines,
                    replace=not args.merge,
                    reason=f"reme load {file.name}",
                    on_progress=bar.update,
                )
            timings["rows"] = time.perf_counter() - started
            # A large load sets the vector index aside: build it now, a command has no background.
            if services.index_builder.pending:
                print("building the vector index ...", file=sys.stderr, flush=True)
                await services.index_builder.finish()
                timings["index"] = time.perf_counter() - started - timings["rows"]
                async with services.db.session() as session:
                    built.append(await vector_index_present(session))
            return count

    count = asyncio.run(work())
    seconds = time.perf_counter() - started
    index = ""
    if "index" in timings and all(built):
        index = f"; vector index built in {timings['index']:.1f} s"
    elif "index" in timings:  # the build failed, or a larger load stopped it to build after itself
        index = f"; vector index not built after {timings['index']:.1f} s: see the log"
    print(
        f"loaded {count} memories ({file_format}) into {args.workspace} in {seconds:.1f} s "
        f"({count / max(seconds, 1e-9):.0f}/s; rows in after {timings['rows']:.1f} s{index})"
    )
    return 0


def run_dump(args: argparse.Namespace) -> int:
    from app.store.transfer import dump_workspace_file

    file: Path = args.file.resolve()
    file_format: FileFormat = (
        ("ndjson" if file.suffix == ".ndjson" else "reme") if args.format == "auto" else args.format
    )

    async def work() -> int:
        async with cli_services() as services:
            with progress_bar("writing") as bar:
                return await dump_workspace_file(
                    services,
                    args.workspace,
                    file,
                    extended=file_format == "ndjson",
                    include_embeddings=args.include_embeddings and file_format == "ndjson",
                    on_progress=bar.update,
                )

    count = asyncio.run(work())
    print(f"wrote {count} memories of {args.workspace} to {file} ({file_format})")
    return 0
