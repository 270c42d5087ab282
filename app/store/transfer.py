"""Moving memories in and out of workspaces in bulk: load, import, dump, export and copy.

Bulk writes keep model calls out of transactions: lines are parsed, then embedded in steps,
each step's rows staged (app.store.bulk) while the next step is embedded; one transaction
then moves every row into place with its history.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Select,
    Table,
    delete,
    insert,
    literal,
    not_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import defer

from app import citus
from app.models import Memory, MemoryEvent
from app.providers.embeddings import Embedder
from app.services import Services
from app.store.allowed_files import AllowedFile, open_sink
from app.store.bulk import (
    create_stage,
    delete_unstaged_rows,
    drop_stage,
    move_staged_rows,
    record_staged_loads,
    stage_memory_rows,
    write_events,
    write_memory_rows,
)
from app.store.memories import (
    EventRecord,
    NewMemory,
    ensure_workspace,
    lock_workspace,
    memory_snapshot,
    reme_fields,
)
from app.store.memory_lines import ParsedLine, memory_to_record, unique_memories
from app.store.sql import among
from app.store.vector_index import estimated_rows, set_index_aside

log = logging.getLogger(__name__)

# Rows read per query when a workspace is written out.
READ_PAGE = 1000
# A load refreshes the planner's statistics when it commits if it wrote at least this many
# memories and at least this share of what the table held (the planner's estimate).
ANALYZE_MIN_ROWS = 100
ANALYZE_MIN_SHARE = 0.1
# Embedding calls per progress step: the API embedder runs this many batches at once.
BATCHES_PER_STEP = 8
# Memories embedded per step of a staged load, while the previous step is written: large
# enough that the embedder's concurrent batches rarely wait for the step's slowest one.
STAGE_STEP = 2048

Progress = Callable[[int], None]


async def embed_memories(
    embedder: Embedder, memories: Sequence[NewMemory], batch_size: int, on_progress: Progress | None = None
) -> None:
    """Fill in the vectors that are missing (as :func:`_embed_step` embeds a staged step); no
    transaction is open here."""
    vectors = await _embed_step(embedder, memories, batch_size, on_progress)
    for memory, vector in zip(memories, vectors, strict=True):
        if memory.embedding is None:
            memory.embedding = vector.tolist()


def _snapshot(memory: NewMemory, workspace_id: str) -> dict[str, Any]:
    """What history keeps of a memory written in bulk (ReMe fields, no vector)."""
    metadata = {**memory.metadata, "freq": memory.freq, "utility": memory.utility}
    return {
        **reme_fields(memory, workspace_id, metadata),
        "target": memory.target,
        "reflection_subject": memory.reflection_subject,
        "event_time": memory.event_time.isoformat() if memory.event_time else None,
    }


async def replace_workspace_memories(
    session: AsyncSession,
    workspace_id: str,
    memories: Sequence[NewMemory],
    *,
    reason: str,
    request_id: str | None = None,
    staged: bool = False,
) -> int:
    """Make ``memories`` the workspace's only memories; returns how many went.

    Their rows are in the staging table (``staged``), or the memories carry their vectors.
    """
    await ensure_workspace(session, workspace_id)
    # Without the lock, a parallel load's DELETE misses rows committed after it started, and
    # the workspace ends up holding both files.
    await lock_workspace(session, workspace_id)
    if staged:
        gone = await delete_unstaged_rows(session, workspace_id, reason=reason, request_id=request_id)
        await _move_stage(session, upsert=False, reason=reason, request_id=request_id)
        return gone
    kept = [m.memory_id for m in memories]
    vanishing = await session.scalars(
        select(Memory)
        .options(defer(Memory.embedding))
        .where(Memory.workspace_id == workspace_id, not_(among(Memory.memory_id, kept)))
    )
    gone_events = [
        EventRecord(m.memory_id, "delete", before=memory_snapshot(m), reason=reason) for m in vanishing
    ]
    await session.execute(delete(Memory).where(Memory.workspace_id == workspace_id))
    await write_memory_rows(session, workspace_id, memories, upsert=False)
    await write_events(
        session, workspace_id, [*gone_events, *_load_events(memories, workspace_id, reason)], request_id
    )
    return len(gone_events)


async def upsert_workspace_memories(
    session: AsyncSession,
    workspace_id: str,
    memories: Sequence[NewMemory],
    *,
    reason: str,
    request_id: str | None = None,
    staged: bool = False,
) -> None:
    """Add ``memories`` to the workspace, replacing stored ones with the same id."""
    await ensure_workspace(session, workspace_id)
    await lock_workspace(session, workspace_id)
    if staged:
        await _move_stage(session, upsert=True, reason=reason, request_id=request_id)
        return
    await write_memory_rows(session, workspace_id, memories, upsert=True)
    await write_events(session, workspace_id, _load_events(memories, workspace_id, reason), request_id)


async def _move_stage(session: AsyncSession, *, upsert: bool, reason: str, request_id: str | None) -> None:
    """The staged rows into ``memory``, and their history built from the stage by PostgreSQL."""
    await move_staged_rows(session, upsert=upsert)
    await record_staged_loads(session, reason=reason, request_id=request_id)
    await drop_stage(session)


def _load_events(memories: Sequence[NewMemory], workspace_id: str, reason: str) -> list[EventRecord]:
    return [
        EventRecord(m.memory_id, "load", after=_snapshot(m, workspace_id), reason=reason) for m in memories
    ]


@asynccontextmanager
async def _transaction_on(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session in a transaction on ``connection`` (the one that holds the staging table)."""
    async with AsyncSession(bind=connection, expire_on_commit=False) as session, session.begin():
        session.info[citus.SESSION_FLAG] = False  # staging is for a single server only
        yield session


