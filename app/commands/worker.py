"""``reme worker``: process asynchronous jobs from the durable queue."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from app.commands import EXIT_FAILED, EXIT_OK, cli_services


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="process queued asynchronous jobs (async_mode requests)")
    worker.add_argument(
        "--once", action="store_true", help="exit when the queue is empty (non-zero if a job failed)"
    )
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at the same time")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between polls of an empty queue")
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this worker's Prometheus metrics on this port (on REME_SERVER__HOST)",
    )
    worker.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.jobs import WorkerTally, run_worker
    from app.main import job_handlers
    from app.observability.metrics import serve_metrics
    from app.observability.tracing import configure_tracing

    configure_tracing()

    async def main() -> WorkerTally:
        async with cli_services() as services:
            if args.metrics_port is not None:
                serve_metrics(args.metrics_port, services.settings.server.host)
            print(f"reme: worker chat model: {services.settings.llm.describe()}", file=sys.stderr, flush=True)
            handlers = job_handlers()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            tallies = await asyncio.gather(
                *(
                    run_worker(services, handlers, once=args.once, poll_seconds=args.poll, stop=stop)
                    for _ in range(max(1, args.concurrency))
                )
            )
        total = WorkerTally()
        for tally in tallies:
            total = total.add(tally)
        return total

    tally = asyncio.run(main())
    print(f"processed {tally.total} job(s): {tally.done} done, {tally.failed} failed")
    return EXIT_FAILED if args.once and tally.failed else EXIT_OK
