"""Read models of the memory console (/ui): cheap workspace overviews and the data behind its charts.

Pages of the console must stay fast on a workspace of 100,000 memories, so nothing here counts
a whole workspace on every page: counts stop at :data:`EXACT_COUNT_CAP` rows (read from an
index) and, above it, come from the planner's estimate, marked as such. Sizes are estimates too.
The chart queries (growth, freq/utility) aggregate a whole workspace and run only on the
workspace's "Charts" page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, Integer, case, cast, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import MEMORY_TYPES, Memory, MemoryEvent, ToolCall, Trajectory, Workspace
from app.services import Services
from app.store.browse import get_memory
from app.store.memory_lines import memory_to_record
from app.store.transfer import iter_memory_pages

# Counts up to this many rows are exact; above, the planner's estimate is shown as approximate.
EXACT_COUNT_CAP = 10_000
# Before the first ANALYZE the size per memory comes from a count, if the table is this small.
SMALL_TABLE_ROWS = 50_000


@dataclass
class Tally:
    """A count that is exact up to the cap and an estimate above it."""

    value: int
    exact: bool = True

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.value + other.value, self.exact and other.exact)


@dataclass
class WorkspaceOverview:
    workspace_id: str
    description: str
    created_at: datetime
    last_activity: datetime
    by_type: dict[str, Tally] = field(default_factory=dict)
    size_bytes: int | None = None

    @property
    def total(self) -> Tally:
        out = Tally(0)
        for tally in self.by_type.values():
            out = out + tally
        return out


def _capped_type_count(memory_type: str) -> Any:
    """Memories of one type in the outer query's workspace, counted from the index up to the cap."""
    limited = (
        select(literal(1).label("one"))
        .select_from(Memory)
        .where(Memory.workspace_id == Workspace.id, Memory.memory_type == memory_type)
        .limit(EXACT_COUNT_CAP + 1)
        .correlate(Workspace)
        .subquery()
    )
    return select(func.count()).select_from(limited).scalar_subquery()


def _overview_query() -> Any:
    # The newest event by primary key (workspace_id, id): one index probe, not a scan.
    last_event = (
        select(MemoryEvent.created_at)
        .where(MemoryEvent.workspace_id == Workspace.id)
        .order_by(MemoryEvent.id.desc())
        .limit(1)
        .correlate(Workspace)
        .scalar_subquery()
    )
    last_trajectory = (
        select(func.max(Trajectory.created_at))
        .where(Trajectory.workspace_id == Workspace.id)
        .correlate(Workspace)
        .scalar_subquery()
    )
    return select(
        Workspace.id,
        Workspace.description,
        Workspace.created_at,
        last_event.label("last_event"),
        last_trajectory.label("last_trajectory"),
        *[_capped_type_count(t).label(f"n_{t}") for t in MEMORY_TYPES],
    )


async def workspace_overviews(
    session: AsyncSession, *, limit: int, after: str | None = None, only: Collection[str] | None = None
) -> list[WorkspaceOverview]:
    """Up to ``limit`` workspaces by id after ``after``, each with its counts and last activity.

    ``only`` restricts the list to these ids (a key's workspaces).
    """
    query = _overview_query().order_by(Workspace.id).limit(limit)
    if after is not None:
        query = query.where(Workspace.id > after)
    if only is not None:
        query = query.where(Workspace.id.in_(list(only)))
    rows = (await session.execute(query)).all()
    bytes_per_row = await _bytes_per_memory(session)
    return [await _overview_of(session, row, bytes_per_row) for row in rows]


async def workspace_overview(session: AsyncSession, workspace_id: str) -> WorkspaceOverview:
    row = (await session.execute(_overview_query().where(Workspace.id == workspace_id))).one_or_none()
    if row is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return await _overview_of(session, row, await _bytes_per_memory(session))


async def _overview_of(session: AsyncSession, row: Any, bytes_per_row: float | None) -> WorkspaceOverview:
    times = [t for t in (row.created_at, row.last_event, row.last_trajectory) if t is not None]
    overview = WorkspaceOverview(
        workspace_id=row.id,
        description=row.description,
        created_at=row.created_at,
        last_activity=max(times),
    )
    for memory_type in MEMORY_TYPES:
        counted = int(getattr(row, f"n_{memory_type}"))
        if counted <= EXACT_COUNT_CAP:
            overview.by_type[memory_type] = Tally(counted)
        else:
            estimate = await _estimated_rows(session, row.id, memory_type)
            overview.by_type[memory_type] = Tally(max(estimate, EXACT_COUNT_CAP + 1), exact=False)
    if bytes_per_row is not None:
        overview.size_bytes = int(overview.total.value * bytes_per_row)
    return overview