async def _stage_chunk(
    connection: AsyncConnection, workspace_id: str, chunk: Sequence[NewMemory], vectors: np.ndarray
) -> None:
    async with _transaction_on(connection) as session:
        await stage_memory_rows(session, workspace_id, chunk, vectors)
    for memory in chunk:
        memory.embedding = None  # staged: a million-memory load need not keep its vectors


async def _embed_step(
    embedder: Embedder, chunk: Sequence[NewMemory], batch_size: int, on_progress: Progress | None
) -> np.ndarray:
    """A step's vectors, one float32 row per memory: the ones the memories carry, the others
    from concurrent calls of a few batches each (the embedder's concurrent batches stay busy
    across calls, and progress moves as each call ends)."""
    vectors = np.empty((len(chunk), embedder.dim), dtype=np.float32)
    todo: list[int] = []
    for row, memory in enumerate(chunk):
        if memory.embedding is None:
            todo.append(row)
        else:
            vectors[row] = memory.embedding
    if on_progress is not None and len(todo) < len(chunk):
        on_progress(len(chunk) - len(todo))

    async def embed_rows(rows: list[int]) -> None:
        vectors[rows] = await embedder.embed_matrix([chunk[row].embedding_text() for row in rows])
        if on_progress is not None:
            on_progress(len(rows))

    per_call = max(1, batch_size * BATCHES_PER_STEP)
    calls = [
        asyncio.ensure_future(embed_rows(todo[start : start + per_call]))
        for start in range(0, len(todo), per_call)
    ]
    try:
        await asyncio.gather(*calls)
    except BaseException:
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        raise
    return vectors


async def stage_memories(
    connection: AsyncConnection,
    embedder: Embedder,
    workspace_id: str,
    memories: Sequence[NewMemory],
    batch_size: int,
    on_progress: Progress | None = None,
) -> None:
    """Embed the memories a step at a time, staging each step while the next one is embedded.

    Each step is written in its own short transaction: no transaction waits for the model.
    """
    async with _transaction_on(connection) as session:
        await create_stage(session)
    step = max(STAGE_STEP, batch_size * BATCHES_PER_STEP)
    writing: asyncio.Task[None] | None = None
    try:
        for start in range(0, len(memories), step):
            chunk = memories[start : start + step]
            vectors = await _embed_step(embedder, chunk, batch_size, on_progress)
            if writing is not None:
                await writing
            writing = asyncio.create_task(_stage_chunk(connection, workspace_id, chunk, vectors))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing


