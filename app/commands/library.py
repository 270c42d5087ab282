"""``reme library``: the memory libraries shipped with the package (ReMe's AppWorld and BFCL v3)."""

from __future__ import annotations

import argparse
import asyncio
import time

from app.commands import cli_services, progress_bar


def register(sub: argparse._SubParsersAction) -> None:
    library = sub.add_parser("library", help="ready-made task memories: list, load NAME")
    actions = library.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the libraries shipped with the service")
    listing.set_defaults(func=run_list)
    load = actions.add_parser("load", help="load a library into a workspace (its vectors are computed)")
    load.add_argument("name", help="a name from `reme library list`")
    load.add_argument("--workspace", help="target workspace (default: the library's name)")
    load.add_argument(
        "--replace",
        action="store_true",
        help="make the library the workspace's only memories (default: add; same ids are replaced)",
    )
    load.set_defaults(func=run_load)


def run_list(args: argparse.Namespace) -> int:
    from app.library import LIBRARY

    print(f"{'name':10}  {'memories':>8}  description")
    for entry in LIBRARY.values():
        print(f"{entry.name:10}  {entry.memory_count:>8}  {entry.description}")
    print("load one with: reme library load NAME [--workspace WS]")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from app.library import library_target, load_library

    # An unknown name or a bad workspace id fails before the database starts.
    target = library_target(args.name, args.workspace, loc="argument")

    async def work() -> int:
        async with cli_services() as services:
            with progress_bar("embedding", target.entry.memory_count) as bar:
                return await load_library(services, target, replace=args.replace, on_progress=bar.update)

    started = time.perf_counter()
    count = asyncio.run(work())
    print(
        f"loaded {count} memories of library {target.entry.name} into workspace {target.workspace_id} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0
