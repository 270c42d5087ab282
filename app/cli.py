"""The ``reme`` command line.

Subcommands (``reme serve``, ``reme db backup FILE`` ...) and ReMe's own invocation style
(``reme backend=http http.port=8002 llm.default.model_name=M ...``) both work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from app.commands import data as data_commands
from app.commands import db as db_commands
from app.commands import keys as keys_commands
from app.commands import mcp as mcp_commands
from app.commands import reembed as reembed_commands
from app.commands import serve as serve_commands
from app.commands import worker as worker_commands
from app.db import set_process_role
from app.logging import configure_logging
from app.version import __version__

log = logging.getLogger("reme.cli")

# Each module contributes subcommands with ``register(subparsers)``.
COMMAND_MODULES = [
    serve_commands,
    db_commands,
    worker_commands,
    keys_commands,
    reembed_commands,
    data_commands,
    mcp_commands,
]

# ReMe's dotted options and the settings they map onto (as environment variables).
REME_OPTION_ENV = {
    "http.port": "REME_SERVER__PORT",
    "http.host": "REME_SERVER__HOST",
    "llm.default.model_name": "REME_LLM__MODEL",
    "embedding_model.default.model_name": "REME_EMBEDDING__MODEL",
    "embedding_model.default.params.dimensions": "REME_EMBEDDING__DIM",
    "mcp.transport": "REME_MCP_TRANSPORT",
    "mcp.port": "REME_SERVER__PORT",
    "mcp.host": "REME_SERVER__HOST",
}
# Every vector store backend ReMe names is served by PostgreSQL here.
REME_VECTOR_BACKENDS = {"local", "memory", "elasticsearch", "chroma", "qdrant", "pgvector"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reme",
        description="Agent memory on PostgreSQL + pgvector (ReMe-compatible).",
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: settings)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda args: print(__version__) or 0)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def apply_reme_options(pairs: Sequence[str]) -> str:
    """Turn ReMe's ``key=value`` arguments into settings; returns the backend (http or mcp)."""
    backend = "http"
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "backend":
            backend = value
        elif key == "vector_store.default.backend":
            if value not in REME_VECTOR_BACKENDS:
                raise SystemExit(f"reme: unknown vector_store backend {value!r}")
            if value not in ("local", "memory"):
                log.warning("vector_store backend %r: memories are stored in PostgreSQL", value)
        elif key == "embedding_model.default.model_name" and not (
            os.environ.get("REME_EMBEDDING__BASE_URL") or os.environ.get("FLOW_EMBEDDING_BASE_URL")
        ):
            log.warning("no embedding API configured: keeping the local model instead of %r", value)
        elif key in REME_OPTION_ENV:
            os.environ[REME_OPTION_ENV[key]] = value
        else:
            log.warning("ignoring ReMe option %s (not used by this implementation)", key)
    if backend not in ("http", "mcp"):
        raise SystemExit(f"reme: unknown backend {backend!r} (use http or mcp)")
    return backend


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    configure_logging(os.environ.get("REME_LOG_LEVEL", "INFO"))
    if argv and all("=" in a and not a.startswith("-") for a in argv):
        backend = apply_reme_options(argv)
        argv = (
            ["serve"]
            if backend == "http"
            else ["mcp", "--transport", os.environ.get("REME_MCP_TRANSPORT", "stdio")]
        )
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_level:
        configure_logging(args.log_level)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    set_process_role(args.command)  # names this process's database sessions (reme-serve pid=...)
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