async def write_memories(
    services: Services,
    workspace_id: str,
    lines: Sequence[ParsedLine],
    *,
    replace: bool,
    reason: str,
    request_id: str | None = None,
    on_progress: Progress | None = None,
) -> int:
    """Embed what needs it, then write every memory in one transaction; returns the count written.

    On a single server the rows are staged while the vectors arrive (see app.store.bulk); on
    Citus they are written from memory once every vector is there.
    """
    memories = unique_memories(lines, services.embedder)
    started = time.perf_counter()
    batch_size = services.settings.embedding.batch_size
    index_aside = False
    if services.db.citus:
        await embed_memories(services.embedder, memories, batch_size, on_progress)
        embedded = time.perf_counter()
        async with services.db.session() as session:
            await _write_workspace(session, workspace_id, memories, replace, reason, request_id, staged=False)
    else:
        assert services.db.engine is not None
        async with services.db.engine.connect() as connection:
            await stage_memories(
                connection, services.embedder, workspace_id, memories, batch_size, on_progress
            )
            embedded = time.perf_counter()
            index_aside = await _write_staged(
                services, connection, workspace_id, memories, replace, reason, request_id
            )
    if index_aside:
        services.index_builder.request()  # it analyses the table once the index is built
    elif len(memories) >= ANALYZE_MIN_ROWS:
        await refresh_statistics(services, written=len(memories))
    log.info(
        "wrote %d memories to %s: embedding and staging %.0f ms, database %.0f ms%s",
        len(memories),
        workspace_id,
        (embedded - started) * 1000,
        (time.perf_counter() - embedded) * 1000,
        " (vector index set aside, built next)" if index_aside else "",
    )
    return len(memories)


async def _write_staged(
    services: Services,
    connection: AsyncConnection,
    workspace_id: str,
    memories: Sequence[NewMemory],
    replace: bool,
    reason: str,
    request_id: str | None,
) -> bool:
    """The staged rows into place in one transaction; returns whether the index was set aside."""
    index_aside = False
    try:
        async with _transaction_on(connection) as session:
            # First, before this transaction touches the memory table (see set_index_aside).
            index_aside = await set_index_aside(session, len(memories), services.settings.load, citus=False)
            await _write_workspace(session, workspace_id, memories, replace, reason, request_id, staged=True)
    except BaseException:
        if index_aside:
            # The drop is rolled back, not a build it stopped: have the index built again (a
            # build that finds it valid does nothing).
            services.index_builder.request()
        raise
    return index_aside


async def _write_workspace(
    session: AsyncSession,
    workspace_id: str,
    memories: Sequence[NewMemory],
    replace: bool,
    reason: str,
    request_id: str | None,
    *,
    staged: bool,
) -> None:
    if replace:
        await replace_workspace_memories(
            session, workspace_id, memories, reason=reason, request_id=request_id, staged=staged
        )
    else:
        await upsert_workspace_memories(
            session, workspace_id, memories, reason=reason, request_id=request_id, staged=staged
        )


async def refresh_statistics(services: Services, *, written: int) -> None:
    """ANALYZE the memory table after a write that is large next to what it held.

    Until autovacuum gets to it (after 20% of the table has changed, and a minute at most after
    that), the planner believes the workspace still holds what it held before the load: it may
    sort a whole workspace instead of walking the index, or misjudge a small workspace's
    filters. Measured on conversational recall right after loading 700-memory workspaces: the
    first searches took 26 ms at p50, 20 ms once analysed (docs/benchmarks.md).
    """
    # Not behind a concurrent index build (it holds the lock ANALYZE takes, for minutes on a
    # large table): the builder analyses the table when it is done. Citus takes no option here.
    statement = "ANALYZE memory" if services.db.citus else "ANALYZE (SKIP_LOCKED) memory"
    try:
        async with services.db.session() as session:
            if written < ANALYZE_MIN_SHARE * await estimated_rows(session):
                return
            await session.execute(text(statement))
    except Exception:  # statistics are an optimisation: the load itself has committed
        log.warning("ANALYZE after a large load failed", exc_info=True)


