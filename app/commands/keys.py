"""``reme keys``: create, list and revoke API keys."""

from __future__ import annotations

import argparse
import sys
import uuid

from app.auth import SCOPE_RANK, create_key, list_keys, revoke_key
from app.commands import with_database
from app.db import Database
from app.models import workspace_id_problem


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key; it is printed once, on the last line")
    create.add_argument("--name", required=True)
    create.add_argument("--workspace", action="append", default=[], help="a workspace the key may use")
    create.add_argument("--all", action="store_true", help="the key may use every workspace")
    create.add_argument("--scope", choices=list(SCOPE_RANK), default="read")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", type=uuid.UUID)
    revoke.set_defaults(func=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    if args.all == bool(args.workspace):
        print("give either --all or at least one --workspace", file=sys.stderr)
        return 2
    bad = [w for w in args.workspace if workspace_id_problem(w)]
    if bad:
        print(f"invalid workspace id(s): {', '.join(bad)}", file=sys.stderr)
        return 2

    async def work(db: Database) -> tuple[str, str]:
        await db.prepare()
        async with db.session() as session:
            row, key = await create_key(
                session, name=args.name, scope=args.scope, workspaces=None if args.all else args.workspace
            )
        return str(row.id), key

    key_id, key = with_database(work)
    scope_of = "every workspace" if args.all else ", ".join(args.workspace)
    print(f"created key {key_id} ({args.name}, scope {args.scope}, {scope_of})")
    print("store it now; it is not shown again:")
    print(key)
    return 0


def run_list(args: argparse.Namespace) -> int:
    async def work(db: Database) -> list[dict[str, str]]:
        async with db.session() as session:
            return await list_keys(session)

    rows = with_database(work)
    print(f"{'id':36}  {'name':20}  {'scope':6}  {'workspaces':30}  {'created':19}  revoked")
    for r in rows:
        print(
            f"{r['id']:36}  {r['name'][:20]:20}  {r['scope']:6}  {r['workspaces'][:30]:30}  "
            f"{r['created_at']:19}  {r['revoked_at']}"
        )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    async def work(db: Database) -> bool:
        async with db.session() as session:
            return await revoke_key(session, args.id)

    if not with_database(work):
        print(f"no active key with id {args.id}", file=sys.stderr)
        return 1
    print(f"revoked {args.id}")
    return 0
