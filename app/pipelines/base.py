"""The step runner every pipeline uses.

A pipeline lists its steps in order; a step is an async function over the pipeline's
context object; a tuple of steps runs concurrently (TaskGroup). The runner times every
step, logs it, and leaves timings and token usage on the context for the response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from app.errors import ReMeError
from app.logging import add_log_fields
from app.observability import metrics, tracing
from app.providers.llm import TokenUsage

log = logging.getLogger("reme.pipeline")


@dataclass
class PipelineContext:
    """Fields every pipeline context carries; flows subclass it with their own."""

    workspace_id: str
    request_id: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def run_metadata(self) -> dict[str, Any]:
        """Timings and token usage, for a response's metadata."""
        return {
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "usage": self.usage.as_dict(),
        }


C = TypeVar("C", bound=PipelineContext)
Step = Callable[[C], Awaitable[None]]
StepGroup = Step[C] | tuple[Step[C], ...]


class Pipeline(Generic[C]):
    """An ordered list of steps (or groups of concurrent steps) over a context."""

    def __init__(self, name: str, steps: Sequence[StepGroup[C]]) -> None:
        self.name = name
        self.steps = list(steps)

    @property
    def step_names(self) -> list[str]:
        return [
            "+".join(s.__name__ for s in group) if isinstance(group, tuple) else group.__name__
            for group in self.steps
        ]

    async def run(self, ctx: C) -> C:
        started = time.perf_counter()
        add_log_fields(workspace=ctx.workspace_id, flow=self.name)
        with tracing.span(f"flow {self.name}", {"reme.flow": self.name, "reme.workspace": ctx.workspace_id}):
            for group in self.steps:
                if isinstance(group, tuple):
                    await self._concurrently(group, ctx)
                else:
                    await self._timed(group, ctx)
        ctx.timings_ms["total"] = (time.perf_counter() - started) * 1000
        log.info(
            "%s done in %.1fms (%s)",
            self.name,
            ctx.timings_ms["total"],
            ", ".join(f"{k}={v:.1f}" for k, v in ctx.timings_ms.items() if k != "total"),
        )
        return ctx

    async def _concurrently(self, group: tuple[Step[C], ...], ctx: C) -> None:
        """Run steps together; the first failure is raised as itself, not as a group."""
        try:
            async with asyncio.TaskGroup() as tg:
                for step in group:
                    tg.create_task(self._timed(step, ctx))
        except BaseExceptionGroup as group_error:
            raise first_error(group_error) from None

    async def _timed(self, step: Step[C], ctx: C) -> None:
        name = step.__name__
        started = time.perf_counter()
        try:
            with tracing.span(f"step {name}", {"reme.flow": self.name, "reme.step": name}):
                await step(ctx)
        finally:
            elapsed = time.perf_counter() - started
            ctx.timings_ms[name] = elapsed * 1000
            metrics.record_step(self.name, name, elapsed)


def first_error(error: BaseExceptionGroup) -> BaseException:
    """The first leaf of an exception group, preferring the service's own errors."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(error)
    for leaf in leaves:
        if isinstance(leaf, ReMeError):
            return leaf
    return leaves[0]


def clamp_top_k(top_k: int, limit: int) -> tuple[int, list[str]]:
    """``top_k`` capped at ``limit``, as ReMe clients expect (asking for more returns what there
    is), with a note for the response's ``metadata.notes`` when it was capped."""
    if top_k <= limit:
        return top_k, []
    return limit, [f"top_k {top_k} is above the limit of {limit} (REME_LIMITS__MAX_TOP_K); used {limit}"]
