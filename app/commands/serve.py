"""``reme serve``: run the HTTP service."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from app.commands import EXIT_FAILED, EXIT_OK, announce_database, exit_code_for
from app.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service (ReMe flows, /v1, OpenAPI docs)")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8002)")
    serve.add_argument(
        "--workers",
        type=worker_count,
        default=None,
        metavar="N|auto",
        help="server processes sharing the port; auto: one per core (default: $REME_SERVER__WORKERS, else 1)",
    )
    serve.set_defaults(func=run_serve)


def worker_count(value: str) -> int:
    """``--workers``: a positive number, or ``auto`` for the machine's cores."""
    from app.http_workers import resolve_workers

    try:
        return resolve_workers(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1 or auto, got {value!r}") from None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.cli import log_level
    from app.http_server import server_config
    from app.http_workers import resolve_workers, serve_workers
    from app.main import create_app

    settings = get_settings()
    if args.host is not None:
        settings.server.host = args.host
    if args.port is not None:
        settings.server.port = args.port
    # From here on args.workers is the resolved count (an int), whichever way it was given.
    args.workers = args.workers or resolve_workers(settings.server.workers)
    announce_database(settings)
    if args.workers > 1:
        # Several (spawned) processes: each writes its metrics to files that any of them reads
        # for /metrics; the directory is set before they start and import prometheus_client.
        from app.observability.metrics import use_multiprocess_dir

        use_multiprocess_dir()
        return serve_workers(settings, args.workers, log_level(args), bool(getattr(args, "verbose", 0)))
    app = create_app(settings)
    app.state.listening = f"http://{settings.server.host}:{settings.server.port}"  # for the start-up line
    server = uvicorn.Server(
        server_config(app, settings.server, host=settings.server.host, port=settings.server.port)
    )
    # A refusal (database built for other embeddings, database unreachable) is logged once, as one
    # line, by the lifespan; uvicorn's copy with the traceback and its "startup failed" line add
    # nothing a person can act on.
    quiet = AfterRefusalFilter(app)
    logging.getLogger("uvicorn.error").addFilter(quiet)
    exited: int | str | None = None
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when start-up fails (lifespan, port in use)
        exited = exc.code
    finally:
        logging.getLogger("uvicorn.error").removeFilter(quiet)
    refusal = startup_error(app)
    if refusal is not None:
        return exit_code_for(refusal) or EXIT_FAILED
    return EXIT_OK if server.started and not exited else EXIT_FAILED


def startup_error(app: Any) -> BaseException | None:
    error: BaseException | None = getattr(app.state, "startup_error", None)
    return error


class AfterRefusalFilter(logging.Filter):
    """Drops uvicorn's error lines once the app has refused to start."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        return startup_error(self.app) is None