async def _estimated_rows(session: AsyncSession, workspace_id: str, memory_type: str) -> int:
    """The planner's estimate of a workspace's memories of one type (from ANALYZE statistics)."""
    plan = await session.scalar(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM memory WHERE workspace_id = :ws AND memory_type = :type"),
        {"ws": workspace_id, "type": memory_type},
    )
    document = json.loads(plan) if isinstance(plan, str) else plan
    return int(document[0]["Plan"]["Plan Rows"])


async def _bytes_per_memory(session: AsyncSession) -> float | None:
    """The memory table's bytes (rows, vectors, indexes) per row, from the catalogue; None before ANALYZE."""
    row = (
        await session.execute(
            text(
                "SELECT pg_total_relation_size(c.oid), c.reltuples FROM pg_class c "
                "WHERE c.oid = 'memory'::regclass"
            )
        )
    ).one()
    total_bytes, tuples = row
    if tuples is None or tuples <= 0:
        # Never analysed yet (a young database): count, but only while the table is small.
        limited = select(literal(1)).select_from(Memory).limit(SMALL_TABLE_ROWS + 1).subquery()
        counted = int(await session.scalar(select(func.count()).select_from(limited)) or 0)
        if counted == 0 or counted > SMALL_TABLE_ROWS:
            return None
        tuples = counted
    return float(total_bytes) / float(tuples)


# A memory page shows at most this many of its latest history events (a tool's memory is
# updated by every summary, so its history grows without bound).
HISTORY_LIMIT = 200


@dataclass
class MemoryView:
    """A memory (None once deleted) with its latest recorded changes, oldest first."""

    memory: Memory | None
    events: list[MemoryEvent]
    older_events: bool = False


async def memory_with_history(
    session: AsyncSession, workspace_id: str, memory_id: str, *, limit: int = HISTORY_LIMIT
) -> MemoryView:
    """A memory and its latest ``limit`` events; a deleted memory still shows its history.

    NotFound when there is neither a memory nor any history under this id.
    """
    latest = list(
        (
            await session.scalars(
                select(MemoryEvent)
                .where(MemoryEvent.workspace_id == workspace_id, MemoryEvent.memory_id == memory_id)
                .order_by(MemoryEvent.id.desc())
                .limit(limit + 1)
            )
        ).all()
    )
    events = list(reversed(latest[:limit]))
    try:
        memory: Memory | None = await get_memory(session, workspace_id, memory_id)
    except NotFound:
        if not events:
            raise
        memory = None
    return MemoryView(memory, events, older_events=len(latest) > limit)


@dataclass
class GrowthBucket:
    start: datetime
    by_type: dict[str, int]


async def memory_growth(session: AsyncSession, workspace_id: str) -> tuple[str, list[GrowthBucket]]:
    """New memories (still stored) per day, week or month of creation, whichever gives <= ~120 bars."""
    span = (
        await session.execute(
            select(func.min(Memory.time_created), func.max(Memory.time_created)).where(
                Memory.workspace_id == workspace_id
            )
        )
    ).one()
    if span[0] is None:
        return "day", []
    days = (span[1] - span[0]).days
    unit = "day" if days <= 120 else "week" if days <= 7 * 120 else "month"
    bucket = func.date_trunc(unit, Memory.time_created, "UTC").label("bucket")
    rows = await session.execute(
        select(bucket, Memory.memory_type, func.count())
        .where(Memory.workspace_id == workspace_id)
        .group_by(bucket, Memory.memory_type)
        .order_by(bucket)
    )
    buckets: dict[datetime, GrowthBucket] = {}
    for start, memory_type, count in rows.all():
        buckets.setdefault(start, GrowthBucket(start, {})).by_type[memory_type] = int(count)
    return unit, _without_gaps(unit, buckets)


def _without_gaps(unit: str, buckets: dict[datetime, GrowthBucket]) -> list[GrowthBucket]:
    """Every bucket from the first to the last, empty ones included, so the time axis is even."""
    if not buckets:
        return []
    ordered = sorted(buckets)
    out: list[GrowthBucket] = []
    current, last = ordered[0], ordered[-1]
    while current <= last:
        out.append(buckets.get(current) or GrowthBucket(current, {}))
        if unit == "month":
            year, month = divmod(current.month, 12)
            current = current.replace(year=current.year + year, month=month + 1)
        else:
            current += timedelta(days=7 if unit == "week" else 1)
    return out


