"""``reme worker``: process asynchronous jobs from the durable queue."""

from __future__ import annotations

import argparse
import asyncio
import signal

from app.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="process queued asynchronous jobs (async_mode requests)")
    worker.add_argument("--once", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at the same time")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between polls of an empty queue")
    worker.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.jobs import run_worker
    from app.main import job_handlers
    from app.services import Services

    async def main() -> int:
        services = await Services.start(get_settings())
        handlers = job_handlers()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            counts = await asyncio.gather(
                *(
                    run_worker(services, handlers, once=args.once, poll_seconds=args.poll, stop=stop)
                    for _ in range(max(1, args.concurrency))
                )
            )
        finally:
            await services.stop()
        print(f"processed {sum(counts)} job(s)")
        return 0

    return asyncio.run(main())
