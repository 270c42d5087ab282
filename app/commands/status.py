"""``reme status``: where things are, and what the database holds.

Read-only: it opens the database the settings point at, but migrates nothing.
"""

from __future__ import annotations

import argparse
import urllib.request
from dataclasses import dataclass, field

from app.commands import with_database
from app.db import Database, describe_database, head_revision, recorded_embedding_space
from app.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="database, models, service URL, schema revision and memories per workspace"
    )
    status.set_defaults(func=run)


@dataclass
class DatabaseState:
    revision: str | None = None
    head: str | None = None
    recorded_embedding: tuple[str, int] | None = None
    workspaces: dict[str, dict[str, int]] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    vector_index: bool = True


async def read_state(db: Database) -> DatabaseState:
    from app.store.jobs import job_counts
    from app.store.vector_index import vector_index_present
    from app.store.workspaces import memory_counts_by_workspace

    state = DatabaseState(revision=await db.current_revision(), head=head_revision(db.settings))
    if state.revision is None:
        return state
    assert db.engine is not None
    async with db.engine.connect() as conn:
        state.recorded_embedding = await conn.run_sync(recorded_embedding_space)
    async with db.session() as session:
        state.workspaces = await memory_counts_by_workspace(session)
        state.jobs = await job_counts(session)
        state.vector_index = db.citus or await vector_index_present(session)
    return state


def service_url(host: str, port: int) -> str:
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{reachable}:{port}"


def answers_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    state = with_database(read_state)
    settings = get_settings()
    url = service_url(settings.server.host, settings.server.port)
    print(f"database:    {describe_database(settings)}")
    if state.revision is None:
        print(f"schema:      none yet (head {state.head}): run `reme db upgrade` or start the service")
    else:
        behind = "up to date" if state.revision == state.head else "behind: run `reme db upgrade`"
        print(f"schema:      revision {state.revision} (head {state.head}, {behind})")
    print(f"embeddings:  {settings.embedding.describe()}")
    if state.recorded_embedding is not None:
        model, dim = state.recorded_embedding
        fits = (model, dim) == (settings.embedding.resolved_model, settings.embedding.resolved_dim)
        note = "matches the settings" if fits else "DOES NOT match the settings: see `reme reembed`"
        print(f"             the database holds {model} ({dim} dims): {note}")
    if not state.vector_index:
        print(
            "             no vector index: a large load set it aside and it is being built "
            "(searches are exact)"
        )
    print(f"chat model:  {settings.llm.describe()}")
    print(f"service:     {url} ({'answering /ready' if answers_ready(url) else 'not answering'})")
    if state.jobs:
        print("jobs:        " + ", ".join(f"{count} {status}" for status, count in state.jobs.items()))
    total = sum(sum(by_type.values()) for by_type in state.workspaces.values())
    print(f"workspaces:  {len(state.workspaces)} ({total} memories)")
    for workspace_id, by_type in state.workspaces.items():
        kinds = ", ".join(f"{kind} {count}" for kind, count in by_type.items())
        print(f"  {workspace_id:30} {sum(by_type.values()):>8} memories" + (f" ({kinds})" if kinds else ""))
    return 0