# freq values at or above this share the last bar of the distribution.
FREQ_BARS = 20
RATIO_BARS = 10


@dataclass
class UsageDistribution:
    """Task memories by how often they were used (freq) and how often they helped (utility/freq)."""

    freq_threshold: int
    utility_threshold: float
    by_freq: dict[int, tuple[int, int]] = field(default_factory=dict)  # freq bar -> (kept, pruned)
    by_ratio: dict[int, tuple[int, int]] = field(default_factory=dict)  # tenth of ratio -> (kept, pruned)
    never_used: int = 0

    @property
    def would_prune(self) -> int:
        return sum(pruned for _, pruned in self.by_freq.values())

    @property
    def total(self) -> int:
        return sum(kept + pruned for kept, pruned in self.by_freq.values())


async def usage_distribution(
    session: AsyncSession, workspace_id: str, *, freq_threshold: int, utility_threshold: float
) -> UsageDistribution:
    """One aggregate over the workspace's task memories; 'pruned' uses delete_task_memory's rule."""
    ratio = cast(Memory.utility, Float) / func.nullif(Memory.freq, 0)
    pruned = (Memory.freq >= freq_threshold) & (ratio < utility_threshold)
    freq_bar = func.least(Memory.freq, FREQ_BARS).label("freq_bar")
    ratio_bar = case(
        (Memory.freq == 0, literal(-1)),
        else_=func.least(cast(func.floor(ratio * RATIO_BARS), Integer), RATIO_BARS - 1),
    ).label("ratio_bar")
    is_pruned = func.coalesce(pruned, False).label("pruned")
    rows = await session.execute(
        select(freq_bar, ratio_bar, is_pruned, func.count())
        .where(Memory.workspace_id == workspace_id, Memory.memory_type == "task")
        .group_by(freq_bar, ratio_bar, is_pruned)
    )
    out = UsageDistribution(freq_threshold, utility_threshold)
    for freq, ratio_tenth, prunable, count in rows.all():
        kept, gone = out.by_freq.get(int(freq), (0, 0))
        out.by_freq[int(freq)] = (kept, gone + count) if prunable else (kept + count, gone)
        if ratio_tenth < 0:
            out.never_used += int(count)
            continue
        kept, gone = out.by_ratio.get(int(ratio_tenth), (0, 0))
        out.by_ratio[int(ratio_tenth)] = (kept, gone + count) if prunable else (kept + count, gone)
    return out


async def tool_names(session: AsyncSession, workspace_id: str) -> list[str]:
    """Every tool with recorded calls or a tool memory in the workspace, by name."""
    called = select(ToolCall.tool_name.label("name")).where(ToolCall.workspace_id == workspace_id)
    remembered = select(Memory.when_to_use.label("name")).where(
        Memory.workspace_id == workspace_id, Memory.memory_type == "tool"
    )
    rows = await session.scalars(select(called.union(remembered).subquery().c.name).order_by("name"))
    return [name for name in rows.all() if name]


@dataclass
class SuccessBucket:
    day: datetime
    calls: int
    successes: int

    @property
    def rate(self) -> float:
        return self.successes / self.calls if self.calls else 0.0


async def tool_success_by_day(
    session: AsyncSession, workspace_id: str, tool_name: str
) -> list[SuccessBucket]:
    """A tool's retained calls per day of the call (or of recording, when the call time is unknown)."""
    when = func.coalesce(ToolCall.call_time, ToolCall.created_at)
    day = func.date_trunc("day", when, "UTC").label("day")
    rows = await session.execute(
        select(day, func.count(), func.count().filter(ToolCall.success.is_(True)))
        .where(ToolCall.workspace_id == workspace_id, ToolCall.tool_name == tool_name)
        .group_by(day)
        .order_by(day)
    )
    return [SuccessBucket(d, int(n), int(ok)) for d, n, ok in rows.all()]


async def reme_dump_lines(services: Services, workspace_id: str) -> AsyncIterator[bytes]:
    """The workspace in ReMe's dump format (what ``vector_store`` ``dump`` writes), page by page."""
    async for page in iter_memory_pages(services, workspace_id):
        yield "".join(json.dumps(memory_to_record(m), ensure_ascii=False) + "\n" for m in page).encode()
