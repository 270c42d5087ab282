"""``reme serve``: run the HTTP service."""

from __future__ import annotations

import argparse
import contextlib

from app.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service (ReMe flows, /v1, OpenAPI docs)")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8002)")
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.http_server import server_config
    from app.main import create_app

    settings = get_settings()
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    server = uvicorn.Server(server_config(create_app(settings), settings.server, host=host, port=port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    # 3 is uvicorn's own exit status when the lifespan refuses to start.
    return 0 if server.started else 3