def _page_query(workspace_id: str, after: tuple[Any, str] | None, with_embedding: bool) -> Select[Any]:
    query = select(Memory).where(Memory.workspace_id == workspace_id)
    if not with_embedding:
        query = query.options(defer(Memory.embedding))
    if after is not None:
        created, memory_id = after
        query = query.where(tuple_(Memory.time_created, Memory.memory_id) > tuple_(created, memory_id))
    return query.order_by(Memory.time_created, Memory.memory_id).limit(READ_PAGE)


async def iter_memory_pages(
    services: Services, workspace_id: str, *, with_embedding: bool = False
) -> AsyncIterator[list[Memory]]:
    """Every memory of a workspace, oldest first, a page per short transaction."""
    after: tuple[Any, str] | None = None
    while True:
        async with services.db.session() as session:
            page = list((await session.scalars(_page_query(workspace_id, after, with_embedding))).all())
        if not page:
            return
        yield page
        if len(page) < READ_PAGE:
            return
        after = (page[-1].time_created, page[-1].memory_id)


def _lines_of(page: Sequence[Memory], *, extended: bool, embedding_model: str | None) -> str:
    return "".join(
        json.dumps(
            memory_to_record(m, extended=extended, embedding_model=embedding_model), ensure_ascii=False
        )
        + "\n"
        for m in page
    )


async def export_lines(
    services: Services, workspace_id: str, *, include_embeddings: bool = False
) -> AsyncIterator[bytes]:
    """Our NDJSON format, one memory per line."""
    model = services.embedder.model_name if include_embeddings else None
    async for page in iter_memory_pages(services, workspace_id, with_embedding=include_embeddings):
        yield _lines_of(page, extended=True, embedding_model=model).encode()


async def dump_workspace_file(
    services: Services,
    workspace_id: str,
    target: Path | AllowedFile,
    *,
    extended: bool = False,
    include_embeddings: bool = False,
    on_progress: Progress | None = None,
) -> int:
    """Write the workspace to ``target`` (a temporary file renamed at the end); returns the count.

    An :class:`AllowedFile` is reached without following links; a plain path (the CLI's) is not.
    """
    model = services.embedder.model_name if include_embeddings else None
    sink = await asyncio.to_thread(open_sink, target)
    count = 0
    try:
        async for page in iter_memory_pages(services, workspace_id, with_embedding=include_embeddings):
            await asyncio.to_thread(
                sink.handle.write, _lines_of(page, extended=extended, embedding_model=model)
            )
            count += len(page)
            if on_progress is not None:
                on_progress(len(page))
        await asyncio.to_thread(sink.commit)
    finally:
        await asyncio.to_thread(sink.close)
    return count


async def copy_workspace(
    session: AsyncSession, src_workspace_id: str, workspace_id: str, *, request_id: str | None = None
) -> int:
    """Copy every memory of ``src_workspace_id`` with its vector (same ids; existing ones replaced)."""
    await ensure_workspace(session, workspace_id)
    await lock_workspace(session, workspace_id)
    table = cast(Table, Memory.__table__)
    columns = [c for c in table.columns if c.name != "search_text"]
    source = select(
        *[literal(workspace_id).label("workspace_id") if c.name == "workspace_id" else c for c in columns]
    ).where(Memory.workspace_id == src_workspace_id)
    stmt = pg_insert(table).from_select([c.name for c in columns], source)
    updates = {c.name: stmt.excluded[c.name] for c in columns if c.name not in ("workspace_id", "memory_id")}
    copied = await session.scalars(
        stmt.on_conflict_do_update(index_elements=["workspace_id", "memory_id"], set_=updates).returning(
            table.c.memory_id
        )
    )
    ids = list(copied.all())
    if ids:
        # Rows of values, not INSERT ... SELECT: Citus runs that over every shard when the
        # workspace is a parameter; these rows all go to the target workspace's shard.
        reason = f"copied from workspace {src_workspace_id}"
        await session.execute(
            insert(MemoryEvent),
            [
                {
                    "workspace_id": workspace_id,
                    "memory_id": memory_id,
                    "action": "copy",
                    "reason": reason,
                    "request_id": request_id,
                }
                for memory_id in ids
            ],
        )
    return len(ids)
