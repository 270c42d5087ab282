"""Console: a long write (an upload, a library load) reported to the browser as it goes.

The answer is NDJSON: ``{"embedded": n, "total": N}`` while vectors are computed, then
``{"loaded": N, "total": N}`` or ``{"error": message}``; console.js draws it as a progress bar.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from app.errors import ReMeError
from app.store.transfer import Progress

NDJSON = "application/x-ndjson"
log = logging.getLogger(__name__)

Work = Callable[[Progress], Awaitable[int]]


def wants_progress(accept: str | None) -> bool:
    """The console's script asks for the progress stream; a plain form post (no script) does not."""
    return NDJSON in (accept or "")


async def progress_lines(work: Work, total: int, what: str) -> AsyncIterator[str]:
    """Run ``work`` (given a progress callback, returning the count written) and report each step.

    ``what`` names the work in the server log when it fails unexpectedly.
    """
    progress: asyncio.Queue[int] = asyncio.Queue()
    task = asyncio.ensure_future(work(progress.put_nowait))
    embedded = 0
    yield json.dumps({"embedded": 0, "total": total}) + "\n"
    try:
        while not task.done():
            waiter = asyncio.ensure_future(progress.get())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                embedded += waiter.result()
                yield json.dumps({"embedded": min(embedded, total), "total": total}) + "\n"
            else:
                waiter.cancel()
        if not progress.empty():  # steps reported just before the write finished
            while not progress.empty():
                embedded += progress.get_nowait()
            yield json.dumps({"embedded": min(embedded, total), "total": total}) + "\n"
        try:
            loaded = task.result()
        except Exception as exc:
            if not isinstance(exc, ReMeError):
                log.exception("%s failed", what)
            message = exc.message if isinstance(exc, ReMeError) else f"internal error ({type(exc).__name__})"
            yield json.dumps({"error": message}) + "\n"
            return
        yield json.dumps({"loaded": loaded, "total": total}) + "\n"
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
